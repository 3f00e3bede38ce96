"""empirics.ntk.spectrum and empirics.models.build: float64 spectra, seeds summary, model dispatch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from empirics import build_model, eigvalsh, lambda_min, repeat_over_seeds
from empirics.models.nats_net import NATSNetwork
from empirics.ntk.spectrum import condition_number, eigenvalues, lambda_max
from theory.presets import fc_chain
from theory.space import ArchError

NATS = "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|skip_connect~2|"


def test_spectrum_helpers():
    A = np.diag([3.0, 1.0, 2.0]).astype(np.float32)
    ev = eigvalsh(A)
    assert ev.dtype == torch.float64 and ev.tolist() == [1.0, 2.0, 3.0]
    assert lambda_min(A) == 1.0 and lambda_max(A) == 3.0 and condition_number(A) == 3.0
    # the symmetric part is used
    B = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64)
    assert lambda_min(B) == pytest.approx(0.0, abs=1e-12)
    stack = torch.stack([torch.eye(2), 2 * torch.eye(2)])
    assert lambda_min(stack).tolist() == [1.0, 2.0]
    assert condition_number(torch.diag(torch.tensor([0.0, 1.0]))) == float("inf")
    with pytest.raises(ValueError, match="square"):
        eigvalsh(torch.ones(2, 3))
    # the one NaN rule: a kernel with a non-finite entry has NaN eigenvalues (its scores rank last)
    nan_K = torch.tensor([[1.0, float("nan")], [0.0, 1.0]], dtype=torch.float64)
    assert torch.isnan(eigvalsh(nan_K)).all() and math.isnan(lambda_min(nan_K)) and math.isnan(condition_number(nan_K))
    mixed = eigvalsh(torch.stack([torch.eye(2, dtype=torch.float64), nan_K]))
    assert mixed[0].tolist() == [1.0, 1.0] and torch.isnan(mixed[1]).all()
    # numpy and tensor forms are the same values
    R = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert eigvalsh(R @ R.T).numpy().tolist() == eigenvalues(R @ R.T).tolist()


def test_repeat_over_seeds():
    X = torch.randn(6, 4, dtype=torch.float64)
    s = repeat_over_seeds(lambda seed: build_model(fc_chain("relu", 2), width=32, in_dim=4, seed=seed), X, 3,
                          keep_spectra=True)
    assert s.seeds == [0, 1, 2] and len(s.values) == 3 and len(s.spectra) == 3
    assert s.mean == pytest.approx(np.mean(s.values)) and s.std == pytest.approx(np.std(s.values, ddof=1))
    assert s.values[0] != s.values[1]  # different initializations
    one = repeat_over_seeds(lambda seed: build_model(fc_chain("relu", 2), width=32, in_dim=4, seed=seed), X, [5])
    assert one.std == 0.0 and "1 seeds" in str(one)
    with pytest.raises(ValueError, match="at least one seed"):
        repeat_over_seeds(lambda seed: None, X, [])


def test_build_model_dispatch_and_determinism():
    fc = build_model(fc_chain("tanh", 3), width=64, in_dim=8, seed=1)
    assert type(fc).__name__ == "FCNet" and next(fc.parameters()).dtype == torch.float64
    with pytest.raises(ValueError, match="in_dim"):
        build_model(fc_chain("tanh", 3), width=64)
    state = torch.random.get_rng_state()
    n1 = build_model(NATS, seed=7, N=1, width=4)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched
    n2 = build_model(NATS, seed=7, N=1, width=4)
    n3 = build_model(NATS, seed=8, N=1, width=4)
    assert isinstance(n1, NATSNetwork) and n1.C == 4 and next(n1.parameters()).dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(n1.parameters(), n2.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(n1.parameters(), n3.parameters()))
    assert isinstance(build_model(NATS, num_classes=100, N=1, width=4, dtype=torch.float64), NATSNetwork)
    only_skip = "|skip_connect~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert isinstance(build_model(only_skip, family="nats", N=1, width=4), NATSNetwork)
    assert type(build_model(only_skip, in_dim=4, width=8)).__name__ == "FCNet"
    with pytest.raises(ArchError):
        build_model(NATS, family="fc", in_dim=4)
    with pytest.raises(ArchError):
        build_model("|dense_relu~0|", family="nats")
    with pytest.raises(ArchError, match="mixes"):
        build_model("|dense_relu~0|+|nor_conv_1x1~1|")
    with pytest.raises(ValueError, match="in_channels"):
        build_model(NATS, in_dim=5)

"""Monte-Carlo validation: the empirical NTK of a wide FCNet converges to theory.ntk.

Every architecture below is built twice from the same Arch: as the exact infinite-width kernel
(theory.kernels) and as a finite torch network (empirics.models.fc_model.FCNet), whose NTK is computed in
tests/_ntk_helpers.py without using theory/ (checked against full torch.func Jacobians). The data
have a non-zero coordinate mean, so the feature-mean terms of the kernels are exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _ntk_helpers import empirical_ntk, jacobian_ntk, mean_empirical_ntk, rel_fro

from empirics.models.fc_model import FCNet
from theory import kernel_pieces, ntk, sphere_data
from theory.presets import nats_fc_analogue, resnet

torch.set_num_threads(1)

D = 8
ARCHS = {
    "relu_chain": "|dense_relu~0|+|dense_relu~1|+|dense_relu~2|",
    "leaky_tanh": "|dense_leaky_relu(0.2)~0|+|dense_tanh~1|",
    "sigmoid_swish": "|dense_sigmoid~0|+|dense_swish~1|",
    "gelu_elu": "|dense_gelu~0|+|dense_elu~1|",
    "erf_identity_relu": "|dense_erf~0|+|dense_identity~1|+|dense_relu~2|",
    "mixtures": "|dense_mix(0.5*relu,0.5*tanh)~0|+|dense_mix(0.3*sigmoid,0.7*gelu)~1|",
    "input_skip": "|dense_relu~0|+|skip_connect~0|dense_tanh~1|",
    "skips_none": "|dense_sigmoid~0|+|none~0|dense_relu~1|+|skip_connect~0|none~1|dense_swish~2|",
    "resnet_relu_sqrtL": str(resnet("relu", 4, "1/sqrt(L)")),
    "resnet_tanh_1": str(resnet("tanh", 3, 1.0)),
    "parallel_edges": "|dense_relu~0|0.5*dense_relu~0|dense_sigmoid~0|+|dense_relu~1|skip_connect~1|",
    "nats_fc": str(nats_fc_analogue(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")),
    "scales": "|2*dense_tanh~0|+|0.5*skip_connect~0|1.5*dense_erf~1|",
    "dead_node": "|none~0|+|dense_relu~0|dense_sigmoid~1|",
    "leaky_elu_mix_skip": "|dense_mix(0.5*leaky_relu(0.2),0.5*elu)~0|+|skip_connect~1|dense_gelu~1|",
    "multi_path_skip": "|dense_gelu~0|+|skip_connect~1|dense_relu~1|+|skip_connect~1|skip_connect~2|dense_swish~2|",
}


def data(n: int = 6, seed: int = 1) -> np.ndarray:
    X = sphere_data(n, D, seed=seed) + 0.6  # non-zero coordinate means
    return X / np.linalg.norm(X, axis=1, keepdims=True) * np.sqrt(D)


def test_ntk_helper_matches_full_jacobian() -> None:
    X = data(5)
    for name in ("parallel_edges", "input_skip", "resnet_tanh_1"):
        m = FCNet(ARCHS[name], D, 16, seed=3)
        assert rel_fro(empirical_ntk(m, X), jacobian_ntk(m, X)) < 1e-12


def test_fcnet_shapes_and_errors() -> None:
    m = FCNet(ARCHS["input_skip"], D, 64, seed=0, num_outputs=3)
    assert m(torch.zeros(4, D, dtype=torch.float64)).shape == (4, 3)
    with pytest.raises(ValueError, match="multiple of in_dim"):
        FCNet(ARCHS["input_skip"], 10, 64)
    with pytest.raises(ValueError, match="convolutional"):
        FCNet("|nor_conv_3x3~0|", D, 64)
    with pytest.raises(ValueError, match="shape"):
        m(torch.zeros(4, D + 1, dtype=torch.float64))
    a, b = FCNet(ARCHS["mixtures"], D, 32, seed=7), FCNet(ARCHS["mixtures"], D, 32, seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_wide_network_matches_exact_ntk(name: str) -> None:
    """Mean over 8 seeds at width 2048: relative Frobenius error < 3% (per seed it is 1-6%)."""
    X = data()
    T = ntk(ARCHS[name], X)
    E = mean_empirical_ntk(ARCHS[name], X, 2048, range(8))
    assert rel_fro(E, T) < 0.03, rel_fro(E, T)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_wide_network_matches_exact_ntk_4096(name: str) -> None:
    X = data()
    T = ntk(ARCHS[name], X)
    E = mean_empirical_ntk(ARCHS[name], X, 4096, range(8))
    assert rel_fro(E, T) < 0.03, rel_fro(E, T)  # measured 0.6-2.2% (per seed 2-5%)


def test_wrong_kernels_are_detected() -> None:
    """The comparison has power: kernels of nearby but different models are rejected."""
    X = data()
    arch = "|dense_relu~0|+|skip_connect~0|dense_sigmoid~1|"
    p = kernel_pieces(arch, X)
    E = mean_empirical_ntk(arch, X, 2048, range(8))
    assert rel_fro(E, p.ntk) < 0.03
    # a different skip scale
    assert rel_fro(E, ntk("|dense_relu~0|+|0.7*skip_connect~0|dense_sigmoid~1|", X)) > 0.06
    # dropping the coupling m_0(x) M_sig(x') between the (non-centred) input skip and the sigmoid edge
    m0, M = p.mean[0], p.edge(2).feature_mean
    wrong = p.ntk - np.outer(m0, M) - np.outer(M, m0)
    assert rel_fro(E, wrong) > 0.06
    # dropping the weight-gradient terms (NNGP instead of NTK)
    assert rel_fro(E, p.nngp) > 0.06


def error_slope(arch: str, widths, seeds) -> tuple[float, list[float]]:
    """Slope of log(RMS over seeds of the per-seed relative Frobenius error) against log(width)."""
    X = data()
    T = ntk(arch, X)
    errs = []
    for w in widths:
        per_seed = [rel_fro(empirical_ntk(FCNet(arch, D, w, seed=s), X), T) for s in seeds]
        errs.append(float(np.sqrt(np.mean(np.square(per_seed)))))
    slope = float(np.polyfit(np.log(widths), np.log(errs), 1)[0])
    return slope, errs


@pytest.mark.parametrize("name", ["input_skip", "mixtures"])
def test_error_shrinks_like_inverse_sqrt_width(name: str) -> None:
    slope, errs = error_slope(ARCHS[name], [128, 256, 512, 1024], range(12))
    assert -0.7 <= slope <= -0.3, (slope, errs)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_error_shrinks_like_inverse_sqrt_width_slow(name: str) -> None:
    slope, errs = error_slope(ARCHS[name], [256, 512, 1024, 2048, 4096], range(8))
    assert -0.7 <= slope <= -0.3, (slope, errs)

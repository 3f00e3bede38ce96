"""Width convergence: the empirical NTK of FCNet (via empirics.empirical_ntk) tends to theory/'s exact
infinite-width NTK, with a relative error shrinking roughly like 1/√width."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics import build_model, empirical_ntk

ARCHS = [
    "|dense_relu~0|+|skip_connect~0|dense_tanh~1|",
    "|dense_relu~0|+|skip_connect~1|0.5*dense_relu~1|",
    "|dense_gelu~0|+|dense_erf~1|",
]


@pytest.mark.parametrize("arch", ARCHS)
def test_empirical_ntk_converges_to_theory(arch):
    kernels = pytest.importorskip("theory.kernels")
    from theory.data import sphere_data

    torch.set_num_threads(1)
    X = sphere_data(8, 8, seed=0)
    theta = kernels.kernel_pieces(arch, X).ntk
    widths = [64, 256, 1024]
    errs = []
    for w in widths:
        e = []
        for s in range(4):
            K = empirical_ntk(build_model(arch, width=w, in_dim=8, seed=s), torch.from_numpy(X)).numpy()
            e.append(np.linalg.norm(K - theta) / np.linalg.norm(theta))
        errs.append(float(np.mean(e)))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert errs[-1] < 0.15, errs
    assert -0.8 < slope < -0.25, (errs, slope)  # ≈ −1/2

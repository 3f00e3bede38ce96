"""The BN-free NATS twin (empirics.models.nats_free) and the convergence of its empirical NTK to theory.nats.

Independent of the recursion: the finite network is a plain torch model, its NTK comes from the
empirical-NTK engine (per-sample Jacobians), and only the limit is compared. Monte-Carlo over seeds of
the output covariance checks the NNGP.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics import build_model, empirical_ntk
from empirics.models.nats_free import NATSFreeNetwork, free_parameter_count
from theory.nats import COVERING_CELLS as CELLS
from theory.nats import nats_kernels
from theory.space import ArchError


def _images(n=2, h=8, w=8, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, 3, h, w)))


def _twin(arch, C, seed, stages=3, N=1):
    return build_model(arch, width=C, seed=seed, family="nats", batchnorm=False, N=N, stages=stages,
                       dtype=torch.float64)


def _rel_errors(arch, X, widths, seeds, stages=3):
    """Median over seeds of ‖K_C − Θ‖_F / ‖Θ‖_F (the median: the finite-width NTK of a deep net has a heavy
    upper tail, single seeds reach several times the typical error)."""
    theta = nats_kernels(arch, X, stages=stages).ntk
    out = {}
    for C in widths:
        errs = []
        for s in seeds:
            K = empirical_ntk(_twin(arch, C, s, stages), X).numpy()
            errs.append(np.linalg.norm(K - theta) / np.linalg.norm(theta))
        out[C] = float(np.median(errs))
    return out


def test_build_model_twin_structure():
    arch = CELLS[0]
    m = _twin(arch, 8, 0)
    assert isinstance(m, NATSFreeNetwork)
    assert not any(isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) for mod in m.modules())
    assert all(p.dtype == torch.float64 for p in m.parameters())
    assert sum(p.numel() for p in m.parameters()) == free_parameter_count(arch, 8, 1, 3, 1)
    assert all("bias" not in name for name, _ in m.named_parameters())
    # N(0, 1) weights (NTK parametrization), drawn from the seed only
    w = torch.cat([p.flatten() for p in _twin(arch, 64, 1).parameters()])
    w = w.detach()
    assert abs(float(w.mean())) < 0.01 and abs(float(w.std()) - 1.0) < 0.01
    torch.testing.assert_close(_twin(arch, 8, 3)(_images()), _twin(arch, 8, 3)(_images()))
    assert m(_images()).shape == (2, 1)
    m2 = build_model(arch, width=4, family="nats", batchnorm=False, N=2, stages=2, num_classes=10)
    assert m2(_images().float()).shape == (2, 10) and len(m2.cells) == 2 + 1 + 2
    with pytest.raises(ArchError, match="not a NATS-Bench cell"):
        NATSFreeNetwork("|dense_relu~0|", C=4)
    with pytest.raises(ValueError, match="divisible by 4"):
        m(_images(h=6))
    with pytest.raises(ValueError, match="NATS networks only"):
        build_model("|dense_relu~0|", width=4, in_dim=3, batchnorm=False)


def test_twin_forward_matches_hand_computation_for_a_pool_skip_cell():
    # a cell without conv edges: the network is stem → cell → reduction → ...; check stage 1 alone by hand
    arch = "|avg_pool_3x3~0|+|skip_connect~0|skip_connect~1|"
    m = _twin(arch, 5, 0, stages=1)
    X = _images(2, 4, 4)
    w = m.stem.conv.weight
    h = torch.nn.functional.conv2d(X, w, padding=1) * (1.0 / 27) ** 0.5
    pool = torch.nn.functional.avg_pool2d(h, 3, 1, 1, count_include_pad=False)
    h = h + pool  # node1 = pool(h0); node2 = skip(h0) + skip(node1)
    f = (torch.relu(h).mean(dim=(2, 3)) @ m.classifier.weight.T) * (2.0 / 5) ** 0.5
    torch.testing.assert_close(m(X), f)


def test_nngp_monte_carlo():
    # E[f(x) f(x')] over 800 initializations at C = 64 against the exact NNGP (one stage: the NTK test
    # covers the reductions)
    arch = CELLS[0]
    X = _images(2, 8, 8, seed=4)
    with torch.no_grad():
        F = np.stack([_twin(arch, 64, s, stages=1)(X).numpy()[:, 0] for s in range(800)])
    emp = F.T @ F / len(F)
    exact = nats_kernels(arch, X, stages=1).nngp
    # 800 draws of f² have relative standard error ≈ √2/√800 ≈ 5 %; the finite-width bias is O(1/C)
    np.testing.assert_allclose(emp, exact, rtol=0.15)
    assert not np.allclose(emp, 1.3 * exact, rtol=0.15)  # the check resolves a 30 % error


def test_empirical_ntk_converges_fast():
    """Two stages (one reduction), two cells that together use every op: the median relative error over
    5 seeds at C = 256 is below 0.15 and below 0.6 × the one at C = 16 (C^(-1/2) predicts 0.25 ×)."""
    X = _images(2, 8, 8, seed=1)
    for arch in (CELLS[0], CELLS[2]):
        e = _rel_errors(arch, X, (16, 256), seeds=range(5), stages=2)
        assert e[256] < 0.15, (arch, e)
        assert e[256] < 0.6 * e[16], (arch, e)


@pytest.mark.slow
def test_empirical_ntk_converges_like_inverse_sqrt_width():
    """Relative Frobenius error ‖K_C − Θ‖/‖Θ‖ (median of 8 seeds) at C = 16 … 256 on 3 images 8×8, three
    stages, all eight cells. Single cells are noisy (heavy-tailed finite-width fluctuations), so the rate is
    fitted on the geometric mean over the cells: log-log slope in [−0.75, −0.3] (C^(−1/2) predicts −0.5);
    every cell: error at C = 256 below 0.2 and below its error at C = 32; geometric mean at C = 256 below 0.12."""
    X = _images(3, 8, 8, seed=2)
    widths = (16, 32, 64, 128, 256)
    rows = []
    for arch in CELLS:
        e = _rel_errors(arch, X, widths, seeds=range(8))
        rows.append([e[C] for C in widths])
        print(f"{arch}  " + "  ".join(f"C={C}: {e[C]:.4f}" for C in widths), flush=True)
        assert e[256] < 0.2 and e[256] < e[32], (arch, e)
    g = np.exp(np.log(np.array(rows)).mean(0))
    slope = np.polyfit(np.log(widths), np.log(g), 1)[0]
    print("geometric mean  " + "  ".join(f"C={C}: {v:.4f}" for C, v in zip(widths, g)) + f"  slope {slope:.3f}")
    assert -0.75 <= slope <= -0.3, (g, slope)
    assert g[-1] < 0.12, g

"""The BN twin (empirics.models.nats_free with batchnorm=True) and the BatchNorm-limit kernel of theory.nats.

The finite network is a plain torch model with ``nn.BatchNorm2d`` in batch-statistics mode; its NTK comes
from the empirical-NTK engine (the LOOP method: BN couples the samples of the batch) and its NNGP from the
feature kernel σ_v²·φφᵀ/C of one forward pass (φ = GAP(ReLU(BN(h))), concentrated as C grows). Only the
limit is compared with ``nats_kernels(..., batchnorm=True)`` (docs/theory.md, IV.6). The limit replaces the
per-channel batch statistics by their means, so at a finite batch the NTK keeps a bias (IV.6): the tests
bound it on stage-1 networks (M = N·H·W = 256 batch-pixel positions) and the slow study measures it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics import build_model, empirical_ntk
from empirics.models.nats_free import NATSFreeNetwork, free_parameter_count
from theory.nats import COVERING_CELLS as CELLS
from theory.nats import nats_kernels


def _images(n=4, h=8, w=8, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, 3, h, w)))


def _twin(arch, C, seed, stages=1, **kw):
    return build_model(arch, width=C, seed=seed, family="nats", batchnorm="ntk", N=1, stages=stages,
                       dtype=torch.float64, **kw)


def _errors(arch, X, C, seeds, stages):
    """Median over seeds of the relative Frobenius errors of the empirical NTK and of the feature NNGP."""
    k = nats_kernels(arch, X, stages=stages, batchnorm=True)
    e_ntk, e_nngp = [], []
    for s in seeds:
        m = _twin(arch, C, s, stages)
        K = empirical_ntk(m, X, method="loop").numpy()
        with torch.no_grad():
            F = m.forward_features(X).numpy()
        e_ntk.append(np.linalg.norm(K - k.ntk) / np.linalg.norm(k.ntk))
        e_nngp.append(np.linalg.norm(2.0 * F @ F.T / m.c_last - k.nngp) / np.linalg.norm(k.nngp))
    return float(np.median(e_ntk)), float(np.median(e_nngp))


def test_bn_twin_structure():
    arch = CELLS[0]
    m = _twin(arch, 8, 0, stages=3)
    assert isinstance(m, NATSFreeNetwork) and m.batchnorm
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    # stem + 2 conv edges × 3 cells + 2 × (a, b) + head; none on the reduction shortcut
    assert len(bns) == 1 + 2 * 3 + 2 * 2 + 1
    assert all(not b.track_running_stats and not b.affine and b.eps == 1e-5 for b in bns)
    assert all(r.shortcut.bn is None and r.conv_a.bn is not None for r in m.cells if hasattr(r, "shortcut"))
    assert sum(p.numel() for p in m.parameters()) == free_parameter_count(arch, 8, 1, 3, 1)
    ma = _twin(arch, 8, 0, stages=3, bn_affine=True)
    assert sum(p.numel() for p in ma.parameters()) == free_parameter_count(arch, 8, 1, 3, 1, batchnorm=True,
                                                                          bn_affine=True)
    X = _images(3)
    y = m(X)
    m.eval()  # batch statistics in every mode
    torch.testing.assert_close(m(X), y)
    torch.testing.assert_close(ma(X), y)  # γ = 1, β = 0 at init: the same function
    with pytest.raises(ValueError, match="batchnorm must be True, False or 'ntk'"):
        build_model(arch, width=4, family="nats", batchnorm="train")
    with pytest.raises(ValueError, match="bn_eps"):
        NATSFreeNetwork(arch, C=4, batchnorm=True, bn_eps=-1.0)


def test_bn_twin_forward_matches_hand_computation():
    arch = "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_1x1~1|"
    m = _twin(arch, 5, 0, stages=1)
    X = _images(2, 4, 4)
    F = torch.nn.functional

    def bn(h):
        mu = h.mean(dim=(0, 2, 3), keepdim=True)
        var = ((h - mu) ** 2).mean(dim=(0, 2, 3), keepdim=True)  # biased, as BN's normalization
        return (h - mu) / torch.sqrt(var + 1e-5)

    h0 = bn(F.conv2d(X, m.stem.conv.weight, padding=1) * (1.0 / 27) ** 0.5)
    h1 = F.avg_pool2d(h0, 3, 1, 1, count_include_pad=False)
    conv = m.cells[0].layers[2].conv
    h2 = h0 + bn(F.conv2d(torch.relu(h1), conv.weight) * (2.0 / 5) ** 0.5)
    f = (torch.relu(bn(h2)).mean(dim=(2, 3)) @ m.classifier.weight.T) * (2.0 / 5) ** 0.5
    torch.testing.assert_close(m(X), f)


def test_bn_limit_monte_carlo_fast():
    """One stage (M = 4·8·8 = 256 batch-pixel positions), two cells that together use every op, 3 seeds:
    at C = 256 the NTK is within 0.1 and the NNGP within 0.06 of the limit, both below their C = 16 errors;
    and the BN-free kernel, even rescaled to the same trace, is ≥ 2× farther (the check resolves BN)."""
    X = _images(4, 8, 8, seed=1)
    for arch in (CELLS[0], CELLS[3]):
        e16 = _errors(arch, X, 16, range(3), 1)
        e256 = _errors(arch, X, 256, range(3), 1)
        assert e256[0] < 0.1 and e256[1] < 0.06, (arch, e16, e256)
        assert e256[0] < e16[0] and e256[1] < 0.6 * e16[1], (arch, e16, e256)
        K = empirical_ntk(_twin(arch, 256, 0), X, method="loop").numpy()
        free = nats_kernels(arch, X, stages=1).ntk
        free = free * np.trace(K) / np.trace(free)
        print(arch, e16, e256, np.linalg.norm(K - free) / np.linalg.norm(K))
        assert np.linalg.norm(K - free) / np.linalg.norm(K) > 2 * e256[0]


@pytest.mark.slow
def test_bn_limit_monte_carlo_study():
    """One stage (M = 256), all eight cells, C = 16 … 256, median of 4 seeds (docs/theory.md, IV.6 table).
    NNGP: converges, geometric-mean log-log slope in [−0.9, −0.3] (C^(−1/2) predicts −0.5), every cell
    within 0.05 at C = 256. NTK: every cell closer at C = 256 than at C = 16, within 0.16 at C = 256
    (the all-pool cell, the smallest M_eff, has the largest bias), geometric mean within 0.06: a floor of
    a few per cent, the finite-batch bias of the deterministic-statistics limit."""
    X = _images(4, 8, 8, seed=2)
    widths = (16, 32, 64, 128, 256)
    ntk, nngp = [], []
    for arch in CELLS:
        e = [_errors(arch, X, C, range(4), 1) for C in widths]
        ntk.append([a for a, _ in e])
        nngp.append([b for _, b in e])
        print(arch, " ".join(f"C={C}: {a:.4f}/{b:.4f}" for C, (a, b) in zip(widths, e)), flush=True)
        assert e[-1][0] < 0.16 and e[-1][0] < e[0][0] and e[-1][1] < 0.05, (arch, e)
    g_ntk, g_nngp = np.exp(np.log(ntk).mean(0)), np.exp(np.log(nngp).mean(0))
    slope = np.polyfit(np.log(widths), np.log(g_nngp), 1)[0]
    print("geometric mean NTK", np.round(g_ntk, 4), "NNGP", np.round(g_nngp, 4), f"NNGP slope {slope:.3f}")
    assert -0.9 <= slope <= -0.3, (g_nngp, slope)
    assert g_ntk[-1] < 0.06, g_ntk


class _OneBN(torch.nn.Module):
    """stem Conv3×3 (σ_w² = 1) → BN → ReLU → GAP → linear (σ_v² = 2): one BatchNorm, consumed by a ReLU."""

    def __init__(self, C: int) -> None:
        super().__init__()
        from empirics.models.nats_free import BNSpec, NTKConv

        self.stem = NTKConv(3, C, 3, 1, 1, 1.0, relu=False, bn=BNSpec())
        self.v = torch.nn.Linear(C, 1, bias=False)
        torch.nn.init.normal_(self.v.weight)
        self.scale = (2.0 / C) ** 0.5

    def forward(self, x):
        return self.v(torch.relu(self.stem(x)).mean(dim=(2, 3))) * self.scale


def _one_bn_kernels(X):
    """The deterministic BN-limit NTK of ``_OneBN`` and its Stein correction, by dense matrices.

    S = ΠΣΠ/(v + ε) and A = S (the stem's NTK is its NNGP). The BN Jacobian is (Π − yyᵀ/M)/σ̂; the limit
    drops yyᵀ/M. Its mean effect at the ReLU that follows, for y ~ N(0, S), by Stein's lemma
    E[y_k g(y)] = Σ_l S_kl E[∂_l g] with g = y_i 1{y_i>0} 1{y_j>0} (and twice for the yyᵀ A yyᵀ term):
    E[(JAJᵀ)_ij 1_i 1_j]·σ̂² = A_ij V'_ij − [V'_ij (SA + AS)_ij + W_ij (SA)_jj + W_ji (AS)_ii] / M
    + [2 V'_ij (SAS)_ij + W_ij (SAS)_jj + W_ji (SAS)_ii + tr(AS) V_ij] / M², with
    W_ij = E[y_i 1{y_i>0} δ(y_j)] = √(S_ii S_jj − S_ij²) / (2π S_jj)."""
    n, _, h, w = X.shape
    F = torch.nn.functional.unfold(X, 3, padding=1).numpy().transpose(0, 2, 1).reshape(n * h * w, 27)
    Sig = F @ F.T / 27
    M = len(Sig)
    P = np.eye(M) - 1.0 / M
    S0 = P @ Sig @ P
    S = S0 / (np.trace(S0) / M + 1e-5)
    A = S
    d = np.sqrt(np.diag(S))
    q = np.outer(d, d)
    c = np.clip(S / q, -1, 1)
    np.fill_diagonal(c, 1.0)
    t = np.arccos(c)
    V = (q * np.sin(t) + (np.pi - t) * S) / (2 * np.pi)
    Vd = (np.pi - t) / (2 * np.pi)
    W = q * np.sin(t) / (2 * np.pi) / (d**2)[None, :]
    SA = S @ A
    SAS = SA @ S
    E = (A * Vd - (Vd * (SA + SA.T) + W * np.diag(SA)[None, :] + W.T * np.diag(SA)[:, None]) / M
         + (2 * Vd * SAS + W * np.diag(SAS)[None, :] + W.T * np.diag(SAS)[:, None] + np.trace(SA) * V) / M**2)
    G = np.kron(np.eye(n), np.full((1, h * w), 1.0 / (h * w)))
    return 2 * G @ (V + A * Vd) @ G.T, 2 * G @ (V + E) @ G.T


@pytest.mark.slow
def test_bn_limit_bias_is_the_variance_gradient_at_the_relu():
    """The NTK floor is the dropped batch-variance gradient: on one BN followed by a ReLU (M = 256 and 32
    batch-pixel positions), the empirical NTK at C = 1024 (mean of 4 seeds) is ≥ 2.5× closer to the
    Stein-corrected kernel than to the deterministic limit (the map ``theory.nats`` applies at every BN),
    and within 0.02 of the corrected one."""
    for n, h in ((4, 8), (2, 4)):
        X = torch.from_numpy(np.random.default_rng(3).standard_normal((n, 3, h, h)))
        det, stein = _one_bn_kernels(X)
        torch.manual_seed(0)
        K = np.mean([empirical_ntk(_OneBN(1024).double(), X, method="loop").numpy() for _ in range(4)], axis=0)
        e_det = np.linalg.norm(K - det) / np.linalg.norm(det)
        e_stein = np.linalg.norm(K - stein) / np.linalg.norm(stein)
        print(f"M = {n * h * h}: deterministic limit {e_det:.4f}, Stein-corrected {e_stein:.4f}")
        assert e_stein < 0.02 and e_det > 2.5 * e_stein, (e_det, e_stein)

"""Exact kernels of theory/: closed-form checks, structural identities and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import (
    InputError,
    KernelTooLargeError,
    kernel_pieces,
    lambda_min,
    lean_kernels,
    nngp,
    ntk,
    sphere_data,
)
from theory.presets import all_nats_arch_strings, fc_chain, nats_fc_analogue, resnet
from theory.space import Arch, ArchError


def arccos_relu_chain(X: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent arc-cosine recursion (Cho & Saul 2009; Jacot et al. 2018; Arora et al. 2019) for
    h_l = relu(√(2/n) W_l h_{l-1}), f = vᵀh_L/√m: returns (NNGP, NTK)."""
    d = X.shape[1]
    S = X @ X.T / d
    theta_pre = 2.0 * S  # NTK of the first pre-activation: c_w Σ_0 with c_w = 2
    for layer in range(1, depth + 1):
        K = 2.0 * S
        dg = np.sqrt(np.diag(K))
        rho = np.clip(K / np.outer(dg, dg), -1, 1)
        np.fill_diagonal(rho, 1.0)  # exactly 1 (arccos is ill-conditioned there)
        t = np.arccos(rho)
        S = np.outer(dg, dg) / (2 * math.pi) * (np.sin(t) + (math.pi - t) * np.cos(t))
        S_dot = (math.pi - t) / (2 * math.pi)
        if layer < depth:
            theta_pre = 2.0 * S + 2.0 * theta_pre * S_dot
        else:
            theta = S + theta_pre * S_dot
    return S, theta


def arcsine_erf_chain(X: np.ndarray, depth: int) -> np.ndarray:
    """Independent arcsine recursion (Williams 1997) for an erf chain with c_w = 1/E[erf(z)²]."""
    d = X.shape[1]
    cw = 1.0 / (2 / math.pi * math.asin(2 / 3))
    S = X @ X.T / d
    theta_pre = cw * S
    for layer in range(1, depth + 1):
        K = cw * S
        a = 1 + 2 * np.diag(K)
        S = 2 / math.pi * np.arcsin(2 * K / np.sqrt(np.outer(a, a)))
        S_dot = 4 / math.pi / np.sqrt(np.outer(a, a) - 4 * K * K)
        theta_pre = cw * S + cw * theta_pre * S_dot if layer < depth else S + theta_pre * S_dot
    return theta_pre


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_relu_chain_matches_arccos_recursion(depth: int) -> None:
    X = sphere_data(20, 7, seed=depth)
    S, T = arccos_relu_chain(X, depth)
    p = kernel_pieces(fc_chain("relu", depth), X)
    np.testing.assert_allclose(p.nngp, S, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p.ntk, T, rtol=1e-12, atol=1e-12)


def test_erf_chain_matches_arcsine_recursion() -> None:
    X = sphere_data(15, 5, seed=3)
    np.testing.assert_allclose(ntk(fc_chain("erf", 3), X), arcsine_erf_chain(X, 3), rtol=1e-12, atol=1e-12)


def test_known_values_one_layer_relu() -> None:
    # one relu layer, orthogonal unit samples: Σ = 2·(1/2π)(sin(π/2)) = 1/π off-diagonal, 1 on the diagonal
    X = np.sqrt(2) * np.eye(2)
    p = kernel_pieces("|dense_relu~0|", X)
    np.testing.assert_allclose(p.nngp, [[1, 1 / math.pi], [1 / math.pi, 1]], atol=1e-15)
    # Θ = Σ + c_w Σ_0 ⊙ Σ̇ = Σ + 2·diag(1)·(1/2) off 0
    np.testing.assert_allclose(p.ntk, [[2, 1 / math.pi], [1 / math.pi, 2]], atol=1e-15)


def test_pieces_are_consistent() -> None:
    X = sphere_data(12, 6, seed=0) + 0.5
    arch = "|dense_sigmoid~0|+|skip_connect~0|dense_relu~1|+|skip_connect~0|0.5*dense_gelu~1|skip_connect~2|"
    p = kernel_pieces(arch, X, normalize=True)
    total = p.nngp + sum(e.ntk_term for e in p.edges)
    np.testing.assert_allclose(total, p.ntk, rtol=1e-13)
    for v in p.sigma:
        np.testing.assert_allclose(p.cross(v, v), p.sigma[v], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(p.pi_cross(v, v), p.pi[v], rtol=1e-12, atol=1e-13)
    # node 3 = skip(0) + 0.5 gelu + skip(2): Σ_33 = Σ_00 + Σ_22 + Σ_02 + Σ_20 + gelu terms ...
    S03 = p.cross(0, 3)
    np.testing.assert_allclose(S03, p.sigma[0] + p.cross(0, 2) + 0.5 * np.outer(p.mean[0], p.edge(4).feature_mean))
    np.testing.assert_allclose(p.pi[3], np.ones_like(p.pi[3]))  # output: Π = 1
    # Π_2 receives the skip 2→3 (coefficient 1) only, Π_1 the two dense edges out of node 1
    np.testing.assert_allclose(p.pi[2], p.pi[3])
    np.testing.assert_allclose(p.pi[1], p.edge(2).backward_kernel + p.edge(4).backward_kernel)
    assert p.mean[0] == pytest.approx(np.asarray(p.X).mean(1))


def test_skip_scale_and_parallel_edges() -> None:
    X = sphere_data(10, 4, seed=1)
    # two identical parallel dense edges are NOT one edge of scale 2: independent weights
    two = kernel_pieces("|dense_tanh~0|dense_tanh~0|", X).nngp
    one = kernel_pieces("|dense_tanh~0|", X).nngp
    np.testing.assert_allclose(two, 2 * one, rtol=1e-12)  # tanh has zero mean: variances add
    # relu has a mean: the cross-term M Mᵀ appears twice
    p = kernel_pieces("|dense_relu~0|dense_relu~0|", X)
    e = p.edges[0]
    np.testing.assert_allclose(p.nngp, 2 * e.feature_kernel + 2 * np.outer(e.feature_mean, e.feature_mean))
    # scaling a skip by α scales the kernel by α²
    a1 = nngp("|2*skip_connect~0|", X)
    np.testing.assert_allclose(a1, 4 * X @ X.T / X.shape[1], rtol=1e-13)


def test_dead_nodes_and_none() -> None:
    X = sphere_data(8, 4, seed=2)
    # node 1 is dead (only a none input): its sigmoid edge is dropped, as Arch.canonical does
    a = "|none~0|+|dense_relu~0|dense_sigmoid~1|"
    np.testing.assert_allclose(ntk(a, X), ntk("|dense_relu~0|", X), rtol=1e-13)
    assert np.all(ntk("|none~0|", X) == 0)
    assert lambda_min("|none~0|+|dense_relu~1|", X) == 0.0


def test_resnet_alpha_moves_the_kernel() -> None:
    X = sphere_data(10, 5, seed=4)
    lams = [lambda_min(resnet("relu", 4, al), X) for al in ("1/L", "1/sqrt(L)", "1")]
    assert all(np.isfinite(lams)) and len(set(np.round(lams, 12))) == 3


def test_nats_fc_analogues_are_psd() -> None:
    X = sphere_data(10, 6, seed=5)
    strings = all_nats_arch_strings()
    rng = np.random.default_rng(0)
    for i in rng.choice(len(strings), 25, replace=False):
        T = ntk(nats_fc_analogue(strings[i]), X)
        assert np.allclose(T, T.T)
        assert np.linalg.eigvalsh(T)[0] >= -1e-10


def test_conv_ops_are_rejected() -> None:
    with pytest.raises(ArchError, match="to_fc_analogue"):
        ntk("|nor_conv_3x3~0|", sphere_data(3, 4))


def test_bad_input() -> None:
    X = sphere_data(5, 4)
    Y = X.copy()
    Y[2, 1] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        ntk("|dense_relu~0|", Y)
    Y = X.copy()
    Y[1] *= 2
    with pytest.raises(InputError, match="normalize=True"):
        ntk("|dense_relu~0|", Y)
    np.testing.assert_allclose(ntk("|dense_relu~0|", Y, normalize=True), ntk("|dense_relu~0|", X), rtol=1e-12)
    with pytest.raises(InputError, match="2-D"):
        ntk("|dense_relu~0|", X[0])
    with pytest.raises(InputError, match="zero rows"):
        ntk("|dense_relu~0|", np.zeros((3, 2)))
    big = np.ones((300_000, 1))  # 300k² float64 = 720 GB per matrix: refused before allocating
    with pytest.raises(KernelTooLargeError, match="fewer samples"):
        ntk("|dense_relu~0|", big)
    with pytest.raises(MemoryError):
        kernel_pieces("|dense_relu~0|", X, max_bytes=100)


ACT_POOL = ["relu", "leaky_relu(0.2)", "tanh", "sigmoid", "swish", "gelu", "elu", "erf", "identity",
            "mix(0.5*relu,0.5*tanh)"]
OPS = st.sampled_from(["none", "skip_connect", "0.5*skip_connect"] + [f"dense_{a}" for a in ACT_POOL]
                      + ["0.7*dense_relu"])


@st.composite
def fc_archs(draw) -> Arch:
    n = draw(st.integers(1, 4))
    groups = []
    for j in range(1, n + 1):
        k = draw(st.integers(1, 3))
        toks = [f"{draw(OPS)}~{draw(st.integers(0, j - 1))}" for _ in range(k)]
        groups.append("|" + "|".join(toks) + "|")
    return Arch.parse("+".join(groups))


@settings(max_examples=25, deadline=None)
@given(arch=fc_archs(), seed=st.integers(0, 10), shift=st.floats(-0.5, 0.5))
def test_random_archs_psd_symmetric_and_canonical_invariant(arch: Arch, seed: int, shift: float) -> None:
    X = sphere_data(7, 5, seed=seed) + shift
    p = kernel_pieces(arch, X, normalize=True)
    for K in (p.ntk, p.nngp):
        assert np.all(np.isfinite(K))
        np.testing.assert_allclose(K, K.T, atol=1e-12)
        assert np.linalg.eigvalsh(K)[0] >= -1e-9 * max(1.0, np.abs(K).max())
    # the NTK dominates the NNGP (it adds PSD weight-gradient terms)
    assert np.linalg.eigvalsh(p.ntk - p.nngp)[0] >= -1e-9 * max(1.0, np.abs(p.ntk).max())
    # isomorphic cells (dead paths removed, relabelled) have the same kernels
    np.testing.assert_allclose(ntk(arch.canonical(), p.X), p.ntk, rtol=1e-10, atol=1e-12)


def test_large_variances_are_handled_or_refused() -> None:
    X = sphere_data(6, 4)
    # an alpha = 1 ELU ResNet reaches pre-activation variances ~1e3: finite kernel, honest (larger) bound
    p = kernel_pieces(resnet("elu", 10, 1.0), X)
    assert np.all(np.isfinite(p.ntk)) and 0 < p.relative_error_bound < 1e-2
    with pytest.raises(FloatingPointError, match="overflow"):
        kernel_pieces("|dense_relu~0|+|1e200*skip_connect~1|", X)


def test_warns_when_the_dual_series_is_truncated_at_large_variance() -> None:
    """Skips summing into a tanh edge raise its pre-activation variance to ~115, where the Mehler series
    of tanh cannot reach MEHLER_TOL within GH_MAX_ORDER orders for nearly parallel samples (|ρ| = 0.987
    at that edge): the kernel is returned with a warning naming the edge and the bound. The tail bound
    carries ρ_max^{R+1}, so the same cell on anti-parallel inputs (|ρ| = 0.43 at the edge) and a
    unit-variance cell are quiet."""
    import warnings

    import theory

    arch = Arch.from_edges([
        (0, 1, "dense_relu"), (0, 1, "skip_connect"), (1, 2, "dense_relu"), (1, 2, "skip_connect"),
        (1, 3, "skip_connect"), (2, 3, "dense_relu"), (2, 3, "skip_connect"), (3, 4, "dense_relu"),
        (4, 5, "dense_tanh"),
    ])
    a = math.pi / 4 - 0.3
    close = np.array([[1.0, 1.0], [math.sqrt(2) * math.cos(a), math.sqrt(2) * math.sin(a)]])
    with pytest.warns(RuntimeWarning, match=r"edge 4->5 tanh at pre-activation variance up to 115"):
        kp = theory.kernel_pieces(arch, close)
    assert kp.relative_error_bound > 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kp = theory.kernel_pieces(arch, np.array([[-1.0, 1.0], [1.0, -1.0]]))
        assert kp.relative_error_bound < theory.kernels.ACCURACY_WARNING
        kp = theory.kernel_pieces("|dense_tanh~0|+|dense_tanh~1|+|skip_connect~1|dense_sigmoid~2|",
                                  theory.sphere_data(20, 8, seed=0))
    assert kp.relative_error_bound < theory.kernels.ACCURACY_WARNING


@settings(max_examples=30, deadline=None)
@given(arch=fc_archs(), seed=st.integers(0, 10), shift=st.floats(-0.5, 0.5), n=st.integers(1, 9),
       block=st.sampled_from([1, 7, 64, 1 << 16]))
def test_lean_engine_equals_kernel_pieces(arch: Arch, seed: int, shift: float, n: int, block: int) -> None:
    """theory.lean (forward mode, upper-triangle row blocks, features freed after their last use)
    computes the same Θ and Σ_out as the backward-mode kernel_pieces, on random DAGs with skips,
    mixtures and dead nodes, unequal per-sample variances (shifted data), any block size."""
    X = sphere_data(n, 5, seed=seed) + shift
    p = kernel_pieces(arch, X, normalize=True)
    lk = lean_kernels(arch, X, ntk=True, nngp=True, normalize=True, block_elements=block)
    scale = max(1.0, float(np.abs(p.ntk).max()))
    np.testing.assert_allclose(lk.ntk, p.ntk, rtol=1e-11, atol=1e-12 * scale)
    np.testing.assert_allclose(lk.nngp, p.nngp, rtol=1e-11, atol=1e-12 * scale)
    assert np.array_equal(lk.ntk, lk.ntk.T)
    # edges that do not reach the output are skipped by the lean engine, so their bounds are not counted
    assert lk.relative_error_bound <= p.relative_error_bound * (1 + 1e-6)


def test_lean_engine_on_chains_resnets_and_cells() -> None:
    X = sphere_data(40, 6, seed=1)
    for arch in (fc_chain(["relu", "erf", "gelu", "leaky_relu(0.2)", "tanh", "swish"]), resnet("gelu", 5, 0.5),
                 nats_fc_analogue(all_nats_arch_strings()[123]), "|dense_relu~0|+|none~0|dense_tanh~1|"):
        p = kernel_pieces(arch, X)
        np.testing.assert_allclose(ntk(arch, X), p.ntk, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(nngp(arch, X), p.nngp, rtol=1e-12, atol=1e-13)
        only = lean_kernels(arch, X, ntk=False, nngp=True)
        assert only.ntk is None and np.allclose(only.nngp, p.nngp, rtol=1e-12, atol=1e-13)
    with pytest.raises(FloatingPointError, match="overflow"):
        ntk("|dense_relu~0|+|1e200*skip_connect~1|", sphere_data(6, 4))
    # duplicated samples: the same exact-diagonal rule as kernel_pieces (an exactly singular kernel)
    Y = sphere_data(5, 4, seed=2)[[0, 1, 2, 0, 3, 1]]
    for arch in ("|dense_tanh~0|+|dense_gelu~1|", "|dense_elu~0|+|skip_connect~0|dense_swish~1|"):
        T = ntk(arch, Y)
        assert T[0, 3] == T[0, 0] and T[1, 5] == T[1, 1]
        np.testing.assert_allclose(T[0], T[3], rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(T, kernel_pieces(arch, Y).ntk, rtol=1e-12, atol=1e-13)

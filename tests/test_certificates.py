"""Certificates stay bounds after numerical error: levels of ``bounds.certify`` against an independent
nested-quadrature NTK (scipy), on the cases where the computed kernel is inexact: nearly parallel
samples (elu, whose σ' jumps at 0), duplicated and nearly duplicated samples (tanh/gelu), and an error
made in the first layer that the second layer carries (tanh at a large pre-activation variance)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import integrate

import bounds
import theory
from theory.activations import parse_activation
from theory.errors import kernel_errors, spectral_bound
from theory.expdual import bvn_cdf, exp_family, exp_pair_dual
from theory.regularity import regularity

PHI = 1.0 / math.sqrt(2 * math.pi)
TOL = 1e-12


def _gauss(f, splits=(0.0,)) -> float:
    cuts = [-np.inf, *sorted({t for t in splits if abs(t) < 30.0}), np.inf]  # no mass beyond |z| = 30
    return sum(integrate.quad(lambda z: f(z) * PHI * math.exp(-0.5 * z * z), lo, hi,
                              epsabs=1e-14, epsrel=1e-13, limit=400)[0] for lo, hi in zip(cuts[:-1], cuts[1:]))


def pair_ref(f1, f2, q1: float, q2: float, c: float) -> float:
    """E[f1(u) f2(v)] by nested scipy.quad: u = √q1 z1, v = √q2 (ρ z1 + √(1−ρ²) z2), split at the kinks
    (0 for every activation here) and at the 1/√q transition."""
    rho = max(-1.0, min(1.0, c / math.sqrt(q1 * q2)))
    a, b = math.sqrt(q1), math.sqrt(q2)
    if rho == 1.0:
        return _gauss(lambda z: f1(a * z) * f2(b * z))
    s = math.sqrt(1 - rho * rho)

    def inner(z1: float) -> float:
        k = -rho * z1 / s
        return _gauss(lambda z2: f2(b * (rho * z1 + s * z2)), (k, 0.0))

    return _gauss(lambda z1: f1(a * z1) * inner(z1))


def _fn(act: str, derivative: bool):
    A = parse_activation(act)
    g = A.derivative_numpy if derivative else A.numpy
    return lambda x: float(g(np.array(x)))


def dual_ref(act: str, K: np.ndarray, derivative: bool) -> np.ndarray:
    f = _fn(act, derivative)
    N = K.shape[0]
    out = np.empty_like(K)
    for i in range(N):
        a = math.sqrt(K[i, i])
        out[i, i] = _gauss(lambda z, a=a: f(a * z) ** 2)
        for j in range(i + 1, N):
            out[i, j] = out[j, i] = pair_ref(f, f, K[i, i], K[j, j], K[i, j])
    return out


def chain_reference(acts: list[str], X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Θ and the node kernels of the chain |dense_a1~0|+|dense_a2~1|+... (NTK parametrization,
    c_w = 1/E[σ(z)²]): Σ_k = V_k (one feature per node), Θ = Σ_L + Σ_l Σ_{l−1} ⊙ c_l Π_l ⊙ V'_l,
    Π_L = 1, Π_{l−1} = c_l Π_l ⊙ V'_l."""
    N, d = X.shape
    sig = [X @ X.T / d]
    layers = []
    for a in acts:
        f = _fn(a, False)
        cw = 1.0 / _gauss(lambda z, f=f: f(z) ** 2)
        K = cw * sig[-1]
        V, Vd = dual_ref(a, K, False), dual_ref(a, K, True)
        layers.append((cw, Vd))
        sig.append(V)
    theta = sig[-1].copy()
    Pi = np.ones((N, N))
    for l in reversed(range(len(acts))):
        cw, Vd = layers[l]
        Pi = cw * Pi * Vd
        theta += sig[l] * Pi
    return theta, sig


def two_points(rho: float, radius: float = 1.0, d: int = 2) -> np.ndarray:
    t = math.acos(rho)
    X = np.zeros((2, d))
    X[0, 0] = 1.0
    X[1, 0], X[1, 1] = math.cos(t), math.sin(t)
    return X * radius * math.sqrt(d)


def _lmin2(T: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(T)[0])


def _certify(arch: str, X: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bounds.certify(arch, X)


def _check_levels(c, ref: float) -> None:
    assert abs(c.exact - ref) <= c.kernel_error + TOL, (c.exact, ref, c.kernel_error)
    for name in ("closed_lower", "s2", "s1"):
        assert getattr(c, name) <= ref + TOL, (name, getattr(c, name), ref)
    for name in ("u_2x2", "u_pair", "u_diag"):
        assert getattr(c, name) >= ref - TOL, (name, getattr(c, name), ref)


def test_nearly_parallel_elu_is_exact_and_certified_below_the_truth() -> None:
    """ρ = 0.999, |dense_elu(0.5)~0|: the truncated Mehler series gave λ_min = 5.769e-3 against
    5.656e-3 by quadrature, and S1 = S2 = 5.769e-3 above the truth."""
    X = two_points(0.999)
    ref_theta, _ = chain_reference(["elu(0.5)"], X)
    ref = _lmin2(ref_theta)
    assert ref == pytest.approx(5.656e-3, rel=1e-3)
    c = _certify("|dense_elu(0.5)~0|", X)
    assert abs(c.exact - ref) <= 1e-10 * ref_theta.max()
    assert c.kernel_error < 1e-9
    _check_levels(c, ref)


def test_duplicated_rows_give_a_singular_kernel_and_no_positive_certificate() -> None:
    X = theory.sphere_data(5, 8, seed=0)
    X = np.vstack([X, X[:1]])
    for arch in ("|dense_tanh~0|+|dense_gelu~1|", "|dense_gelu~0|+|skip_connect~0|dense_tanh~1|"):
        c = _certify(arch, X)
        assert c.s1 <= 0.0 and c.s2 <= 0.0 and c.closed_lower <= 0.0
        assert abs(c.exact) <= c.kernel_error
        kp = theory.kernel_pieces(arch, X)
        np.testing.assert_array_equal(kp.ntk[0], kp.ntk[-1])  # duplicated rows stay duplicated


def test_nearly_duplicated_rows_tanh_gelu_against_quadrature() -> None:
    """ρ = 1 − 1e-9 (not bitwise duplicates): the series is truncated there; the reported error covers
    it and no lower level exceeds the quadrature λ_min (the truncation tail gave S1 ≈ 4.5e-9 before)."""
    X = two_points(1 - 1e-9)
    ref_theta, _ = chain_reference(["tanh", "gelu"], X)
    ref = _lmin2(ref_theta)
    c = _certify("|dense_tanh~0|+|dense_gelu~1|", X)
    _check_levels(c, ref)


def test_error_of_the_first_layer_is_carried_by_the_second() -> None:
    """tanh at q ≈ 250 (radius 10): the first edge's series stays truncated at ρ = 0.99; the second
    layer's kernel differs from quadrature by more than its own edge's truncation bound, and the
    propagated bound covers the difference."""
    X = two_points(0.99, radius=10.0)
    arch = "|dense_tanh~0|+|dense_tanh~1|"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kp = theory.kernel_pieces(arch, X)
    err = kernel_errors(kp)
    ref_theta, ref_sig = chain_reference(["tanh", "tanh"], X)
    diff = np.abs(kp.sigma[2] - ref_sig[2])
    own = kp.edges[1].error_bound
    assert diff.max() > own + 1e-9, (diff.max(), own)  # the per-edge bound alone does not cover it
    assert np.all(diff <= err.sigma[2] + 1e-10)
    assert np.all(np.abs(kp.ntk - ref_theta) <= err.ntk + 1e-10)
    c = _certify(arch, X)
    _check_levels(c, _lmin2(ref_theta))


@pytest.mark.parametrize("act", ["relu", "leaky_relu(0.2)", "elu", "elu(0.5)", "tanh", "sigmoid", "erf",
                                 "gelu", "swish", "mix(0.5*relu,0.5*tanh)"])
def test_error_bound_covers_a_perturbed_input_kernel(act: str) -> None:
    """The Lipschitz/Hölder bound of a dual map: F(K + E) − F(K) for random E with |E| ≤ δ."""
    from theory.dual import dual, dual_derivative
    from theory.errors import dual_map_error

    rng = np.random.default_rng(1)
    X = theory.sphere_data(4, 3, seed=2)
    X = np.vstack([X, X[0] * math.cos(1e-3) + 1e-3 * X[1] / np.linalg.norm(X[1]) * math.sqrt(3)])
    K = 1.7 * X @ X.T / 3
    reg = regularity(parse_activation(act))
    for delta in (1e-3, 1e-6):
        E = rng.uniform(-delta, delta, K.shape)
        E = (E + E.T) / 2
        K2 = K + E
        for derivative, fn in ((False, dual), (True, dual_derivative)):
            a = fn(act, np.diag(K), np.diag(K), K, same=True)
            b = fn(act, np.diag(K2), np.diag(K2), K2, same=True)
            bound = dual_map_error(reg, K2, np.full(K.shape, delta), derivative)
            assert np.all(np.abs(a.value - b.value) <= bound + a.error_bound + b.error_bound + 1e-12)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "erf", "gelu", "swish", "elu(0.5)", "elu(2)", "leaky_relu(0.2)"])
def test_regularity_constants_bound_a_dense_grid(act: str) -> None:
    A = parse_activation(act)
    reg = regularity(A)
    x = np.linspace(-30, 30, 600_001)
    d = A.derivative_numpy(x)
    assert np.abs(d).max() <= reg.lip
    s = d - reg.jump * (x > 0)
    assert np.abs(s).max() <= reg.s_sup + 1e-15
    assert np.abs(np.diff(s) / np.diff(x)).max() <= reg.lip_s * (1 + 1e-6) + 1e-12
    assert abs(float(A.numpy(np.array(0.0)))) <= reg.at0 + 1e-15
    if reg.sup < math.inf:
        assert np.abs(A.numpy(x)).max() <= reg.sup


EXP_PAIRS = [("elu(0.5)", "elu(0.5)"), ("elu", "relu"), ("leaky_relu(0.2)", "elu(2)"), ("identity", "elu(0.3)")]
EXP_POINTS = [(1.86, 1.86, 0.999 * 1.86), (0.6, 1.7, -0.5), (8.0, 6.0, -5.0), (10.0, 10.0, 9.99)]


def _check_exp(pair, derivative: bool, points) -> None:
    a1, a2 = pair
    f1, f2 = _fn(a1, derivative), _fn(a2, derivative)
    for q1, q2, c in points:
        v = exp_pair_dual(exp_family(parse_activation(a1)), exp_family(parse_activation(a2)),
                          np.array([q1]), np.array([q2]), np.array([[c]]), derivative)[0, 0]
        assert v == pytest.approx(pair_ref(f1, f2, q1, q2, c), abs=1e-11)


@pytest.mark.parametrize("derivative", [False, True])
def test_exp_closed_form_matches_nested_quadrature(derivative: bool) -> None:
    """Cheap default: (elu(0.5), elu(0.5)) near ρ = 1 and (leaky_relu, elu(2)) at q = 10, ρ = 0.999."""
    _check_exp(EXP_PAIRS[0], derivative, EXP_POINTS[:1])
    _check_exp(EXP_PAIRS[2], derivative, EXP_POINTS[3:])


@pytest.mark.slow
@pytest.mark.parametrize("pair", EXP_PAIRS)
@pytest.mark.parametrize("derivative", [False, True])
def test_exp_closed_form_matches_nested_quadrature_all(pair, derivative: bool) -> None:
    _check_exp(pair, derivative, EXP_POINTS)


def test_bivariate_normal_cdf_against_quadrature_and_limits() -> None:
    from scipy.special import ndtr

    h = np.array([0.3, -1.0, 0.0, 0.0, 2.0])
    k = np.array([-0.7, 0.0, 0.5, 0.0, 1.0])
    for r in (-0.4, 0.0, 0.9, 0.999999):
        s = math.sqrt(1 - r * r)
        ref = [_gauss(lambda z, hh=hh, kk=kk, r=r, s=s: float(z < hh) * float(ndtr((kk - r * z) / s)), (hh,))
               for hh, kk in zip(h, k)]
        np.testing.assert_allclose(bvn_cdf(h, k, np.full(5, r)), ref, atol=1e-12)
    np.testing.assert_allclose(bvn_cdf(h, k, np.ones(5)), ndtr(np.minimum(h, k)), atol=1e-15)
    np.testing.assert_allclose(bvn_cdf(h, k, -np.ones(5)), np.clip(ndtr(h) - ndtr(-k), 0, None), atol=1e-15)


def test_spectral_bound_dominates_the_norm() -> None:
    rng = np.random.default_rng(0)
    B = rng.uniform(0, 1, (30, 30))
    B = B + B.T
    for _ in range(20):
        E = B * rng.uniform(-1, 1, B.shape)
        assert np.linalg.norm(E, 2) <= spectral_bound(B)

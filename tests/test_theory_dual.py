"""Dual activations of theory.dual against independent 2-D adaptive quadrature (scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from theory.activations import parse_activation
from theory.dual import (
    derivative_second_moments,
    dual,
    dual_derivative,
    dual_gauss_hermite,
    gaussian_mean,
    second_moments,
)

ACTS = [
    "relu", "leaky_relu(0.2)", "tanh", "sigmoid", "swish", "gelu", "elu", "erf", "identity",
    "mix(0.5*relu,0.5*tanh)", "mix(0.3*sigmoid,0.7*gelu)", "mix(0.5*leaky_relu(0.1),0.5*elu)",
]
# (q1, q2, c): equal and unequal variances, positive/negative/near-1 correlations
POINTS = [(1.0, 1.0, 0.3), (0.6, 1.7, -0.5), (2.5, 0.8, 1.3), (1.2, 1.5, 0.99 * math.sqrt(1.8))]
PHI = 1.0 / math.sqrt(2 * math.pi)


def reference(act_text: str, q1: float, q2: float, c: float, derivative: bool) -> float:
    """E[f(u) f(v)] by nested scipy.quad: u = √q1 z1, v = √q2 (ρ z1 + √(1−ρ²) z2), split where u, v = 0."""
    act = parse_activation(act_text)
    f = act.derivative_numpy if derivative else act.numpy
    rho = c / math.sqrt(q1 * q2)
    s = math.sqrt(1 - rho * rho)
    a, b = math.sqrt(q1), math.sqrt(q2)

    def inner(z1: float) -> float:
        def g(z2: float) -> float:
            return float(f(np.array(b * (rho * z1 + s * z2)))) * PHI * math.exp(-0.5 * z2 * z2)

        k = -rho * z1 / s  # the kink of f(v); also split at 0 where the Gaussian mass sits
        cuts = [-np.inf, min(k, 0.0), max(k, 0.0), np.inf]
        return sum(integrate.quad(g, lo, hi, epsabs=1e-11, epsrel=1e-10, limit=200)[0]
                   for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo)

    def outer(z1: float) -> float:
        return float(f(np.array(a * z1))) * PHI * math.exp(-0.5 * z1 * z1) * inner(z1)

    return sum(integrate.quad(outer, lo, hi, epsabs=1e-10, epsrel=1e-10, limit=200)[0]
               for lo, hi in ((-np.inf, 0.0), (0.0, np.inf)))


def check_points(act: str, derivative: bool, points) -> None:
    fn = dual_derivative if derivative else dual
    for a, b, c in points:
        res = fn(act, np.array([a]), np.array([b]), np.array([[c]]))
        ref = reference(act, a, b, c, derivative)
        # the stated accuracy: |error| <= error_bound (Mehler tail, Cauchy-Schwarz) + quadrature noise
        assert abs(res.value[0, 0] - ref) <= res.error_bound + 1e-8, (act, a, b, c, res.value[0, 0], ref)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("derivative", [False, True])
def test_dual_matches_2d_quadrature(act: str, derivative: bool) -> None:
    """Unequal variances with a negative and a near-one correlation (the cheap default)."""
    check_points(act, derivative, POINTS[1::2])


@pytest.mark.slow
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("derivative", [False, True])
def test_dual_matches_2d_quadrature_all_points(act: str, derivative: bool) -> None:
    check_points(act, derivative, POINTS)


@pytest.mark.parametrize("act", ["tanh", "mix(0.5*relu,0.5*tanh)"])
def test_truncation_bound_holds_and_shrinks_with_the_correlation(act: str) -> None:
    """At q = 100 the Mehler series of tanh stays truncated (order 160). The reported bound
    ρ_max^{R+1} √(T₁T₂) must cover the actual error against nested quadrature, be nearly attained
    close to ρ = 1 (the error is not far below it), and shrink with |ρ|: at ρ = 0.9 the series reaches
    MEHLER_TOL; at ρ = 1 (a sample against itself, off the declared diagonal) it is the plain
    Cauchy–Schwarz tail. A 2×2 kernel with ``same`` uses only the off-diagonal |ρ|."""
    q = 100.0
    bound_at_one = dual(act, np.array([q]), np.array([q]), np.array([[q]])).error_bound
    assert bound_at_one > 1e-3
    for rho in (0.9, 0.99):
        res = dual(act, np.array([q]), np.array([q]), np.array([[rho * q]]))
        err = abs(res.value[0, 0] - reference(act, q, q, rho * q, False))
        assert err <= res.error_bound + 1e-10, (rho, err, res.error_bound)
        assert res.error_bound <= rho ** 100 * bound_at_one
        if rho == 0.99:
            assert err > 0.1 * res.error_bound  # the bound is nearly attained there
    K = q * np.array([[1.0, 0.9], [0.9, 1.0]])
    assert dual(act, np.diag(K), np.diag(K), K, same=True).error_bound < 1e-9 * q
    assert dual(act, np.diag(K), np.diag(K), K).error_bound == pytest.approx(bound_at_one)


def gauss_1d(f) -> float:
    """E[f(z)], z ~ N(0, 1), by adaptive quadrature split at 0 (where the kinks are)."""
    return sum(integrate.quad(lambda t: f(t) * PHI * math.exp(-t * t / 2), lo, hi, epsabs=1e-13)[0]
               for lo, hi in ((-np.inf, 0.0), (0.0, np.inf)))


@pytest.mark.parametrize("act", ACTS)
def test_diagonal_is_exact_and_mean(act: str) -> None:
    q = np.array([0.5, 1.0, 2.0])
    K = np.diag(q)
    res = dual(act, q, q, K, same=True)
    dres = dual_derivative(act, q, q, K, same=True)
    a = parse_activation(act)
    for i, qi in enumerate(q):
        sq = math.sqrt(qi)
        ref2 = gauss_1d(lambda t, s=sq: float(a.numpy(np.array(s * t))) ** 2)
        assert res.value[i, i] == pytest.approx(ref2, rel=1e-9, abs=1e-12)
        assert second_moments(act, q)[i] == pytest.approx(ref2, rel=1e-9, abs=1e-12)
        ref_d = gauss_1d(lambda t, s=sq: float(a.derivative_numpy(np.array(s * t))) ** 2)
        assert dres.value[i, i] == pytest.approx(ref_d, rel=1e-9, abs=1e-12)
        assert derivative_second_moments(act, q)[i] == pytest.approx(ref_d, rel=1e-9, abs=1e-12)
        ref_m = gauss_1d(lambda t, s=sq: float(a.numpy(np.array(s * t))))
        assert gaussian_mean(act, q)[i] == pytest.approx(ref_m, rel=1e-9, abs=1e-12)


def test_closed_forms_are_exact_and_mehler_bounds_are_small() -> None:
    q = np.array([1.0, 1.5])
    c = np.array([[1.0, 0.4], [0.4, 1.5]])
    for act in ("relu", "leaky_relu(0.2)", "erf", "identity", "mix(0.5*relu,0.5*identity)", "gelu",
                "mix(0.5*relu,0.5*leaky_relu(0.3))"):
        assert dual(act, q, q, c).error_bound == 0.0
        assert dual_derivative(act, q, q, c).error_bound == 0.0
    for act in ("tanh", "sigmoid", "swish"):
        assert dual(act, q, q, c).error_bound < 1e-8
        assert dual_derivative(act, q, q, c).error_bound < 1e-8
    assert dual("elu", q, q, c).error_bound < 1e-8  # elu is C^1: fast decay
    assert dual_derivative("elu", q, q, c).error_bound < 1e-4  # elu' has a kink: algebraic decay


def test_generic_gauss_hermite_agrees_for_smooth_activations() -> None:
    q1, q2 = np.array([0.7, 1.3]), np.array([1.1, 0.9, 2.0])
    c = np.array([[0.2, -0.4, 0.9], [0.6, 0.1, -1.2]])
    for act in ("tanh", "sigmoid", "gelu", "swish", "erf"):
        np.testing.assert_allclose(dual(act, q1, q2, c).value, dual_gauss_hermite(act, q1, q2, c, n=60), atol=1e-10)


def test_bad_variances_raise() -> None:
    with pytest.raises(ValueError, match="positive"):
        dual("tanh", np.array([0.0]), np.array([1.0]), np.array([[0.0]]))
    with pytest.raises(ValueError, match="shape"):
        dual("tanh", np.array([1.0]), np.array([1.0]), np.zeros((2, 2)))


@pytest.mark.parametrize("derivative", [False, True])
def test_gelu_closed_form_matches_nested_quadrature_tightly(derivative: bool) -> None:
    """The gelu dual is a closed form (``theory.activations._gelu_kernel``): it must agree with nested adaptive
    quadrature to quadrature accuracy at unequal variances, negative, small and near-±1 correlations,
    and at large variance where the Mehler series would need many orders."""
    fn = dual_derivative if derivative else dual
    for q1, q2, c in [(1.0, 1.0, 0.3), (0.6, 1.7, -0.5), (2.5, 0.8, 1.3), (1.2, 1.5, 0.99 * math.sqrt(1.8)),
                      (30.0, 40.0, -0.98 * math.sqrt(1200.0)), (0.05, 0.02, 0.0)]:
        res = fn("gelu", np.array([q1]), np.array([q2]), np.array([[c]]))
        assert res.error_bound == 0.0
        ref = reference("gelu", q1, q2, c, derivative)
        assert res.value[0, 0] == pytest.approx(ref, rel=1e-8, abs=1e-10), (q1, q2, c)

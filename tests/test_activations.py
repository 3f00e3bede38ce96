"""Activations: forms, derivatives, Hermite coefficients (against a reference table), Parseval, mixtures."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from theory.activations import (
    ACTIVATION_NAMES,
    Activation,
    ActivationError,
    Mixture,
    default_weight_variance,
    derivative_hermite_coefficients,
    hermite_coefficient_symbolic,
    hermite_coefficients,
    parse_activation,
    second_moment,
)
from theory.dual import derivative_second_moments, dual, dual_derivative
from theory.gaussian import GH_MAX_ORDER, normalized_hermite, smooth_rule

# reference values (6 digits) of μ_0..μ_6 and E[σ²] at q = 1
TABLE = {
    "relu": ([0.398942, 0.5, 0.282095, 0, -0.081434, 0, 0.044603], 0.5),
    "leaky_relu(0.2)": ([0.319154, 0.6, 0.225676, 0, -0.065147, 0, 0.035682], 0.52),
    "sigmoid": ([0.5, 0.206621, 0, -0.025473, 0, 0.005877, 0], 0.293379),
    "tanh": ([0, 0.605706, 0, -0.148437, 0, 0.062548, 0], 0.394294),
    "swish": ([0.206621, 0.5, 0.248085, 0, -0.037805, 0, 0.009827], 0.355776),
    "gelu": ([0.282095, 0.5, 0.299207, 0, -0.071978, 0, 0.027597], 0.425221),
}
ALL = ["relu", "leaky_relu(0.2)", "leaky_relu(0.01)", "tanh", "sigmoid", "swish", "gelu", "elu", "elu(0.5)",
       "erf", "identity", "mix(0.5*relu,0.5*tanh)", "mix(0.2*gelu,0.3*sigmoid,0.5*erf)"]


def _quad_mu(act, r: int, q: float) -> float:
    """Independent reference: adaptive quadrature split at 0 of σ(√q z) h_r(z) φ(z)."""
    sq = math.sqrt(q)

    def f(t):
        return float(act.numpy(np.array(sq * t))) * float(normalized_hermite(r, np.array(t))[r]) * math.exp(
            -t * t / 2) / math.sqrt(2 * math.pi)

    return integrate.quad(f, -40, 0, epsabs=1e-13, limit=500)[0] + integrate.quad(f, 0, 40, epsabs=1e-13, limit=500)[0]


@pytest.mark.parametrize("name", list(TABLE))
def test_table_values(name):
    mu_ref, m2 = TABLE[name]
    mu = hermite_coefficients(name, 6)
    np.testing.assert_allclose(mu, mu_ref, atol=1e-6)
    assert abs(second_moment(name) - m2) < 1e-6


def test_relu_closed_form_matches_notes_formula():
    mu = hermite_coefficients("relu", 40)
    for r in range(2, 41, 2):
        df = math.prod(range(r - 3, 0, -2)) if r > 3 else 1
        assert mu[r] ** 2 == pytest.approx(df**2 / (2 * math.pi * math.factorial(r)), rel=1e-12)
    assert np.all(mu[3::2] == 0)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("q", [0.3, 1.0, 2.5])
def test_coefficients_match_independent_quadrature(name, q):
    act = parse_activation(name)
    mu = hermite_coefficients(act, 12, q)
    ref = [_quad_mu(act, r, q) for r in range(13)]
    np.testing.assert_allclose(mu, ref, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("q", [0.5, 1.0, 3.0])
def test_parseval(name, q):
    """Σ_r μ_r² = E[σ²] to 1e-6 (E[σ²] computed directly, not from the series)."""
    mu = hermite_coefficients(name, 20000, q)
    assert abs(float(np.sum(mu**2)) - second_moment(name, q)) < 1e-6


SATURATING = ["tanh", "sigmoid", "swish", "gelu"]


@pytest.mark.parametrize("name", SATURATING)
@pytest.mark.parametrize("q", [54.6, 1e6])
def test_smooth_coefficients_at_large_variance(name, q):
    """At large q, σ(√q t) turns from −1 to 1 (or 0 to 1, or bends like relu) within |t| ≲ 1/√q, narrower
    than the Gauss–Hermite node spacing near 0: fixed Gauss–Hermite gave errors of 3e-4 in μ_r of tanh
    at q = 54.6 and 2e-2 for gelu at q = 1e3. Reference: adaptive quadrature split at 0, ±1/√q, ±10/√q,
    ±40/√q; for sigmoid at q = 1e6 also Stein: μ_1 = √q E[s'(√q z)] = φ(0)(1 − π²/(6q)) + O(q⁻²)
    (the logistic density has variance π²/3)."""
    act = parse_activation(name)
    sq = math.sqrt(q)
    mu = hermite_coefficients(act, 160, q)
    for r in (1, 2, 40, 160):

        def f(t, r=r):
            return float(act.numpy(np.array(sq * t))) * float(normalized_hermite(r, np.array(t))[r]) * math.exp(
                -t * t / 2) / math.sqrt(2 * math.pi)

        pts = sorted({-30.0, 30.0, 0.0, *(s * k / sq for k in (1, 10, 40) for s in (-1, 1))})
        ref = sum(integrate.quad(f, a, b, epsabs=1e-15, epsrel=1e-12, limit=2000)[0] for a, b in zip(pts[:-1], pts[1:]))
        assert mu[r] == pytest.approx(ref, abs=1e-11), (name, q, r)
    if name == "sigmoid" and q == 1e6:
        assert mu[1] == pytest.approx((1 - math.pi**2 / (6 * q)) / math.sqrt(2 * math.pi), abs=1e-11)


@pytest.mark.parametrize("q", [0.5, 1.0, 1.01, 4.0, 1e3, 1e8])
def test_smooth_rule_integrates_hermite_products_exactly(q):
    """Both rules of ``smooth_rule`` (Gauss–Hermite below GH_MAX_Q, composite above) reproduce the
    orthonormality E[h_r(z) h_s(z)] = δ_rs for all r, s ≤ GH_MAX_ORDER."""
    t, w = smooth_rule(q)
    H = normalized_hermite(GH_MAX_ORDER, t)
    np.testing.assert_allclose((H * w) @ H.T, np.eye(GH_MAX_ORDER + 1), atol=1e-13)


@pytest.mark.parametrize("q", [1e2, 1e4, 1e6])
def test_second_moment_of_saturating_activations_against_asymptotes(q):
    """E[tanh(√q z)²] = 1 − 2/√(2πq) + O(q^{-3/2}) (∫(tanh² − 1) = −2) and E[sigmoid(√q z)²] =
    1/2 − 1/√(2πq) + O(q^{-3/2}) (∫(s² − 1{x>0}) dx = −2∫_0^∞ s(1 − s) dx = −1); fixed Gauss–Hermite
    was 2.5 % off for tanh at q = 200."""
    c = 1.0 / math.sqrt(2 * math.pi * q)
    assert second_moment("tanh", q) == pytest.approx(1 - 2 * c, abs=2 * q**-1.5)
    assert second_moment("sigmoid", q) == pytest.approx(0.5 - c, abs=2 * q**-1.5)


def test_second_moment_independent():
    for name in ALL:
        act = parse_activation(name)
        f = lambda t, act=act: float(act.numpy(np.array(t))) ** 2 * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        ref = integrate.quad(f, -40, 0, epsabs=1e-13)[0] + integrate.quad(f, 0, 40, epsabs=1e-13)[0]
        assert second_moment(act) == pytest.approx(ref, abs=1e-10), name


act_names = st.sampled_from(["relu", "tanh", "sigmoid", "swish", "gelu", "elu", "erf", "identity", "leaky_relu(0.3)"])


@given(st.lists(st.tuples(st.floats(0.05, 1.0), act_names), min_size=1, max_size=4), st.floats(0.2, 3.0))
def test_mixture_coefficients_are_the_mixture_of_coefficients(parts, q):
    total = sum(w for w, _ in parts)
    comps = tuple((w / total, parse_activation(a)) for w, a in parts)
    comps = (comps[0][0] + (1.0 - sum(w for w, _ in comps)), comps[0][1]), *comps[1:]
    mix = Mixture(comps)
    expect = sum(w * hermite_coefficients(a, 20, q) for w, a in comps)
    np.testing.assert_allclose(hermite_coefficients(mix, 20, q), expect, atol=1e-12)
    assert parse_activation(mix.token) == mix


@given(st.sampled_from(ALL), st.integers(0, 25))
def test_parseval_partial_sums_never_exceed_second_moment(name, r):
    mu = hermite_coefficients(name, r)
    assert float(np.sum(mu**2)) <= second_moment(name) + 1e-12


@pytest.mark.parametrize("name", ["relu", "leaky_relu(0.2)", "erf", "identity", "elu", "elu(2.5)"])
def test_symbolic_equals_float(name):
    for q in (1.0, 2.0):
        mu = hermite_coefficients(name, 10, q)
        sym = [float(hermite_coefficient_symbolic(name, r, q)) for r in range(11)]
        np.testing.assert_allclose(mu, sym, atol=1e-13)


def test_symbolic_relu_is_exact():
    import sympy as sp

    assert sp.simplify(hermite_coefficient_symbolic("relu", 0) - 1 / sp.sqrt(2 * sp.pi)) == 0
    assert hermite_coefficient_symbolic("relu", 1) == sp.Rational(1, 2)
    assert hermite_coefficient_symbolic("relu", 3) == 0


@pytest.mark.parametrize("name", ALL)
def test_derivative_coefficients_by_stein(name):
    """E[σ'(√q z) h_r(z)] from Stein's lemma equals direct quadrature of σ'."""
    act = parse_activation(name)
    q = 1.7
    d = derivative_hermite_coefficients(act, 8, q)
    for r in range(9):
        f = lambda t, r=r: float(act.derivative_numpy(np.array(math.sqrt(q) * t))) * float(  # noqa: E731
            normalized_hermite(r, np.array(t))[r]) * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
        ref = integrate.quad(f, -40, 0, epsabs=1e-13)[0] + integrate.quad(f, 0, 40, epsabs=1e-13)[0]
        assert d[r] == pytest.approx(ref, abs=1e-9), (name, r)


@pytest.mark.parametrize("name", ALL)
def test_numpy_torch_and_derivatives_agree(name):
    act = parse_activation(name)
    x = np.linspace(-4, 4, 81) + 1e-3  # avoid evaluating exactly at kinks
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = act.torch(xt)
    np.testing.assert_allclose(y.detach().numpy(), act.numpy(x), atol=1e-12)
    (g,) = torch.autograd.grad(y.sum(), xt)
    np.testing.assert_allclose(g.numpy(), act.derivative_numpy(x), atol=1e-10)


def test_default_weight_variance_normalizes_second_moment():
    assert default_weight_variance("relu") == pytest.approx(2.0)
    for name in ALL:
        assert default_weight_variance(name) * second_moment(name) == pytest.approx(1.0)


def test_every_listed_name_parses_and_round_trips():
    for name in ACTIVATION_NAMES:
        a = parse_activation(name)
        assert parse_activation(a.token) == a


@pytest.mark.parametrize(
    "bad, match",
    [
        ("softplus", "unknown activation"),
        ("relu(2)", "takes no parameter"),
        ("leaky_relu(x)", "not a number"),
        ("leaky_relu(1.5)", r"\[0, 1\)"),
        ("mix(0.5*relu,0.6*tanh)", "sum to 1"),
        ("mix(-0.5*relu,1.5*tanh)", "non-negative"),
        ("mix(relu)", "malformed mixture"),
        ("elu(-1)", "positive"),
    ],
)
def test_bad_activation_errors(bad, match):
    with pytest.raises(ActivationError, match=match):
        parse_activation(bad)


def test_bad_orders():
    with pytest.raises(ActivationError, match="r must be >= 0"):
        hermite_coefficients("relu", -1)
    with pytest.raises(ActivationError, match="integer"):
        hermite_coefficients("relu", 2.5)
    with pytest.raises(ActivationError, match="variance q"):
        hermite_coefficients("relu", 3, q=-1.0)


def test_closed_forms_are_dispatched_on_the_activations_methods() -> None:
    """theory.dual and the moments know no activation by name: an activation that only declares
    σ = 2·relu through ``relu_identity_parts`` gets the exact arc-cosine duals (bound 0, four times
    relu's) and the closed derivative moment; its second moment, which it does not declare, comes
    from quadrature and agrees."""
    @dataclass(frozen=True)
    class TwoReLU(Activation):
        name = "two_relu"
        kinks = (0.0,)

        def numpy(self, x):
            return 2.0 * np.maximum(x, 0.0)

        def derivative_numpy(self, x):
            return 2.0 * (np.asarray(x) > 0)

        def torch(self, x):
            return 2.0 * torch.relu(x)

        def relu_identity_parts(self):
            return 2.0, 0.0

    act = TwoReLU()
    q = np.array([0.7, 1.6])
    c = np.array([[0.7, -0.5], [-0.5, 1.6]])
    for fn in (dual, dual_derivative):
        res = fn(act, q, q, c)
        assert res.error_bound == 0.0
        np.testing.assert_allclose(res.value, 4.0 * fn("relu", q, q, c).value, rtol=1e-14)
    assert derivative_second_moments(act, q).tolist() == [2.0, 2.0]
    assert second_moment(act, 1.3) == pytest.approx(2 * 1.3, rel=1e-11)
    mix = parse_activation("mix(0.25*relu,0.75*gelu)")
    assert [a.token for _, a in mix.terms] == ["relu", "gelu"] and mix.is_mixture
    np.testing.assert_allclose(hermite_coefficients(mix, 6, 1.5), 0.25 * hermite_coefficients("relu", 6, 1.5)
                               + 0.75 * hermite_coefficients("gelu", 6, 1.5), rtol=1e-15)

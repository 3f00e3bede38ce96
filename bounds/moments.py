"""Gaussian moments of an activation at pre-activation variance q, used by the bounds.

For z ~ N(0, 1) and σ_q(z) = σ(√q z):

* ``mean(act, q)``            M = E[σ_q(z)] = μ_0(σ_q)
* ``second(act, q)``          E = E[σ_q(z)²] = Σ_s μ_s(σ_q)²                   (Parseval)
* ``deriv_second(act, q)``    ν = E[σ'(√q z)²];  q·ν = Σ_{s≥1} s μ_s(σ_q)²     (Stein + Parseval)
* ``hermite(act, r, q)``      μ_0..μ_r(σ_q) (``eigennas.activations.hermite_coefficients``)

The identity q·ν = Σ_{s≥1} s μ_s² follows from Stein's lemma E[σ_q'(z) h_{s−1}(z)] = √s μ_s(σ_q)
with σ_q'(z) = √q σ'(√q z) and Parseval for σ_q'. It lets the bounds keep the whole Hermite tail
Σ_{s>r} s μ_s² in closed form: q·ν − Σ_{s≤r} s μ_s².
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import integrate

from eigennas.activations import (
    GH_NODES,
    Activation,
    Erf,
    Identity,
    LeakyReLU,
    ReLU,
    hermite_coefficients,
    parse_activation,
    second_moment,
)

__all__ = ["mean", "second", "deriv_second", "hermite", "centered_tail", "ntk_tail"]


def _gh(n: int = GH_NODES) -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / math.sqrt(2 * math.pi)


_Z, _W = _gh()


def hermite(act: Activation | str, r: int, q: float) -> np.ndarray:
    """μ_0..μ_r(σ_q), float64."""
    return hermite_coefficients(parse_activation(act), int(r), float(q))


def mean(act: Activation | str, q: float) -> float:
    """E[σ(√q z)] = μ_0(σ_q)."""
    return float(hermite(act, 0, q)[0])


def second(act: Activation | str, q: float) -> float:
    """E[σ(√q z)²]."""
    return float(second_moment(parse_activation(act), float(q)))


@lru_cache(maxsize=4096)
def _deriv_second(act: Activation, q: float) -> float:
    if isinstance(act, ReLU):
        return 0.5
    if isinstance(act, LeakyReLU):
        return 0.5 * (1.0 + act.slope**2)
    if isinstance(act, Identity):
        return 1.0
    if isinstance(act, Erf):
        # σ' = 2/√π e^{−x²}: E[σ'(√q z)²] = (4/π) E[e^{−2 q z²}] = (4/π)/√(1 + 4q)
        return 4.0 / math.pi / math.sqrt(1.0 + 4.0 * q)
    sq = math.sqrt(q)
    # adaptive quadrature, split at the kinks and at 0: for a smooth saturating σ (tanh, sigmoid) at a
    # large variance, σ'(√q z)² is a peak of width ≈ 1/√q around z = 0 that fixed Gauss–Hermite nodes
    # miss (tanh at q = 54.6: GH gave 0.0578, the integral is 0.0718, below the true Θ_ii)
    breaks = [-np.inf] + sorted({0.0, *(k / sq for k in act.kinks)}) + [np.inf]
    phi = 1.0 / math.sqrt(2 * math.pi)

    def f(t: float) -> float:
        return float(act.derivative_numpy(np.array(sq * t))) ** 2 * phi * math.exp(-0.5 * t * t)

    return float(sum(integrate.quad(f, a, b, epsabs=1e-14, epsrel=1e-12, limit=400)[0]
                     for a, b in zip(breaks[:-1], breaks[1:])))


def deriv_second(act: Activation | str, q: float) -> float:
    """ν = E[σ'(√q z)²] (closed form for relu, leaky_relu, identity, erf; quadrature otherwise;
    mixtures by quadrature of (Σ β_k σ_k')², split at the kinks)."""
    return _deriv_second(parse_activation(act), float(q))


def centered_tail(act: Activation | str, r: int, q: float) -> float:
    """Σ_{s>r} μ_s(σ_q)² = E[σ_q²] − Σ_{s≤r} μ_s², clipped at 0 against rounding."""
    mu = hermite(act, r, q)
    return max(0.0, second(act, q) - float(np.sum(mu**2)))


def ntk_tail(act: Activation | str, r: int, q: float) -> float:
    """Σ_{s>r} s μ_s(σ_q)² = q·ν − Σ_{1≤s≤r} s μ_s², clipped at 0 against rounding."""
    mu = hermite(act, r, q)
    s = np.arange(r + 1)
    return max(0.0, q * deriv_second(act, q) - float(np.sum(s * mu**2)))

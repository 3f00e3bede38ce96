"""Gaussian moments of an activation at pre-activation variance q, used by the bounds.

For z ~ N(0, 1) and σ_q(z) = σ(√q z):

* ``mean(act, q)``            M = E[σ_q(z)] = μ_0(σ_q)
* ``second(act, q)``          E = E[σ_q(z)²] = Σ_s μ_s(σ_q)²                   (Parseval)
* ``deriv_second(act, q)``    ν = E[σ'(√q z)²];  q·ν = Σ_{s≥1} s μ_s(σ_q)²     (Stein + Parseval)
* ``hermite(act, r, q)``      μ_0..μ_r(σ_q) (``theory.activations.hermite_coefficients``)

The identity q·ν = Σ_{s≥1} s μ_s² follows from Stein's lemma E[σ_q'(z) h_{s−1}(z)] = √s μ_s(σ_q)
with σ_q'(z) = √q σ'(√q z) and Parseval for σ_q'. It lets the bounds keep the whole Hermite tail
Σ_{s>r} s μ_s² in closed form: q·ν − Σ_{s≤r} s μ_s².
"""

from __future__ import annotations

import numpy as np

from theory.activations import (
    Activation,
    hermite_coefficients,
    parse_activation,
    second_moment,
)
from theory.dual import derivative_second_moments

__all__ = ["mean", "second", "deriv_second", "hermite", "centered_tail", "ntk_tail"]


def hermite(act: Activation | str, r: int, q: float) -> np.ndarray:
    """μ_0..μ_r(σ_q), float64."""
    return hermite_coefficients(parse_activation(act), int(r), float(q))


def mean(act: Activation | str, q: float) -> float:
    """E[σ(√q z)] = μ_0(σ_q)."""
    return float(hermite(act, 0, q)[0])


def second(act: Activation | str, q: float) -> float:
    """E[σ(√q z)²]."""
    return float(second_moment(parse_activation(act), float(q)))


def deriv_second(act: Activation | str, q: float) -> float:
    """ν = E[σ'(√q z)²]: the exact-kernel engine's value (``theory.dual.derivative_second_moments``:
    closed forms for the relu family and erf, otherwise adaptive quadrature split at 0 and at the kinks,
    mixtures as (Σ β_k σ_k')²), so the bounds and the exact kernels use one ν."""
    return float(derivative_second_moments(act, np.array([float(q)]))[0])


def centered_tail(act: Activation | str, r: int, q: float) -> float:
    """Σ_{s>r} μ_s(σ_q)² = E[σ_q²] − Σ_{s≤r} μ_s², clipped at 0 against rounding."""
    mu = hermite(act, r, q)
    return max(0.0, second(act, q) - float(np.sum(mu**2)))


def ntk_tail(act: Activation | str, r: int, q: float) -> float:
    """Σ_{s>r} s μ_s(σ_q)² = q·ν − Σ_{1≤s≤r} s μ_s², clipped at 0 against rounding."""
    mu = hermite(act, r, q)
    s = np.arange(r + 1)
    return max(0.0, q * deriv_second(act, q) - float(np.sum(s * mu**2)))

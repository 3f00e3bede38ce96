"""Gaussian numerics: normalized Hermite polynomials and the quadrature rules for E[f(z)], z ~ N(0, 1).

* ``normalized_hermite``: h_r = He_r/√(r!) by the stable three-term recurrence;
* ``smooth_rule(q)``: nodes and weights for E[σ(√q z) h_r(z)] of a smooth activation σ, r ≤
  ``GH_MAX_ORDER``: Gauss–Hermite (``GH_NODES`` nodes) for q ≤ ``GH_MAX_Q``; above it a composite
  Gauss–Legendre rule whose panels follow both t and x = √q t, because σ(√q t) then changes on the scale
  1/√q around 0 (tanh → sign, sigmoid → step, swish/gelu → relu), narrower than the Gauss–Hermite node
  spacing near 0 (≈ 0.2);
* ``gaussian_expectation(f, splits)``: adaptive quadrature (scipy ``quad``) split at 0 and at kinks.

Used by ``theory.activations`` (Hermite coefficients, second moments) and ``theory.dual`` (dual
activations).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from scipy import integrate

__all__ = [
    "GH_NODES",
    "GH_MAX_ORDER",
    "GH_MAX_Q",
    "check_variance",
    "normalized_hermite",
    "smooth_rule",
    "gaussian_expectation",
]

#: Number of Gauss–Hermite nodes used for smooth activations.
GH_NODES = 240
#: Orders above this are set to 0 for quadrature-based (smooth) activations: the rule cannot
#: resolve them, and for the smooth activations here Σ_{r > 160} μ_r² < 1e-8 for q ≤ 4 (tested via Parseval).
#: At large q (σ_q close to a step or a relu) the tail is not small; ``theory.dual`` bounds it by Parseval.
GH_MAX_ORDER = 160
#: Largest variance q at which the smooth activations use Gauss–Hermite (measured: E[σ²] and μ_0..μ_6
#: within 3e-16 of adaptive quadrature at q = 1, 1e-10 at q = 4); above it ``smooth_rule`` switches to
#: the composite rule.
GH_MAX_Q = 1.0
#: Composite rule: panels of width COMPOSITE_DT in t on [−COMPOSITE_T, COMPOSITE_T] (|h_r φ| < 1e-100
#: beyond, r ≤ 160), refined to width COMPOSITE_DX/√q in t where |√q t| ≤ COMPOSITE_X (beyond it the
#: four smooth activations are constant or linear to double precision), COMPOSITE_ORDER Gauss–Legendre
#: nodes per panel.
COMPOSITE_T = 30.0
COMPOSITE_DT = 0.5
COMPOSITE_X = 40.0
COMPOSITE_DX = 1.0
COMPOSITE_ORDER = 16


def check_variance(q: float) -> float:
    """q as a float, refused (ValueError) unless positive and finite."""
    q = float(q)
    if not (math.isfinite(q) and q > 0):
        raise ValueError(f"pre-activation variance q must be positive and finite, got {q!r}")
    return q


def normalized_hermite(r_max: int, z: np.ndarray) -> np.ndarray:
    """Rows h_0..h_{r_max} of normalized probabilists' Hermite polynomials He_r/√(r!) at z.

    Stable three-term recurrence h_{r+1} = (z h_r − √r h_{r−1}) / √(r+1).
    """
    z = np.asarray(z, dtype=np.float64)
    out = np.empty((r_max + 1,) + z.shape, dtype=np.float64)
    out[0] = 1.0
    if r_max >= 1:
        out[1] = z
    for r in range(1, r_max):
        out[r + 1] = (z * out[r] - math.sqrt(r) * out[r - 1]) / math.sqrt(r + 1)
    return out


@lru_cache(maxsize=8)
def _gh_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / math.sqrt(2 * math.pi)


@lru_cache(maxsize=4096)
def _composite_rule(q: float) -> tuple[np.ndarray, np.ndarray]:
    breaks = np.arange(-COMPOSITE_T, COMPOSITE_T + COMPOSITE_DT / 2, COMPOSITE_DT)
    sq = math.sqrt(q)
    if COMPOSITE_DX / sq < COMPOSITE_DT:
        x = np.arange(-COMPOSITE_X, COMPOSITE_X + COMPOSITE_DX / 2, COMPOSITE_DX) / sq
        breaks = np.union1d(breaks[np.abs(breaks) > COMPOSITE_X / sq], x)
    g, gw = np.polynomial.legendre.leggauss(COMPOSITE_ORDER)
    a, b = breaks[:-1, None], breaks[1:, None]
    t = ((a + b) / 2 + (b - a) / 2 * g).ravel()
    w = ((b - a) / 2 * gw).ravel() * np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    return t, w


def smooth_rule(q: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes t and weights w with Σ_i w_i f(t_i) ≈ E[f(z)], z ~ N(0, 1), for f(t) = σ(√q t)·h_r(t) of
    a smooth activation σ and r ≤ ``GH_MAX_ORDER``.

    q ≤ ``GH_MAX_Q``: Gauss–Hermite with ``GH_NODES`` nodes (exact for polynomials of degree < 480).
    Larger q: composite 16-point Gauss–Legendre with the weight φ(t) folded in, on panels of width 0.5
    in t over [−30, 30] (h_r φ for r ≤ 160 lives in |t| ≲ √(4r+2) ≈ 25) and of width 1 in x = √q t
    where |x| ≤ 40, so both the Hermite polynomials (local frequency ≈ √(2r) ≤ 18) and σ's transition
    of width 1/√q around 0 are resolved by every panel; it reproduces E[h_r h_s] = δ_rs for r, s ≤ 160
    to 1e-14 (tested).
    """
    q = check_variance(q)
    return _gh_rule(GH_NODES) if q <= GH_MAX_Q else _composite_rule(q)


def gaussian_expectation(f: Callable[[float], float], splits: Sequence[float] = ()) -> float:
    """E[f(z)], z ~ N(0, 1), by adaptive quadrature (scipy ``quad``) on pieces split at 0 and at
    ``splits`` (for σ(√q t): t = k/√q at the kinks k of σ). The split at 0 keeps the rule on the
    1/√q-wide transition that saturating activations have there at large q."""
    phi = 1.0 / math.sqrt(2 * math.pi)
    breaks = [-np.inf] + sorted({0.0, *(float(k) for k in splits)}) + [np.inf]

    def g(t: float) -> float:
        return f(t) * phi * math.exp(-0.5 * t * t)

    return float(sum(integrate.quad(g, a, b, epsabs=1e-14, epsrel=1e-13, limit=400)[0]
                     for a, b in zip(breaks[:-1], breaks[1:])))

"""Closed-form dual activations of the exp-linear family σ = a·relu + b·x + α·g, g(x) = (eˣ − 1)·1{x<0}.

The family holds elu(α) = relu + α·g and, with α = 0, relu, leaky_relu and identity, so every pair
(elu, elu), (elu, relu-type) of a cell or a mixture gets an exact value. The Mehler series cannot give
one near ρ → 1: σ' of elu(α ≠ 1) jumps at 0, its Hermite coefficients decay like r^(−3/4), and the
truncated series (order 1200) misses ~10⁻⁴ of E[σ'(u)σ'(v)] at ρ = 0.999.

For a centred Gaussian pair (u, v), Var u = q1, Var v = q2, Cov = c, ρ = c/√(q1 q2), the needed
expectations reduce by exponential tilting (E[e^{tᵀW} f(W)] = e^{tᵀCt/2} E[f(W + Ct)]) to the
bivariate normal CDF Φ₂(h, k; r) = P(X < h, Y < k) (Owen's T function, Owen 1956) and to Rosenbaum's
(1961) first truncated moment E[X·1{X>h, Y>k}] = φ(h)Φ((rh − k)/√(1−r²)) + r φ(k)Φ((rk − h)/√(1−r²)):

    E[g'(u) g'(v)]      = E[e^{u+v} 1{u<0, v<0}] = e^{(q1+q2+2c)/2} Φ₂(−(q1+c)/√q1, −(q2+c)/√q2; ρ)
    E[1{u>0} g'(v)]     = e^{q2/2} Φ₂(c/√q1, −√q2; −ρ)
    E[g'(v)]            = e^{q2/2} Φ(−√q2)
    E[g(u) g(v)]        = E[g'(u)g'(v)] − e^{q1/2}Φ₂(−√q1, −c/√q2; ρ) − e^{q2/2}Φ₂(−c/√q1, −√q2; ρ) + Φ₂(0, 0; ρ)
    E[relu(u) g(v)]     = e^{q2/2} [√q1 R(−c/√q1, √q2; −ρ) + c Φ₂(c/√q1, −√q2; −ρ)] − √q1 φ(0)(1 − ρ)/2
    E[u g(v)]           = c E[g'(v)]                          (Stein's lemma)

with R the Rosenbaum moment. The relu/identity pairs are the arc-cosine kernels (``theory.dual``).

Numerics: the formulas multiply e^{q/2}-sized factors by small Φ₂ values that Owen's formula obtains
as differences of terms of size Φ(h); the absolute rounding error grows like eps·e^{q(1−ρ²)/2}.
They are therefore used for variances up to ``EXP_CLOSED_MAX_Q`` only (tested against nested
quadrature to 1e-12 there); above it ``theory.dual`` falls back to the Mehler series and its bound.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from theory.activations import ELU, Activation, Identity, LeakyReLU, ReLU

__all__ = ["EXP_CLOSED_MAX_Q", "exp_family", "exp_pair_dual"]

#: Largest pre-activation variance at which the closed forms are used (rounding ≲ 1e-13 there).
EXP_CLOSED_MAX_Q = 12.0

_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)


def exp_family(act: Activation) -> tuple[float, float, float] | None:
    """(a, b, α) with σ = a·relu + b·x + α·(eˣ − 1)1{x<0}, or None when σ is not in the family."""
    if isinstance(act, ReLU):
        return 1.0, 0.0, 0.0
    if isinstance(act, LeakyReLU):
        return 1.0 - act.slope, act.slope, 0.0
    if isinstance(act, Identity):
        return 0.0, 1.0, 0.0
    if isinstance(act, ELU):
        return 1.0, 0.0, float(act.alpha)
    return None


def _owens_t_limit(h: np.ndarray, k: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Owen's T(h, (k − r h)/(h s)), with its limit ±1/4 at h = 0 (sign of k − r h)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (k - r * h) / (h * s)
    t = special.owens_t(np.where(h == 0, 1.0, h), np.where(h == 0, 0.0, a))
    lim = 0.25 * np.sign(np.where(h == 0, k - r * h, 0.0))
    return np.where(h == 0, lim, t)


def bvn_cdf(h, k, r) -> np.ndarray:
    """Φ₂(h, k; r) = P(X < h, Y < k) for standard normals of correlation r ∈ [−1, 1] (vectorized).

    |r| < 1: Owen (1956), Φ₂ = ½Φ(h) + ½Φ(k) − T(h, a_h) − T(k, a_k) − β with
    a_h = (k − rh)/(h√(1−r²)), a_k = (h − rk)/(k√(1−r²)), β = ½ when hk < 0 or (hk = 0, h + k < 0);
    r = 1: Φ(min(h, k)); r = −1: max(0, Φ(h) − Φ(−k))."""
    h, k, r = np.broadcast_arrays(np.asarray(h, float), np.asarray(k, float), np.asarray(r, float))
    inner = np.abs(r) < 1.0
    s = np.sqrt(np.clip(1.0 - r * r, 0.0, None))
    rs = np.where(inner, r, 0.0)
    ss = np.where(inner, s, 1.0)
    both0 = (h == 0) & (k == 0)
    beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    val = (0.5 * special.ndtr(h) + 0.5 * special.ndtr(k)
           - _owens_t_limit(h, k, rs, ss) - _owens_t_limit(k, h, rs, ss) - beta)
    val = np.where(both0, 0.25 + np.arcsin(np.clip(r, -1, 1)) / (2 * np.pi), val)
    one = special.ndtr(np.minimum(h, k))
    minus = np.clip(special.ndtr(h) - special.ndtr(-k), 0.0, None)
    val = np.where(inner, val, np.where(r > 0, one, minus))
    return np.clip(val, 0.0, 1.0)


def _ndtr_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Φ(num/den) with den ≥ 0, taking Φ(±∞) at den = 0 and Φ(0/0) = ½ (the ρ = ±1 limits)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = num / den
    return np.where(np.isnan(x), 0.5, special.ndtr(x))


def rosenbaum(h, k, r) -> np.ndarray:
    """E[X·1{X > h, Y > k}] for standard normals of correlation r (Rosenbaum 1961), r = ±1 included."""
    h, k, r = np.broadcast_arrays(np.asarray(h, float), np.asarray(k, float), np.asarray(r, float))
    s = np.sqrt(np.clip(1.0 - r * r, 0.0, None))
    phi_h = _PHI0 * np.exp(-0.5 * h * h)
    phi_k = _PHI0 * np.exp(-0.5 * k * k)
    return phi_h * _ndtr_ratio(r * h - k, s) + r * phi_k * _ndtr_ratio(r * k - h, s)


def _eg1(q: np.ndarray) -> np.ndarray:
    """E[g'(√q z)] = E[e^{√q z} 1{z<0}] = e^{q/2}Φ(−√q) = erfcx(√(q/2))/2 (overflow-free)."""
    return 0.5 * special.erfcx(np.sqrt(q / 2.0))


def _gd_gd(q1, q2, c, rho) -> np.ndarray:
    s1, s2 = np.sqrt(q1), np.sqrt(q2)
    return np.exp((q1 + q2 + 2 * c) / 2) * bvn_cdf(-(q1 + c) / s1, -(q2 + c) / s2, rho)


def _step_gd(q1, q2, c, rho) -> np.ndarray:
    """E[1{u>0} g'(v)]."""
    return np.exp(q2 / 2) * bvn_cdf(c / np.sqrt(q1), -np.sqrt(q2), -rho)


def _g_g(q1, q2, c, rho) -> np.ndarray:
    s1, s2 = np.sqrt(q1), np.sqrt(q2)
    return (_gd_gd(q1, q2, c, rho)
            - np.exp(q1 / 2) * bvn_cdf(-s1, -c / s2, rho)
            - np.exp(q2 / 2) * bvn_cdf(-c / s1, -s2, rho)
            + bvn_cdf(np.zeros_like(rho), np.zeros_like(rho), rho))


def _relu_g(q1, q2, c, rho) -> np.ndarray:
    """E[relu(u) g(v)]."""
    s1, s2 = np.sqrt(q1), np.sqrt(q2)
    tilted = np.exp(q2 / 2) * (s1 * rosenbaum(-c / s1, s2, -rho) + c * bvn_cdf(c / s1, -s2, -rho))
    return tilted - s1 * _PHI0 * (1.0 - rho) / 2.0


def _arc(q1, q2, c, rho, derivative: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E[relu relu], E[relu(u) v] = c/2, E[u v] = c) or the derivative analogues ((π−θ)/2π, ½, 1)."""
    theta = np.arccos(rho)
    if derivative:
        return (np.pi - theta) / (2 * np.pi), np.full_like(rho, 0.5), np.ones_like(rho)
    k = np.sqrt(q1 * q2) / (2 * np.pi) * (np.sqrt(np.clip(1.0 - rho * rho, 0.0, None)) + (np.pi - theta) * rho)
    return k, c / 2.0, c


def exp_pair_dual(f1: tuple[float, float, float], f2: tuple[float, float, float],
                  q1: np.ndarray, q2: np.ndarray, c: np.ndarray, derivative: bool) -> np.ndarray:
    """E[σ1(u_i) σ2(v_j)] (or E[σ1'σ2']) exactly, for σ_k = a_k relu + b_k x + α_k g (``exp_family``).

    q1 (N,), q2 (M,), c (N, M); returns (N, M) float64. Variances above ``EXP_CLOSED_MAX_Q`` are the
    caller's to avoid (the rounding grows like eps·e^{q/2})."""
    a1, b1, g1 = f1
    a2, b2, g2 = f2
    Q1 = np.asarray(q1, float).reshape(-1, 1) * np.ones((1, np.size(q2)))
    Q2 = np.ones((np.size(q1), 1)) * np.asarray(q2, float).reshape(1, -1)
    C = np.asarray(c, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.clip(C / np.sqrt(Q1 * Q2), -1.0, 1.0)
    rr, ri, ii = _arc(Q1, Q2, C, rho, derivative)
    out = a1 * a2 * rr + (a1 * b2 + b1 * a2) * ri + b1 * b2 * ii
    if derivative:
        if g2:
            out = out + g2 * (a1 * _step_gd(Q1, Q2, C, rho) + b1 * _eg1(Q2))
        if g1:
            out = out + g1 * (a2 * _step_gd(Q2, Q1, C, rho) + b2 * _eg1(Q1))
        if g1 and g2:
            out = out + g1 * g2 * _gd_gd(Q1, Q2, C, rho)
        return out
    if g2:
        out = out + g2 * (a1 * _relu_g(Q1, Q2, C, rho) + b1 * C * _eg1(Q2))
    if g1:
        out = out + g1 * (a2 * _relu_g(Q2, Q1, C, rho) + b2 * C * _eg1(Q1))
    if g1 and g2:
        out = out + g1 * g2 * _g_g(Q1, Q2, C, rho)
    return out

"""Dual activations: Gaussian expectations of products of activations (and of their derivatives).

For a centred Gaussian pair (u, v) with Var u = q1, Var v = q2, Cov(u, v) = c (ρ = c/√(q1 q2)):

    dual(σ)(q1, q2, c)   = E[σ(u) σ(v)],        dual(σ')(q1, q2, c) = E[σ'(u) σ'(v)],
    mean(σ)(q)           = E[σ(√q z)] = μ_0(σ_q).

Every function here is vectorized: ``q1`` (N,), ``q2`` (M,) and ``c`` (N, M) give an (N, M) array,
all float64. Unequal variances are supported throughout (diagonals of kernels differ between samples
as soon as a node mixes a skip from a non-zero-mean input with a dense edge).

Methods
-------
* **relu / leaky_relu / identity** (any member of the family a·relu(x) + b·x, and pairs of them):
  the arc-cosine kernels of Cho & Saul (2009), θ = arccos ρ,
  E[relu(u) relu(v)] = √(q1 q2)/(2π)·(sin θ + (π − θ) cos θ),  E[1{u>0} 1{v>0}] = (π − θ)/(2π),
  and by Stein's lemma E[relu(u) v] = c/2, E[u v] = c. Exact.
* **erf**: Williams (1997) arcsine kernel
  E[erf(u) erf(v)] = (2/π) arcsin(2c / √((1 + 2 q1)(1 + 2 q2))), and
  E[erf'(u) erf'(v)] = (4/π) / √((1 + 2 q1)(1 + 2 q2) − 4c²). Exact.
* **elu** (and elu against the relu family): exact closed forms through the bivariate normal CDF
  (``theory.expdual``) for variances up to ``EXP_CLOSED_MAX_Q``; the Mehler series below cannot
  reach ρ → 1 there (σ' jumps at 0, coefficients decay like r^(−3/4)).
* **gelu** (x·Φ(x)): with s_i = 1 + q_i, D = s1 s2 − c², κ = 1/s1 + 1/s2 − 1,
  E[σ(u)σ(v)] = c/4 + c·arcsin(c/√(s1 s2))/(2π) + (q1 q2 + κc²)/(2π√D), and its c-derivative
  for E[σ'σ'] (derived in ``theory.activations._gelu_kernel``). Exact.
* **everything else** (tanh, sigmoid, swish, elu at larger variances, cross terms of mixtures): Mehler's formula
  with per-sample coefficients, valid for unequal variances,

      E[σ(u) τ(v)] = Σ_r μ_r(σ_{q1}) μ_r(τ_{q2}) ρ^r,

  truncated at order R. By Cauchy–Schwarz the truncation error of every entry is bounded by
  ρ_max^{R+1} √(T_σ(q1, R) · T_τ(q2, R)) with the Parseval tail T_σ(q, R) = E[σ(√q z)²] − Σ_{r≤R} μ_r(σ_q)²,
  computed exactly from the 1-D second moment, and ρ_max the largest |ρ| among the entries the series
  evaluates (off the diagonal when ``same``: the diagonal is exact, below); R is increased (up to
  ``MEHLER_MAX_ORDER``) until this bound is ≤ ``MEHLER_TOL`` times the diagonal scale, and the bound
  actually achieved is returned with the value (``DualResult.error_bound``). Derivative duals use the Stein coefficients
  ν_r(σ'_q) = √(r+1) μ_{r+1}(σ_q)/√q and the same bound with E[σ'(√q z)²].
  For smooth activations μ_r is computed by quadrature (``theory.gaussian.smooth_rule``:
  Gauss–Hermite, or a composite rule at large q) and orders above ``GH_MAX_ORDER`` are not resolved:
  the tail bound accounts for that.
* the **diagonal** (same sample on both sides, c = q1 = q2) is always exact: 1-D adaptive quadrature
  of σ² and σ'² (split at kinks) or closed forms, never the series.

Mixtures Σ_k β_k σ_k are expanded bilinearly, E = Σ_{k,l} β_k β_l E[σ_k(u) σ_l(v)], each pair by the
best method above.

A generic 2-D Gauss–Hermite rule (``dual_gauss_hermite``) is provided as an independent reference
(used by the benchmark as the baseline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from theory.activations import (
    Activation,
    hermite_coefficients,
    parse_activation,
    second_moment,
)
from theory.gaussian import GH_MAX_ORDER, GH_MAX_Q, gaussian_expectation, normalized_hermite, smooth_rule

from .expdual import EXP_CLOSED_MAX_Q, exp_family, exp_pair_dual

__all__ = [
    "DualResult",
    "DualPlan",
    "MEHLER_TOL",
    "MEHLER_MAX_ORDER",
    "dual",
    "dual_derivative",
    "gaussian_mean",
    "second_moments",
    "derivative_second_moments",
    "dual_gauss_hermite",
]

#: Target bound on the Mehler truncation error, relative to √(E[σ_{q1}²] E[σ_{q2}²]).
MEHLER_TOL = 1e-9
#: Largest Mehler order used for activations with closed-form Hermite coefficients (e.g. elu).
MEHLER_MAX_ORDER = 1200


@dataclass(frozen=True)
class DualResult:
    """An (N, M) dual-activation matrix and a bound on its absolute error per entry (0 = exact up
    to rounding)."""

    value: np.ndarray
    error_bound: float


def _rho(q1: np.ndarray, q2: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.sqrt(np.outer(q1, q2))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(s > 0, c / np.where(s > 0, s, 1.0), 0.0)
    return np.clip(rho, -1.0, 1.0), s


# ---------------------------------------------------------------------------------------------
# 1-D quantities, exact


@lru_cache(maxsize=65536)
def _deriv_second_moment(act: Activation, q: float) -> float:
    """E[σ'(√q z)²]: the activation's closed form (``Activation.derivative_second_moment_closed``),
    else adaptive quadrature split at the kinks."""
    closed = act.derivative_second_moment_closed(q)
    if closed is not None:
        return float(closed)
    sq = math.sqrt(q)
    return gaussian_expectation(lambda t: float(act.derivative_numpy(np.array(sq * t))) ** 2,
                                [k / sq for k in act.kinks])


@lru_cache(maxsize=65536)
def _cross_second_moment(a1: Activation, a2: Activation, q1: float, q2: float, derivative: bool) -> float:
    """E[σ(√q1 z) τ(√q2 z)] (the ρ = 1 value; derivatives if asked) by adaptive quadrature split at 0
    and at the kinks of both (``theory.gaussian.gaussian_expectation``)."""
    s1, s2 = math.sqrt(q1), math.sqrt(q2)
    f1 = a1.derivative_numpy if derivative else a1.numpy
    f2 = a2.derivative_numpy if derivative else a2.numpy
    kinks = [k / s1 for k in a1.kinks] + [k / s2 for k in a2.kinks]
    return gaussian_expectation(lambda t: float(f1(np.array(s1 * t))) * float(f2(np.array(s2 * t))), kinks)


def _unique(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique values of q (exact float equality) and the inverse index."""
    return np.unique(np.asarray(q, dtype=np.float64), return_inverse=True)


def second_moments(act: str | Activation, q: np.ndarray) -> np.ndarray:
    """E[σ(√q_i z)²] per entry of q, exactly (closed forms or adaptive 1-D quadrature)."""
    act = parse_activation(act)
    u, inv = _unique(q)
    vals = np.array([_second_moment_any(act, float(x)) for x in u])
    return vals[inv].reshape(np.shape(q))


def _second_moment_any(act: Activation, q: float) -> float:
    if act.is_mixture:
        return _cross_second_moment(act, act, q, q, False)
    return second_moment(act, q)


def derivative_second_moments(act: str | Activation, q: np.ndarray) -> np.ndarray:
    """E[σ'(√q_i z)²] per entry of q, exactly (closed forms or adaptive 1-D quadrature)."""
    act = parse_activation(act)
    u, inv = _unique(q)
    vals = np.array([_deriv_second_moment(act, float(x)) for x in u])
    return vals[inv].reshape(np.shape(q))


def gaussian_mean(act: str | Activation, q: np.ndarray) -> np.ndarray:
    """E[σ(√q_i z)] = μ_0(σ_{q_i}) per entry of q (exact where μ_0 has a closed form)."""
    act = parse_activation(act)
    u, inv = _unique(q)
    vals = np.array([hermite_coefficients(act, 0, float(x))[0] for x in u])
    return vals[inv].reshape(np.shape(q))


# ---------------------------------------------------------------------------------------------
# Mehler series with per-sample coefficients


def _max_order(act: Activation) -> int:
    return MEHLER_MAX_ORDER if act.is_exact else GH_MAX_ORDER


@lru_cache(maxsize=8)
def _gh_hermite(r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Gauss–Hermite rule of ``theory.gaussian`` (q ≤ GH_MAX_Q) and h_0..h_r at its nodes."""
    z, w = smooth_rule(GH_MAX_Q)
    return z, w, normalized_hermite(r, z)


def _mu_matrix(act: Activation, q_unique: np.ndarray, r_max: int) -> np.ndarray:
    """(len(q_unique), r_max+1) μ_r(σ_q). Smooth activations: the rule of ``hermite_coefficients``
    (``smooth_rule``: Gauss–Hermite vectorized over the q ≤ GH_MAX_Q, the composite rule per larger q;
    orders above GH_MAX_ORDER set to 0, even orders of odd σ set to 0); others: ``hermite_coefficients``
    per q (closed forms)."""
    if act.is_exact or act.kinks or act.is_mixture:
        return np.array([hermite_coefficients(act, r_max, float(q)) for q in q_unique])
    r_eff = min(r_max, GH_MAX_ORDER)
    out = np.zeros((len(q_unique), r_max + 1))
    small = q_unique <= GH_MAX_Q
    if small.any():
        z, w, H = _gh_hermite(r_eff)
        out[small, : r_eff + 1] = (act.numpy(np.sqrt(q_unique[small])[:, None] * z[None, :]) * w) @ H.T
    for i in np.flatnonzero(~small):
        out[i, : r_eff + 1] = hermite_coefficients(act, r_eff, float(q_unique[i]))
    if act.is_odd:
        out[:, 0::2] = 0.0
    return out


def _coeffs(act: Activation, q_unique: np.ndarray, r_max: int, derivative: bool) -> np.ndarray:
    """(len(q_unique), r_max+1) Hermite coefficients of σ_q (or of σ'_q via Stein)."""
    if derivative:
        mu = _mu_matrix(act, q_unique, r_max + 1)
        return np.sqrt(np.arange(1, r_max + 2))[None, :] * mu[:, 1:] / np.sqrt(q_unique)[:, None]
    return _mu_matrix(act, q_unique, r_max)


def _trusted(A: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Keep the leading orders whose coefficients are finite and respect Parseval (Σ_{r≤R} μ_r² ≤ E[σ²]);
    closed-form recurrences can lose accuracy at very large q, and the tail bound then covers the rest."""
    ok = np.isfinite(A).all(0)
    with np.errstate(invalid="ignore", over="ignore"):
        ok &= (np.cumsum(np.where(np.isfinite(A), A, 0.0) ** 2, axis=1) <= e[:, None] * (1 + 1e-9) + 1e-300).all(0)
    n_ok = int(np.argmin(ok)) if not ok.all() else ok.size
    return A[:, : max(n_ok, 1)]


@dataclass(frozen=True)
class _Mehler:
    """Truncated Mehler coefficients of one pair: ``coef`` (R+1,) when both sides have one variance,
    else per-sample rows ``C1`` (N, R+1), ``C2`` (M, R+1); ``bound`` the tail bound."""

    r: int
    bound: float
    coef: np.ndarray | None = None
    C1: np.ndarray | None = None
    C2: np.ndarray | None = None

    def evaluate(self, rho: np.ndarray, rows=slice(None), cols=slice(None)) -> np.ndarray:
        """Σ_{r≤R} μ_r ν_r ρ^r by Horner on the (rows, cols) block whose correlations are ``rho``."""
        r = self.r
        if self.coef is not None:
            coef = self.coef
            acc = np.full_like(rho, coef[r])
            for k in range(r - 1, -1, -1):
                acc *= rho
                acc += coef[k]
            return acc
        C1, C2 = self.C1[rows], self.C2[cols]
        acc = np.multiply.outer(C1[:, r], C2[:, r])
        for k in range(r - 1, -1, -1):  # Horner in ρ
            acc *= rho
            acc += np.multiply.outer(C1[:, k], C2[:, k])
        return acc


def _mehler_plan(a1: Activation, a2: Activation, q1, q2, derivative: bool, rho_max: float = 1.0) -> _Mehler:
    """The coefficients of Σ_r μ_r(a1_{q1}) μ_r(a2_{q2}) ρ^r with an adaptive order R and its tail bound

        |Σ_{r>R} μ_r ν_r ρ^r| ≤ ρ_max^{R+1} √(T_1 T_2)   (Cauchy–Schwarz, |ρ| ≤ ρ_max on every entry used).
    """
    u1, i1 = _unique(q1)
    u2, i2 = _unique(q2)
    mom = derivative_second_moments if derivative else second_moments
    e1 = mom(a1, u1)
    e2 = mom(a2, u2)
    r_cap = min(_max_order(a1), _max_order(a2))
    r = min(40, r_cap)
    while True:
        A1 = _trusted(_coeffs(a1, u1, r, derivative), e1)
        A2 = _trusted(_coeffs(a2, u2, r, derivative), e2)
        r_eff = min(A1.shape[1], A2.shape[1]) - 1
        A1, A2 = A1[:, : r_eff + 1], A2[:, : r_eff + 1]
        t1 = np.clip(e1 - (A1**2).sum(1), 0.0, None)
        t2 = np.clip(e2 - (A2**2).sum(1), 0.0, None)
        bound = rho_max ** (r_eff + 1) * float(np.sqrt(t1.max() * t2.max()))
        scale = float(np.sqrt(e1.max() * e2.max()))
        if bound <= MEHLER_TOL * max(scale, 1e-300) or r >= r_cap or r_eff < r:
            break
        r = min(2 * r, r_cap)
    if len(u1) == 1 and len(u2) == 1:  # one variance on each side (data on the sphere): scalar Horner
        return _Mehler(r_eff, bound, coef=A1[0] * A2[0])
    return _Mehler(r_eff, bound, C1=A1[i1], C2=A2[i2])


def _mehler_pair(a1: Activation, a2: Activation, q1, q2, c, derivative: bool,
                 rho_max: float = 1.0) -> tuple[np.ndarray, float]:
    """Σ_r μ_r(a1_{q1}) μ_r(a2_{q2}) ρ^r on the whole (N, M) covariance (see ``_mehler_plan``)."""
    plan = _mehler_plan(a1, a2, q1, q2, derivative, rho_max)
    rho, _ = _rho(q1, q2, c)
    return plan.evaluate(rho), plan.bound


def _pair_dual(a1: Activation, a2: Activation, q1, q2, c, derivative: bool,
               rho_max: float = 1.0) -> tuple[np.ndarray, float]:
    """E[a1(u) a2(v)] (or of the derivatives): the pair's closed form (``Activation.dual_closed_form``),
    else the exp-linear closed form (``_exp_closed``), else Mehler's series."""
    kernel = a1.dual_closed_form(a2)
    if kernel is not None:
        q1, q2 = np.asarray(q1)[:, None], np.asarray(q2)[None, :]
        v, d = kernel(q1, q2, c, not derivative, derivative)
        return (d if derivative else v), 0.0
    closed = _exp_closed(a1, a2, q1, q2, c, derivative)
    if closed is not None:
        return closed
    return _mehler_pair(a1, a2, q1, q2, c, derivative, rho_max)


def _exp_closed(a1: Activation, a2: Activation, q1, q2, c, derivative: bool) -> tuple[np.ndarray, float] | None:
    """The exact exp-linear closed form (``theory.expdual``) for a pair involving elu, when both
    sides are in the family and every variance is at most ``EXP_CLOSED_MAX_Q``; its bound is the
    rounding allowance 16·eps·e^{q_max/2}·scale (measured error ≈ eps·e^{q/2}·scale, tests)."""
    f1, f2 = exp_family(a1), exp_family(a2)
    if f1 is None or f2 is None:
        return None
    q_max = max(float(np.max(q1)), float(np.max(q2)))
    if q_max > EXP_CLOSED_MAX_Q:
        return None
    scale = 1.0 if derivative else max(1.0, q_max)
    return exp_pair_dual(f1, f2, q1, q2, c, derivative), 16.0 * np.finfo(np.float64).eps * math.exp(q_max / 2) * scale


def _dual(act, q1, q2, c, derivative: bool, same: bool) -> DualResult:
    act = parse_activation(act)
    q1 = np.asarray(q1, dtype=np.float64).reshape(-1)
    q2 = np.asarray(q2, dtype=np.float64).reshape(-1)
    c = np.asarray(c, dtype=np.float64)
    if c.shape != (q1.size, q2.size):
        raise ValueError(f"covariance has shape {c.shape}, expected {(q1.size, q2.size)} from the variances")
    if np.any(q1 <= 0) or np.any(q2 <= 0) or not (np.all(np.isfinite(q1)) and np.all(np.isfinite(q2))):
        raise ValueError("pre-activation variances must be positive and finite")
    if same and q1.size != q2.size:
        raise ValueError("same=True needs a square covariance")
    rho_abs = np.abs(_rho(q1, q2, c)[0])
    if same:  # the diagonal is replaced by the exact second moment below: only |ρ| off it matters
        np.fill_diagonal(rho_abs, 0.0)
    rho_max = float(rho_abs.max()) if rho_abs.size else 0.0
    comps = act.terms
    total = np.zeros_like(c)
    bound = 0.0
    for w1, s1 in comps:
        for w2, s2 in comps:
            val, b = _pair_dual(s1, s2, q1, q2, c, derivative, rho_max)
            total += (w1 * w2) * val
            bound += abs(w1 * w2) * b
    if same:
        diag = derivative_second_moments(act, q1) if derivative else second_moments(act, q1)
        np.fill_diagonal(total, diag)
        _copy_duplicates(total, q1, c)
    return DualResult(total, bound)


def _copy_duplicates(total: np.ndarray, q: np.ndarray, c: np.ndarray) -> None:
    """Entries (i, j) with q_i = q_j = c_ij (bitwise) describe one Gaussian on both sides (u_i = u_j
    a.s., e.g. duplicated samples): their exact value is the diagonal's, not the truncated series'.
    Without this a kernel of duplicated rows is not exactly singular (λ_min = the series tail)."""
    dup = (c == q[:, None]) & (c == q[None, :])
    np.fill_diagonal(dup, False)
    if dup.any():
        i, j = np.nonzero(dup)
        total[i, j] = total[i, i]


class DualPlan:
    """``dual(act, q, q, K, same=True)`` and ``dual_derivative`` of the same call, evaluated block by
    block on the upper triangle of the same-sample square (``theory.lean``), with identical numbers.

    Everything that depends on the variances only is computed once here: the exact diagonals
    E[σ(√q z)²], E[σ'(√q z)²] (``diag_value``, ``diag_derivative``), the feature means
    (``mean`` = μ_0(σ_q)) and, after ``prepare(rho_max)``, the Mehler coefficients of the pairs
    without a closed form with their tail bounds (``error_bound_value``, ``error_bound_derivative``).
    ``block(c, r0, r1)`` then evaluates rows r0..r1−1, columns r0..N−1 of a covariance block ``c``.
    """

    def __init__(self, act: str | Activation, q: np.ndarray, value: bool = True, derivative: bool = True) -> None:
        self.act = parse_activation(act)
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.size == 0 or np.any(q <= 0) or not np.all(np.isfinite(q)):
            raise ValueError("pre-activation variances must be positive and finite")
        self.q = q
        self.value, self.derivative = value, derivative
        self.uniform = bool(np.all(q == q[0]))
        comps = self.act.terms
        q_max = float(q.max())
        self.pairs = []
        self._kernels = {}
        for w1, s1 in comps:
            for w2, s2 in comps:
                kernel = s1.dual_closed_form(s2)
                if kernel is not None:
                    kind = "closed"
                    self._kernels[len(self.pairs)] = kernel
                elif exp_family(s1) is not None and exp_family(s2) is not None and q_max <= EXP_CLOSED_MAX_Q:
                    kind = "exp"  # ``_exp_closed``'s rule
                else:
                    kind = "mehler"
                self.pairs.append((w1 * w2, s1, s2, kind))
        self.needs_rho = any(k in ("closed", "mehler") for *_, k in self.pairs)
        self.needs_rho_max = any(k == "mehler" for *_, k in self.pairs)
        self.diag_value = second_moments(self.act, q) if value else None
        self.diag_derivative = derivative_second_moments(self.act, q) if derivative else None
        self.mean = gaussian_mean(self.act, q)
        self._plans: dict[tuple[int, bool], _Mehler] = {}
        self.error_bound_value = self.error_bound_derivative = 0.0
        if not self.needs_rho_max:
            self.prepare(0.0)

    def prepare(self, rho_max: float) -> None:
        """Choose the Mehler orders for the largest off-diagonal |ρ| of the covariance (``dual``'s rule)."""
        self.error_bound_value = self.error_bound_derivative = 0.0
        q_max = float(self.q.max())
        for k, (w, s1, s2, kind) in enumerate(self.pairs):
            if kind == "exp":  # the rounding allowance of ``_exp_closed``
                eps = 16.0 * np.finfo(np.float64).eps * math.exp(q_max / 2)
                self.error_bound_value += abs(w) * eps * max(1.0, q_max) if self.value else 0.0
                self.error_bound_derivative += abs(w) * eps if self.derivative else 0.0
            if kind != "mehler":
                continue
            for der in (False, True):
                if (self.derivative if der else self.value):
                    plan = _mehler_plan(s1, s2, self.q, self.q, der, rho_max)
                    self._plans[k, der] = plan
                    if der:
                        self.error_bound_derivative += abs(w) * plan.bound
                    else:
                        self.error_bound_value += abs(w) * plan.bound
        self._ready = True

    def rho(self, c: np.ndarray, r0: int, r1: int) -> tuple[np.ndarray, float | np.ndarray]:
        """ρ = c/√(q_i q_j) clipped to [−1, 1] on the block, and √(q_i q_j)."""
        if self.uniform:
            s = float(np.sqrt(self.q[0] * self.q[0]))
        else:
            s = np.sqrt(self.q[r0:r1, None] * self.q[None, r0:])
        rho = c / s
        np.clip(rho, -1.0, 1.0, out=rho)
        return rho, s

    def block(self, c: np.ndarray, r0: int, r1: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(E[σσ], E[σ'σ']) on rows r0..r1−1 and columns r0..N−1 whose covariance block is ``c``; the
        diagonal entries (i, i) are the exact second moments."""
        if not getattr(self, "_ready", False):
            raise RuntimeError("DualPlan.prepare(rho_max) must be called first: this activation needs Mehler orders")
        if self.uniform:
            qr = qc = float(self.q[0])
        else:
            qr, qc = self.q[r0:r1, None], self.q[None, r0:]
        rho = s = None
        if self.needs_rho:
            rho, s = self.rho(c, r0, r1)
        tot_v = tot_d = None
        for k, (w, s1, s2, kind) in enumerate(self.pairs):
            if kind == "closed":
                v, d = self._kernels[k](qr, qc, c, self.value, self.derivative, rho=rho, s=s)
            elif kind == "exp":
                f1, f2, q1, q2 = exp_family(s1), exp_family(s2), self.q[r0:r1], self.q[r0:]
                v = exp_pair_dual(f1, f2, q1, q2, c, False) if self.value else None
                d = exp_pair_dual(f1, f2, q1, q2, c, True) if self.derivative else None
            else:
                rows, cols = slice(r0, r1), slice(r0, None)
                v = self._plans[k, False].evaluate(rho, rows, cols) if self.value else None
                d = self._plans[k, True].evaluate(rho, rows, cols) if self.derivative else None
            if v is not None:
                tot_v = w * v if tot_v is None else tot_v + w * v
            if d is not None:
                tot_d = w * d if tot_d is None else tot_d + w * d
        idx = np.arange(r1 - r0)
        # ``_copy_duplicates``: entries with q_i = q_j = c_ij (one Gaussian on both sides) take the diagonal
        dup = (c == self.q[r0:r1, None]) & (c == self.q[None, r0:])
        dup[idx, idx] = False
        di, dj = np.nonzero(dup) if dup.any() else (None, None)
        for tot, diag in ((tot_v, self.diag_value), (tot_d, self.diag_derivative)):
            if tot is None:
                continue
            tot[idx, idx] = diag[r0:r1]
            if di is not None:
                tot[di, dj] = diag[r0 + di]
        return tot_v, tot_d


def dual(act: str | Activation, q1, q2, c, same: bool = False) -> DualResult:
    """E[σ(u_i) σ(v_j)] for (u_i, v_j) centred Gaussian with variances q1[i], q2[j], covariance c[i, j].

    ``same=True`` declares that q1 = q2 = diag(c) (one sample on both sides of the diagonal) and makes
    the diagonal exact: E[σ(√q z)²] by closed form or adaptive quadrature.
    """
    return _dual(act, q1, q2, c, derivative=False, same=same)


def dual_derivative(act: str | Activation, q1, q2, c, same: bool = False) -> DualResult:
    """E[σ'(u_i) σ'(v_j)] (same conventions as ``dual``); exact diagonal E[σ'(√q z)²] when ``same``."""
    return _dual(act, q1, q2, c, derivative=True, same=same)


# ---------------------------------------------------------------------------------------------
# generic reference: tensor-product 2-D Gauss–Hermite quadrature


def dual_gauss_hermite(act: str | Activation, q1, q2, c, n: int = 40, derivative: bool = False,
                       chunk: int = 1 << 22) -> np.ndarray:
    """E[σ(u)σ(v)] by an n×n Gauss–Hermite rule on u = √q1 z1, v = √q2 (ρ z1 + √(1−ρ²) z2).

    Generic (no activation-specific knowledge), spectrally accurate for smooth σ, only algebraically
    for kinked ones. Used as an independent reference and as the benchmark baseline.
    """
    act = parse_activation(act)
    f = act.derivative_numpy if derivative else act.numpy
    q1 = np.asarray(q1, dtype=np.float64).reshape(-1)
    q2 = np.asarray(q2, dtype=np.float64).reshape(-1)
    rho, _ = _rho(q1, q2, np.asarray(c, dtype=np.float64))
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    su = np.sqrt(q1)[:, None] * np.ones_like(rho)
    sv = np.sqrt(q2)[None, :] * np.ones_like(rho)
    flat_rho, flat_su, flat_sv = rho.ravel(), su.ravel(), sv.ravel()
    out = np.empty(flat_rho.size)
    step = max(1, chunk // (n * n))
    for s in range(0, flat_rho.size, step):
        r = flat_rho[s:s + step, None, None]
        fu = f(flat_su[s:s + step, None, None] * z[None, :, None])
        v = flat_sv[s:s + step, None, None] * (r * z[None, :, None] + np.sqrt(1 - r * r) * z[None, None, :])
        out[s:s + step] = np.einsum("pij,i,j->p", fu * f(v), w, w)
    return out.reshape(rho.shape)

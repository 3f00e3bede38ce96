"""Rigorous bounds on the numerical error of the exact kernels, propagated through the layers.

``kernel_pieces`` returns computed matrices Σ̃_v, Π̃_v, Ṽ_e, Θ̃. ``kernel_errors(kp)`` walks the same
DAG and returns, for each of them, a matrix B ≥ 0 with |Σ̃ − Σ| ≤ B entrywise (Σ the exact kernel of
the infinite-width network on the given X). It runs after the kernel computation and reads only its
results, so the fast path of ``kernel_pieces`` carries no cost for it.

Sources of error, each bounded per entry
----------------------------------------
1. *Truncation* of the dual activations (Mehler series, ``EdgePieces.error_bound``), plus a relative
   allowance ``QUAD_REL`` for the quadratures behind the exact diagonals and the Hermite coefficients of
   the smooth activations (adaptive quadrature at rel. tol. 1e-13; tested to 1e-14 in tests/).
2. *Rounding* of every elementwise operation: ``ROUND`` = 16 eps relative to the magnitudes combined
   (each entry is a short sum of products; the input Gram XXᵀ/d gets the dot-product bound d·eps).
3. *Propagation*: an edge's dual map is evaluated at the computed pre-activation covariance
   K̃ = c_w Σ̃_src, not at the exact K. With δK ≥ |K̃ − K| (entrywise) the exact map moves by at most

       |F(K̃) − F(K)| ≤ L_{q,i} δq_i + L_{q,j} δq_j + L_ρ δρ_ij     (mean value theorem in (q_i, q_j, ρ_ij))

   where q = diag K, ρ_ij = K_ij/√(q_i q_j), δρ_ij ≤ δK_ij/s_lo + |K̃_ij|·max(1/s_lo − 1/s̃, 1/s̃ − 1/s_hi)
   over the box q ∈ [q̃ − δq, q̃ + δq] (s = √(q_i q_j)), δρ = 0 on the diagonal (computed as a 1-D second
   moment, no ρ). The derivatives, for F = E[σ(u)σ(v)] with u = √q_i z, v = √q_j (ρz + √(1−ρ²)z'):

   * ∂F/∂q_i|ρ = E[σ'(u) u σ(v)]/(2q_i), so |·| ≤ L·‖σ(v)‖₂/(2√q_i) with L = sup|σ'| and
     ‖σ(v)‖₂ ≤ min(|σ(0)| + L√q_j, sup|σ|) (Cauchy–Schwarz, Minkowski);
   * ∂F/∂ρ = √(q_i q_j) E[σ'(u)σ'(v)] (Price's theorem), |·| ≤ √(q_i q_j) L².

   For the derivative dual G = E[σ'(u)σ'(v)] write σ' = J·1{x>0} + s(x) (J the jump at 0, s Lipschitz
   with constant L_s, ``theory.regularity``): the s–s part is bounded as above with (L_s, s); the mixed
   part E[1{u>0} s(v)] does not depend on q_i at fixed ρ, has |∂/∂q_j| ≤ L_s/(2√q_j) and
   |∂/∂ρ| = √(q_i q_j) φ_u(0) |E[s'(v) | u = 0]| ≤ L_s √q_j/√(2π); the step–step part is
   (π − arccos ρ)/(2π), whose change is at most min(δρ/√(1 − ρ_hi²), (π/√2)√δρ)/(2π) (arccos is
   1/2-Hölder with constant π/√2 on [−1, 1]). The feature mean M(q) = E[σ(√q z)] moves by at most
   L √(2/π)/(2√q_lo) δq. Products and sums follow |ãb̃ − ab| ≤ δa|b̃| + |ã|δb + δa δb.

From entries to eigenvalues
---------------------------
For a symmetric E with |E| ≤ B entrywise, ‖E‖₂ ≤ ‖B‖₂ ≤ max_i Σ_j B_ij (``spectral_bound``), and by
Weyl |λ_min(K̃) − λ_min(K)| ≤ ‖K̃ − K‖₂. The bounds package subtracts this (and the eigen-solver's
rounding) from every level it computes from a kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .kernels import INPUT, READOUT, EdgePieces, KernelPieces
from .regularity import Regularity, regularity

__all__ = ["KernelErrors", "kernel_errors", "spectral_bound", "dual_map_error", "ROUND", "QUAD_REL"]

EPS = float(np.finfo(np.float64).eps)
#: Relative rounding allowance per elementwise kernel operation (a short sum of products).
ROUND = 16.0 * EPS
#: Relative allowance for the adaptive 1-D quadratures (diagonals, smooth Hermite coefficients).
QUAD_REL = 1e-12


@dataclass
class KernelErrors:
    """Entrywise error bounds (N×N, or N for means) matching the fields of ``KernelPieces``.

    ``sigma[v]``/``mean[v]``/``pi[v]`` for the live nodes; per dense edge index: ``feature``
    (V_e), ``feature_mean`` (M_e), ``derivative`` (V'_e), ``backward`` (Cov Z_e), ``ntk_term`` (T_e),
    ``schur`` (c_e Σ_src ⊙ V'_e, the matrix of level S2); ``ntk`` (Θ) and ``nngp`` (Σ_out)."""

    sigma: dict[int, np.ndarray]
    mean: dict[int, np.ndarray]
    pi: dict[int, np.ndarray]
    feature: dict[int, np.ndarray]
    feature_mean: dict[int, np.ndarray]
    derivative: dict[int, np.ndarray]
    backward: dict[int, np.ndarray]
    ntk_term: dict[int, np.ndarray]
    schur: dict[int, np.ndarray]
    ntk: np.ndarray
    nngp: np.ndarray

    @property
    def ntk_norm(self) -> float:
        """A bound on ‖Θ̃ − Θ‖₂ (so on |λ_min(Θ̃) − λ_min(Θ)|, by Weyl)."""
        return spectral_bound(self.ntk)


def spectral_bound(B: np.ndarray) -> float:
    """An upper bound on ‖E‖₂ for every E with |E| ≤ B entrywise: √(‖B‖₁‖B‖_∞) ≥ ‖B‖₂ ≥ ‖E‖₂
    (the last step: ‖E‖₂ ≤ ‖|E|‖₂ ≤ ‖B‖₂ for non-negative matrices, Perron–Frobenius)."""
    B = np.asarray(B, dtype=np.float64)
    if B.size == 0:
        return 0.0
    if not np.all(np.isfinite(B)):
        return math.inf
    return float(math.sqrt(B.sum(0).max() * B.sum(1).max()) * (1 + 4 * B.shape[0] * EPS))


def _prod(a: np.ndarray, da: np.ndarray, b: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Bound on |ãb̃ − ab| (entrywise) given |ã − a| ≤ da, |b̃ − b| ≤ db."""
    return da * np.abs(b) + np.abs(a) * db + da * db + ROUND * np.abs(a * b)


def _outer(m: np.ndarray, dm: np.ndarray) -> np.ndarray:
    am = np.abs(m)
    return np.outer(dm, am) + np.outer(am, dm) + np.outer(dm, dm) + ROUND * np.outer(am, am)


@dataclass(frozen=True)
class _Box:
    """The box of exact (q_i, q_j, ρ_ij) consistent with K̃ and δK."""

    q_lo: np.ndarray
    q_hi: np.ndarray
    dq: np.ndarray
    drho: np.ndarray
    rho_hi: np.ndarray


def _box(K: np.ndarray, dK: np.ndarray) -> _Box | None:
    q = np.diag(K).copy()
    dq = np.diag(dK).copy()
    q_lo, q_hi = q - dq, q + dq
    if not np.all(q_lo > 0) or not np.all(np.isfinite(dK)):
        return None
    s = np.sqrt(np.outer(q, q))
    s_lo = np.sqrt(np.outer(q_lo, q_lo))
    s_hi = np.sqrt(np.outer(q_hi, q_hi))
    rho = np.clip(K / s, -1.0, 1.0)
    drho = dK / s_lo + np.abs(K) * np.maximum(1.0 / s_lo - 1.0 / s, 1.0 / s - 1.0 / s_hi)
    drho = np.minimum(drho * (1 + 8 * EPS), 2.0)
    np.fill_diagonal(drho, 0.0)
    return _Box(q_lo, q_hi, dq, drho, np.minimum(1.0, np.abs(rho) + drho))


def _lipschitz_part(lip: float, root_m2, box: _Box) -> np.ndarray:
    """Bound on the change of E[f(u) f(v)] for an L-Lipschitz f with ‖f(√q z)‖₂ ≤ root_m2(q)."""
    lq = lip * root_m2(box.q_hi)[None, :] / (2 * np.sqrt(box.q_lo))[:, None]  # ∂/∂q_i (row i, col j)
    out = lq * box.dq[:, None] + lq.T * box.dq[None, :]
    return out + np.sqrt(np.outer(box.q_hi, box.q_hi)) * lip * lip * box.drho


def dual_map_error(reg: Regularity, K: np.ndarray, dK: np.ndarray, derivative: bool) -> np.ndarray:
    """Entrywise bound on |F(K̃) − F(K)| for F = dual(σ) (or dual(σ')) under |K̃ − K| ≤ dK
    (module docstring, item 3); ``inf`` when the box of variances reaches 0."""
    box = _box(K, dK)
    if box is None:
        return np.full(K.shape, math.inf)
    if not derivative:
        return _lipschitz_part(reg.lip, reg.root_second_moment, box)
    out = _lipschitz_part(reg.lip_s, reg.root_s_second_moment, box)
    if reg.jump != 0.0:
        J = abs(reg.jump)
        mixed = reg.lip_s / (2 * np.sqrt(box.q_lo))[None, :] * box.dq[None, :]
        mixed = mixed + reg.lip_s * np.sqrt(box.q_hi)[None, :] / math.sqrt(2 * math.pi) * box.drho
        out = out + J * (mixed + mixed.T)
        with np.errstate(divide="ignore", invalid="ignore"):
            lin = box.drho / np.sqrt(np.clip(1.0 - box.rho_hi**2, 0.0, None))
        step = np.minimum(np.where(np.isnan(lin), math.inf, lin), math.pi / math.sqrt(2) * np.sqrt(box.drho))
        out = out + J * J * step / (2 * math.pi)
    return out


def _mean_error(reg: Regularity, K: np.ndarray, dK: np.ndarray) -> np.ndarray:
    q_lo = np.diag(K) - np.diag(dK)
    if not np.all(q_lo > 0):
        return np.full(K.shape[0], math.inf)
    return reg.lip * math.sqrt(2 / math.pi) / (2 * np.sqrt(q_lo)) * np.diag(dK)


def _edge_errors(ep: EdgePieces, d_sigma_src: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(δV_e, δV'_e, δM_e) of one dense edge from the error of Σ_src."""
    reg = regularity(ep.activation)
    K = ep.pre_kernel
    dK = ep.c_w * d_sigma_src + EPS * np.abs(K)
    own = ep.error_bound
    dV = own + (QUAD_REL + ROUND) * np.abs(ep.feature_kernel) + dual_map_error(reg, K, dK, False)
    dD = own + (QUAD_REL + ROUND) * np.abs(ep.derivative_kernel) + dual_map_error(reg, K, dK, True)
    dM = (QUAD_REL + ROUND) * np.abs(ep.feature_mean) + QUAD_REL * np.sqrt(np.diag(np.abs(K))) \
        + _mean_error(reg, K, dK)
    return dV, dD, dM


def kernel_errors(kp: KernelPieces) -> KernelErrors:
    """Entrywise error bounds of every kernel in ``kp`` (module docstring); float64, same shapes."""
    X = kp.X
    N, d = X.shape
    gamma = d * EPS / (1 - d * EPS)
    absX = np.abs(X)
    feat_err: dict[str | int, tuple[np.ndarray, np.ndarray]] = {
        INPUT: (gamma * (absX @ absX.T) / d, gamma * absX.mean(1))}
    feat_val: dict[str | int, tuple[np.ndarray, np.ndarray]] = {INPUT: (kp.sigma[0], kp.mean[0])}
    d_sigma: dict[int, np.ndarray] = {0: feat_err[INPUT][0]}
    d_mean: dict[int, np.ndarray] = {0: feat_err[INPUT][1]}
    feature, feature_mean, derivative = {}, {}, {}
    by_dst: dict[int, list[EdgePieces]] = {}
    for ep in kp.edges:
        by_dst.setdefault(ep.dst, []).append(ep)

    for v in sorted(kp.forward_coef):
        if v == 0:
            continue
        for ep in by_dst.get(v, []):
            dV, dD, dM = _edge_errors(ep, d_sigma[ep.src])
            feature[ep.index], derivative[ep.index], feature_mean[ep.index] = dV, dD, dM
            feat_err[ep.index] = (dV, dM)
            feat_val[ep.index] = (ep.feature_kernel, ep.feature_mean)
        coef = kp.forward_coef[v]
        dm = np.zeros(N)
        mag_m = np.zeros(N)
        for f, c in coef.items():
            dm += abs(c) * feat_err[f][1]
            mag_m += abs(c) * np.abs(feat_val[f][1])
        dm += ROUND * len(coef) * mag_m
        dS = _outer(kp.mean[v], dm)
        for f, c in coef.items():
            V, M = feat_val[f]
            dVf, dMf = feat_err[f]
            dS += (c * c) * (dVf + _outer(M, dMf) + ROUND * np.abs(V))
        dS += ROUND * (len(coef) + 1) * np.abs(kp.sigma[v])
        d_sigma[v], d_mean[v] = dS, dm

    edge_by_index = {ep.index: ep for ep in kp.edges}
    backward, ntk_term, schur = {}, {}, {}
    d_pi: dict[int, np.ndarray] = {}
    zeros = np.zeros((N, N))
    for v in sorted(kp.backward_coef, reverse=True):
        for ep in kp.edges:
            if ep.src != v:
                continue
            i = ep.index
            P = kp.pi[ep.dst]
            s = ep.c_w * ep.alpha**2
            backward[i] = s * _prod(P, d_pi[ep.dst], ep.derivative_kernel, derivative[i]) \
                + ROUND * np.abs(ep.backward_kernel)
            ntk_term[i] = _prod(kp.sigma[v], d_sigma[v], ep.backward_kernel, backward[i])
            schur[i] = ep.c_w * _prod(kp.sigma[v], d_sigma[v], ep.derivative_kernel, derivative[i])
        coef = kp.backward_coef[v]
        dP = zeros.copy()
        for z, c in coef.items():
            if z != READOUT:
                dP += (c * c) * (backward[int(z)] + ROUND * len(coef) * np.abs(edge_by_index[int(z)].backward_kernel))
        d_pi[v] = dP

    out = kp.arch.output
    d_nngp = d_sigma[out] if out in d_sigma else zeros.copy()
    d_ntk = d_nngp + sum((ntk_term[i] for i in ntk_term), zeros.copy())
    d_ntk = d_ntk + ROUND * (len(ntk_term) + 1) * (np.abs(kp.nngp) + sum((np.abs(edge_by_index[i].ntk_term)
                                                                          for i in ntk_term), zeros.copy()))
    return KernelErrors(d_sigma, d_mean, d_pi, feature, feature_mean, derivative, backward, ntk_term,
                        schur, d_ntk, d_nngp)

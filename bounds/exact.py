"""Bounds computed from the exact kernel pieces of ``theory`` (levels S1, S2 and the upper bounds).

Let Θ = Σ_out + Σ_e T_e with T_e = c_e α_e² Σ_uu ⊙ Π_vv ⊙ V'_e (theory/kernels.py; e: u → v).

* **S1 (Weyl over edges).** Every T_e is PSD (Schur product theorem: Σ_uu, Π_vv, V'_e are Gram /
  covariance matrices) and so is Σ_out, hence by Weyl's inequality λ_min(A + B) ≥ λ_min(A) + λ_min(B)
  applied term by term:    λ_min(Θ) ≥ λ_min(Σ_out) + Σ_e λ_min(T_e).
* **S2 (Weyl + Schur).** Schur's bound λ_min(A ⊙ B) ≥ λ_min(A)·min_i B_ii for A, B ⪰ 0 with
  A = c_e Σ_uu ⊙ V'_e and B = Π_vv:   λ_min(T_e) ≥ α_e² λ_min(c_e Σ_uu ⊙ V'_e) · min_i Π_vv(x_i, x_i),
  so  λ_min(Θ) ≥ λ_min(Σ_out) + Σ_e α_e² λ_min(c_e Σ_uu ⊙ V'_e) · min_i Π_vv,ii.   (S1 ≥ S2.)
* **Upper bounds (Rayleigh quotients, Cauchy interlacing).** For every unit vector w,
  λ_min(Θ) ≤ wᵀΘw: w = e_i gives U_diag = min_i Θ_ii; w = (e_i ± e_j)/√2 gives
  U_pair = min_{i≠j} (Θ_ii + Θ_jj − 2|Θ_ij|)/2; and by interlacing λ_min(Θ) ≤ λ_min of every
  principal submatrix, so U_2x2 = min_{i≠j} [(Θ_ii + Θ_jj)/2 − √(((Θ_ii − Θ_jj)/2)² + Θ_ij²)],
  which is ≤ both (U_2x2 ≤ min(Θ_ii, Θ_jj) and ≤ the (e_i ± e_j) quotient).

Every eigenvalue computed in float64 is lowered by a rounding allowance 8·N·eps·max|A|.

**Honest levels.** The matrices are computed, not exact: ``theory.errors.kernel_errors`` bounds
|Ã − A| ≤ B_A entrywise for each of them (dual truncation, quadrature, rounding, and the error
propagated through the layers), so ‖Ã − A‖₂ ≤ ‖B_A‖₂ ≤ ``spectral_bound(B_A)`` and, by Weyl,
λ_min(A) ≥ λ_min(Ã) − ‖B_A‖₂. Each lower level subtracts the bound of the matrix it is computed from
(Σ_out, every T_e, every c_e Σ_uu ⊙ V'_e, and min_i Π_vv,ii − B_Π,ii), each upper level adds ‖B_Θ‖₂
(Rayleigh quotients and 2×2 principal submatrices move by at most ‖Θ̃ − Θ‖₂), and ``error`` is ‖B_Θ‖₂:
|exact − λ_min(Θ)| ≤ error (after the rounding allowance of the eigen-solve).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import theory
from theory.errors import KernelErrors, kernel_errors, spectral_bound

__all__ = ["ExactLevels", "exact_levels", "upper_from_kernel", "pieces"]


def _lmin(A: np.ndarray) -> float:
    A = (A + A.T) / 2
    return float(np.linalg.eigvalsh(A)[0] - 8.0 * A.shape[0] * np.finfo(np.float64).eps * np.abs(A).max())


def pieces(arch, X):
    """``theory.kernel_pieces`` (the package's exact kernels)."""
    return theory.kernel_pieces(arch, X)


@dataclass(frozen=True)
class ExactLevels:
    exact: float
    s1: float
    s2: float
    u_diag: float
    u_pair: float
    u_2x2: float
    #: ‖Θ̃ − Θ‖₂ bound: |exact − λ_min(Θ)| ≤ error
    error: float
    #: the most the error bounds took off a lower level (S1 or S2): levels computed from the same
    #: matrices without it would be larger by at most this much
    slack: float = 0.0

    @property
    def upper(self) -> float:
        return self.u_2x2


def upper_from_kernel(T: np.ndarray) -> tuple[float, float, float, tuple[int, int]]:
    """(U_diag, U_pair, U_2x2, best pair) of a symmetric PSD matrix (see module docstring)."""
    T = (T + T.T) / 2
    d = np.diag(T)
    u_diag = float(d.min())
    N = T.shape[0]
    if N < 2:
        return u_diag, u_diag, u_diag, (0, 0)
    a = d[:, None]
    b = d[None, :]
    pair = (a + b - 2 * np.abs(T)) / 2
    two = (a + b) / 2 - np.sqrt(((a - b) / 2) ** 2 + T**2)
    np.fill_diagonal(pair, np.inf)
    np.fill_diagonal(two, np.inf)
    i, j = np.unravel_index(int(np.argmin(two)), two.shape)
    return u_diag, float(pair.min()), float(two.min()), (int(i), int(j))


def exact_levels(arch, X, kp=None, errors: KernelErrors | None = None) -> ExactLevels:
    """Exact λ_min(Θ), the structural lower bounds S1 ≥ S2 and the upper bounds, from theory, each
    level corrected by the rigorous error bound of the matrix it is computed from (module docstring).
    ``errors``: ``theory.errors.kernel_errors(kp)`` when the caller already has it."""
    kp = kp if kp is not None else pieces(arch, X)
    err = errors if errors is not None else kernel_errors(kp)
    e_theta = spectral_bound(err.ntk)
    lam = _lmin(kp.ntk)
    e_ro = spectral_bound(err.nngp)
    ro = max(0.0, _lmin(kp.readout_term) - e_ro)
    s1 = s2 = ro
    cut1 = cut2 = e_ro  # what the error bounds took off each level
    for e in kp.edges:
        A = e.c_w * kp.sigma[e.src] * e.derivative_kernel
        e_a = spectral_bound(err.schur[e.index])
        lam_raw = max(0.0, _lmin(A))
        lam_a = max(0.0, _lmin(A) - e_a)
        pi_raw = max(0.0, float(np.diag(kp.pi[e.dst]).min()))
        pi_min = max(0.0, float((np.diag(kp.pi[e.dst]) - np.diag(err.pi[e.dst])).min()))
        schur_e = e.alpha**2 * lam_a * pi_min
        # Both are rigorous lower bounds on λ_min(T_e); their honest corrections differ, so the direct
        # one can fall below the Schur one: S1 takes the larger, which keeps S1 ≥ S2 after correction.
        e_t = spectral_bound(err.ntk_term[e.index])
        direct_e = max(0.0, _lmin(e.ntk_term) - e_t)
        s1 += max(direct_e, schur_e)
        s2 += schur_e
        cut1 += e_t
        cut2 += e.alpha**2 * (lam_raw * pi_raw - lam_a * pi_min)
    ud, up, u2, _ = upper_from_kernel(kp.ntk)
    return ExactLevels(lam, s1, s2, ud + e_theta, up + e_theta, u2 + e_theta, e_theta, max(cut1, cut2))

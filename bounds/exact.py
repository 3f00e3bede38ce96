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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import theory

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
    error: float

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


def exact_levels(arch, X, kp=None) -> ExactLevels:
    """Exact λ_min(Θ), the structural lower bounds S1 ≥ S2 and the upper bounds, from theory."""
    kp = kp if kp is not None else pieces(arch, X)
    lam = _lmin(kp.ntk)
    ro = _lmin(kp.readout_term)
    s1 = max(0.0, ro) + sum(max(0.0, _lmin(e.ntk_term)) for e in kp.edges)
    s2 = max(0.0, ro)
    for e in kp.edges:
        A = e.c_w * kp.sigma[e.src] * e.derivative_kernel
        s2 += e.alpha**2 * max(0.0, _lmin(A)) * float(np.diag(kp.pi[e.dst]).min())
    ud, up, u2, _ = upper_from_kernel(kp.ntk)
    return ExactLevels(lam, s1, s2, ud, up, u2, kp.error_bound)

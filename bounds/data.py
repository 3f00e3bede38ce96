"""Data statistics the bounds are written in (docs/theory.md §III.1, table of symbols).

For X ∈ ℝ^{N×d} (rows x_i) and the input kernel Σ_00 = XXᵀ/d:

* q_0(x_i) = ‖x_i‖²/d                        the input kernel's diagonal
* m(x_i)   = mean of x_i's coordinates           the input's "feature mean"
* ρ_0      = D^{-1/2} Σ_00 D^{-1/2}               input correlation matrix (D = diag q_0)
* ρ̂        = max_{i≠j} |ρ_0,ij|                   (0 when N = 1)
* λ_0      = λ_min(ρ_0)
* γ_s      = max_i Σ_{j≠i} |ρ_0,ij|^s             (row-sum Gershgorin statistic, ≤ (N−1) ρ̂^s)
* ℓ_c      = λ_min(Σ_00 − m mᵀ)                    Gram of the row-centred data (only used when an
                                                  identity path carries the input to a node)

Assumptions a bound may need, checked here and named in errors/flags:

* ``A0`` finite float data, N ≥ 1, no zero row;
* ``A1`` sphere data: all q_0(x_i) equal (rel. tol 1e-9) ⇒ every node's kernel diagonal is the same
  for all samples, unless A2 fails and an identity path from the input meets a non-zero mean;
* ``A2`` equal coordinate means m(x_i) (e.g. row-centred data, m = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bounds.plan import BoundError
from theory.validate import as_real_array, check_rows, norm_spread, norm_tolerance, sphere_rows, unit_roundoff

__all__ = ["DataStats", "data_stats", "as_data"]

REL_TOL = 1e-9


@dataclass(frozen=True)
class DataStats:
    N: int
    d: int
    q0: np.ndarray
    m: np.ndarray
    rho_max: float
    lambda0: float
    ell_c: float
    sphere: bool
    equal_means: bool
    abs_rho_off: np.ndarray | None = None

    def gamma(self, s: int) -> float:
        """γ_s = max_i Σ_{j≠i} |ρ_0,ij|^s (Gershgorin row sum of ρ_0^{⊙s}; ≤ (N−1) ρ̂^s)."""
        if self.abs_rho_off is None or self.N < 2:
            return 0.0
        return float(min(self.N - 1.0, (self.abs_rho_off**s).sum(axis=1).max()))

    @property
    def flags(self) -> tuple[str, ...]:
        out = []
        if not self.sphere:
            out.append("A1 violated: rows have different norms (not sphere data)")
        if not self.equal_means:
            out.append("A2 violated: rows have different coordinate means")
        return tuple(out)


def _a0(message: str) -> BoundError:
    return BoundError(f"A0 violated: {message}")


def as_data(X) -> np.ndarray:
    """Validated float64 data (``theory.validate``: lists, tensors and arrays alike; ragged, strings,
    complex, non-finite, zero rows and squared norms outside ``SQUARED_NORM_RANGE`` refused as A0).
    Rows of equal norm up to the rounding of the dtype they arrived in (float32) are projected onto
    their common sphere, as ``theory.check_inputs`` does, so that bounds and kernels see the same data."""
    u = unit_roundoff(X)
    A = as_real_array(X, "data X", _a0)
    check_rows(A, "data X", _a0)
    if norm_spread(A) <= norm_tolerance(u, A.shape[1]):
        A = sphere_rows(A, u=u, what="data X", error=_a0)
    return A


def _slack(A: np.ndarray) -> float:
    return 8.0 * A.shape[0] * np.finfo(np.float64).eps * float(np.abs(A).max())


def data_stats(X: np.ndarray) -> DataStats:
    """Compute the statistics above (float64; eigenvalues by ``numpy.linalg.eigvalsh``)."""
    X = as_data(X)
    N, d = X.shape
    G = X @ X.T / d
    q0 = np.diag(G).copy()
    m = X.mean(axis=1)
    s = np.sqrt(q0)
    rho = G / np.outer(s, s)
    off = np.minimum(1.0, np.abs(rho - np.diag(np.diag(rho))))
    rho_max = float(off.max()) if N > 1 else 0.0
    # computed eigenvalues are lowered by a rounding allowance (backward-stable eigvalsh: |error| ≲ N·eps·‖A‖)
    lam0 = float(max(0.0, np.linalg.eigvalsh(rho)[0] - _slack(rho)))
    C = G - np.outer(m, m)
    ell_c = float(max(0.0, np.linalg.eigvalsh(C)[0] - _slack(C)))
    sphere = bool(np.ptp(q0) <= REL_TOL * q0.max())
    eq_m = bool(np.ptp(m) <= REL_TOL * max(1.0, np.abs(m).max()) * 10)
    return DataStats(N, d, q0, m, rho_max, lam0, ell_c, sphere, eq_m, off)

"""``certify``: every level of the bound hierarchy as numbers on one data set, and Weyl's
finite-width statement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import theory
from bounds.bound import BoundValue, check_pieces
from bounds.exact import exact_levels
from bounds.lower_upper import lower, upper
from bounds.plan import Plan
from theory.space import Arch

__all__ = ["Certificate", "certify", "finite_width"]


@dataclass(frozen=True)
class Certificate:
    """All levels for one architecture and data set (each lower ≤ exact ≤ each upper)."""

    arch: str
    r: int
    closed_lower: float
    s2: float
    s1: float
    exact: float
    u_2x2: float
    u_pair: float
    u_diag: float
    closed_upper: float
    kernel_error: float
    flags: tuple[str, ...]

    @property
    def tightness(self) -> float:
        """closed-form lower / exact (nan when exact ≤ 0)."""
        return self.closed_lower / self.exact if self.exact > 0 else float("nan")

    def lines(self) -> list[str]:
        rows = [
            (f"closed-form lower LB_{self.r}", self.closed_lower),
            ("structural lower S2 (Weyl+Schur)", self.s2),
            ("structural lower S1 (Weyl)", self.s1),
            ("exact lambda_min(Theta)", self.exact),
            ("  kernel error bound (+/-)", self.kernel_error),
            ("upper 2x2 interlacing", self.u_2x2),
            ("upper pair Rayleigh", self.u_pair),
            ("upper diagonal", self.u_diag),
            ("closed-form upper", self.closed_upper),
        ]
        return [f"{label:<33s} {value: .8g}" for label, value in rows] + [f"flag: {f}" for f in self.flags]


def certify(arch: Arch | str, X: np.ndarray, r: int = 8, kp: Any = None) -> Certificate:
    """Every level of the hierarchy on data X (theory.kernel_pieces for the exact kernel; X must be
    sphere data, as theory requires). ``kp``: the ``theory.kernel_pieces(arch, X)`` result when the
    caller already has it (it is then not recomputed; pass the same ``kp`` to
    ``generalization(arch).evaluate`` to share the kernel with it). The architecture is parsed once;
    its ``Plan`` (cached per architecture) serves every level."""
    a = Arch.parse(arch)
    lo = lower(a, r).evaluate(a, X)
    plan = Plan.of(a)
    if plan.zero:
        return Certificate(str(a), r, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, lo.flags)
    if kp is None:
        kp = theory.kernel_pieces(a, X)
    else:
        check_pieces(kp, a, X)
    lv = exact_levels(a, X, kp)
    up = upper(a).evaluate(a, X, kp=kp) if np.asarray(X).shape[0] >= 2 else BoundValue(lv.u_diag)
    return Certificate(str(a), r, lo.value, lv.s2, lv.s1, lv.exact, lv.u_2x2, lv.u_pair, lv.u_diag,
                       up.value, lv.error, lo.flags)


def finite_width(lmin_exact: float, K_m: np.ndarray, Theta: np.ndarray) -> tuple[float, float]:
    """Weyl at finite width: λ_min(K̄_m) ≥ λ_min(Θ) − ‖K̄_m − Θ‖₂. Returns (that lower bound, ‖K̄_m − Θ‖₂)."""
    dev = float(np.linalg.norm(np.asarray(K_m, dtype=np.float64) - Theta, 2))
    return lmin_exact - dev, dev

"""The generalization bound in the form of Cao & Gu (2019, Cor. 3.10), with symbolic constants,
evaluated with the exact yᵀΘ⁻¹y and its λ_min and LB_r relaxations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp

import theory
from bounds.bound import Bound, BoundValue, check_pieces
from bounds.closed import check_r
from bounds.lower_upper import lower
from bounds.plan import BoundError, depth
from theory.space import Arch

__all__ = ["generalization"]


class _GenBound(Bound):
    r: int = 8

    def evaluate(self, arch: Arch | str | None = None, X: np.ndarray | None = None, y: np.ndarray | None = None,
                 *, kp: Any = None, strict: bool = False, constants: dict[str, float] | None = None) -> BoundValue:
        """Evaluate with labels y ∈ {±1}^N and ``constants`` C_1, C_2 (unknown in the paper: defaults 1,
        a *shape*, not a guarantee) and delta (default 0.05). Returns the bound with the exact yᵀΘ⁻¹y;
        ``parts`` also hold the λ_min relaxation and the closed-form (LB_r, r of ``generalization``)
        relaxation of the same bound. ``kp``: the kernel pieces of ``arch`` on X (e.g. the ones
        ``certify`` used), so Θ is not computed a second time."""
        c = {"C_1": 1.0, "C_2": 1.0, "delta": 0.05}
        unknown = set(constants or {}) - set(c)
        if unknown:
            raise BoundError(f"unknown constants {sorted(unknown)} for the generalization bound; "
                             "it takes C_1, C_2 and delta")
        c.update(constants or {})
        C1, C2, delta = c["C_1"], c["C_2"], c["delta"]
        r = self.r
        a = Arch.parse(self.arch if arch is None else arch)
        if X is None or y is None:
            raise BoundError("generalization.evaluate needs data X (N×d) and labels y (N,)")
        y = np.asarray(y, dtype=np.float64).ravel()
        X = np.asarray(X, dtype=np.float64)
        if y.shape[0] != X.shape[0]:
            raise BoundError(f"y has {y.shape[0]} labels for {X.shape[0]} samples")
        if not (0 < delta < 1):
            raise BoundError(f"δ must lie in (0, 1), got {delta}")
        if kp is not None:
            check_pieces(kp, a, X)
        T = (kp if kp is not None else theory.kernel_pieces(a, X)).ntk
        lam = float(np.linalg.eigvalsh(T)[0])
        flags: list[str] = []
        if lam <= 0:
            flags.append("Θ is singular: yᵀΘ⁻¹y is infinite and the bound is vacuous")
            quad = math.inf
        else:
            quad = float(y @ np.linalg.solve(T, y))
        lb = lower(a, r).evaluate(a, X, strict=strict)
        n = float(len(y))
        L = float(depth(a))
        vals = {"C_1": C1, "C_2": C2, "L": L, "n": n, "delta": delta}

        def f(Y: float) -> float:
            return float(self({**vals, "Y": Y})) if math.isfinite(Y) else math.inf

        yy = float(y @ y)
        parts = {
            "yT_Theta_inv_y": quad,
            "relaxed_lambda_min": yy / lam if lam > 0 else math.inf,
            "relaxed_closed_form": yy / lb.value if lb.value > 0 else math.inf,
            "bound_exact": f(quad),
            "bound_lambda_min": f(yy / lam) if lam > 0 else math.inf,
            "bound_closed_form": f(yy / lb.value) if lb.value > 0 else math.inf,
            "lambda_min": lam,
            "lower_bound": lb.value,
        }
        return BoundValue(parts["bound_exact"], tuple(flags) + lb.flags, vals, parts)


def generalization(arch: Arch | str, r: int = 8) -> Bound:
    """Cao & Gu (2019, Cor. 3.10) form: with probability ≥ 1 − δ over n i.i.d. samples,

        E[0-1 error] ≤ C_1 · L · √(yᵀΘ⁻¹y / n) + C_2 · √(log(1/δ) / n),

    Y := yᵀΘ⁻¹y; its relaxations Y ≤ ‖y‖²/λ_min(Θ) (Rayleigh: Θ⁻¹ ⪯ λ_min⁻¹ I) and
    Y ≤ ‖y‖²/LB_r (Theorem 2) are in ``parts``. C_1, C_2 are the constants the source leaves implicit
    (logarithmic factors of Õ included); the form is a reconstruction, not a quotation. ``r`` is the
    Hermite order of the LB_r relaxation."""
    arch = Arch.parse(arch)
    r = check_r(r)
    C1, C2, L, n, delta, Y = sp.symbols("C_1 C_2 L n delta Y", positive=True)
    ynorm, lam, LB = sp.symbols("\\|y\\|^2 lambda_min LB", positive=True)
    expr = C1 * L * sp.sqrt(Y / n) + C2 * sp.sqrt(sp.log(1 / delta) / n)
    parts = {"relaxed_lambda_min": expr.subs(Y, ynorm / lam), "relaxed_closed_form": expr.subs(Y, ynorm / LB)}
    syms = {
        "C_1": (C1, "constant of the data-dependent term (implicit in the source; Õ hides logs)"),
        "L": (L, "depth: largest number of dense edges on an input→output path"),
        "Y": (Y, "yᵀΘ⁻¹y, evaluated exactly from theory.ntk"),
        "n": (n, "number of training samples"),
        "C_2": (C2, "constant of the confidence term"),
        "delta": (delta, "failure probability δ"),
    }
    b = _GenBound("generalization", arch, expr, None, parts,
                  "E[0-1 error] ≤ C_1 L √(yᵀΘ⁻¹y/n) + C_2 √(log(1/δ)/n) (Cao & Gu 2019 form)", syms)
    b.r = r
    return b

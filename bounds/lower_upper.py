"""The closed-form bounds on λ_min(Θ) as ``Bound`` objects: ``lower`` (LB_r, Theorem 2), ``upper``
(Theorem 4) and ``paper_form`` (reconstructions of the paper's asymptotic statements).

The expressions come from ``bounds.closed`` (one per structure, cached); evaluation fills their symbols
from the data statistics (``bounds.data``) and the exact diagonal recursion. Theorems and proofs:
``bounds/__init__.py`` and docs/theory.md (Part III).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

import theory
from bounds.bound import NO_DENSE, ZERO, Bound, BoundValue, check_pieces
from bounds.closed import (
    DiagRecursion,
    Structure,
    _pi_expr,
    check_gersh,
    check_r,
    lower_expr,
    structure_key,
    symbol_values,
    upper_expr,
)
from bounds.data import DataStats, as_data, data_stats
from bounds.exact import upper_from_kernel
from bounds.plan import BoundError, Plan
from theory.space import Arch

__all__ = ["lower", "upper", "paper_form", "pair_entries"]


def _same_structure(b: Bound, arch: Arch | str | None) -> Plan:
    plan = Plan.of(b.arch if arch is None else arch)
    assert b.structure is not None
    g = b.structure.gersh
    if structure_key(plan, b.structure.r, g) != structure_key(b.structure.plan, b.structure.r, g):
        raise BoundError(
            f"{arch} does not have the structure of {b.arch} (same dense/identity edges and scale pattern); "
            "build its own bound with bounds.lower(arch)"
        )
    return plan


class _ClosedBound(Bound):
    def evaluate(self, arch: Arch | str | None = None, X: np.ndarray | None = None, y: np.ndarray | None = None,
                 *, kp: Any = None, strict: bool = False, constants: dict[str, float] | None = None) -> BoundValue:
        """Evaluate on data X (N×d) for ``arch`` (default: the architecture the bound was built for;
        any architecture of the same structure is accepted, with its own activations and scales).
        ``constants`` gives values to free constants (C_lower, C_upper of the paper form); ``kp``
        (kernel pieces of ``arch`` on X) lets the upper bound read its pair entries from that kernel.

        The bound is valid for any finite data without zero rows (A0). With ``strict=True`` data that
        violate A1 (sphere) or A2 (equal coordinate means) are refused; otherwise the value is
        returned with a flag (the constants are then min/max over samples: a weaker bound)."""
        if X is None:
            raise BoundError("evaluate needs the data X (N×d)")
        if y is not None:
            raise BoundError(f"the {self.kind} bound takes no labels y (only generalization(...).evaluate does)")
        plan = _same_structure(self, arch)
        st = self.structure
        assert st is not None
        ds = data_stats(X)
        flags = list(ds.flags)
        if strict and flags:
            raise BoundError("; ".join(flags) + f" (strict evaluation of the {self.kind} bound)")
        if plan.zero:
            return BoundValue(0.0, tuple(flags) + (ZERO,))
        if not plan.dense:
            flags.append(NO_DENSE)
        rec = DiagRecursion(plan, st.r, ds.q0, ds.m)
        smap = {new: st.scale_syms[old] for old, new in zip(_scales(st.plan), _scales(plan)) if old in st.scale_syms}
        st_eval = Structure(plan, st.r, st.gersh, st.syms, st.meaning, smap)
        pair = None
        if self.kind == "upper":
            if kp is not None:
                check_pieces(kp, plan.arch, X)
            pair = pair_entries(plan, X, ds, kp)
        vals = symbol_values(st_eval, ds, rec, pair)
        vals.update(constants or {})
        value = float(self(vals))
        return BoundValue(value, tuple(flags), vals)


def _scales(plan: Plan) -> list[float]:
    return sorted(({e.alpha for e in plan.dense} | {s.alpha for s in plan.skips}) - {1.0})


def pair_entries(plan: Plan, X: np.ndarray, ds: DataStats, kp: Any = None) -> tuple[float, float, float]:
    """Θ entries on one pair of samples (exact kernel on at most 4 samples): the candidates are the
    endpoints of the most positively and the most negatively correlated input pairs (relu-type kernels
    are largest at ρ → 1, odd ones in |ρ|); the pair with the smallest 2×2 λ_min among them is used.
    With ``kp`` (kernel pieces of the same architecture on X) the entries are read from its Θ."""
    if ds.N < 2:
        raise BoundError("the pair upper bound needs N >= 2 samples")
    if not ds.sphere:
        raise BoundError("A1 violated: the upper bound evaluates the exact kernel (theory/), which needs sphere "
                         "data (equal norms); rescale the rows, e.g. theory.check_inputs(X, normalize=True)")
    G = as_data(X)  # validated; float32 rows projected onto their common sphere, as theory does
    s = np.linalg.norm(G, axis=1)
    C = G @ G.T / np.outer(s, s)
    np.fill_diagonal(C, -np.inf)
    a, b = np.unravel_index(int(np.argmax(C)), C.shape)
    np.fill_diagonal(C, np.inf)
    c, d = np.unravel_index(int(np.argmin(C)), C.shape)
    idx = sorted({int(a), int(b), int(c), int(d)})
    T = kp.ntk[np.ix_(idx, idx)] if kp is not None else theory.ntk(plan.arch, G[idx])
    _, _, _, (i, j) = upper_from_kernel(T)
    return float(T[i, i]), float(T[j, j]), float(T[i, j])


_CACHE: dict[tuple, tuple[sp.Expr, Structure, dict]] = {}


def _closed(kind: str, arch: Arch | str, r: int, gershgorin: str = "rowsum") -> Bound:
    arch = Arch.parse(arch)
    r = check_r(r)
    gershgorin = check_gersh(gershgorin)
    plan = Plan.of(arch)
    key = (kind,) + structure_key(plan, r, gershgorin)
    if key not in _CACHE:
        st = Structure(plan, r, gershgorin)
        expr, parts = (lower_expr if kind == "lower" else upper_expr)(st)
        _CACHE[key] = (expr, st, parts)
    expr, st, parts = _CACHE[key]
    stmt = (f"λ_min(Θ) ≥ LB_{r} (closed form, Theorem 2)" if kind == "lower"
            else "λ_min(Θ) ≤ min(Θ_{i*i*}, λ_min(Θ[{a,b},{a,b}])) (Theorem 4)")
    b = _ClosedBound(kind, arch, expr, st, parts, stmt)
    b._key = key
    if plan.zero:
        b.statement += f" — {ZERO}"
    elif not plan.dense:
        b.statement += f" — {NO_DENSE}"
    return b


def lower(arch: Arch | str, r: int = 8, gershgorin: str = "rowsum") -> Bound:
    """The closed-form lower bound LB_r on λ_min(Θ) (Theorem 2) as a ``Bound``.

    ``gershgorin="rowsum"`` (default) uses γ_s = max_i Σ_{j≠i}|ρ_0,ij|^s; ``"max"`` the weaker
    paper-style statistic (N−1)ρ̂^s ≥ γ_s, so the formula reads in N and ρ̂ alone.

    r ≥ 0 is the number of Hermite orders kept explicitly (the rest enter through the tails τ);
    odd orders count, so tanh/sigmoid/erf get non-vacuous bounds. Raises BoundError for an invalid r
    or a convolutional-space op."""
    return _closed("lower", arch, r, gershgorin)


def upper(arch: Arch | str) -> Bound:
    """The closed-form upper bound (Theorem 4) as a ``Bound``; ``evaluate`` computes Θ exactly on the
    endpoints of the most positively and most negatively correlated input pairs (theory on ≤ 4 samples)
    and uses the best 2×2 principal submatrix among them."""
    return _closed("upper", arch, 0)


def paper_form(arch: Arch | str, r: int = 2) -> tuple[Bound, Bound]:
    """Reconstructions (not quotations) of the paper's asymptotic statements with explicit constants:

        λ_min(Θ) ≥ C_lower · Σ_k α_k² π_{dst k} · μ_r(σ_k)²      (the Ω(·) form, one Hermite order r),
        λ_min(Θ) ≤ C_upper · (1 + Σ_k α_k² π_{dst k} c_k ν_k)     (the O(·) form: the diagonal scale).

    π_v is the backward-diagonal recursion of Theorem 2 (skip structure and depth enter through it).
    Symbols as in ``lower``; C_lower, C_upper are unknown constants (fit them against measurements)."""
    arch = Arch.parse(arch)
    r = check_r(r)
    if r == 0:
        raise BoundError("the paper form needs a Hermite order r >= 1")
    plan = Plan.of(arch)
    st = Structure(plan, r)
    S = plan.skip_weights(lambda s: st.scale(s.alpha))
    pi = _pi_expr(st, S, bar=False)
    Cl = st.sym("C_lower", "unknown constant of the paper-form lower bound (reconstruction)", positive=True)
    Cu = st.sym("C_upper", "unknown constant of the paper-form upper bound (reconstruction)", positive=True)
    lo_terms, up_terms = [], []
    for e in plan.dense:
        k = e.k + 1
        mu = st.sym(f"mu_{{{r},{k}}}", f"min_i |μ_{r}| of edge {k} ({e.act.token}, {e.src}→{e.dst})", nonnegative=True)
        c = st.sym(f"c_{{{k}}}", f"weight variance of edge {k} ({e.act.token})", positive=True)
        nu = st.sym(f"nu_{{{k}}}", f"E[σ'²] of edge {k}, min over samples", nonnegative=True)
        lo_terms.append(st.scale(e.alpha) ** 2 * pi[e.dst] * mu**2)
        up_terms.append(st.scale(e.alpha) ** 2 * pi[e.dst] * c * nu)
    lo = _ClosedBound("paper-form lower (reconstruction)", arch, Cl * sp.Add(*lo_terms), st, {},
                      "λ_min(Θ) ≥ C_lower Σ_k α_k² π_k μ_r(σ_k)² — reconstruction of the paper's Ω form")
    up = _ClosedBound("paper-form upper (reconstruction)", arch, Cu * (1 + sp.Add(*up_terms)), st, {},
                      "λ_min(Θ) ≤ C_upper (1 + Σ_k α_k² π_k c_k ν_k) — reconstruction of the paper's O form")
    return lo, up

"""Bounds on λ_min of the exact infinite-width NTK Θ, and the generalization bound (docs/theory.md, Part III).

Public API
----------
* ``lower(arch, r=8)``  → ``Bound``: the closed-form lower bound LB_r (Theorem 2 below);
* ``upper(arch)``       → ``Bound``: min(Θ at one sample, λ_min of one 2×2 principal submatrix);
* ``generalization(arch)`` → ``Bound``: Cao & Gu (2019, Cor. 3.10) form with symbolic constants;
* ``paper_form(arch, r=2)`` → (lower, upper) reconstructions of the paper's asymptotic statements,
  hidden constants as the symbols C_lower, C_upper (**reconstructions of the form, not quotations**);
* ``certify(arch, X, r=8)`` → ``Certificate``: every level of the hierarchy as numbers,
  closed form ≤ S2 ≤ S1 ≤ λ_min(Θ) ≤ U_2x2 ≤ min(U_pair, U_diag);
* ``finite_width(lmin_exact, K_m, Theta)``: Weyl's finite-width statement.

A ``Bound`` has ``.expr`` (sympy), ``.symbols`` (name → (Symbol, meaning)), ``.latex()``,
``.evaluate(arch, X)`` (lambdified to numpy; returns a ``BoundValue`` with flags) and ``.table()``.

The theorems (full proofs in docs/theory.md (Part III); the lemmas are)
--------------------------------------------------------------
* **Schur product theorem**: A, B ⪰ 0 ⇒ A ⊙ B ⪰ 0, and λ_min(A ⊙ B) ≥ λ_min(A)·min_i B_ii
  (A − λ_min(A) I ⪰ 0 ⇒ (A − λ_min(A) I) ⊙ B ⪰ 0 ⇒ A ⊙ B ⪰ λ_min(A) diag(B)).
* **Weyl**: λ_min(A + B) ≥ λ_min(A) + λ_min(B) for symmetric A, B; with B ⪰ 0, A + B ⪰ A.
* **Mehler / Hermite**: for g ~ N(0, C) with C_ii = q_i and correlation ρ = D^{-1/2} C D^{-1/2},
  E[σ(g_i) σ(g_j)] = Σ_{s≥0} μ_s(σ_{q_i}) μ_s(σ_{q_j}) ρ_ij^s, so the centred feature kernel is
  Σ_{s≥1} D_s ρ^{⊙s} D_s, D_s = diag(μ_s(σ_{q_i})), a sum of PSD terms; with Stein's lemma,
  c Σ_uu ⊙ E[σ'(g)σ'(g)ᵀ] = Σ_{s≥1} D'_s ρ^{⊙s} D'_s, D'_s = diag(√s μ_s(σ_{q_i})), q_i = c Σ_uu,ii.
* **Gershgorin**: a symmetric matrix with unit diagonal has λ_min ≥ 1 − max_i Σ_{j≠i} |a_ij|; applied
  to ρ^{⊙s}: λ_min(ρ^{⊙s}) ≥ 1 − γ_s ≥ 1 − (N−1) ρ̂^s, γ_s = max_i Σ_{j≠i}|ρ_ij|^s (any s ≥ 1, odd included).
  Also λ_min(ρ^{⊙s}) ≥ λ_min(ρ) (Schur, unit diagonal).

**Theorem 1 (structural, S1 ≥ S2)**: see ``bounds.exact``.

**Theorem 2 (closed form LB_r)**: for every r ≥ 0, with g_s(0) = max(λ_0, 1 − γ_s) (or the weaker
max(λ_0, 1 − (N−1)ρ̂^s)),
g_s(u) = λ_u = ℓ_u / Q_u (u ≥ 1), the node bounds
    ℓ_u = S_{0→u}² ℓ_c + Σ_k P_{k→u}² κ_k,      κ_k = Σ_{s=1}^r μ_{s,k}² g_s(src k) + τ_k g_{r+1}(src k),
    π_v = S_{v→out}² + Σ_k S_{v→src k}² α_k² c_k ν_k π_{dst k},
    B_k = Σ_{s=1}^r s μ_{s,k}² g_s(src k) + τ'_k g_{r+1}(src k),
satisfy λ_min(Σ_uu) ≥ ℓ_u, min_i Π_vv,ii ≥ π_v, λ_min(c_k Σ_uu ⊙ V'_k) ≥ B_k, and
    λ_min(Θ) ≥ LB_r = ℓ_out + Σ_k α_k² π_{dst k} B_k ≥ 0.
Proof: the orthogonal decomposition of ``bounds.plan`` gives Σ_uu = (rank-one mean part) +
S_{0→u}²(XXᵀ/d − m mᵀ) + Σ_k P_{k→u}² K̃_k with every summand PSD (Weyl ⇒ ℓ_u); Mehler gives
K̃_k ⪰ Σ_{s≤r} D_s ρ_u^{⊙s} D_s + Σ_{s>r} D_s ρ_u^{⊙s} D_s ⪰ [Σ_{s≤r} μ_{s,k}² g_s + τ_k g_{r+1}] I
(each ρ_u^{⊙s} ⪰ g_s I with g_s ≥ 0, D_s² ⪰ min_i μ_s² I; tail: g_s ≥ g_{r+1} for s > r since ρ̂ ≤ 1);
ρ_u = D^{-1/2}Σ_uu D^{-1/2} ⪰ (ℓ_u / max_i q_u) I; the same for c Σ ⊙ V' with √s μ_s (⇒ B_k);
Schur with B = Π_vv (⇒ α² π_v B_k); Weyl over the readout and the edges. □

**Theorem 3 (tightness)**: for a depth-1 net on orthonormal data (XXᵀ/d = I after scaling), and
generally whenever every dense edge reads node 0 and ρ_0 = I, g_s = 1 for all s and the tails make
LB_r = λ_min(Θ) exactly, for every r.

**Theorem 4 (upper)**: λ_min(Θ) ≤ Θ_{i*i*} (Rayleigh, w = e_{i*}) and ≤ λ_min([[Θ_aa, Θ_ab],
[Θ_ab, Θ_bb]]) (Cauchy interlacing); the closed form writes Θ_{i*i*} by the exact diagonal recursion.

**Monotonicity (skip edges)**: for positively homogeneous activations (relu, leaky_relu, identity)
and data with constant diagonals (sphere, equal coordinate means), adding an identity edge never
decreases LB_r: every P, S, π grows (α > 0), q_u grows, and each κ_k, B_k from a node u ≥ 1 equals
(Σ_{s≥1} μ_s(σ_1)² or Σ s μ_s(σ_1)²)·c_k·ℓ_u, monotone in ℓ_u. For saturating activations
(tanh, sigmoid, …) μ_s(σ_q)²/q decreases in q, and the statement can fail (docs/theory.md §III.5).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

import theory
from bounds.closed import (
    R_MAX,
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
from bounds.exact import exact_levels, upper_from_kernel
from bounds.plan import BoundError, Plan
from theory.space import Arch, Edge, Op, OpKind

__all__ = [
    "Bound",
    "BoundValue",
    "BoundError",
    "Certificate",
    "lower",
    "upper",
    "generalization",
    "paper_form",
    "certify",
    "finite_width",
    "depth",
    "R_MAX",
]

NO_DENSE = ("no dense edge: Θ = Σ_out = S²·XXᵀ/d is the readout kernel of the (scaled) input; "
            "λ_min(Θ) = 0 whenever N > d or the data are linearly dependent")
ZERO = "the output is identically zero: Θ = 0 and λ_min(Θ) = 0"


@dataclass
class BoundValue:
    """A number with the flags that qualify it (violated assumptions, degenerate cases)."""

    value: float
    flags: tuple[str, ...] = ()
    symbols: dict[str, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)


def depth(arch: Arch | str) -> int:
    """L: the largest number of dense edges on a path from the input to the output."""
    plan = Plan.of(arch)
    best = {0: 0}
    for u in range(1, plan.n + 1):
        cands = [best[e.src] + 1 for e in plan.dense if e.dst == u and e.src in best]
        cands += [best[s.src] for s in plan.skips if s.dst == u and s.src in best]
        if cands:
            best[u] = max(cands)
    return best.get(plan.n, 0)


class Bound:
    """A bound as a sympy expression in named symbols, with numeric evaluation."""

    def __init__(self, kind: str, arch: Arch, expr: sp.Expr, st: Structure | None, parts: dict[str, sp.Expr],
                 statement: str, symbols: dict[str, tuple[sp.Symbol, str]] | None = None) -> None:
        self.kind = kind
        self.arch = arch
        self.expr = expr
        self.structure = st
        self.parts = parts
        self.statement = statement
        #: intermediate quantities (symbol, defining expression), in evaluation order
        self.defs: list[tuple[sp.Symbol, sp.Expr]] = _needed_defs(expr, st.defs) if st is not None else []
        if symbols is None:
            assert st is not None
            used = {s.name for s in expr.free_symbols}
            for _, rhs in self.defs:
                used |= {s.name for s in rhs.free_symbols}
            symbols = {n: (st.syms[n], st.meaning[n]) for n in st.syms if n in used}
        self.symbols = symbols

    def __repr__(self) -> str:
        return f"<{self.kind} bound for {self.arch}: {self.statement}>"

    def full_expr(self) -> sp.Expr:
        """The expression with every intermediate quantity substituted (its size grows quickly with
        depth: the intermediate form ``expr`` + ``defs`` is linear)."""
        e = self.expr
        for sym, rhs in reversed(self.defs):
            e = e.xreplace({sym: rhs})
        return e

    def _names(self) -> dict[sp.Symbol, str]:
        syms = [s for s, _ in self.symbols.values()] + [s for s, _ in self.defs]
        return {s: _pretty(s.name) for s in syms}

    def latex(self) -> str:
        """LaTeX of the bound: the top formula, then ``where`` and each intermediate definition."""
        names = self._names()
        out = sp.latex(self.expr, symbol_names=names)
        if self.defs:
            out += r",\quad\text{where}\quad " + r",\; ".join(
                f"{names[sym]} = {sp.latex(rhs, symbol_names=names)}" for sym, rhs in self.defs)
        return out

    def table(self) -> str:
        """The symbol table (name, meaning) as text."""
        rows = [f"  {_pretty(s.name):<24s} {m}" for s, m in self.symbols.values()]
        if self.structure is not None:
            rows += [f"  {_pretty(sym.name):<24s} {self.structure.def_meaning.get(sym.name, '')} (defined)"
                     for sym, _ in self.defs]
        return "\n".join(rows)

    def compile(self):
        """Compile the straight-line program (every definition, then the top expression) into one
        numpy function of the base symbols, in ``self.symbols`` order (vectorized over arrays).
        Compiled programs are shared by every bound of the same structure."""
        key = getattr(self, "_key", None)
        if key is not None and key in _COMPILED:
            return _COMPILED[key]
        names = list(self.symbols) + [sym.name for sym, _ in self.defs]
        ident = {n: f"_v{i}" for i, n in enumerate(names)}
        rename = {sym: sp.Symbol(ident[sym.name]) for sym, _ in self.defs}
        rename.update({sym: sp.Symbol(ident[n]) for n, (sym, _) in self.symbols.items()})
        pr = NumPyPrinter({"fully_qualified_modules": True})
        lines = [f"def _bound({', '.join(ident[n] for n in self.symbols)}):"]
        for sym, rhs in self.defs:
            lines.append(f"    {ident[sym.name]} = {pr.doprint(rhs.xreplace(rename))}")
        lines.append(f"    return {pr.doprint(self.expr.xreplace(rename))}")
        ns: dict[str, Any] = {"numpy": np, "functools": functools}
        exec("\n".join(lines), ns)  # noqa: S102 - code generated from our own sympy expressions
        fn = ns["_bound"]
        fn.source = "\n".join(lines)
        if key is not None:
            _COMPILED[key] = fn
        return fn

    def __call__(self, values: dict[str, Any]) -> Any:
        """Evaluate from symbol values (scalars or equal-length numpy arrays: vectorized)."""
        missing = [n for n in self.symbols if n not in values]
        if missing:
            raise BoundError(f"missing symbol values: {missing}")
        return self.compile()(*[values[n] for n in self.symbols])

    def subs(self, values: dict[str, Any]) -> float:
        """The naive evaluation by sympy substitution (for comparison with ``__call__``)."""
        env = {self.symbols[n][0]: v for n, v in values.items() if n in self.symbols}
        for sym, rhs in self.defs:
            env[sym] = rhs.subs(env).evalf()
        return float(self.expr.subs(env).evalf())

    def evaluate(self, arch: Arch | str | None = None, X: np.ndarray | None = None, **kw: Any) -> BoundValue:
        raise NotImplementedError


_GREEK = ("mu", "gamma", "tau", "kappa", "ell", "pi", "nu", "lambda", "Theta", "alpha", "delta")


def _pretty(name: str) -> str:
    """LaTeX of a symbol name: mu_{2,1} → \\mu_{2,1}, rho_max → \\hat\\rho, tau'_{1} → \\tau'_{1}."""
    if name == "rho_max":
        return r"\hat{\rho}"
    if name == "lambda_0":
        return r"\lambda_{0}"
    if name == "ell_c":
        return r"\ell_{c}"
    for g in _GREEK:
        if name.startswith(g + "_") or name.startswith(g + "'"):
            return "\\" + name
    return sp.latex(sp.Symbol(name))


def _needed_defs(expr: sp.Expr, defs: list[tuple[sp.Symbol, sp.Expr]]) -> list[tuple[sp.Symbol, sp.Expr]]:
    need = {s.name for s in expr.free_symbols}
    keep = []
    for sym, rhs in reversed(defs):
        if sym.name in need:
            keep.append((sym, rhs))
            need |= {s.name for s in rhs.free_symbols}
    return keep[::-1]


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
    def evaluate(self, arch: Arch | str | None = None, X: np.ndarray | None = None, *, strict: bool = False,
                 pair: tuple[float, float, float] | None = None,
                 constants: dict[str, float] | None = None) -> BoundValue:
        """Evaluate on data X (N×d) for ``arch`` (default: the architecture the bound was built for;
        any architecture of the same structure is accepted, with its own activations and scales).
        ``constants`` gives values to free constants (C_lower, C_upper of the paper form).

        The bound is valid for any finite data without zero rows (A0). With ``strict=True`` data that
        violate A1 (sphere) or A2 (equal coordinate means) are refused; otherwise the value is
        returned with a flag (the constants are then min/max over samples: a weaker bound)."""
        if X is None:
            raise BoundError("evaluate needs the data X (N×d)")
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
        if self.kind == "upper" and pair is None:
            pair = _pair_entries(plan, X, ds)
        vals = symbol_values(st_eval, ds, rec, pair)
        vals.update(constants or {})
        value = float(self(vals))
        return BoundValue(value, tuple(flags), vals)


def _scales(plan: Plan) -> list[float]:
    return sorted(({e.alpha for e in plan.dense} | {s.alpha for s in plan.skips}) - {1.0})


def _pair_entries(plan: Plan, X: np.ndarray, ds: DataStats) -> tuple[float, float, float]:
    """Θ entries on one pair of samples (exact kernel on at most 4 samples): the candidates are the
    endpoints of the most positively and the most negatively correlated input pairs (relu-type kernels
    are largest at ρ → 1, odd ones in |ρ|); the pair with the smallest 2×2 λ_min among them is used."""
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
    T = theory.ntk(_arch_of(plan), G[idx])
    _, _, _, (i, j) = upper_from_kernel(T)
    return float(T[i, i]), float(T[j, j]), float(T[i, j])


def _arch_of(plan: Plan) -> Arch:
    nodes: list[list[Edge]] = [[] for _ in range(plan.n)]
    for e in plan.dense:
        nodes[e.dst - 1].append(Edge(e.src, e.dst, Op(OpKind.DENSE, e.act, e.alpha)))
    for s in plan.skips:
        nodes[s.dst - 1].append(Edge(s.src, s.dst, Op(OpKind.SKIP, None, s.alpha)))
    for j in range(plan.n):
        if not nodes[j]:
            nodes[j].append(Edge(j, j + 1, Op(OpKind.NONE)))
    return Arch(tuple(tuple(sorted(n, key=lambda e: (e.src, e.op.token))) for n in nodes))


_CACHE: dict[tuple, tuple[sp.Expr, Structure, dict]] = {}
_COMPILED: dict[tuple, Any] = {}


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


# ---------------------------------------------------------------------------------------------
# generalization


class _GenBound(Bound):
    def evaluate(self, arch: Arch | str | None = None, X: np.ndarray | None = None, y: np.ndarray | None = None,
                 *, C1: float = 1.0, C2: float = 1.0, delta: float = 0.05, r: int = 8) -> BoundValue:
        """Evaluate with constants C1, C2 (unknown in the paper: defaults 1, a *shape*, not a guarantee),
        δ, labels y ∈ {±1}^N. Returns the bound with the exact yᵀΘ⁻¹y; ``parts`` also hold the
        λ_min relaxation and the closed-form (LB_r) relaxation of the same bound."""
        a = Arch.parse(self.arch if arch is None else arch)
        if X is None or y is None:
            raise BoundError("generalization.evaluate needs data X (N×d) and labels y (N,)")
        y = np.asarray(y, dtype=np.float64).ravel()
        X = np.asarray(X, dtype=np.float64)
        if y.shape[0] != X.shape[0]:
            raise BoundError(f"y has {y.shape[0]} labels for {X.shape[0]} samples")
        if not (0 < delta < 1):
            raise BoundError(f"δ must lie in (0, 1), got {delta}")
        T = theory.ntk(a, X)
        lam = float(np.linalg.eigvalsh(T)[0])
        flags: list[str] = []
        if lam <= 0:
            flags.append("Θ is singular: yᵀΘ⁻¹y is infinite and the bound is vacuous")
            quad = math.inf
        else:
            quad = float(y @ np.linalg.solve(T, y))
        lb = lower(a, r).evaluate(a, X)
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


def generalization(arch: Arch | str) -> Bound:
    """Cao & Gu (2019, Cor. 3.10) form: with probability ≥ 1 − δ over n i.i.d. samples,

        E[0-1 error] ≤ C_1 · L · √(yᵀΘ⁻¹y / n) + C_2 · √(log(1/δ) / n),

    Y := yᵀΘ⁻¹y; its relaxations Y ≤ ‖y‖²/λ_min(Θ) (Rayleigh: Θ⁻¹ ⪯ λ_min⁻¹ I) and
    Y ≤ ‖y‖²/LB_r (Theorem 2) are in ``parts``. C_1, C_2 are the constants the source leaves implicit
    (logarithmic factors of Õ included); the form is a reconstruction, not a quotation."""
    arch = Arch.parse(arch)
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
    return _GenBound("generalization", arch, expr, None, parts,
                     "E[0-1 error] ≤ C_1 L √(yᵀΘ⁻¹y/n) + C_2 √(log(1/δ)/n) (Cao & Gu 2019 form)", syms)


# ---------------------------------------------------------------------------------------------
# paper form


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


# ---------------------------------------------------------------------------------------------
# numbers for every level


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
        return [
            f"closed-form lower LB_{self.r}      {self.closed_lower: .8g}",
            f"structural lower S2 (Weyl+Schur) {self.s2: .8g}",
            f"structural lower S1 (Weyl)       {self.s1: .8g}",
            f"exact lambda_min(Theta)          {self.exact: .8g}",
            f"upper 2x2 interlacing            {self.u_2x2: .8g}",
            f"upper pair Rayleigh              {self.u_pair: .8g}",
            f"upper diagonal                   {self.u_diag: .8g}",
            f"closed-form upper                {self.closed_upper: .8g}",
        ] + [f"flag: {f}" for f in self.flags]


def certify(arch: Arch | str, X: np.ndarray, r: int = 8, kp: Any = None) -> Certificate:
    """Every level of the hierarchy on data X (theory.kernel_pieces for the exact kernel; X must be
    sphere data, as theory requires). ``kp``: the ``theory.kernel_pieces(arch, X)`` result when the
    caller already has it (it is then not recomputed)."""
    a = Arch.parse(arch)
    lo = lower(a, r).evaluate(a, X)
    plan = Plan.of(a)
    if plan.zero:
        return Certificate(str(a), r, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, lo.flags)
    lv = exact_levels(a, X, kp)
    up = upper(a).evaluate(a, X) if np.asarray(X).shape[0] >= 2 else BoundValue(lv.u_diag)
    return Certificate(str(a), r, lo.value, lv.s2, lv.s1, lv.exact, lv.u_2x2, lv.u_pair, lv.u_diag,
                       up.value, lv.error, lo.flags)


def finite_width(lmin_exact: float, K_m: np.ndarray, Theta: np.ndarray) -> tuple[float, float]:
    """Weyl at finite width: λ_min(K̄_m) ≥ λ_min(Θ) − ‖K̄_m − Θ‖₂. Returns (that lower bound, ‖K̄_m − Θ‖₂)."""
    dev = float(np.linalg.norm(np.asarray(K_m, dtype=np.float64) - Theta, 2))
    return lmin_exact - dev, dev

"""Closed-form bounds on λ_min(Θ): sympy expressions in named symbols, and their symbol values.

Everything here follows docs/theory.md (Part III) (proofs there and in ``bounds/__init__.py``). The expression
of a bound depends only on the **structure** of the pruned architecture (which edges are dense or
identity, their endpoints, which scales differ from 1) and on r; activations and data enter only
through the symbol values, so one compiled expression serves every architecture of a structure.

Symbols (k = 1..K numbers the dense edges in ``Plan.dense`` order, u the nodes):

=================  ==========================================================================
symbol             meaning (value computed by ``symbol_values``)
=================  ==========================================================================
N                  number of samples
\\hat\\rho          max_{i≠j} |ρ_0,ij|, ρ_0 = input correlation matrix
\\lambda_0          λ_min(ρ_0)
\\ell_c             λ_min(XXᵀ/d − m mᵀ) (row-centred data Gram; only with identity paths from the input)
\\mu_{s,k}          min_i |μ_s(σ_k at pre-activation variance c_k q_{src(k)}(x_i))|, s = 1..r
\\tau_k             min_i Σ_{s>r} μ_s(σ_k)²           (forward Hermite tail)
\\tau'_k            min_i Σ_{s>r} s μ_s(σ_k)²         (NTK Hermite tail)
\\nu_k              min_i E[σ_k'(g)²]                 (diagonal of Ṡ_k)
c_k                weight variance of edge k (1/E[σ_k(z)²] by default)
\\alpha, \\alpha_j   the distinct op scales ≠ 1 (ResNet α)
Q_u                max_i Σ_uu(x_i, x_i), nodes u ≥ 1 that feed a dense edge
=================  ==========================================================================

The upper bound's symbols are values at one sample i* (the one with the smallest Θ_ii) and one pair
(a, b): \\bar q_u = Σ_uu(x_{i*}, x_{i*}), \\bar\\nu_k, and \\Theta_{aa}, \\Theta_{bb}, \\Theta_{ab}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from bounds import moments
from bounds.data import DataStats
from bounds.plan import BoundError, Plan

__all__ = ["R_MAX", "check_r", "Structure", "lower_expr", "upper_expr", "symbol_values", "DiagRecursion"]

#: Largest Hermite order accepted (the tails keep the bound exact in the limit anyway).
R_MAX = 64


def check_r(r: Any) -> int:
    """r must be an integer 0 ≤ r ≤ R_MAX (r = 0 keeps only the Schur/λ_min part of every term)."""
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
        raise BoundError(f"r (the Hermite order) must be an integer, got {r!r}")
    if not 0 <= int(r) <= R_MAX:
        raise BoundError(f"r (the Hermite order) must satisfy 0 <= r <= {R_MAX}, got {r}")
    return int(r)


@dataclass
class Structure:
    """Symbols of one structure (plan shape + r) and the bookkeeping to fill them."""

    plan: Plan
    r: int
    gersh: str = "rowsum"
    syms: dict[str, sp.Symbol] = field(default_factory=dict)
    meaning: dict[str, str] = field(default_factory=dict)
    scale_syms: dict[float, sp.Symbol] = field(default_factory=dict)
    defs: list[tuple[sp.Symbol, sp.Expr]] = field(default_factory=list)
    def_meaning: dict[str, str] = field(default_factory=dict)

    def define(self, name: str, rhs: sp.Expr, meaning: str) -> sp.Symbol:
        """An intermediate quantity: a named symbol with a defining expression (keeps the formulas
        linear in depth; ``Bound.full_expr`` substitutes them back)."""
        sym = sp.Symbol(name, real=True)
        self.defs.append((sym, sp.sympify(rhs)))
        self.def_meaning[name] = meaning
        return sym

    def sym(self, name: str, meaning: str, **kw: Any) -> sp.Symbol:
        if name not in self.syms:
            self.syms[name] = sp.Symbol(name, **kw)
            self.meaning[name] = meaning
        return self.syms[name]

    def scale(self, a: float) -> sp.Expr:
        if a == 1.0:
            return sp.Integer(1)
        if a not in self.scale_syms:
            distinct = sorted(({e.alpha for e in self.plan.dense} | {s.alpha for s in self.plan.skips}) - {1.0})
            name = "alpha" if len(distinct) == 1 else f"alpha_{distinct.index(a) + 1}"
            self.scale_syms[a] = self.sym(name, f"op scale = {a!r}", positive=True)
        return self.scale_syms[a]


GERSHGORIN = ("rowsum", "max")


def check_gersh(g: str) -> str:
    if g not in GERSHGORIN:
        raise BoundError(f"gershgorin must be one of {GERSHGORIN}, got {g!r}")
    return g


def structure_key(plan: Plan, r: int, gersh: str = "rowsum") -> tuple:
    """Two plans with the same key have the same bound expressions."""
    scales = sorted(({e.alpha for e in plan.dense} | {s.alpha for s in plan.skips}) - {1.0})
    idx = {a: i for i, a in enumerate(scales)}
    return (
        r,
        gersh,
        plan.n,
        plan.zero,
        tuple((e.src, e.dst, idx.get(e.alpha, -1)) for e in plan.dense),
        tuple((s.src, s.dst, idx.get(s.alpha, -1)) for s in plan.skips),
    )


# ---------------------------------------------------------------------------------------------
# lower bound


def lower_expr(st: Structure) -> tuple[sp.Expr, dict[str, sp.Expr]]:
    """The closed-form lower bound LB(r) (docs/theory.md (Part III) Theorem 2) and its named parts."""
    plan, r = st.plan, st.r
    if plan.zero:
        return sp.Integer(0), {}
    pos = {"nonnegative": True}
    if st.gersh == "max":
        N = st.sym("N", "number of samples", positive=True, integer=True)
        rho = st.sym("rho_max", "max_{i≠j} |ρ_0,ij| (input correlations)", **pos)
    lam0 = st.sym("lambda_0", "λ_min(ρ_0) (input correlation matrix)", **pos)
    S = plan.skip_weights(lambda s: st.scale(s.alpha))
    lam: dict[int, sp.Expr] = {0: lam0}
    ell: dict[int, sp.Expr] = {}
    kappa: dict[int, sp.Expr] = {}
    B: dict[int, sp.Expr] = {}

    def g(u: int, s: int) -> sp.Expr:
        if u != 0:
            return lam[u]
        if st.gersh == "max":
            return sp.Max(lam0, 1 - (N - 1) * rho**s)
        gam = st.sym(f"gamma_{{{s}}}", f"max_i Σ_{{j≠i}} |ρ_0,ij|^{s} (≤ (N−1) ρ̂^{s})", nonnegative=True)
        return sp.Max(lam0, 1 - gam)

    def edge_parts(u: int) -> None:
        for e in plan.dense:
            if e.src != u:
                continue
            k = e.k + 1
            mus = [st.sym(f"mu_{{{s},{k}}}", f"min_i |μ_{s}| of edge {k} ({e.act.token}, {e.src}→{e.dst})", **pos)
                   for s in range(1, r + 1)]
            tau = st.sym(f"tau_{{{k}}}", f"min_i Σ_{{s>{r}}} μ_s² of edge {k}", **pos)
            taud = st.sym(f"tau'_{{{k}}}", f"min_i Σ_{{s>{r}}} s μ_s² of edge {k}", **pos)
            kappa[e.k] = st.define(
                f"kappa_{{{k}}}", sp.Add(*[mus[s - 1] ** 2 * g(u, s) for s in range(1, r + 1)]) + tau * g(u, r + 1),
                f"lower bound on λ_min of edge {k}'s centred feature kernel K̃_{k}")
            B[e.k] = st.define(
                f"B_{{{k}}}", sp.Add(*[s * mus[s - 1] ** 2 * g(u, s) for s in range(1, r + 1)]) + taud * g(u, r + 1),
                f"lower bound on λ_min(c_{k} Σ_src ⊙ V'_{k}) of edge {k}")

    edge_parts(0)
    for u in range(1, plan.n + 1):
        terms = []
        if S[(0, u)] != 0:
            ellc = st.sym("ell_c", "λ_min(XXᵀ/d − m mᵀ) (row-centred data Gram)", **pos)
            terms.append(S[(0, u)] ** 2 * ellc)
        for e in plan.dense:
            if e.dst <= u and S[(e.dst, u)] != 0:
                terms.append((st.scale(e.alpha) * S[(e.dst, u)]) ** 2 * kappa[e.k])
        ell[u] = st.define(f"ell_{{{u}}}", sp.Add(*terms), f"lower bound on λ_min(Σ_{u}{u})")
        if any(e.src == u for e in plan.dense):
            Q = st.sym(f"Q_{{{u}}}", f"max_i Σ_{u}{u}(x_i, x_i)", positive=True)
            lam[u] = st.define(f"lambda_{{{u}}}", ell[u] / Q, f"lower bound on λ_min(ρ_{u}) (normalized Σ_{u}{u})")
            edge_parts(u)
    pi = _pi_expr(st, S, bar=False)
    total = ell[plan.n] + sp.Add(*[st.scale(e.alpha) ** 2 * pi[e.dst] * B[e.k] for e in plan.dense])
    parts = {"readout": ell[plan.n]}
    for e in plan.dense:
        parts[f"edge {e.k + 1}"] = st.scale(e.alpha) ** 2 * pi[e.dst] * B[e.k]
    return total, parts


def _pi_expr(st: Structure, S: dict, bar: bool) -> dict[int, sp.Expr]:
    """π_v: lower bound of min_i Π_v(x_i, x_i) (bar=False, ν_k = min over samples), or the value of
    Π_v at sample i* (bar=True, \\bar ν_k): π_v = S_{v→out}² + Σ_k S_{v→src k}² α_k² c_k ν_k π_{dst k}."""
    plan = st.plan
    pi: dict[int, sp.Expr] = {}
    for v in range(plan.n, 0, -1):
        val: sp.Expr = sp.sympify(S[(v, plan.n)]) ** 2
        for e in plan.dense:
            if e.src >= v and S[(v, e.src)] != 0:
                k = e.k + 1
                c = st.sym(f"c_{{{k}}}", f"weight variance of edge {k} ({e.act.token})", positive=True)
                nm = f"\\bar{{\\nu}}_{{{k}}}" if bar else f"nu_{{{k}}}"
                nu = st.sym(nm, ("E[σ'²] of edge " + str(k) + (" at sample i*" if bar else ", min over samples")),
                            nonnegative=True)
                val = val + sp.sympify(S[(v, e.src)]) ** 2 * st.scale(e.alpha) ** 2 * c * nu * pi[e.dst]
        if bar:
            pi[v] = st.define(f"\\bar{{\\pi}}_{{{v}}}", val, f"Π_{v}{v}(x_i*, x_i*)")
        else:
            pi[v] = st.define(f"pi_{{{v}}}", val, f"lower bound on min_i Π_{v}{v}(x_i, x_i)")
    return pi


# ---------------------------------------------------------------------------------------------
# upper bound


def upper_expr(st: Structure) -> tuple[sp.Expr, dict[str, sp.Expr]]:
    """min(Θ_{i*i*}, λ_min of the 2×2 principal submatrix on (a, b)) (docs/theory.md (Part III) Theorem 4).

    Θ_{i*i*} is written as the exact diagonal recursion; the pair term in the entries of Θ."""
    plan = st.plan
    if plan.zero:
        return sp.Integer(0), {}
    S = plan.skip_weights(lambda s: st.scale(s.alpha))
    pi = _pi_expr(st, S, bar=True)

    def qbar(u: int) -> sp.Symbol:
        return st.sym(f"\\bar{{q}}_{{{u}}}", f"Σ_{u}{u}(x_i*, x_i*)", positive=True)

    diag: sp.Expr = qbar(plan.n)
    for e in plan.dense:
        k = e.k + 1
        c = st.sym(f"c_{{{k}}}", f"weight variance of edge {k} ({e.act.token})", positive=True)
        nu = st.sym(f"\\bar{{\\nu}}_{{{k}}}", f"E[σ'²] of edge {k} at sample i*", nonnegative=True)
        diag = diag + c * st.scale(e.alpha) ** 2 * qbar(e.src) * nu * pi[e.dst]
    Ta = st.sym("Theta_{aa}", "Θ(x_a, x_a) at the pair (a, b)", nonnegative=True)
    Tb = st.sym("Theta_{bb}", "Θ(x_b, x_b) at the pair (a, b)", nonnegative=True)
    Tab = st.sym("Theta_{ab}", "Θ(x_a, x_b)", real=True)
    pair = (Ta + Tb) / 2 - sp.sqrt(((Ta - Tb) / 2) ** 2 + Tab**2)
    dsym = st.define("\\Theta_{i^*i^*}", diag, "Θ(x_i*, x_i*) by the exact diagonal recursion")
    return sp.Min(dsym, pair), {"diagonal": dsym, "pair": pair}


# ---------------------------------------------------------------------------------------------
# symbol values


@lru_cache(maxsize=1 << 16)
def _edge_moments(act, r: int, pre: float) -> tuple[tuple[float, ...], float, float, float, float]:
    """(μ_0..μ_r, E[σ²], ν, forward tail, NTK tail) at pre-activation variance ``pre``."""
    mu = moments.hermite(act, r, pre)
    E = moments.second(act, pre)
    nu = moments.deriv_second(act, pre)
    s = np.arange(r + 1)
    tail = max(0.0, E - float(np.sum(mu**2)))
    ntail = max(0.0, pre * nu - float(np.sum(s * mu**2)))
    return tuple(mu), E, nu, tail, ntail


def _key(x: float) -> float:
    return float(f"{x:.13g}")


@dataclass
class DiagRecursion:
    """Exact per-sample diagonals of every node kernel, backward kernel and Θ (docs/theory.md §III.2):

    q_u(i) = (a_u(i) + P_{0u} m_i)² + P_{0u}² (q_0(i) − m_i²) + Σ_k P_{k→u}² (E_k(i) − M_k(i)²),
    a_u(i) = Σ_k P_{k→u} M_k(i),  Π_v(i) = S_{v→out}² + Σ_k S_{v→src k}² α_k² c_k ν_k(i) Π_{dst k}(i),
    Θ_ii = q_out(i) + Σ_k c_k α_k² q_{src k}(i) ν_k(i) Π_{dst k}(i).
    """

    plan: Plan
    r: int
    q0: np.ndarray
    m: np.ndarray
    input_mean: bool = True

    def __post_init__(self) -> None:
        plan, r = self.plan, self.r
        N = len(self.q0)
        m = self.m if self.input_mean else np.zeros(N)
        S = plan.skip_weights()
        self.S = S
        q: dict[int, np.ndarray] = {0: self.q0}
        self.mom: dict[int, list] = {}
        M: dict[int, np.ndarray] = {}
        E: dict[int, np.ndarray] = {}
        for u in plan.nodes:
            if u > 0:
                p0 = S[(0, u)]
                a = np.zeros(N)
                tot = p0 * p0 * (self.q0 - m * m)
                for e in plan.dense:
                    if e.dst <= u and S[(e.dst, u)] != 0:
                        p = e.alpha * S[(e.dst, u)]
                        a = a + p * M[e.k]
                        tot = tot + p * p * (E[e.k] - M[e.k] ** 2)
                q[u] = tot + (a + p0 * m) ** 2
            for e in plan.dense:
                if e.src == u:
                    pre = e.c * q[u]
                    if np.any(pre <= 0):
                        raise BoundError(f"node {u} carries the zero function; edge {e} has no Gaussian input")
                    vals = [_edge_moments(e.act, r, _key(p)) for p in pre]
                    self.mom[e.k] = vals
                    M[e.k] = np.array([v[0][0] for v in vals])
                    E[e.k] = np.array([v[1] for v in vals])
        self.q = q
        pi: dict[int, np.ndarray] = {}
        for v in range(plan.n, 0, -1):
            val = np.full(N, float(S[(v, plan.n)]) ** 2)
            for e in plan.dense:
                if e.src >= v and S[(v, e.src)] != 0:
                    nu = np.array([x[2] for x in self.mom[e.k]])
                    val = val + S[(v, e.src)] ** 2 * e.alpha**2 * e.c * nu * pi[e.dst]
            pi[v] = val
        self.pi = pi
        th = q[plan.n].copy()
        for e in plan.dense:
            nu = np.array([x[2] for x in self.mom[e.k]])
            th = th + e.c * e.alpha**2 * q[e.src] * nu * pi[e.dst]
        self.theta_diag = th


def symbol_values(st: Structure, ds: DataStats, rec: DiagRecursion, pair: tuple[float, float, float] | None = None,
                  ) -> dict[str, float]:
    """Numeric value of every symbol of ``st`` for this data (see the table in the module docstring)."""
    plan, r = st.plan, st.r
    vals: dict[str, float] = {
        "N": float(ds.N), "rho_max": ds.rho_max, "lambda_0": ds.lambda0, "ell_c": ds.ell_c,
    }
    for a, s in st.scale_syms.items():
        vals[s.name] = a
    for s in range(1, r + 2):
        if f"gamma_{{{s}}}" in st.syms:
            vals[f"gamma_{{{s}}}"] = ds.gamma(s)
    istar = int(np.argmin(rec.theta_diag))
    for e in plan.dense:
        k = e.k + 1
        mom = rec.mom[e.k]
        mus = np.abs(np.array([x[0] for x in mom]))  # (N, r+1)
        for s in range(1, r + 1):
            vals[f"mu_{{{s},{k}}}"] = float(mus[:, s].min())
        vals[f"tau_{{{k}}}"] = float(min(x[3] for x in mom))
        vals[f"tau'_{{{k}}}"] = float(min(x[4] for x in mom))
        vals[f"nu_{{{k}}}"] = float(min(x[2] for x in mom))
        vals[f"\\bar{{\\nu}}_{{{k}}}"] = float(mom[istar][2])
        vals[f"c_{{{k}}}"] = e.c
    for u in plan.nodes:
        if u > 0:
            vals[f"Q_{{{u}}}"] = float(rec.q[u].max())
        vals[f"\\bar{{q}}_{{{u}}}"] = float(rec.q[u][istar])
    if pair is not None:
        vals["Theta_{aa}"], vals["Theta_{bb}"], vals["Theta_{ab}"] = pair
    return {name: vals[name] for name in st.syms if name in vals}


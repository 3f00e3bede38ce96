"""``Bound``: a bound as a sympy expression in named symbols (compiled to one numpy program per
structure), and ``BoundValue``: a number with the flags that qualify it.

Subclasses implement ``evaluate`` with the one signature of ``Bound.evaluate``: the closed-form
lower/upper bounds (``bounds.lower_upper``) and the generalization bound (``bounds.generalization``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

import theory
from bounds.closed import Structure
from bounds.plan import BoundError
from theory.space import Arch

__all__ = ["Bound", "BoundValue", "NO_DENSE", "ZERO", "check_pieces"]

NO_DENSE = ("no dense edge: Θ = Σ_out = S²·XXᵀ/d is the readout kernel of the (scaled) input; "
            "λ_min(Θ) = 0 whenever N > d or the data are linearly dependent")
ZERO = "the output is identically zero: Θ = 0 and λ_min(Θ) = 0"

#: compiled straight-line programs, shared by every bound of one structure (key: kind + structure)
_COMPILED: dict[tuple, Any] = {}


@dataclass
class BoundValue:
    """A number with the flags that qualify it (violated assumptions, degenerate cases)."""

    value: float
    flags: tuple[str, ...] = ()
    symbols: dict[str, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)




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

    def evaluate(self, arch: Arch | str | None = None, X: np.ndarray | None = None, y: np.ndarray | None = None,
                 *, kp: Any = None, strict: bool = False, constants: dict[str, float] | None = None) -> BoundValue:
        """The bound's value on data X (N×d) for ``arch`` (default: the architecture it was built for).

        One signature for every bound: ``y`` the labels (only the generalization bound uses them),
        ``kp`` the ``theory.kernel_pieces(arch, X)`` result when the caller already has it (the exact
        kernel is then not recomputed), ``strict`` refuses data that violate the bound's assumptions
        instead of flagging them, ``constants`` gives values to the free constants (C_lower, C_upper
        of the paper form; C_1, C_2, delta of the generalization bound)."""
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




def check_pieces(kp: Any, arch: Arch, X: np.ndarray) -> None:
    """Refuse kernel pieces computed for another architecture or other data than (arch, X)."""
    X = theory.check_inputs(X)  # the data as kernel_pieces saw them (float32 rows projected, ...)
    if kp.arch != arch:
        raise BoundError(f"kernel pieces were computed for {kp.arch}, not for {arch}")
    if kp.X.shape != X.shape or not np.array_equal(kp.X, X):
        raise BoundError("kernel pieces were computed on other data than X (pass the same X to both)")

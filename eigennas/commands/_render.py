"""Rendering of the bounds' formulas for ``eigennas explain``: plain text wrapped to a width, and a
standalone LaTeX document (pdflatex, amsmath/amssymb only) with long sums split over lines.

One index convention in both: a single index is a **node** (0 = the input), ``u→v`` names the
**dense edge** from node u to node v, and a Hermite order s comes first (μ_{s,u→v}, γ_s). The bounds
package numbers dense edges 1, 2, ... in its symbol names; ``names_for`` maps them to their endpoints.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sympy as sp

__all__ = ["Names", "names_for", "text_formula", "wrap", "latex_lines", "tex_escape", "tex_text"]

_GREEK_TEXT = {"alpha": "α", "gamma": "γ", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "pi": "π",
               "rho": "ρ", "tau": "τ", "ell": "ℓ", "delta": "δ", "sigma": "σ", "Theta": "Θ"}
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
#: symbol bases indexed by a dense edge (the last index); every other index is a node or an order
_EDGE_BASES = {"mu", "tau", "tau'", "c", "nu", "kappa", "B"}
_NAME = re.compile(r"^(?:\\bar\{(?P<barbase>\\?[A-Za-z]+'?)\}|(?P<base>\\?[A-Za-z]+'?))(?:_\{?(?P<idx>[^}]*)\}?)?$")


@dataclass(frozen=True)
class Names:
    """Per symbol: its text name and its LaTeX name under the convention above."""

    text: dict[sp.Symbol, str]
    latex: dict[sp.Symbol, str]


def _split(name: str) -> tuple[str, bool, list[str]]:
    m = _NAME.match(name)
    if m is None:
        return name, False, []
    bar = m.group("barbase") is not None
    base = (m.group("barbase") or m.group("base")).lstrip("\\")
    idx = m.group("idx")
    return base, bar, ([] if idx is None else idx.split(","))


def _edge_label(edges: dict[int, tuple[int, int]], k: str) -> tuple[str, str] | None:
    if not k.isdigit() or int(k) not in edges:
        return None
    u, v = edges[int(k)]
    return f"{u}→{v}", f"{u}\\to {v}"


def names_for(symbols, edges: dict[int, tuple[int, int]]) -> Names:
    """Names of ``symbols`` (sympy Symbols of a bound); ``edges`` maps the bounds' edge number k to
    (src, dst)."""
    text: dict[sp.Symbol, str] = {}
    latex: dict[sp.Symbol, str] = {}
    for s in symbols:
        name = s.name
        if name == "rho_max":
            text[s], latex[s] = "ρ̂", r"\hat{\rho}"
            continue
        if name.startswith("\\Theta_{i^*i^*}") or name == "Theta_{i^*i^*}":
            text[s], latex[s] = "Θ(i*,i*)", r"\Theta_{i^* i^*}"
            continue
        base, bar, idx = _split(name)
        tb = _GREEK_TEXT.get(base.rstrip("'"), base.rstrip("'")) + ("'" if base.endswith("'") else "")
        lb = ("\\" + base.rstrip("'") if base.rstrip("'") in _GREEK_TEXT else base.rstrip("'")) \
            + ("'" if base.endswith("'") else "")
        if bar:
            tb = tb + "\u0304"
            lb = f"\\bar{{{lb[:-1]}}}'" if lb.endswith("'") else f"\\bar{{{lb}}}"
        t_idx, l_idx = list(idx), list(idx)
        if base in _EDGE_BASES and idx:
            lab = _edge_label(edges, idx[-1])
            if lab is not None:
                t_idx[-1], l_idx[-1] = lab
        if base == "Theta" and idx:  # Θ_aa → Θ(a,a)
            text[s] = f"Θ({','.join(idx[0])})"
            latex[s] = f"\\Theta_{{{idx[0]}}}"
            continue
        if not t_idx:
            text[s], latex[s] = tb, lb
        elif len(t_idx) == 1 and t_idx[0].isdigit():
            text[s], latex[s] = tb + t_idx[0].translate(_SUB), f"{lb}_{{{l_idx[0]}}}"
        else:
            text[s] = f"{tb}_{','.join(t_idx)}" if len(t_idx) == 1 and "→" not in t_idx[0] else \
                f"{tb}[{','.join(t_idx)}]"
            latex[s] = f"{lb}_{{{','.join(l_idx)}}}"
    return Names(text, latex)


# ---------------------------------------------------------------------------------------------
# text


class _TextPrinter(sp.printing.str.StrPrinter):
    """sympy's str printer with symbols as placeholders (names may hold '*'), superscript powers,
    √(·) and lowercase max/min."""

    def __init__(self) -> None:
        super().__init__({"order": None})
        self.used: dict[str, sp.Symbol] = {}

    def _print_Symbol(self, expr):  # noqa: N802 - sympy's printer protocol
        key = f"\x01{len(self.used)}\x02"
        self.used[key] = expr
        return key

    def _print_Pow(self, expr, rational=False):  # noqa: N802
        b, e = expr.as_base_exp()
        if e == sp.S.Half:
            return f"√({self._print(b)})"
        if e.is_Integer and int(e) >= 2:
            base = self._print(b)
            if not (b.is_Symbol or b.is_Function or (b.is_Number and b >= 0)):
                base = f"({base})"
            return base + str(int(e)).translate(_SUP)
        return super()._print_Pow(expr, rational)

    def _print_Max(self, expr):  # noqa: N802
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Min(self, expr):  # noqa: N802
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_log(self, expr):  # noqa: N802
        return f"log({self._print(expr.args[0])})"


def text_formula(expr: sp.Expr, names: Names) -> str:
    """One-line Unicode form: products as ·, powers as superscripts, √(·), max/min."""
    pr = _TextPrinter()
    out = pr.doprint(expr).replace("**", "^").replace("*", "·")
    for key, sym in pr.used.items():
        out = out.replace(key, names.text.get(sym, sym.name))
    return out


def display_width(text: str) -> int:
    """Columns a string takes (combining marks take none)."""
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def wrap(head: str, body: str, width: int = 100, indent: int = 4) -> list[str]:
    """``head`` + ``body`` broken into lines of at most ``width`` columns (when the pieces allow it);
    continuation lines are indented under the start of the body. Breaks go before ' + ' / ' - ' and
    after ', ' / '; ', preferring the shallowest parenthesis depth, then the latest position."""
    breaks: list[tuple[int, int]] = []  # (position where the next line starts, depth)
    depth = 0
    for i, ch in enumerate(body):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif i > 0 and body.startswith((" + ", " - "), i):
            breaks.append((i + 1, depth))
        elif body.startswith((", ", "; "), i):
            breaks.append((i + 2, depth))
    first = " " * indent + head
    cont = " " * display_width(first)
    lines: list[str] = []
    prefix, start = first, 0
    while display_width(prefix) + display_width(body[start:]) > width:
        room = width - display_width(prefix)
        fits = [(d, -p, p) for p, d in breaks if start < p and display_width(body[start:p].rstrip()) <= room]
        if not fits:
            later = [p for p, _ in breaks if p > start]
            if not later:
                break
            cut = later[0]
        else:
            cut = min(fits)[2]
        lines.append(prefix + body[start:cut].rstrip())
        prefix, start = cont, cut
    lines.append(prefix + body[start:])
    return lines


# ---------------------------------------------------------------------------------------------
# LaTeX

_UNICODE_TEX = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "κ": r"\kappa", "λ": r"\lambda",
    "μ": r"\mu", "ν": r"\nu", "π": r"\pi", "ρ": r"\rho", "σ": r"\sigma", "τ": r"\tau", "θ": r"\theta",
    "Θ": r"\Theta", "Σ": r"\Sigma", "Π": r"\Pi", "ℓ": r"\ell", "≤": r"\leq", "≥": r"\geq", "≠": r"\neq",
    "→": r"\to", "−": "-", "·": r"\cdot", "⊙": r"\odot", "√": r"\surd", "∞": r"\infty", "‖": r"\|",
    "ᵀ": r"^{\top}", "²": "^{2}", "³": "^{3}", "⁻¹": "^{-1}", "′": "'", "∑": r"\sum", "ρ̂": r"\hat{\rho}",
    "×": r"\times", "≈": r"\approx", "∈": r"\in", "⪰": r"\succeq",
}
_ACCENTS = {"\u0303": r"\tilde", "\u0302": r"\hat", "\u0304": r"\bar"}
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}", "~": r"\textasciitilde{}",
                "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "|": r"\textbar{}", "<": r"\textless{}",
                ">": r"\textgreater{}"}


def tex_escape(text: str, breakable: bool = False) -> str:
    """Plain ASCII text made safe for LaTeX text mode (for \\texttt{...} of arch strings);
    ``breakable`` allows a line break after every '|' and '+' (arch strings have no spaces)."""
    out = []
    for ch in text:
        if ord(ch) > 127:
            raise ValueError(f"non-ASCII character {ch!r} in {text!r}")
        out.append(_TEX_SPECIAL.get(ch, ch))
        if breakable and ch in "|+,":
            out.append(r"\allowbreak{}")
    return "".join(out)


def tex_text(text: str) -> str:
    """A meaning string (Unicode math in prose) as pure-ASCII LaTeX: Greek letters and symbols become
    inline math, LaTeX specials are escaped; unknown non-ASCII characters raise ValueError."""
    text = "".join(ch if ch in _UNICODE_TEX else unicodedata.normalize("NFD", ch) for ch in text)
    text = text.replace("⁻¹", "\x00inv\x00")
    out = []
    i = 0
    while i < len(text):
        if text.startswith("\x00inv\x00", i):
            out.append("$^{-1}$")
            i += 5
            continue
        ch = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt in _ACCENTS:  # K̃, ρ̂, ν̄, K̄: a base letter with a combining accent
            base = _UNICODE_TEX.get(ch, ch)
            out.append(f"${_ACCENTS[nxt]}{{{base}}}$")
            i += 2
            continue
        if ch in _UNICODE_TEX:
            out.append(f"${_UNICODE_TEX[ch]}$" if _UNICODE_TEX[ch] not in ("-", "'") else _UNICODE_TEX[ch])
        elif ord(ch) > 127:
            raise ValueError(f"no LaTeX form for {ch!r} in {text!r}")
        else:
            out.append(_TEX_SPECIAL.get(ch, ch))
        i += 1
    return "".join(out).replace("$$", "")


def _visible(tex: str) -> int:
    """A rough printed width of a LaTeX math string (commands count as one character)."""
    t = re.sub(r"\\(left|right|quad|;|,)", "", tex)
    t = re.sub(r"\\[A-Za-z]+", "x", t)
    return len(re.sub(r"[{}^_ ]", "", t))


def latex_lines(lhs: str, rel: str, expr: sp.Expr, names: Names, budget: int = 60) -> list[str]:
    """``lhs rel expr`` as rows of an ``align*``: the top-level terms of a sum packed into rows of at
    most ``budget`` visible characters, continuation rows starting with ``&\\quad +``."""
    terms = expr.as_ordered_terms() if isinstance(expr, sp.Add) else [expr]
    rendered = []
    for t in terms:
        s = sp.latex(t, symbol_names=names.latex)
        rendered.append(s)
    rows: list[str] = []
    cur = ""
    for k, s in enumerate(rendered):
        piece = s if k == 0 else (f"- {s[1:].lstrip()}" if s.startswith("-") else f"+ {s}")
        if cur and _visible(cur) + _visible(piece) > budget:
            rows.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}".strip()
    rows.append(cur)
    out = [f"{lhs} &{rel} {rows[0]}"]
    out += [f"&\\quad {r}" for r in rows[1:]]
    return out

"""``eigennas explain``: walk a student through one architecture.

Prints the architecture (nodes, edges, activations, weight variances), the Hermite coefficients the
bounds use, each bound as a formula (Unicode or LaTeX) with its value on the chosen data next to the
exact and the measured λ_min, the tightness ratio, and the assumptions that were checked.
``--latex`` instead writes a standalone LaTeX document (pdflatex; amsmath, amssymb) with every bound.
Text lines fit 100 columns; one index convention: a number is a node, u→v a dense edge.
"""

from __future__ import annotations

import argparse
import math
import re
import sys

import numpy as np
import sympy as sp

import bounds
from bounds.plan import Plan
from eigennas.commands._render import (
    Names,
    display_width,
    latex_lines,
    names_for,
    tex_escape,
    tex_text,
    text_formula,
    wrap,
)
from eigennas.commands._types import int_range, nonnegative_int, positive_int
from eigennas.compare import compare
from eigennas.figures import figure_data
from theory.activations import default_weight_variance, hermite_coefficients
from theory.space import Arch

HELP = "walk through an architecture: Hermite coefficients, each bound as a formula, exact and measured lambda_min"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="FC arch string, e.g. '|dense_relu~0|+|skip_connect~0|dense_tanh~1|' "
                                "(a NATS-Bench cell is explained through its FC analogue)")
    p.add_argument("--data", default="sphere", choices=["sphere", "cifar10"],
                   help="inputs: synthetic sphere points (default) or CIFAR-10 samples projected to d dims")
    p.add_argument("--data-dir", default=None, help="data folder for --data cifar10")
    p.add_argument("--n", type=positive_int, default=16, help="number of inputs N (default 16)")
    p.add_argument("--d", type=positive_int, default=32, help="input dimension d (default 32)")
    p.add_argument("--r", type=int_range(0, 64), default=4, help="Hermite order r of the closed-form bound (default 4)")
    p.add_argument("--width", type=nonnegative_int, default=512,
                   help="width of the measured network (0: skip; default 512)")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds for the measured lambda_min (default 3)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print a standalone LaTeX document (pdflatex) "
                     "with every bound")
    fmt.add_argument("--text", action="store_true", help="Unicode formulas (the default)")


def _edge_map(arch: Arch) -> dict[int, tuple[int, int]]:
    """The bounds' dense-edge numbers k = 1, 2, ... → (src, dst)."""
    return {e.k + 1: (e.src, e.dst) for e in Plan.of(arch).dense}


def _meaning(text: str, edges: dict[int, tuple[int, int]]) -> str:
    """A symbol meaning with 'edge k' written as 'edge u→v' (the one index convention); edge-numbered
    matrices in it (K̃_k, c_k, V'_k) lose the number, which the sentence names as u→v."""
    text = re.sub(r"(K̃|\bc|V')_(\d+)", r"\1", text)
    text = re.sub(r"_\{([^}]*)\}", r"_(\1)", text)  # Σ_{s>r} → Σ_(s>r): no TeX braces in prose
    text = re.sub(r"\bedge (\d+)\b",
                  lambda m: f"edge {edges[int(m.group(1))][0]}→{edges[int(m.group(1))][1]}"
                  if int(m.group(1)) in edges else m.group(0), text)
    m = re.search(r"edge (\d+→\d+)", text)
    if m:  # "(relu, 0→1)" repeats the endpoints just named
        text = text.replace(f", {m.group(1)})", ")")
    return text


def _all_symbols(b) -> list[sp.Symbol]:
    return [sym for sym, _ in b.symbols.values()] + [sym for sym, _ in b.defs]


def _names(b, edges) -> Names:
    return names_for(_all_symbols(b), edges)


def _meanings(b, edges) -> list[tuple[sp.Symbol, str]]:
    """(symbol, meaning) for the base symbols, then the defined quantities."""
    rows = [(sym, _meaning(m, edges)) for sym, m in b.symbols.values()]
    if b.structure is not None:
        rows += [(sym, _meaning(b.structure.def_meaning.get(sym.name, ""), edges) + " (defined above)")
                 for sym, _ in b.defs]
    return rows


INDEX_CONVENTION = ("Indices: a single number is a node (0 = the input); u→v is the dense edge from node u "
                    "to node v; a Hermite order s comes first (μ[s,u→v], γ_s).")


def print_bound(b, edges, lhs: str, width: int = 100) -> None:
    """The bound, its definitions in evaluation order and its symbols, wrapped to ``width`` columns."""
    names = _names(b, edges)
    for line in wrap(lhs, text_formula(b.expr, names), width, indent=2):
        print(line)
    if b.defs:
        print("  where (in order):")
        for sym, rhs in b.defs:
            for line in wrap(f"{names.text[sym]} = ", text_formula(rhs, names), width, indent=4):
                print(line)
    print("  symbols:")
    for sym, meaning in _meanings(b, edges):
        name = names.text[sym]
        for line in wrap(name + " " * max(1, 13 - display_width(name)), meaning, width, indent=4):
            print(line)


_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[T1]{fontenc}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath}
\usepackage{amssymb}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\begin{document}
"""


def _tex_bound(title: str, b, edges, lhs: str, rel: str) -> list[str]:
    names = _names(b, edges)
    rows = latex_lines(lhs, rel, b.expr, names)
    if b.defs:
        rows.append(r"&\text{where}")
        for sym, rhs in b.defs:
            rows += latex_lines(names.latex[sym], "=", rhs, names)
    out = [f"\\subsection*{{{title}}}", "\\begin{align*}", " \\\\\n".join(rows), "\\end{align*}",
           "\\begin{description}"]
    for sym, meaning in _meanings(b, edges):
        out.append(f"\\item[${names.latex[sym]}$] {tex_text(meaning)}")
    out.append("\\end{description}")
    return out


def latex_document(arch: Arch, r: int, nats_cell: Arch | None = None) -> str:
    """Every bound of ``arch`` as a standalone LaTeX document (article, amsmath, amssymb; pure ASCII;
    long sums broken over the rows of ``align*``). ``nats_cell``: the NATS-Bench cell that ``arch``
    is the FC analogue of (said in the document)."""
    lo, up, gen = bounds.lower(arch, r), bounds.upper(arch), bounds.generalization(arch)
    edges = _edge_map(arch)
    lines = [_PREAMBLE.rstrip("\n"),
             "\\section*{Bounds on $\\lambda_{\\min}$ of the exact infinite-width NTK}",
             f"{{\\raggedright Architecture: \\texttt{{{tex_escape(str(arch), breakable=True)}}}.\\par}}"]
    if nats_cell is not None:
        lines.append(f"{{\\raggedright It is the FC analogue of the NATS-Bench cell "
                     f"\\texttt{{{tex_escape(str(nats_cell), breakable=True)}}}.\\par}}")
    lines.append(tex_text(INDEX_CONVENTION) + "\\par")
    lines += _tex_bound(f"Lower bound $LB_{{{r}}}$ (Hermite, Schur, Weyl, Gershgorin)", lo, edges,
                        r"\lambda_{\min}(\Theta)", r"\geq")
    lines += _tex_bound("Upper bound (Rayleigh quotients, Cauchy interlacing)", up, edges,
                        r"\lambda_{\min}(\Theta)", r"\leq")
    lines += _tex_bound("Generalization (Cao and Gu 2019 form, constants symbolic)", gen, edges,
                        r"\mathbb{E}[\text{0-1 error}]", r"\leq")
    lines.append("\\end{document}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    arch = Arch.parse(args.arch)
    nats_cell = None
    if not arch.is_fc:
        nats_cell, arch = arch, arch.to_fc_analogue()
    if args.n < 2 or args.d < 1:
        raise ValueError(f"need n >= 2 points and d >= 1 dimensions, got n={args.n}, d={args.d}")
    if args.r < 0:
        raise ValueError(f"Hermite order r must be >= 0, got {args.r}")
    if args.latex:  # the whole output is the document: the NATS note goes inside it
        sys.stdout.write(latex_document(arch, args.r, nats_cell))
        return 0
    if nats_cell is not None:
        print(f"{nats_cell} is a NATS-Bench cell; explaining its FC analogue {arch}\n")

    for label, text in (("Architecture  ", str(arch)), ("  canonical   ", str(arch.canonical()))):
        nodes = text.split("|+|")  # one node per line when the string is long
        parts = [n if k == 0 else "+|" + n for k, n in enumerate(nodes)]
        parts = [p + ("|" if k < len(parts) - 1 else "") for k, p in enumerate(parts)]
        line = label
        for p in parts:
            if display_width(line) + len(p) > 100 and line.strip():
                print(line)
                line = " " * len(label)
            line += p
        print(line)
    for j in range(1, arch.n_nodes + 1):
        print(f"  node {j} = " + " + ".join(f"{e.op.token}(node {e.src})" for e in arch.incoming(j)))
    print("  readout: f(x) = vᵀ h_out / √m")
    acts = sorted({a.token: a for a in arch.activations}.items())
    if not acts:
        print("\n" + "no dense edge: the NTK is the readout kernel of the (scaled) input, λ_min may be 0")
    print("\nDense edges (NTK parametrization, c_w = 1/E[σ(z)²]):")
    for e in arch.dense_edges:
        a = e.op.activation
        print(f"  {e.src}→{e.dst}: σ = {a.token:<24s} α = {e.op.scale:<8g} c_w = {default_weight_variance(a):.6f}")
    print(f"\nHermite coefficients μ_0..μ_{args.r} at q = 1 (exact closed forms or Gauss–Hermite):")
    for name, a in acts:
        mu = hermite_coefficients(a, args.r)
        label = name + (" (exact)" if a.is_exact else "")
        for k in range(0, len(mu), 8):  # 8 coefficients a row keeps the table within 100 columns
            head = f"{label:<24s}" if k == 0 else f"{'':<17s}μ_{k}..:"[:24].ljust(24)
            print(f"  {head} " + " ".join(f"{m: .5f}" for m in mu[k:k + 8]))

    X = figure_data(args.data, args.n, args.d, args.data_dir)
    Xd = X @ X.T / X.shape[1]
    corr = Xd / np.sqrt(np.outer(np.diag(Xd), np.diag(Xd)))
    off = np.abs(corr[~np.eye(len(X), dtype=bool)])
    print(f"\nData: {args.data}, N = {args.n}, d = {args.d}, rows on the sphere of radius √d, centred")
    print(f"  max off-diagonal |correlation| ρ̂ = {off.max():.4f}, "
          f"λ_min(XXᵀ/d) = {np.linalg.eigvalsh(Xd)[0]:.4f}")

    widths = (args.width,) if args.width > 0 else ()
    rec = compare(arch, X, widths=widths, seeds=range(args.seeds), r=args.r)
    lo = bounds.lower(arch, args.r)
    up = bounds.upper(arch)
    edges = _edge_map(arch)
    print("\nIndex convention:")
    for line in wrap("", INDEX_CONVENTION, 100, indent=2):
        print(line)
    print(f"\nLower bound LB_{args.r} (Hermite + Schur + Weyl + Gershgorin; docs/theory.md Part III, Theorem 2):")
    print_bound(lo, edges, "λ_min(Θ) ≥ ")
    print("\nUpper bound (Rayleigh quotients / Cauchy interlacing; Theorem 4):")
    print_bound(up, edges, "λ_min(Θ) ≤ ")
    print("\nNumbers:")
    rows = [(f"closed-form lower LB_{args.r}", f"{rec.lower: .6g}"),
            ("structural lower S2 (exact pieces)", f"{rec.lower_structural: .6g}"),
            ("exact λ_min(Θ), infinite width", f"{rec.exact: .6g}")]
    for m, (mean, std) in rec.measured.items():
        rows.append((f"measured λ_min(K̄_m), m = {m}",
                     f"{mean: .6g} ± {std:.2g}   (‖K̄_m − Θ‖₂ = {rec.deviation[m][0]:.3g})"))
    rows.append(("upper bound", f"{rec.upper: .6g}"))
    tight = rec.tightness
    rows.append((f"tightness LB_{args.r} / exact", f" {tight:.3f}" if math.isfinite(tight) else " n/a"))
    for label, value in rows:
        print("  " + label + " " * (36 - display_width(label)) + value)
    print("\nGeneralization (Cao & Gu 2019, Cor. 3.10 form; constants C_1, C_2 left symbolic):")
    print_bound(bounds.generalization(arch), edges, "E[0-1 error] ≤ ")
    print(f"  yᵀΘ⁻¹y = {rec.y_theta_inv_y:.6g} ≤ ‖y‖²/λ_min(Θ) = {rec.relaxed_lambda_min:.6g}"
          f" ≤ ‖y‖²/LB = {rec.relaxed_closed_form:.6g}")
    print("  (y = sign of the first coordinate)")
    print("\nAssumptions checked:")
    print("  A0 finite data, no zero row: yes")
    print("  A1 rows of equal norm (sphere): yes (normalized)")
    print("  A2 equal coordinate means (centred rows): yes (centred)")
    for f in rec.flags:
        print(f"  flag: {f}")
    return 0

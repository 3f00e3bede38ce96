"""`eigennas explain`: the walk-through prints formulas with numbers on 100 columns; --latex is a
standalone document that pdflatex compiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata

import pytest

from eigennas.cli import main

ARCH = "|dense_relu~0|+|skip_connect~0|dense_tanh~1|"

NATS = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|"
MIXED = ("|dense_gelu~0|+|skip_connect~0|dense_mix(0.5*relu,0.5*tanh)~1|"
         "+|dense_elu(0.5)~0|dense_sigmoid~1|skip_connect~2|")


def check_latex(doc: str) -> None:
    """A standalone pure-ASCII document: documentclass, amsmath and amssymb, balanced braces that never
    go negative, environments that open and close in order, \\left/\\right paired on every row, and no
    Python syntax (``**``, ``Max(``, ``sqrt(``) or Unicode leaked into it."""
    assert doc.isascii(), sorted({ch for ch in doc if not ch.isascii()})
    assert doc.startswith("\\documentclass")
    assert "\\usepackage{amsmath}" in doc and "\\usepackage{amssymb}" in doc
    assert doc.rstrip().endswith("\\end{document}")
    depth = 0
    for ch in doc.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, "a closing brace without an opening one"
    assert depth == 0, "unbalanced braces"
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{([^}]*)\}", doc):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, f"environment {env} closed out of order"
    assert not stack
    for row in re.split(r"\\\\\n", doc):
        assert row.count(r"\left") == row.count(r"\right"), row
    for leak in ("**", "Max(", "Min(", "sqrt("):
        assert leak not in doc


def _latex(capsys, arch: str) -> str:
    assert main(["explain", arch, "--latex"]) == 0
    return capsys.readouterr().out


def test_explain_prints_bounds_with_numbers(capsys):
    assert main(["explain", ARCH, "--n", "8", "--d", "16", "--width", "128", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    for needle in ("Hermite coefficients", "Lower bound LB_4", "exact λ_min(Θ)", "measured λ_min(K̄_m), m = 128",
                   "tightness", "Assumptions checked", "where (in order)"):
        assert needle in out
    nums = dict(re.findall(r"^\s+(closed-form lower LB_4|exact λ_min\(Θ\), infinite width|upper bound)\s+(\S+)",
                           out, flags=re.M))
    lo, ex, up = (float(nums[k]) for k in ("closed-form lower LB_4", "exact λ_min(Θ), infinite width", "upper bound"))
    assert 0 < lo <= ex <= up


def test_explain_latex_is_a_standalone_document(capsys):
    tex = _latex(capsys, ARCH)
    check_latex(tex)
    assert r"\lambda_{\min}(\Theta) &\geq" in tex and r"\mu_{1,0\to 1}" in tex


def test_explain_latex_for_a_nats_cell_has_no_plain_text_line(capsys):
    """The note that a NATS cell is explained through its FC analogue is part of the document, with
    the arch strings escaped inside \\texttt (it was a bare text line before the preamble)."""
    tex = _latex(capsys, NATS)
    check_latex(tex)
    assert "NATS-Bench cell" in tex and "nor\\_conv\\_3x3" in tex
    assert "|" not in tex.replace("\\textbar{}", "") and "~" not in tex


@pytest.mark.parametrize("arch", [ARCH, NATS, MIXED])
def test_explain_latex_compiles_with_pdflatex(arch, capsys, tmp_path):
    """pdflatex builds the document without errors and without lines wider than the page."""
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base texlive-latex-recommended; "
                    ".ci/run installs it under CI)")
    (tmp_path / "bounds.tex").write_text(_latex(capsys, arch))
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "bounds.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    log = (tmp_path / "bounds.log").read_text(errors="replace")
    assert res.returncode == 0, log[-3000:]
    assert (tmp_path / "bounds.pdf").stat().st_size > 0
    over = [float(x) for x in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert not over or max(over) < 1.0, over


@pytest.mark.parametrize("arch", [ARCH, MIXED])
def test_explain_text_fits_100_columns_with_one_index_convention(arch, capsys):
    assert main(["explain", arch, "--n", "6", "--d", "8", "--width", "0", "--r", "8"]) == 0
    out = capsys.readouterr().out
    widths = [sum(0 if unicodedata.combining(ch) else 1 for ch in line) for line in out.splitlines()]
    assert max(widths) <= 100
    for leak in ("\\", "Min(", "Max(", "**", "_{", "^{", "Theta_", "edge 1 ", "edge 2 "):
        assert leak not in out, leak
    assert "κ[0→1]" in out and "ν̄[1→2]" in out


def test_nats_cell_is_explained_through_its_fc_analogue(capsys):
    assert main(["explain", "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|", "--n", "6", "--d", "8",
                 "--width", "0"]) == 0
    assert "explaining its FC analogue |dense_relu~0|+|skip_connect~0|skip_connect~1|" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    ([ "|dense_nope~0|"], "dense_nope"),
    ([ARCH, "--n", "1"], "n >= 2"),
    ([ARCH, "--r", "-1"], "--r: must be >= 0"),
])
def test_explain_errors(argv, needle, capsys):
    try:
        rc = main(["explain", *argv])
    except SystemExit as exc:  # numbers are refused by the argument parser (exit 2)
        rc = exc.code
    assert rc != 0
    assert needle in capsys.readouterr().err

"""`eigennas explain`: the walk-through prints formulas with numbers; --latex is valid LaTeX math."""

from __future__ import annotations

import re

import pytest

from eigennas.cli import main

ARCH = "|dense_relu~0|+|skip_connect~0|dense_tanh~1|"

# LaTeX commands that may appear in the snippet (sympy's printer plus our symbol names)
KNOWN = {"begin", "end", "lambda", "min", "Theta", "geq", "leq", "quad", "text", "mu", "max", "left", "right",
         "gamma", "tau", "ell", "kappa", "pi", "nu", "frac", "sqrt", "bar", "mathbb", "log", "delta", "hat",
         "rho", "alpha", "cdot", "sigma", "operatorname"}


def check_latex(snippet: str) -> None:
    """A small grammar check: comments aside, braces balance and never go negative, \\left/\\right
    pair up, the align* environment opens and closes once, every command is a known one, and no
    Python syntax leaked (``**``, ``Max(``, ``sqrt(``)."""
    body = "\n".join(line for line in snippet.splitlines() if not line.startswith("%"))
    depth = 0
    for ch in body.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, "a closing brace without an opening one"
    assert depth == 0, "unbalanced braces"
    assert body.count(r"\left") == body.count(r"\right")
    assert body.count(r"\begin{align*}") == 1 and body.count(r"\end{align*}") == 1
    commands = set(re.findall(r"\\([A-Za-z]+)", body))
    assert commands <= KNOWN, f"unknown LaTeX commands {commands - KNOWN}"
    for leak in ("**", "Max(", "Min(", "sqrt("):
        assert leak not in body


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


def test_explain_latex_is_valid(capsys):
    assert main(["explain", ARCH, "--latex"]) == 0
    tex = capsys.readouterr().out
    check_latex(tex)
    assert r"\lambda_{\min}(\Theta) &\geq" in tex and r"\mu_{1,1}" in tex


def test_latex_checker_catches_errors():
    with pytest.raises(AssertionError):
        check_latex("\\begin{align*} x^{2 \\end{align*}")
    with pytest.raises(AssertionError):
        check_latex("\\begin{align*} Max(x, y) \\end{align*}")


def test_nats_cell_is_explained_through_its_fc_analogue(capsys):
    assert main(["explain", "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|", "--n", "6", "--d", "8",
                 "--width", "0"]) == 0
    assert "explaining its FC analogue |dense_relu~0|+|skip_connect~0|skip_connect~1|" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    ([ "|dense_nope~0|"], "dense_nope"),
    ([ARCH, "--n", "1"], "n >= 2"),
    ([ARCH, "--r", "-1"], "r must be >= 0"),
])
def test_explain_errors(argv, needle, capsys):
    assert main(["explain", *argv]) != 0
    assert needle in capsys.readouterr().err

"""Committed figures are reproducible byte for byte: CSV floats carry ``files.DIGITS`` = 10
significant digits (run-to-run rounding noise near 1e-15 no longer shows), PDFs carry no date."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigennas import figures
from eigennas.figures import Settings, make_figures
from theory import files

ROOT = Path(__file__).resolve().parents[1]
TINY = Settings(n=5, d=6, depths=(1, 2), widths=(32,), seeds=(0,), skip_depth=3,
                convergence_widths=(32, 64), convergence_seeds=2, nats_cells=8)
FLOAT = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _significant_digits(text: str) -> int:
    mant = re.split("[eE]", text.lstrip("-"))[0].replace(".", "").lstrip("0")
    return len(mant.rstrip("0")) if "." in text or "e" in text.lower() else len(mant)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(min_value=-1e300, max_value=1e300))
def test_format_number_has_ten_significant_digits_and_round_trips_to_that_precision(x):
    t = files.format_number(x)
    y = float(t)
    assert _significant_digits(t) <= files.DIGITS
    assert y == x or abs(y - x) <= 5e-10 * abs(x)
    # noise in the last bits (1e-15 relative) changes the text only at a rounding boundary
    assert files.format_number(y) == t


def test_format_number_special_values():
    assert float(files.format_number(1.7976931348623157e308)) == 1.7976931348623157e308  # no overflow to inf
    assert [files.format_number(v) for v in (math.nan, math.inf, -math.inf, -0.0, 3, True, None, "a")] == [
        "nan", "inf", "-inf", "0", "3", "True", "", "a"]


@pytest.mark.parametrize("stem", ["a_depth", "b_skips", "c_resnet", "d_width", "e_mixed", "f_nats"])
def test_committed_figure_csvs_use_the_fixed_format(stem):
    """Every committed CSV is what ``files.csv_text`` writes (so ``eigennas figures --quick`` leaves
    the checkout clean: the rerun differs from the committed numbers only below the 10th digit)."""
    path = ROOT / "figures" / f"{stem}.csv"
    with open(path, newline="") as fh:
        text = fh.read()
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    for r in rows:
        for k, v in r.items():
            if FLOAT.match(v):
                assert _significant_digits(v) <= files.DIGITS, (stem, k, v)
    assert files.csv_text(rows) == text  # re-formatting is the identity: the file is in the fixed format


def test_a_figure_written_twice_is_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(figures.Settings, "quick", classmethod(lambda cls: TINY))
    outs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        make_figures(out=out, only="c,e", quick=True, data="sphere", show_progress=False, log=lambda m: None)
        outs.append(out)
    for name in ("c_resnet.csv", "c_resnet.png", "c_resnet.pdf", "e_mixed.csv", "e_mixed.png", "e_mixed.pdf"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert not [p for p in outs[0].iterdir() if p.name.startswith(".")]  # no temporary files left

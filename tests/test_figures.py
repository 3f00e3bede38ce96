"""Figures and the comparator: tiny settings write valid PNG/PDF/CSV; the CSVs respect
lower ≤ exact ≤ upper; bad requests fail before any work."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest

from eigennas import figures
from eigennas.compare import compare
from eigennas.figures import FigureError, Settings, figure_data, make_figures, parse_only
from theory.presets import fc_chain, fc_skip

TINY = Settings(n=6, d=8, depths=(1, 2), widths=(64,), seeds=(0,), skip_depth=3,
                convergence_widths=(32, 64, 128), convergence_seeds=2, nats_cells=12)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def tiny(monkeypatch):
    monkeypatch.setattr(figures.Settings, "quick", classmethod(lambda cls: TINY))
    return TINY


def _read(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _check_order(rows):
    n = 0
    for r in rows:
        lo, st, ex, up = (float(r[k]) for k in ("lower", "lower_structural", "exact", "upper"))
        tol = 1e-9 * max(1.0, abs(ex))
        assert 0 <= lo <= st + tol and st <= ex + tol and ex <= up + tol, r
        n += 1
    return n


def test_figures_a_to_e_on_tiny_settings(tmp_path, tiny):
    paths = make_figures(out=tmp_path, only="a,b,c,d,e", quick=True, data="sphere", show_progress=False)
    stems = {p.stem for p in paths}
    assert stems == {"a_depth", "b_skips", "c_resnet", "d_width", "e_mixed"}
    for p in paths:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG
        if p.suffix == ".pdf":
            assert p.read_bytes()[:5] == b"%PDF-"
    for stem in ("a_depth", "b_skips", "c_resnet"):
        assert _check_order(_read(tmp_path / f"{stem}.csv")) > 0
    rows = _read(tmp_path / "d_width.csv")
    assert {int(r["width"]) for r in rows} == {32, 64, 128}
    assert all(float(r["spectral_deviation"]) > 0 for r in rows)
    mixed = _read(tmp_path / "e_mixed.csv")
    assert len(mixed) == 36 and all(float(r["exact"]) > 0 for r in mixed)
    assert not list(tmp_path.glob(".*tmp*"))


def test_figure_f_uses_the_benchmark(tmp_path, tiny, data_dir):
    paths = make_figures(out=tmp_path, only="nats", quick=True, data_dir=data_dir, show_progress=False)
    rows = _read(tmp_path / "f_nats.csv")
    assert len(rows) == 12 and {p.suffix for p in paths} == {".csv", ".png", ".pdf"}
    assert all(float(r["params"]) > 0 and 0 < float(r["cifar10_test"]) < 100 for r in rows)


def test_missing_data_skips_only_the_nats_panel(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("EIGENNAS_DATA", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("theory.data_dir._candidates", lambda: [tmp_path / "nope"])
    msgs = []
    paths = make_figures(out=tmp_path / "out", only="e,f,g", quick=True, show_progress=False, log=msgs.append)
    assert {p.stem for p in paths} == {"e_mixed"}
    assert any("figure f (nats) skipped" in m for m in msgs)
    assert any("figure g (nats_theory) skipped: it needs the NATS-Bench table and CIFAR-10 images" in m for m in msgs)
    assert any("synthetic sphere data" in m for m in msgs)


def test_bad_requests_fail_before_work(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(figures, "compare", lambda *a, **k: called.append(1))
    with pytest.raises(FigureError, match="unknown figure 'z'"):
        make_figures(out=tmp_path, only="a,z", show_progress=False)
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):  # running as root: permissions do not bind, use a file as folder
            blocker = tmp_path / "file"
            blocker.write_text("x")
            target = blocker / "sub"
        else:
            target = ro
        with pytest.raises(FigureError, match="not writable"):
            make_figures(out=target, only="a", show_progress=False)
    finally:
        os.chmod(ro, 0o700)
    with pytest.raises(FigureError, match="unknown data source"):
        make_figures(out=tmp_path, only="a", data="mnist", show_progress=False)
    assert called == []
    assert parse_only("depth,c") == ["a", "c"]


def test_figure_data_is_centred_on_the_sphere():
    X = figure_data("sphere", 10, 7)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), math.sqrt(7))
    np.testing.assert_allclose(X.mean(axis=1), 0, atol=1e-12)


def test_compare_record_is_consistent():
    X = figure_data("sphere", 6, 8)
    rec = compare(fc_skip("relu", [(0, 2)], depth=2), X, widths=(64,), seeds=(0, 1))
    assert 0 <= rec.lower <= rec.lower_structural <= rec.exact <= rec.upper
    mean, std = rec.measured[64]
    # Weyl: |λ_min(K̄) − λ_min(Θ)| ≤ ‖K̄ − Θ‖₂ per seed; the mean gap is at most the mean deviation
    assert abs(mean - rec.exact) <= rec.deviation[64][0] + 1e-9
    assert rec.y_theta_inv_y <= rec.relaxed_lambda_min * (1 + 1e-12)
    assert rec.relaxed_lambda_min <= rec.relaxed_closed_form * (1 + 1e-12)
    rows = rec.rows()
    assert len(rows) == 1 and rows[0]["width"] == 64
    assert compare(fc_chain(["relu"]), X).rows()[0]["width"] == ""

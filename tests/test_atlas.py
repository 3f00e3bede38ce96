"""The full-space atlas (``empirics.atlas``): Dask path = serial path, resume, interrupts, worker death."""

from __future__ import annotations

import os
import signal
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from empirics.nas.atlas import AtlasError, AtlasTable, column_units, make_columns, run_atlas
from empirics.nas.cache import ScoreCache
from empirics.nas.scores import get_score
from empirics.nas.search import Scorer
from theory.space import Arch

#: The committed full-space table (experiments/atlas/atlas.csv).
COMMITTED_ATLAS = Path(__file__).resolve().parent.parent / "experiments" / "atlas" / "atlas.csv"

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: a quick eigen (C=4, N=1, 8 images, one initialization) so the tests stay small
QUICK_EIGEN = {"C": 4, "N": 1, "batch_size": 8, "seeds": 1}
QUICK_NASWOT = {"C": 4, "N": 1, "batch_size": 16}


def _columns():
    return make_columns(
        ["params", "theory", "synflow", "naswot", "eigen"], ["cifar10"], {"eigen": QUICK_EIGEN, "naswot": QUICK_NASWOT}
    )


def _serial(bench, columns, indices):
    """The values of the search path (``Scorer.score_indices``), an independent code path."""
    out = {}
    for c in columns:
        s = c.make_score()
        sc = Scorer(s, bench, c.image_dataset, progress=False)
        out[c.name] = sc.score_indices(list(indices), seed=0)
    return out


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


def test_local_cluster_equals_serial_path(bench, client, tmp_path):
    cols = _columns()
    idx = list(range(20))
    res = run_atlas(cols, bench, tmp_path / "a.csv", client=client, indices=idx, progress=False, chunk=2)
    ref = _serial(bench, cols, idx)
    t = AtlasTable.load(tmp_path / "a.csv", bench)
    for c in cols:
        assert t.done[c.name][idx].all()
        np.testing.assert_array_equal(t.values[c.name][idx], ref[c.name])  # bit for bit, through the CSV
        # every member of a scored class carries the representative's value
        for members in column_units(bench, c, idx).values():
            np.testing.assert_array_equal(
                t.values[c.name][members], np.full(len(members), t.values[c.name][members[0]])
            )
    assert res.computed[cols[-1].name] == len(column_units(bench, cols[-1], idx))
    assert not res.interrupted
    assert t.meta["columns"][cols[-1].name]["images"]["n"] == 8
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_resume_from_table_without_cache(bench, tmp_path):
    cols = make_columns(["params", "theory"], ["cifar10", "cifar100"])
    idx = range(30)
    first = run_atlas(cols, bench, tmp_path / "t.csv", workers=0, indices=idx, progress=False)
    assert sum(first.computed.values()) > 0
    cache = ScoreCache(tmp_path / "fresh")  # the cache is gone: a new, empty one
    again = run_atlas(cols, bench, tmp_path / "t.csv", workers=0, indices=idx, cache=cache, progress=False)
    assert sum(again.computed.values()) == 0
    for c in cols:
        np.testing.assert_array_equal(again.table.values[c.name], first.table.values[c.name])
        np.testing.assert_array_equal(again.table.done[c.name], first.table.done[c.name])
    assert len(ScoreCache(tmp_path / "fresh")) == sum(first.units.values())  # the cache is rebuilt from the table


def test_table_with_other_options_is_refused(bench, tmp_path):
    cols = make_columns(["params"], ["cifar10"])
    run = run_atlas(cols, bench, tmp_path / "t.csv", workers=0, indices=range(3), progress=False)
    meta = run.table.meta
    meta["columns"]["params@cifar10"]["options_fingerprint"] = '{"C":16,"N":3}'
    run.table.save(tmp_path / "t.csv")
    with pytest.raises(AtlasError, match="options"):
        run_atlas(cols, bench, tmp_path / "t.csv", workers=0, indices=range(3), progress=False)
    assert make_columns(["eigen"], ["c10"], {"eigen": {"seeds": 1}})[0].name.startswith("eigen@cifar10~")


def test_interrupt_leaves_a_consistent_table(bench, tmp_path):
    cols = make_columns(["theory", "synflow"], ["cifar10"])
    idx = range(25)
    seen = []

    def stop(col, rep, value):
        seen.append((col, rep, value))
        if len(seen) == 7:
            raise KeyboardInterrupt

    res = run_atlas(cols, bench, tmp_path / "t.csv", workers=0, indices=idx, chunk=1, progress=False, on_result=stop)
    assert res.interrupted
    t = AtlasTable.load(tmp_path / "t.csv", bench)
    assert sum(int(t.done[c.name].sum() > 0) for c in cols) >= 1
    for col, rep, value in seen:
        assert t.done[col][rep] and t.values[col][rep] == value  # everything reported is in the table
    reps_done = {(c.name, int(r)) for c in cols for r in np.unique(t.classes[t.done[c.name]])}
    assert reps_done == {(col, rep) for col, rep, _ in seen}  # and nothing else
    assert t.meta["runs"][-1]["interrupted"] is True
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # a rerun continues and scores only what is missing
    res2 = run_atlas(cols, bench, tmp_path / "t.csv", workers=0, indices=idx, progress=False)
    assert sum(res2.computed.values()) == sum(res2.units.values()) - len(seen)
    ref = _serial(bench, cols, idx)
    for c in cols:
        np.testing.assert_array_equal(res2.table.values[c.name][list(idx)], ref[c.name])


def test_cuda_refused_for_scores_that_cannot_use_it(bench, tmp_path):
    with pytest.raises(AtlasError, match="naswot"):
        run_atlas(make_columns(["naswot"], ["cifar10"]), bench, tmp_path / "t.csv", device="cuda", progress=False)


def test_unique_str_is_not_a_score_invariant_class(bench):
    """NATS's unique_str merges cells whose random functions differ (it ignores weight sharing): the
    exact theory score tells some members of one unique_str class apart, so the atlas must not use it."""
    theory = get_score("theory")
    by_u = defaultdict(set)
    for i in range(len(bench)):
        by_u[bench.unique_str(i)].add(str(bench.arch(i)))
    found = None
    for members in by_u.values():
        canon = {}
        for a in members:
            canon.setdefault(str(Arch.parse(a).canonical()), a)
        if len(canon) > 1:
            vals = {theory.score(a) for a in canon.values()}
            if len(vals) > 1:
                found = vals
                break
    assert found is not None


def test_worker_death_loses_only_the_cell_in_progress(bench, client, tmp_path):
    """SIGKILL one worker process during the run: the scheduler reruns its task elsewhere, every value
    arrives once and equals the serial path."""
    cols = make_columns(["naswot"], ["cifar10"], {"naswot": QUICK_NASWOT})
    idx = list(range(12))
    pids = list(client.run(os.getpid).values())
    killed = []

    def kill_one(col, rep, value):
        if not killed:
            killed.append(pids[0])
            os.kill(pids[0], signal.SIGKILL)

    reps = []
    res = run_atlas(
        cols,
        bench,
        tmp_path / "k.csv",
        client=client,
        indices=idx,
        chunk=1,
        progress=False,
        on_result=lambda c, r, v: (reps.append(r), kill_one(c, r, v)),
    )
    assert killed
    assert sorted(reps) == idx  # each cell stored exactly once
    ref = _serial(bench, cols, idx)
    np.testing.assert_array_equal(res.table.values[cols[0].name][idx], ref[cols[0].name])


@pytest.mark.parametrize(
    "arch, free",
    [
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|", True),  # conv, conv, skip
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", False),  # 0->3 skip
        ("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_1x1~2|", True),  # pool does not count
        ("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|", False),  # one conv only
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", False),  # no path at all
        ("|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|", True),
    ],
)
def test_shortcut_free(arch, free):
    from empirics.nas.atlas_report import shortcut_free

    assert shortcut_free(arch) is free


def test_report_from_a_table_matches_direct_computation(bench, tmp_path):
    """P-S and correlations of the report against a direct recomputation from the benchmark."""
    from scipy import stats

    from empirics.nas.atlas_report import atlas_report, write_report

    cols = make_columns(["params"], ["cifar10"])
    run = run_atlas(cols, bench, tmp_path / "t.csv", workers=0, progress=False)
    rep = atlas_report(tmp_path / "t.csv", bench, n_boot=20, repeats=5, ns=(10, 100))
    c = rep["columns"]["params@cifar10"]
    acc = bench.accuracies("cifar10")
    v = run.table.values["params@cifar10"]
    assert c["complete"] and c["cells"] == len(bench)
    assert c["correlation"]["cifar10"]["kendall"] == pytest.approx(stats.kendalltau(v, acc).statistic, abs=1e-12)
    chosen = []
    for r in range(5):
        idx = bench.sample(100, np.random.default_rng([0, r]))  # the search protocol's draws
        chosen.append(acc[idx[int(np.argmax(v[idx]))]])
    assert c["search"]["100"]["cifar10"]["mean"] == pytest.approx(np.mean(chosen))
    paths = write_report(rep, tmp_path / "rep", figure=tmp_path / "f.png")
    assert all(p.is_file() for p in paths)


def test_report_gives_nan_columns_both_correlations(bench, tmp_path):
    """NaN scores are left out of the main correlation and ranked last in ``correlation_nan_last``
    (checked against scipy with NaN replaced by −∞ and by dropping), and the markdown says how many."""
    from scipy import stats

    from empirics.nas.atlas_report import atlas_report

    cols = make_columns(["params"], ["cifar10"])
    t = run_atlas(cols, bench, tmp_path / "t.csv", workers=0, progress=False).table
    v = t.values["params@cifar10"]
    acc = bench.accuracies("cifar10")
    worst = np.argsort(acc)[:7]
    v[worst] = np.nan
    rep = atlas_report(t, bench, n_boot=20, repeats=3, ns=(10,))
    c = rep["columns"]["params@cifar10"]
    ok = ~np.isnan(v)
    assert c["nan_cells"] == 7 and c["correlation"]["cifar10"]["n"] == ok.sum()
    dropped = stats.kendalltau(v[ok], acc[ok]).statistic
    assert c["correlation"]["cifar10"]["kendall"] == pytest.approx(dropped, abs=1e-12)
    last = stats.kendalltau(np.where(ok, v, -np.inf), acc).statistic
    assert c["correlation_nan_last"]["cifar10"]["kendall"] == pytest.approx(last, abs=1e-12)
    assert c["correlation_nan_last"]["cifar10"]["n"] == len(v)
    assert "params@cifar10: 7 cells have no value (NaN)" in rep["markdown"]


def test_cli_atlas_and_report(bench, tmp_path, capsys):
    from eigennas.cli import main

    table = tmp_path / "a.csv"
    assert (
        main(
            [
                "atlas",
                "--scores",
                "params,theory",
                "--cells",
                "40",
                "--workers",
                "0",
                "--table",
                str(table),
                "--no-cache",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "theory" in capsys.readouterr().out
    t = AtlasTable.load(table, bench)
    assert t.done["params@cifar10"][:40].all() and not t.done["params@cifar10"][40:].any()
    rc = main(
        [
            "atlas",
            "--report",
            "--table",
            str(table),
            "--boot",
            "10",
            "--repeats",
            "3",
            "--report-out",
            str(tmp_path / "rep"),
            "--figure",
            str(tmp_path / "f.png"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "| params@cifar10 | 40 | no |" in out and (tmp_path / "f.png").is_file()
    assert "Kendall τ on the 40 cells of params@cifar10 (incomplete)" in out  # beside theory on the same cells
    assert main(["atlas", "--scores", "nope", "--table", str(table)]) == 1


def test_committed_atlas_params_kendall_equals_the_published_full_space_value(bench):
    """An independent check of the committed table and of the report's correlation: AZ-NAS (Table 1)
    reports the full-space Kendall τ of the parameter count as .578 / .552 / .520."""
    from scipy import stats

    from empirics.nas.atlas_report import PEER_KENDALL

    t = AtlasTable.load(COMMITTED_ATLAS, bench)
    v = t.values["params@cifar10"]
    assert t.done["params@cifar10"].all()
    for ds, ref in zip(("cifar10", "cifar100", "ImageNet16-120"), PEER_KENDALL["params (AZ-NAS Table 1)"]):
        assert stats.kendalltau(v, bench.accuracies(ds)).statistic == pytest.approx(ref, abs=1.5e-3)
    # and every complete column's classes carry one value
    for name in t.columns:
        reps = t.classes[t.done[name]]
        if t.meta["columns"][name]["classes"] == "Arch.canonical":
            np.testing.assert_array_equal(t.values[name][t.done[name]], t.values[name][reps])


def test_committed_atlas_holds_the_complete_columns(bench):
    """The committed table has a value for every index in params, theory, synflow, naswot and eigen on
    CIFAR-10 images, and its metadata marks them complete (a column mixing option sets would have another
    name). eigen's trace-normalized λ_min is finite and positive on every cell, except NaN (n·λ_min/tr K
    with tr K = 0, ranked last by the report) exactly on the 341 cells whose output is identically zero."""
    t = AtlasTable.load(COMMITTED_ATLAS, bench)
    for name in ("params@cifar10", "theory", "synflow@cifar10", "naswot@cifar10", "eigen@cifar10"):
        assert name in t.columns, name
        assert t.done[name].all() and len(t.done[name]) == 15_625, name
        assert t.meta["columns"][name]["complete"] is True, name
    eigen = t.values["eigen@cifar10"]
    zero = np.array([Arch.parse(a).is_zero for a in t.archs])
    assert zero.sum() == 341
    np.testing.assert_array_equal(np.isnan(eigen), zero)
    assert (eigen[~zero] > 0).all() and np.isfinite(eigen[~zero]).all()


def test_committed_naswot_column_ranks_with_the_benchmarks_own_naswot_scores(bench):
    """An independent check of the committed naswot column: the benchmark table carries BayesWatch's own
    NASWOT (v1) CIFAR-10 scores for 15,284 cells. v1 is a different statistic of the same ReLU codes, so
    the two agree in rank but not exactly (Spearman 0.647 over those cells; a broken or shuffled column
    gives about 0)."""
    from scipy import stats

    t = AtlasTable.load(COMMITTED_ATLAS, bench)
    if "naswot@cifar10" not in t.columns or not t.done["naswot@cifar10"].all():
        pytest.skip("naswot@cifar10 is not complete in the committed atlas")
    ours, v1 = t.values["naswot@cifar10"], bench.column("naswot_score_v1_cifar10")
    ok = np.isfinite(ours) & np.isfinite(v1)
    assert ok.sum() > 15_000
    assert 0.6 < stats.spearmanr(ours[ok], v1[ok]).statistic < 0.7


def test_device_path_builds_on_the_device_and_agrees(bench, tmp_path):
    """The --device code path (networks built by a factory that moves them, images moved) run with the
    explicit device 'cpu:0' gives the serial values; on CUDA the same path runs on the GPU."""
    cols = make_columns(["eigen"], ["cifar10"], {"eigen": QUICK_EIGEN})
    idx = list(range(6))
    res = run_atlas(cols, bench, tmp_path / "d.csv", workers=0, indices=idx, device="cpu:0", progress=False)
    assert res.table.meta["runs"][-1]["device"] == "cpu:0"
    np.testing.assert_allclose(res.table.values[cols[0].name][idx], _serial(bench, cols, idx)[cols[0].name], rtol=1e-12)


@pytest.mark.parametrize(
    ("column", "rtol"),
    [("cntk@cifar10", 1e-9), ("cntk_bn@cifar10", 1e-9), ("theory", 1e-9), ("synflow@cifar10", 1e-9),
     # float32 networks: another CPU's kernels may round differently (a ReLU code can flip, λ_min moves by
     # float32 rounding of J); an option change moves them by percents
     ("naswot@cifar10", 1e-6), ("eigen@cifar10", 1e-5)],
)
def test_committed_atlas_values_are_recomputed_by_the_search_path(bench, column, rtol):
    """Six random cells of a committed column (CIFAR-10 image batch of seed 0, the column's recorded
    options) equal a fresh computation through ``Scorer`` (the search/correlate path): to the table's 10
    significant digits for the float64 scores, to float32 rounding for the networks' scores."""
    t = AtlasTable.load(COMMITTED_ATLAS, bench)
    if column not in t.columns:
        pytest.skip(f"{column} is not in the committed atlas")
    meta = t.meta["columns"][column]
    done = np.flatnonzero(t.done[column])
    cells = np.random.default_rng(7).choice(done, size=min(6, len(done)), replace=False)
    score = get_score(meta["score"], **meta["options"])
    fresh = Scorer(score, bench, meta.get("image_dataset") or "cifar10", progress=False).score_indices(
        [int(i) for i in cells], seed=int(meta.get("seed", 0)))
    np.testing.assert_allclose(fresh, t.values[column][cells], rtol=rtol, atol=1e-300)

"""The ``--backend nats`` path against the real ``nats_bench`` package and its on-disk format.

The official NATS-tss files come in two layouts, both read by ``nats_bench.create(path, 'tss', ...)``:

* fast mode (``NATS-tss-v1_0-3ffb9-simple/``, a folder): ``meta.pickle.pbz2`` holds
  ``{'meta_archs': [arch strings]}``, and ``{index:06d}.pickle.pbz2`` holds, for one cell,
  ``{hp: ArchResults.state_dict()}`` with hp ``'12'`` and ``'200'`` (epochs of the schedule);
* the single file ``NATS-tss-v1_0-3ffb9.pickle.pbz2``: ``{'meta_archs': ..., 'arch2infos': {index:
  {hp: state dict}}, 'evaluated_indexes': [...]}``.

Each ``ArchResults`` has one ``ResultsCount`` per (dataset, seed), with evaluation sets ``ori-test``
(cifar10, cifar10-valid), ``x-valid`` (cifar10-valid, cifar100, ImageNet16-120) and ``x-test``
(cifar100, ImageNet16-120). The test writes a few cells in both layouts with nats_bench's own classes
and ``pickle_save`` (bz2 pickles), taking the accuracies of the CSV backend for the same cells (two
seeds at value ± 0.5, so the seed mean is the CSV value), and reads them back through
``NatsApiBenchmark``.
"""

from __future__ import annotations

import math

import pytest

from empirics.nas.benchmark import DATASETS, NatsApiBenchmark, load_benchmark

nats_bench = pytest.importorskip("nats_bench")
from nats_bench.api_utils import ArchResults, ResultsCount, pickle_save  # noqa: E402

CELLS = (0, 1, 2, 3, 11, 15624)  # benchmark indices copied into the small archive, in this order
SEEDS = (777, 888)
NUM_CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}


def _evals(bench, i: int, dataset: str) -> dict[str, float]:
    """Accuracy per evaluation set of nats_bench's layout for the CSV cell i."""
    if dataset == "cifar10-valid":
        return {"x-valid": bench.valid_accuracy(i, "cifar10"), "ori-test": 90.0}
    if dataset == "cifar10":
        return {"ori-test": bench.test_accuracy(i, "cifar10")}
    v = bench.valid_accuracy(i, dataset)
    return {"x-valid": 50.0 if math.isnan(v) else v, "x-test": bench.test_accuracy(i, dataset), "ori-test": 50.0}


def _arch_results(bench, i: int, k: int, epochs: int) -> dict:
    arch = bench.arch(i)
    res = ArchResults(k, arch)
    for ds in NUM_CLASSES:
        for s, seed in enumerate(SEEDS):
            delta = -0.5 if s == 0 else 0.5
            rc = ResultsCount(
                ds,
                None,
                {e: 50.0 for e in range(epochs)},
                {e: 1.0 for e in range(epochs)},
                bench.params(i),  # the CSV's C=16, N=5 CIFAR-10 parameter count, the same on both seeds
                10.0,
                {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": NUM_CLASSES[ds]},
                seed,
                epochs,
                [0.01],
            )
            accs, losses, times = {}, {}, {}
            for name, acc in _evals(bench, i, ds).items():
                for e in range(epochs):
                    accs[f"{name}@{e}"] = acc + delta if e == epochs - 1 else 10.0
                    losses[f"{name}@{e}"] = 1.0
                    times[f"{name}@{e}"] = 0.1
            rc.update_eval(accs, losses, times)
            res.update(ds, seed, rc)
    return res.state_dict()


@pytest.fixture(scope="module")
def archives(bench, tmp_path_factory):
    root = tmp_path_factory.mktemp("nats")
    metas = [bench.arch(i) for i in CELLS]
    simple = root / "NATS-tss-v1_0-3ffb9-simple"
    simple.mkdir()
    pickle_save({"meta_archs": metas}, str(simple / "meta.pickle"))
    infos = {}
    for k, i in enumerate(CELLS):
        infos[k] = {"12": _arch_results(bench, i, k, 12), "200": _arch_results(bench, i, k, 200)}
        pickle_save(infos[k], str(simple / f"{k:06d}.pickle"))
    full = root / "NATS-tss-v1_0-3ffb9.pickle"
    pickle_save({"meta_archs": metas, "arch2infos": infos, "evaluated_indexes": list(range(len(CELLS)))}, str(full))
    return {"simple": simple, "full": root / "NATS-tss-v1_0-3ffb9.pickle.pbz2", "root": root}


@pytest.mark.parametrize("layout", ["simple", "full"])
def test_official_layouts_read_through_nats_bench(bench, archives, layout):
    assert archives[layout].exists()
    nb = load_benchmark(archives[layout], backend="nats")
    assert isinstance(nb, NatsApiBenchmark) and len(nb) == len(CELLS)
    for k, i in enumerate(CELLS):
        assert nb.arch(k) == bench.arch(i)
        assert nb.index(bench.arch(i)) == k
        assert nb.unique_str(k) == bench.unique_str(i)  # computed here, the CSV's column
        assert nb.params(k) == pytest.approx(bench.params(i), abs=1e-12)
        for ds in DATASETS:
            assert nb.test_accuracy(k, ds) == pytest.approx(bench.test_accuracy(i, ds), abs=1e-9)
        assert nb.valid_accuracy(k, "cifar10") == pytest.approx(bench.valid_accuracy(i, "cifar10"), abs=1e-9)
    with pytest.raises(ValueError, match="not a cell"):
        nb.index(bench.arch(5))  # a real cell, but not in this small archive


def test_torch_home_default_is_the_fast_mode_folder(bench, archives, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(archives["root"]))
    nb = NatsApiBenchmark.from_path(None)
    assert len(nb) == len(CELLS) and nb.test_accuracy(1, "cifar100") == pytest.approx(
        bench.test_accuracy(1, "cifar100")
    )


def test_missing_files_are_a_clear_error(tmp_path):
    from theory.data_dir import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="NATS-tss"):
        NatsApiBenchmark.from_path(tmp_path / "nothing-here")


def test_atlas_on_the_official_files(bench, archives, tmp_path):
    """The atlas on a benchmark opened from the official layout: same values as on the CSV cells."""
    from empirics.nas.atlas import make_columns, run_atlas

    nb = load_benchmark(archives["simple"], backend="nats")
    cols = make_columns(["params", "theory"], ["cifar10"])
    res = run_atlas(cols, nb, tmp_path / "t.csv", workers=0, progress=False)
    ref = run_atlas(cols, bench, tmp_path / "r.csv", workers=0, indices=CELLS, progress=False)
    for c in cols:
        assert res.table.done[c.name].all()
        assert list(res.table.values[c.name]) == [ref.table.values[c.name][i] for i in CELLS]

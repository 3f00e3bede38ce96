"""The full-space atlas: every cell of the NATS-Bench topology space scored once per class, on Dask.

A *column* is one score (with its options) on one image dataset (``eigen@cifar10``; a score that
does not depend on the dataset, such as ``theory``, has one column). The *atlas table* has one row
per benchmark index (15,625) and one column per score column; every index carries the value of its
class.

Classes (which cells share one value)
-------------------------------------
For a score with ``Score.iso_invariant`` the class is ``Arch.canonical()``: two cells with the same
canonical string compute the same random function (same live ops, same weight sharing; dead paths
dropped, identity aliases collapsed), so the score's distribution over initializations is the same.
The realized value is fixed by scoring the member with the smallest benchmark index (as
``empirics.nas.scorer.Scorer`` does; members differ in dead-branch parameters, which shift the random
stream), so every member gets exactly the representative's value and the atlas agrees bit for bit
with ``Scorer.score_indices``. NATS-Bench's ``unique_str`` (6,466 classes) is *not* used: it is a
path-expansion notion that ignores weight sharing, so it merges cells whose random functions differ
(tested in ``tests/test_atlas.py``). Scores that are not iso-invariant (``params``, whose dead
convolutions still count, and ``naswot``, whose dead-branch ReLUs add codes) are scored per index.

Engine
------
Per-class tasks go to a ``dask.distributed`` cluster: the embedded default is a ``LocalCluster``
with one single-threaded worker process per core; ``scheduler`` connects to an existing one (e.g. a
``dask_jobqueue.SLURMCluster``). Tasks are submitted in a bounded window and collected with
``as_completed``; each result is written to the score cache at once (``empirics.cache``, one JSON
line) and into the table, which is flushed every ``flush_every`` results or ``flush_seconds``
seconds by an atomic replace (temporary file + ``os.replace``). A worker that dies loses only the
task it was running (the scheduler reruns it elsewhere); Ctrl-C flushes what has arrived and leaves
table and metadata consistent. Cheap scores are batched into tasks of about ``target_task_s``
seconds, measured on the first cell of each column (the per-cell cost, also reported).

Resuming: values come first from the score cache (same record keys as ``Scorer``), then from the
table already on disk (the committed atlas, when the cache is gone); both are checked against the
column's options.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from distributed import Client, LocalCluster, as_completed
from tqdm import tqdm

from empirics.nas.benchmark import Benchmark, canonical_dataset
from empirics.nas.cache import ScoreCache, options_fingerprint, record_key
from empirics.nas.images import NUM_CLASSES, image_batch
from empirics.nas.scores import SCORES, Score, ScoreError, default_model_factory, get_score
from empirics.nas.search import class_key, representatives
from theory import files

__all__ = [
    "AtlasError",
    "Column",
    "AtlasTable",
    "AtlasRun",
    "make_columns",
    "column_units",
    "run_atlas",
    "score_chunk",
    "DEVICE_SCORES",
]

#: Scores that may run on a CUDA device: their model is built by the model factory (moved to the
#: device here) and their arithmetic follows the tensors' device. ``params`` and ``theory`` do not
#: use a network or images. Others (``naswot``, ``synflow``) allocate CPU tensors internally.
DEVICE_SCORES = frozenset({"eigen", "tenas_cond", "grad_norm", "params", "theory"})

TABLE_FIELDS = ("index", "arch", "class")


class AtlasError(ValueError):
    """An atlas request that cannot be honoured (mismatched table, unknown score, bad option)."""


# ---------------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """One score with its options on one dataset (``dataset=None`` for dataset-independent scores)."""

    score: str
    options_json: str
    dataset: str | None

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.options_json)

    def make_score(self, model_factory=None) -> Score:
        return get_score(self.score, model_factory=model_factory, **self.options)

    @property
    def iso(self) -> str:
        return "canonical" if SCORES[self.score].iso_invariant else "arch"

    @property
    def image_dataset(self) -> str:
        """The dataset whose images and number of classes score the column."""
        return self.dataset or "cifar10"

    @property
    def name(self) -> str:
        base = self.score if self.dataset is None else f"{self.score}@{self.dataset}"
        if self.options != dict(SCORES[self.score].defaults):
            base += "~" + hashlib.sha1(self.options_json.encode()).hexdigest()[:8]
        return base

    def record_key(self, cls: str, seed: int) -> str:
        ds = self.dataset if self.dataset is not None else "*"
        return record_key(cls, self.score, self.options, ds, seed)


def make_columns(
    scores: Sequence[str], datasets: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Column]:
    """Columns for every score × dataset (one column for a dataset-independent score).

    ``options[score]`` overrides the score's defaults (a column with non-default options gets a
    name suffix ``~<hash>``, so it never mixes with the default column).
    """
    options = options or {}
    ds = [canonical_dataset(d) for d in datasets]
    if not ds:
        raise AtlasError("at least one dataset is needed")
    out: list[Column] = []
    for name in scores:
        if name not in SCORES:
            raise AtlasError(f"unknown score {name!r}; known: {', '.join(sorted(SCORES))}")
        try:
            s = get_score(name, **dict(options.get(name, {})))
        except ScoreError as exc:
            raise AtlasError(str(exc)) from None
        fp = options_fingerprint(s.options)
        if not s.dataset_dependent:
            out.append(Column(name, fp, None))
        else:
            out.extend(Column(name, fp, d) for d in ds)
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise AtlasError(f"duplicate columns in {names}")
    return out


def column_units(bench: Benchmark, column: Column, indices: Iterable[int] | None = None) -> dict[str, list[int]]:
    """Class key → member indices (ascending; the first one is the representative that is scored).

    With ``indices`` only the classes meeting those indices are returned (with all their members).
    """
    iso = column.iso
    groups: dict[str, list[int]] = {}
    if iso == "arch":
        keys = [bench.arch(i) for i in range(len(bench))]
    else:
        keys = [class_key(bench.arch(i), iso, bench) for i in range(len(bench))]
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    if indices is not None:
        wanted = {keys[int(i)] for i in indices}
        groups = {k: v for k, v in groups.items() if k in wanted}
    if iso != "arch":
        reps = representatives(bench, iso)
        for k, members in groups.items():
            assert bench.arch(members[0]) == reps[k]
    return groups


def canonical_class_rep(bench: Benchmark) -> np.ndarray:
    """For every index, the smallest index of its ``Arch.canonical()`` class (the table's ``class``)."""
    first: dict[str, int] = {}
    out = np.empty(len(bench), dtype=np.int64)
    for i in range(len(bench)):
        out[i] = first.setdefault(class_key(bench.arch(i), "canonical", bench), i)
    return out


# ---------------------------------------------------------------------------------- the table


def _fmt(v: float) -> str:
    return repr(float(v))  # shortest text that round-trips exactly; nan / inf / -inf


def _atomic_write(path: Path, text: str) -> None:
    files.write_text(path, text)  # temporary file, fsync, rename (theory.files)


@dataclass
class AtlasTable:
    """The atlas in memory: per column a value vector and a done mask over all benchmark indices.

    On disk (``path``, a CSV): ``index,arch,class,<column>...``, one row per index in index order; an
    empty field is "not computed", values are written with ``repr`` (exact round trip, ``nan``/
    ``inf`` spelled out). ``class`` is the smallest index of the row's ``Arch.canonical()`` class.
    The metadata sits beside it (``<stem>.json``, see ``metadata_path``).
    """

    archs: list[str]
    classes: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)
    done: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, bench: Benchmark) -> AtlasTable:
        return cls([bench.arch(i) for i in range(len(bench))], canonical_class_rep(bench))

    @staticmethod
    def metadata_path(path: str | os.PathLike) -> Path:
        p = Path(path)
        stem = p.name[: -len(".csv")] if p.name.endswith(".csv") else p.stem
        return p.with_name(stem + ".json")

    def add_column(self, name: str) -> None:
        if name not in self.values:
            self.values[name] = np.full(len(self.archs), math.nan)
            self.done[name] = np.zeros(len(self.archs), dtype=bool)

    @property
    def columns(self) -> list[str]:
        return list(self.values)

    def set(self, name: str, members: Sequence[int], value: float) -> None:
        self.values[name][list(members)] = float(value)
        self.done[name][list(members)] = True

    def to_csv_text(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = self.columns
        w.writerow([*TABLE_FIELDS, *cols])
        vals = [self.values[c] for c in cols]
        dones = [self.done[c] for c in cols]
        for i, a in enumerate(self.archs):
            w.writerow([i, a, int(self.classes[i]), *(_fmt(v[i]) if d[i] else "" for v, d in zip(vals, dones))])
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        """Write table then metadata, each by atomic replace (a reader sees old or new, never torn)."""
        p = Path(path)
        _atomic_write(p, self.to_csv_text())
        _atomic_write(self.metadata_path(p), files.to_strict_json(self.meta, indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike, bench: Benchmark | None = None) -> AtlasTable:
        p = Path(path)
        if not p.is_file():
            raise AtlasError(f"atlas table {p} does not exist")
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        if not rows or tuple(rows[0][:3]) != TABLE_FIELDS:
            raise AtlasError(f"{p}: not an atlas table (the header must start with {','.join(TABLE_FIELDS)})")
        head = rows[0]
        cols = head[3:]
        body = rows[1:]
        for k, r in enumerate(body):
            if len(r) != len(head) or r[0] != str(k):
                raise AtlasError(f"{p}: row {k + 1} is malformed (expected index {k} and {len(head)} fields)")
        archs = [r[1] for r in body]
        if bench is not None:
            if len(archs) != len(bench):
                raise AtlasError(f"{p} has {len(archs)} rows, the benchmark {len(bench)}")
            bad = next((i for i in range(len(archs)) if archs[i] != bench.arch(i)), None)
            if bad is not None:
                raise AtlasError(
                    f"{p}: row {bad} is {archs[bad]!r}, the benchmark's index {bad} is {bench.arch(bad)!r}"
                )
        t = cls(archs, np.array([int(r[2]) for r in body], dtype=np.int64))
        for j, c in enumerate(cols):
            t.add_column(c)
            for i, r in enumerate(body):
                f = r[3 + j]
                if f != "":
                    try:
                        t.values[c][i] = float(f)
                    except ValueError:
                        raise AtlasError(f"{p}: row {i}, column {c}: {f!r} is not a number") from None
                    t.done[c][i] = True
        mp = cls.metadata_path(p)
        if mp.is_file():
            t.meta = json.loads(mp.read_text(encoding="utf-8"))
        return t


# ---------------------------------------------------------------------------------- worker side

_WORKER_SCORES: dict[tuple[str, str, str], Score] = {}


def _device_factory(device: str):
    def factory(arch: str, num_classes: int, C: int, N: int):
        return default_model_factory(arch, num_classes, C, N).to(device)

    return factory


def score_chunk(
    score_name: str,
    options_json: str,
    archs: Sequence[str],
    images: Any,
    labels: Any,
    seed: int,
    num_classes: int,
    device: str = "cpu",
) -> list[tuple[float, float]]:
    """Worker task: score each arch (one torch thread); returns (value, seconds) per arch.

    The same call as ``Scorer.score_indices`` makes: ``score.score(arch, X, y, seed, num_classes)``,
    with ``X, y = None, None`` for scores that need no images.
    """
    torch.set_num_threads(1)
    key = (score_name, options_json, device)
    s = _WORKER_SCORES.get(key)
    if s is None:
        factory = None if device == "cpu" else _device_factory(device)
        s = get_score(score_name, model_factory=factory, **json.loads(options_json))
        _WORKER_SCORES[key] = s
    if device != "cpu" and images is not None:
        images = images.to(device)
        labels = None if labels is None else labels.to(device)
    out = []
    for a in archs:
        t0 = time.perf_counter()
        v = s.score(a, images, labels, seed=seed, num_classes=num_classes)
        out.append((float(v), time.perf_counter() - t0))
    return out


# ---------------------------------------------------------------------------------- driver


@dataclass
class AtlasRun:
    """What a run did: per column, units in total / already done / computed, and compute seconds."""

    table: AtlasTable
    computed: dict[str, int]
    seconds: dict[str, float]
    units: dict[str, int]
    interrupted: bool = False
    wall_s: float = 0.0


def _images_for(column: Column, seed: int, data_dir, images) -> tuple[Any, Any]:
    s = SCORES[column.score]
    if not s.needs_images:
        return None, None
    if images is not None:
        return images
    bs = get_score(column.score, **column.options).batch_size or 64
    return image_batch(column.image_dataset, bs, seed, data_dir=data_dir)


def _images_hash(X, y) -> str | None:
    if X is None:
        return None
    h = hashlib.sha256(X.detach().cpu().contiguous().numpy().tobytes())
    if y is not None:
        h.update(y.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def _package_version() -> str:
    """The installed distribution's version (``importlib.metadata``; the package lives in this checkout)."""
    try:
        return importlib.metadata.version("eigennas")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _column_meta(table: AtlasTable, col: Column, groups: Mapping[str, list[int]] | None) -> dict[str, Any]:
    m = table.meta.setdefault("columns", {}).setdefault(col.name, {})
    m.update(
        {
            "score": col.score,
            "dataset": col.dataset,
            "image_dataset": col.image_dataset if SCORES[col.score].needs_images else None,
            "options": col.options,
            "options_fingerprint": col.options_json,
            "classes": "Arch.canonical" if col.iso == "canonical" else "index",
        }
    )
    m.setdefault("cpu_seconds", 0.0)
    m.setdefault("timed_units", 0)
    done = table.done[col.name]
    m["cells_done"] = int(done.sum())
    m["cells"] = len(done)
    m["complete"] = bool(done.all())
    if col.iso == "canonical":
        reps = np.unique(table.classes)
        m["classes_total"] = int(len(reps))
        m["classes_done"] = int(done[reps].sum())
    return m


def _check_meta(table: AtlasTable, col: Column, seed: int, image_hash: str | None) -> None:
    m = table.meta.get("columns", {}).get(col.name)
    if m is None or not table.done[col.name].any():
        return
    if m.get("options_fingerprint") != col.options_json:
        raise AtlasError(
            f"column {col.name} of the table was computed with options {m.get('options_fingerprint')}, "
            f"requested {col.options_json}; write to another --table or drop that column"
        )
    if m.get("seed") is not None and int(m["seed"]) != int(seed):
        raise AtlasError(f"column {col.name} of the table was computed with seed {m['seed']}, requested {seed}")
    if image_hash is not None and m.get("images", {}).get("sha256") not in (None, image_hash):
        raise AtlasError(
            f"column {col.name} of the table was scored on other images (sha256 {m['images']['sha256'][:12]}..., "
            f"now {image_hash[:12]}...): a different data folder? write to another --table"
        )


def run_atlas(
    columns: Sequence[Column],
    bench: Benchmark,
    table_path: str | os.PathLike,
    *,
    cache: ScoreCache | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    indices: Iterable[int] | None = None,
    seed: int = 0,
    order_seed: int = 0,
    interleave: bool = False,
    chunk: int | None = None,
    target_task_s: float = 1.0,
    flush_every: int = 200,
    flush_seconds: float = 60.0,
    device: str = "cpu",
    data_dir: str | os.PathLike | None = None,
    images: tuple[Any, Any] | None = None,
    progress: bool = True,
    on_result: Callable[[str, int, float], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> AtlasRun:
    """Fill the atlas table at ``table_path`` with ``columns``; see the module docstring.

    ``workers``: size of the embedded ``LocalCluster`` (default: one per core); ``0`` scores in this
    process without Dask. ``scheduler``: address of an existing Dask scheduler; ``client``: an
    existing ``distributed.Client`` (neither is closed here). ``indices``: score only the classes of
    these cells. Units are processed column by column in a random order (``order_seed``), so a
    partial column is a uniform sample of its classes; ``interleave`` mixes all columns' units.
    ``on_result(column, representative_index, value)`` is called after each stored result.
    """
    say = log or (lambda _m: None)
    cache = cache if cache is not None else ScoreCache(None)
    if device != "cpu":
        bad = [c.score for c in columns if c.score not in DEVICE_SCORES]
        if bad:
            raise AtlasError(
                f"score(s) {sorted(set(bad))} do not run on {device}; score them in a separate call with --device cpu"
            )
    path = Path(table_path)
    table = AtlasTable.load(path, bench) if path.is_file() else AtlasTable.new(bench)
    idx_list = None if indices is None else [bench.index(int(i)) for i in indices]
    t_start = time.perf_counter()
    run_info = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "workers": workers,
        "scheduler": scheduler or ("embedded LocalCluster" if workers != 0 else "in-process"),
        "device": device,
        "machine": _machine(),
        "computed": {},
    }
    table.meta.update(
        {
            "format": "eigennas-atlas-1",
            "package_version": _package_version(),
            "benchmark_cells": len(bench),
            "class_column": "smallest benchmark index of the row's Arch.canonical() class",
            "score_seed": int(seed),
        }
    )
    table.meta.setdefault("runs", []).append(run_info)

    def put(col: Column, ck: str, rep: int, value: float, **extra: Any) -> None:
        """One cache record of the column's value for class ``ck`` (scored on index ``rep``)."""
        cache.put(
            col.record_key(ck, seed),
            value,
            arch=bench.arch(rep),
            cls=ck,
            score=col.score,
            options=col.options_json,
            dataset=col.dataset or "*",
            seed=int(seed),
            **extra,
        )

    # ---- what is known already, what is to do
    todo: list[tuple[Column, list[tuple[str, list[int]]]]] = []
    batches: dict[str, tuple[Any, Any]] = {}
    groups_of: dict[str, dict[str, list[int]]] = {}
    units_total: dict[str, int] = {}
    for col in columns:
        table.add_column(col.name)
        X, y = _images_for(col, seed, data_dir, images)
        batches[col.name] = (X, y)
        ih = _images_hash(X, y)
        _check_meta(table, col, seed, ih)
        groups = column_units(bench, col, idx_list)
        groups_of[col.name] = groups
        units_total[col.name] = len(groups)
        m = _column_meta(table, col, groups)
        m["seed"] = int(seed)
        if X is not None:
            m["images"] = {
                "dataset": col.image_dataset,
                "n": int(len(X)),
                "shape": list(X.shape),
                "seed": int(seed),
                "sha256": ih,
                "source": "given" if images is not None else "empirics.images.image_batch",
            }
        missing: list[tuple[str, list[int]]] = []
        from_table = 0
        for ck, members in groups.items():
            rk = col.record_key(ck, seed)
            v = cache.get(rk)
            rep = members[0]
            if v is not None:
                table.set(col.name, members, v)
            elif table.done[col.name][rep]:
                v = float(table.values[col.name][rep])
                table.set(col.name, members, v)
                put(col, ck, rep, v, source="atlas table")
                from_table += 1
            else:
                missing.append((ck, members))
        rng = np.random.default_rng([int(order_seed), len(todo)])
        order = rng.permutation(len(missing))
        missing = [missing[k] for k in order]
        say(
            f"{col.name}: {len(groups)} units, {len(groups) - len(missing)} known "
            f"({from_table} from the table), {len(missing)} to score"
        )
        todo.append((col, missing))

    computed = {c.name: 0 for c in columns}
    seconds = {c.name: 0.0 for c in columns}
    state = {"since_flush": 0, "last_flush": time.monotonic()}

    def flush(force: bool = False) -> None:
        if not force and state["since_flush"] < flush_every and time.monotonic() - state["last_flush"] < flush_seconds:
            return
        for col in columns:
            _column_meta(table, col, groups_of[col.name])
        run_info["computed"] = dict(computed)
        run_info["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        table.save(path)
        state["since_flush"] = 0
        state["last_flush"] = time.monotonic()

    def store(col: Column, unit: tuple[str, list[int]], value: float, dt: float) -> None:
        ck, members = unit
        rep = members[0]
        put(col, ck, rep, value, time_s=round(dt, 4))
        table.set(col.name, members, value)
        m = table.meta["columns"][col.name]
        m["cpu_seconds"] = float(m["cpu_seconds"]) + dt
        m["timed_units"] = int(m["timed_units"]) + 1
        m["seconds_per_unit"] = m["cpu_seconds"] / m["timed_units"]
        computed[col.name] += 1
        seconds[col.name] += dt
        state["since_flush"] += 1
        if on_result is not None:
            on_result(col.name, rep, value)

    n_todo = sum(len(m) for _, m in todo)
    bar = None
    if progress and n_todo:
        bar = tqdm(total=n_todo, desc="atlas", unit="cell", smoothing=0.05, dynamic_ncols=True)
    interrupted = False
    own_client = None
    own_cluster = None
    pending: list[Any] = []
    try:
        # ---- calibration: the first unit of each column in this process fixes the task size
        chunks: list[tuple[Column, list[tuple[str, list[int]]]]] = []
        for col, missing in todo:
            if not missing:
                continue
            X, y = batches[col.name]
            size = chunk
            rest = missing
            if size is None:
                first = missing[0]
                [(v, dt)] = score_chunk(
                    col.score, col.options_json, [bench.arch(first[1][0])], X, y, seed, _num_classes(col), device
                )
                store(col, first, v, dt)
                if bar is not None:
                    bar.update(1)
                rest = missing[1:]
                size = max(1, min(500, int(target_task_s / max(dt, 1e-4))))
                eta_h = dt * len(missing) / 3600
                say(
                    f"{col.name}: {dt:.4f} s/unit measured; {len(missing)} units = {eta_h:.2f} core-hours; "
                    f"{size} unit(s) per task"
                )
            chunks.extend((col, rest[k : k + size]) for k in range(0, len(rest), size))
        if interleave:
            perm = np.random.default_rng([int(order_seed), 99]).permutation(len(chunks))
            chunks = [chunks[k] for k in perm]
        flush(force=True)

        if workers == 0 and client is None and scheduler is None:
            for col, units in chunks:
                X, y = batches[col.name]
                res = score_chunk(
                    col.score,
                    col.options_json,
                    [bench.arch(u[1][0]) for u in units],
                    X,
                    y,
                    seed,
                    _num_classes(col),
                    device,
                )
                for u, (v, dt) in zip(units, res):
                    store(col, u, v, dt)
                if bar is not None:
                    bar.update(len(units))
                flush()
        elif chunks:
            if client is None:
                if scheduler is not None:
                    own_client = client = Client(scheduler)
                else:
                    n = workers if workers else (os.cpu_count() or 1)
                    own_cluster = LocalCluster(
                        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
                    )
                    own_client = client = Client(own_cluster)
            nthreads = max(1, sum(client.nthreads().values()))
            window = 2 * nthreads + 2
            scattered: dict[str, tuple[Any, Any]] = {}
            for col, _ in chunks:
                if col.name not in scattered:
                    X, y = batches[col.name]
                    scattered[col.name] = (
                        None if X is None else client.scatter(X, broadcast=True),
                        None if y is None else client.scatter(y, broadcast=True),
                    )
            meta_of: dict[str, tuple[Column, list[tuple[str, list[int]]]]] = {}
            it = iter(chunks)

            def submit_next(ac=None) -> bool:
                nxt = next(it, None)
                if nxt is None:
                    return False
                col, units = nxt
                Xf, yf = scattered[col.name]
                fut = client.submit(
                    score_chunk,
                    col.score,
                    col.options_json,
                    [bench.arch(u[1][0]) for u in units],
                    Xf,
                    yf,
                    seed,
                    _num_classes(col),
                    device,
                    pure=False,
                    retries=1,
                )
                meta_of[fut.key] = nxt
                pending.append(fut)
                if ac is not None:
                    ac.add(fut)
                return True

            for _ in range(window):
                if not submit_next():
                    break
            ac = as_completed(list(pending))
            for fut in ac:
                col, units = meta_of.pop(fut.key)
                res = fut.result()
                pending.remove(fut)
                for u, (v, dt) in zip(units, res):
                    store(col, u, v, dt)
                if bar is not None:
                    bar.update(len(units))
                fut.release()
                flush()
                submit_next(ac)
    except KeyboardInterrupt:
        interrupted = True  # the table keeps every result that arrived; the caller reports it (AtlasRun)
    finally:
        for f in pending:
            f.cancel()
        run_info["interrupted"] = interrupted
        flush(force=True)
        if bar is not None:
            bar.close()
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
    return AtlasRun(table, computed, seconds, units_total, interrupted, time.perf_counter() - t_start)


def _num_classes(col: Column) -> int:
    return NUM_CLASSES[col.image_dataset]

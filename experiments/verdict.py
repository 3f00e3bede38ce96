"""The verdict of the BatchNorm-free theory on NATS-Bench (docs/theory.md, Part IV.4).

Scores of the ablation's cells (:func:`experiments.ablation.cell_sample`, seed 0: the first 1,000 cells
and the held-out cells 1,000–1,300) under the registry scores of the BN-free network
(``empirics.nas.scores_nats``): ``cntk`` (exact infinite-width NTK, ``theory.nats_ntk``) and
``eigen_free`` (the finite twin's empirical NTK), each ``raw`` (λ_min) and ``trace`` (N·λ_min/tr Θ).

:func:`fill` computes one kernel per cell class and writes *both* normalizations into the ordinary
score cache (the record keys of ``Scorer``), so the two variants cost one kernel and every later
``eigennas search/correlate`` reads them; it resumes from the cache. :func:`verdict_rows` turns the
cached values into table rows with the ablation's own statistics (``experiments.ablation``:
Spearman/Kendall with bootstrap CIs, P-S(100) × 10 draws from the scored pool) plus the share of
shortcut-free cells (``empirics.nas.atlas_report.shortcut_free``) among each score's top-10 / top-50.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from empirics.nas.atlas_report import shortcut_free
from empirics.nas.benchmark import DATASETS, Benchmark, canonical_dataset, load_benchmark
from empirics.nas.cache import ScoreCache, options_fingerprint
from empirics.nas.images import NUM_CLASSES
from empirics.nas.scores import get_score
from empirics.nas.scores_nats import CntkScore, EigenFreeScore, kernel_value
from empirics.nas.search import Scorer, correlate, representatives
from empirics.ntk.empirical import empirical_ntk
from experiments.ablation import cell_sample, pool_search
from theory.nats import nats_ntk

__all__ = ["NORMS", "kernel_of", "fill", "top_shortcut_free", "verdict_rows"]

NORMS = ("raw", "trace")


def kernel_of(score: CntkScore | EigenFreeScore, arch: str, images: torch.Tensor, seed: int = 0) -> list[np.ndarray]:
    """The kernel(s) the score's value is read from: Θ of ``nats_ntk`` (one) or the twin's empirical NTK
    (one per initialization, the score averages their normalized λ_min)."""
    o = score.options
    x = score._images(images[: score.batch_size])
    if isinstance(score, CntkScore):
        return [nats_ntk(arch, x, int(o["stages"]), int(o["cells"]), progress=False)]
    from empirics.models.build import build_model
    from empirics.nas.scores import _init_seed

    out = []
    for k in range(int(o["seeds"])):
        model = build_model(arch, width=int(o["C"]), seed=_init_seed(seed, k), family="nats", batchnorm=False,
                            N=int(o["cells"]), stages=int(o["stages"]), dtype=torch.float64)
        out.append(empirical_ntk(model, x).numpy())
    return out


def fill(
    name: str,
    bench: Benchmark,
    indices: Sequence[int],
    cache: ScoreCache,
    dataset: str = "cifar10",
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    **options: Any,
) -> dict[str, int]:
    """Cache both normalizations of score ``name`` (``cntk`` or ``eigen_free``) for the cells ``indices``,
    one kernel per class (its representative), the kernel time recorded in both records."""
    scorers = {
        n: Scorer(get_score(name, **{**options, "normalize": n}), bench, dataset, cache=cache, data_dir=data_dir,
                  progress=False)
        for n in NORMS
    }
    sc0 = scorers[NORMS[0]]
    reps = representatives(bench, sc0.iso) if sc0.iso != "arch" else {}
    todo: dict[str, tuple[str, dict[str, str]]] = {}
    for i in indices:
        a = bench.arch(int(i))
        keys = {n: s.key(a, seed) for n, s in scorers.items()}
        ck = keys[NORMS[0]][0]
        if ck in todo or all(rk in cache for _, rk in keys.values()):
            continue
        todo[ck] = (reps.get(ck, a), {n: rk for n, (_, rk) in keys.items()})
    X, _ = sc0._batch(seed)
    items = list(todo.items())
    for ck, (a, rks) in tqdm(items, desc=f"{name} {dataset}", unit="class", disable=not progress):
        t0 = time.perf_counter()
        Ks = kernel_of(sc0.score, a, X, seed)  # type: ignore[arg-type]
        vals = {n: float(np.mean([kernel_value(K, n) for K in Ks])) for n in NORMS}
        dt = time.perf_counter() - t0
        for n, rk in rks.items():
            s = scorers[n].score
            cache.put(rk, vals[n], arch=a, cls=ck, score=s.name, options=options_fingerprint(s.options),
                      dataset=canonical_dataset(dataset), seed=int(seed), time_s=round(dt, 4))
    return {"classes_computed": len(items)}


def top_shortcut_free(values: np.ndarray, archs: Sequence[str], ks: Sequence[int] = (10, 50)) -> dict[str, float]:
    """Share of shortcut-free cells among the ``k`` highest scores (NaN ranks last; ties in index order)."""
    v = np.where(np.isfinite(values), values, -np.inf)
    order = np.argsort(-v, kind="stable")
    free = np.array([shortcut_free(a) for a in archs])
    return {f"top{k}": float(free[order[:k]].mean()) for k in ks}


def _times(cache: ScoreCache, keys: Sequence[str]) -> float:
    t = [cache.record(k).get("time_s", math.nan) for k in dict.fromkeys(keys) if cache.record(k)]  # type: ignore[union-attr]
    return float(np.nanmean(t)) if t else math.nan


def verdict_rows(
    bench: Benchmark,
    indices: Sequence[int],
    cache: ScoreCache,
    specs: Sequence[tuple[str, dict[str, Any]]],
    dataset: str = "cifar10",
    ps_n: int = 100,
    repeats: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (score, options): correlations, P-S(ps_n) from the pool, shortcut-free shares, time per
    computed class, from the cache only (cells without a cached value are NaN and counted)."""
    archs = [bench.arch(int(i)) for i in indices]
    accs = {d: bench.accuracies(d, indices) for d in DATASETS}
    rows = []
    for name, opts in specs:
        sc = Scorer(get_score(name, **opts), bench, dataset, cache=cache, progress=False)
        keys = [sc.key(a, 0)[1] for a in archs]
        vals = np.array([math.nan if cache.get(k) is None else cache.get(k) for k in keys], dtype=float)
        n = ps_n if len(indices) >= 2 * ps_n else max(1, len(indices) // 2)
        rows.append({
            "score": name,
            "options": dict(sc.score.options),
            "cells": len(indices),
            "missing": int(np.sum(~np.isfinite(vals))),
            "score_dataset": canonical_dataset(dataset),
            "time_per_class_s": _times(cache, keys),
            "correlations": correlate(vals, accs, n_boot=n_boot, seed=seed),
            "ps": pool_search(np.where(np.isfinite(vals), vals, -np.inf), indices, bench, n=n, repeats=repeats,
                              seed=seed),
            "shortcut_free": top_shortcut_free(vals, archs),
        })
    return rows


SPECS: list[tuple[str, dict[str, Any]]] = [
    ("cntk", {"normalize": "raw"}),
    ("cntk", {"normalize": "trace"}),
    ("eigen_free", {"normalize": "raw"}),
    ("eigen_free", {"normalize": "trace"}),
    ("params", {}),
]


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["fill", "table"])
    p.add_argument("--scores", default="cntk,eigen_free")
    p.add_argument("--n", type=int, default=1300)
    p.add_argument("--split", type=int, default=1000, help="first SPLIT cells = ablation set, rest held out")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--cache", default=".eigennas_cache")
    p.add_argument("--out", default=None, help="table JSON (written via a temp file)")
    p.add_argument("--bench-path", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    bench = load_benchmark(args.bench_path)
    cache = ScoreCache(args.cache)
    idx = cell_sample(bench, args.n, seed=0)
    if args.what == "fill":
        for name in args.scores.split(","):
            for part in (idx[: args.split], idx[args.split:]):
                print(json.dumps({name: fill(name, bench, part, cache, dataset=args.dataset)}), flush=True)
        return
    out = {
        "dataset": canonical_dataset(args.dataset),
        "sets": {
            f"cells0-{args.split}": verdict_rows(bench, idx[: args.split], cache, SPECS, args.dataset),
            f"cells{args.split}-{args.n}": verdict_rows(bench, idx[args.split:], cache, SPECS, args.dataset),
        },
        "num_classes": NUM_CLASSES[canonical_dataset(args.dataset)],
    }
    text = json.dumps(out, indent=1, default=float)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.out)
    else:
        print(text)


if __name__ == "__main__":
    main()

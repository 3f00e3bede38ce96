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

:func:`sweep` (``eigennas verdict sweep``) measures the ``cntk`` kernel settings (images, pooled
resolution, stages × cells) under every normalization on a prefix of the same cells, through the same
cache, with the time per class; :func:`sweep_choice` applies the default rule (highest mean Spearman ρ
over the three datasets on the ablation cells within the time budget) to a sweep table.
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
from empirics.nas.scores import EigenScore, get_score
from empirics.nas.scores_nats import NORMALIZE, CntkOptions, CntkScore, EigenFreeScore, kernel_value
from empirics.nas.search import Scorer, correlate, representatives
from experiments.ablation import cell_sample, pool_search
from theory import files

__all__ = ["NORMS", "KERNEL_SCORES", "SPECS", "kernel_of", "fill", "top_shortcut_free", "verdict_rows", "SWEEP",
           "parse_settings", "sweep", "sweep_choice", "sweep_markdown"]

#: the normalizations :func:`fill` caches from one kernel (every one the scores accept)
NORMS = NORMALIZE

#: the kernel scores :func:`fill` computes (the BN-free exact and measured ones, and the BatchNorm limit)
KERNEL_SCORES = ("cntk", "cntk_bn", "eigen_free")


def kernel_of(score: CntkScore | EigenFreeScore, arch: str, images: torch.Tensor, seed: int = 0) -> list[np.ndarray]:
    """The kernel(s) the score's value is read from: Θ of ``nats_ntk`` (one) or the twin's empirical NTK
    (one per initialization, the score averages their normalized λ_min)."""
    return score.kernels(arch, score._images(images[: score.batch_size]), seed)


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
    """Cache every normalization (``NORMS``) of score ``name`` (one of ``KERNEL_SCORES``) for the cells
    ``indices``, one kernel per class (its representative), the kernel time recorded in every record."""
    if name not in KERNEL_SCORES:
        raise ValueError(f"fill computes the kernel scores {KERNEL_SCORES}, not {name!r}")
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
    X, _ = sc0.batch(seed)
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
    score_seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (score, options): correlations, P-S(ps_n) from the pool, shortcut-free shares, time per
    computed class, from the cache only (cells without a cached value are NaN and counted). ``score_seed``:
    the score's seed (its image batch, ``Scorer._batch``); ``seed``: the bootstrap's and the draws'."""
    archs = [bench.arch(int(i)) for i in indices]
    accs = {d: bench.accuracies(d, indices) for d in DATASETS}
    rows = []
    for name, opts in specs:
        sc = Scorer(get_score(name, **opts), bench, dataset, cache=cache, progress=False)
        keys = [sc.key(a, score_seed)[1] for a in archs]
        if name not in KERNEL_SCORES:  # cheap registry scores (params): computed through the cache
            sc.score_indices(indices, seed=score_seed)
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
    ("cntk_bn", {"normalize": "raw"}),
    ("cntk_bn", {"normalize": "trace"}),
    ("eigen_free", {"normalize": "raw"}),
    ("eigen_free", {"normalize": "trace"}),
    ("params", {}),
]

#: The committed ablation tables of the ``eigen`` default (experiments/results/index.json) on the same cells
#: and draws, per (cell set, score images): reused, not recomputed. None: no such table.
EIGEN_TABLES: dict[tuple[str, str], str | None] = {
    ("cells0-1000", "cifar10"): "ablation/ablate_6variants_n1000_s0_20261129-055101.json",
    ("cells0-1000", "cifar100"): "ablation/ablate_6variants_cifar100_n1000_s0_20261129-163442.json",
    ("cells0-1000", "ImageNet16-120"): "ablation/ablate_6variants_ImageNet16-120_n1000_s0_20261129-163500.json",
    ("cells1000-1300", "cifar10"): "ablation/ablate_baselines_cells1000-1300_s0_20261129-061159.json",
    ("cells1000-1300", "cifar100"): None,
    ("cells1000-1300", "ImageNet16-120"):
        "ablation/ablate_6variants_ImageNet16-120_cells1000-1300_s0_20261129-162210.json",
}


def eigen_default_row(results: str | os.PathLike, set_name: str, bench: Benchmark) -> dict[str, Any]:
    """The ``eigen`` default's row of a verdict set, from the committed ablation tables: correlations and
    P-T from the CIFAR-10-image table, P-D from each dataset's own-image table, and the shortcut-free share
    of its P-S picks (the recorded ``chosen`` cells). Top-k shares need per-cell values, which the tables
    do not keep: NaN."""
    label = ",".join(f"{k}={v}" for k, v in [("C", 8), ("N", 1)] + [
        (k, EigenScore.defaults[k]) for k in ("bn", "output", "batch_size")] + [("images", "real")] + [
        (k, EigenScore.defaults[k]) for k in ("seeds", "normalize")])
    row: dict[str, Any] = {"score": "eigen", "options": dict(EigenScore.defaults), "source": {}, "pd": {}}
    for ds in DATASETS:
        rel = EIGEN_TABLES.get((set_name, ds))
        if rel is None:
            row["pd"][ds] = None
            continue
        with open(os.path.join(results, rel), encoding="utf-8") as f:
            tab = json.load(f)
        r = next(r for r in tab["rows"] if r["variant"] == label)
        row["source"][ds] = rel
        row["pd"][ds] = r["ps"][ds]
        if ds == "cifar10":
            row.update(cells=r["cells"], missing=r["nan_scores"], score_dataset="cifar10",
                       time_per_class_s=r["time_per_cell_s"], correlations=r["correlations"], ps=r["ps"],
                       shortcut_free={"top10": math.nan, "top50": math.nan})
    row["ps_shortcut_free"] = float(np.mean([shortcut_free(bench.arch(i)) for i in row["ps"]["chosen"]]))
    return row


def verdict(bench: Benchmark, cache: ScoreCache, n: int = 1300, split: int = 1000,
            results: str | os.PathLike = "experiments/results", n_boot: int = 1000) -> dict[str, Any]:
    """Every row of the verdict on the two cell sets (0..split, split..n), P-D from each dataset's images."""
    idx = cell_sample(bench, n, seed=0)
    sets: dict[str, Any] = {}
    for name, part in ((f"cells0-{split}", idx[:split]), (f"cells{split}-{n}", idx[split:])):
        rows = verdict_rows(bench, part, cache, SPECS, "cifar10", n_boot=n_boot)
        for ds in DATASETS[1:]:
            own = verdict_rows(bench, part, cache, SPECS, ds, n_boot=10)
            for r, o in zip(rows, own):
                r.setdefault("pd", {"cifar10": r["ps"]["cifar10"]})[ds] = {**o["ps"][ds], "missing": o["missing"]}
        for r in rows:
            r["ps_shortcut_free"] = float(np.mean([shortcut_free(bench.arch(i)) for i in r["ps"]["chosen"]]))
        rows.insert(len(SPECS) - 1, eigen_default_row(results, name, bench))
        sets[name] = {"cells": len(part), "shortcut_free_share": float(np.mean([shortcut_free(bench.arch(i))
                                                                                 for i in part])), "rows": rows}
    return {"seed": 0, "score_seed": 0, "ps_n": 100, "repeats": 10, "sets": sets}


#: the screen of ``eigennas verdict sweep``: the default, one option changed at a time, and the cheap
#: combinations (16×16 only with 8 images: 16 images at 16×16 need more than the kernel's 4 GiB budget)
SWEEP: tuple[str, ...] = (
    "batch_size=16,size=8,stages=3,cells=1",
    "batch_size=8,size=8,stages=3,cells=1",
    "batch_size=32,size=8,stages=3,cells=1",
    "batch_size=16,size=4,stages=3,cells=1",
    "batch_size=32,size=4,stages=3,cells=1",
    "batch_size=64,size=4,stages=3,cells=1",
    "batch_size=8,size=16,stages=3,cells=1",
    "batch_size=16,size=8,stages=1,cells=1",
    "batch_size=16,size=8,stages=2,cells=1",
    "batch_size=16,size=8,stages=3,cells=2",
    "batch_size=16,size=8,stages=3,cells=5",
)

_KERNEL_KEYS = ("batch_size", "size", "stages", "cells")


def parse_settings(text: str | Sequence[str]) -> list[dict[str, int]]:
    """Kernel settings of ``cntk`` from ``"k=v,k=v;k=v,..."`` (or a list of ``"k=v,..."``): keys among
    batch_size, size, stages, cells (the rest at the score's defaults), each checked by ``CntkOptions``."""
    parts = [p for p in (text.split(";") if isinstance(text, str) else text) if p.strip()]
    if not parts:
        raise ValueError("no cntk settings given")
    out = []
    for part in parts:
        kw: dict[str, int] = {}
        for item in part.split(","):
            k, eq, v = item.strip().partition("=")
            if not eq or k not in _KERNEL_KEYS or not v.strip().isdigit():
                raise ValueError(f"bad cntk setting {item!r} in {part!r}: want KEY=INT with KEY in {_KERNEL_KEYS}")
            kw[k] = int(v)
        full = {k: int(getattr(CntkOptions(), k)) for k in _KERNEL_KEYS} | kw
        get_score("cntk", **full)  # checks the combination (ScoreError)
        out.append(full)
    return out


def _setting_label(st: dict[str, Any]) -> str:
    return ",".join(f"{k}={st[k]}" for k in _KERNEL_KEYS)


def sweep(
    bench: Benchmark,
    cache: ScoreCache,
    settings: Sequence[dict[str, int]],
    n: int = 200,
    split: int = 1000,
    dataset: str = "cifar10",
    n_boot: int = 1000,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    score: str = "cntk",
    image_seeds: Sequence[int] = (0,),
) -> dict[str, Any]:
    """For each kernel setting: :func:`fill` ``score`` (``cntk`` or ``cntk_bn``; every normalization from
    one kernel per class) on
    the first ``n`` cells of the ablation's permutation, then one :func:`verdict_rows` row per
    normalization on the cells ``0..min(n, split)`` and, if ``n > split``, on the held-out ``split..n``;
    once per image batch (``image_seeds``: the score seed, which draws the batch; the kernel itself is
    deterministic), so the spread between batches is measured beside the spread between settings."""
    idx = cell_sample(bench, n, seed=0)
    parts = [(f"cells0-{min(n, split)}", idx[:split])] + ([(f"cells{split}-{n}", idx[split:])] if n > split else [])
    sets: dict[str, Any] = {name: {"cells": len(part), "rows": []} for name, part in parts}
    for st in settings:
        for im in image_seeds:
            fill(score, bench, idx, cache, dataset=dataset, seed=im, data_dir=data_dir, progress=progress, **st)
            for name, part in parts:
                rows = verdict_rows(bench, part, cache, [(score, {**st, "normalize": nm}) for nm in NORMS],
                                    dataset, n_boot=n_boot, score_seed=im)
                for r in rows:
                    r["image_seed"] = int(im)
                    r["setting"] = _setting_label(st)
                    r["mean_spearman"] = float(np.mean([r["correlations"][d]["spearman"] for d in DATASETS]))
                sets[name]["rows"] += rows
    return {"score": score, "score_dataset": canonical_dataset(dataset), "n": n, "split": split,
            "image_seeds": [int(i) for i in image_seeds], "sets": sets}


def sweep_choice(table: dict[str, Any], budget_s: float = 5.0) -> dict[str, Any]:
    """The default rule on a sweep table: among the (setting, normalization) pairs of its first cell set
    (the ablation cells) with no missing cell under any image batch and mean time per class ≤
    ``budget_s``, the highest mean Spearman ρ over the three datasets, averaged over the image batches
    (ties: the cheaper, then the earlier pair)."""
    rows = next(iter(table["sets"].values()))["rows"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["setting"], r["options"]["normalize"]), []).append(r)
    ok = []
    for i, ((setting, norm), rs) in enumerate(groups.items()):
        t = float(np.mean([r["time_per_class_s"] for r in rs]))
        if all(r["missing"] == 0 for r in rs) and t <= budget_s:
            ok.append((float(np.mean([r["mean_spearman"] for r in rs])), -t, -i, setting, norm, len(rs)))
    if not ok:
        raise ValueError(f"no complete sweep row within {budget_s} s per class")
    rho, t, _, setting, norm, k = max(ok, key=lambda o: (round(o[0], 12), o[1], o[2]))
    return {"setting": setting, "normalize": norm, "mean_spearman": rho, "time_per_class_s": -t, "image_batches": k}


def _rho_tau(c: dict[str, Any], ci: bool) -> str:
    """Table cells 'ρ / τ' (with the Spearman CI when ``ci``) of the three datasets, '|'-separated."""
    def cell(d: str) -> str:
        x = f"{c[d]['spearman']:.3f} / {c[d]['kendall']:.3f}"
        return x + (f" [{c[d]['spearman_lo']:.2f}, {c[d]['spearman_hi']:.2f}]" if ci else "")
    return " | ".join(cell(d) for d in DATASETS)


def sweep_markdown(t: dict[str, Any]) -> str:
    """A sweep table as Markdown (one table per cell set)."""
    L = []
    for name, s in t["sets"].items():
        L.append(f"### `{t['score']}` settings on {name} ({s['cells']} cells, {t['score_dataset']} images)")
        L.append("")
        L.append("| setting | normalize | image seed | missing | ρ / τ C10 | ρ / τ C100 | ρ / τ IN16 | mean ρ | "
                 "P-S(100) C10 / C100 / IN16 | shortcut-free top-10 / top-50 | s/class |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in s["rows"]:
            rt = _rho_tau(r["correlations"], ci=False)
            ps = " / ".join(f"{r['ps'][d]['mean']:.2f}" for d in DATASETS) if r["ps"]["n"] == 100 else "—"
            sf = r["shortcut_free"]
            L.append(f"| {r['setting']} | {r['options']['normalize']} | {r.get('image_seed', 0)} | {r['missing']} | "
                     f"{rt} | "
                     f"{r['mean_spearman']:.3f} | {ps} | {100 * sf['top10']:.0f} % / {100 * sf['top50']:.0f} % | "
                     f"{r['time_per_class_s']:.3g} |")
        L.append("")
    L.append("ρ / τ: Spearman / Kendall τ-b with the 200-epoch test accuracy; P-S(100): mean over the 10 draws "
             "of the pick's accuracy (— when the set has fewer than 200 cells); s/class: mean time of one "
             "kernel (`theory.nats_ntk`, one thread) per isomorphism class, as recorded in the score cache.")
    return "\n".join(L) + "\n"


def _label(r: dict[str, Any]) -> str:
    if r["score"] == "params":
        return "`params`"
    if r["score"] == "eigen":
        return "`eigen` default (BN train)"
    return f"`{r['score']}` {r['options']['normalize']}"


def markdown(v: dict[str, Any]) -> str:
    """The verdict tables (one per cell set) as Markdown."""
    def pm(p: dict[str, Any] | None, ds: str) -> str:
        if p is None:
            return "n/a"
        if p.get("missing"):
            return f"incomplete ({p['missing']} cells unscored)"
        return f"{p['mean']:.2f} ± {p['std']:.2f}"

    L = []
    for name, s in v["sets"].items():
        L.append(f"### {name} ({s['cells']} cells; shortcut-free share {100 * s['shortcut_free_share']:.1f} %)")
        L.append("")
        L.append("| score | missing | ρ / τ C10 | ρ / τ C100 | ρ / τ IN16 | P-T(100) C10 / C100 / IN16 | "
                 "P-D(100) C10 / C100 / IN16 | shortcut-free top-10 / top-50 / P-S picks | s/class |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for r in s["rows"]:
            rt = _rho_tau(r["correlations"], ci=True)
            pt = " / ".join(pm(r["ps"][d], d) for d in DATASETS)
            pdd = " / ".join(pm(r["pd"].get(d), d) for d in DATASETS)
            sf = r["shortcut_free"]
            sft = " / ".join("—" if not math.isfinite(sf[k]) else f"{100 * sf[k]:.0f} %" for k in ("top10", "top50"))
            sft += f" / {100 * r['ps_shortcut_free']:.0f} %"
            L.append(f"| {_label(r)} | {r['missing']} | {rt} | {pt} | {pdd} | {sft} | {r['time_per_class_s']:.3g} |")
        L.append("")
    L.append("ρ / τ: Spearman / Kendall τ-b with the 200-epoch test accuracy, [95 % bootstrap CI of ρ]; "
             "P-T: P-S(100) × 10 draws from the set, score on CIFAR-10 images, mean ± std of the picks' accuracy "
             "on each dataset; P-D: the same draws, score on each dataset's own images, reported on that "
             "dataset; `eigen` rows are read from the committed ablation tables (no per-cell values: no top-k).")
    return "\n".join(L) + "\n"


def _atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``eigennas verdict`` (and ``python -m experiments.verdict``)."""
    p.add_argument("what", choices=["fill", "table", "sweep"],
                   help="fill: cache the scores; table: the verdict tables; sweep: the cntk settings screen")
    p.add_argument("--scores", default=",".join(KERNEL_SCORES), help="fill: the kernel scores to cache")
    p.add_argument("--n", type=int, default=1300)
    p.add_argument("--split", type=int, default=1000, help="first SPLIT cells = ablation set, rest held out")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--cache", default=".eigennas_cache")
    p.add_argument("--out", default=None, help="table stem: writes STEM.json and STEM.md (via temp files)")
    p.add_argument("--results", default="experiments/results")
    p.add_argument("--bench-path", default=None)
    p.add_argument("--settings", default=";".join(SWEEP),
                   help="sweep: cntk kernel settings 'batch_size=B,size=S,stages=T,cells=C;...' (default: the screen)")
    p.add_argument("--image-seeds", default="0", help="sweep: score seeds (image batches), comma-separated")
    p.add_argument("--score", default="cntk", choices=["cntk", "cntk_bn"], help="sweep: the kernel score swept")
    p.add_argument("--budget", type=float, default=5.0, help="sweep: the time budget per class (s) of the choice")


def run(args: argparse.Namespace) -> int:
    """``fill``: cache the scores (resumable); ``table``: write the verdict JSON + Markdown."""
    torch.set_num_threads(1)
    bench = load_benchmark(args.bench_path)
    cache = ScoreCache(args.cache)
    if args.what == "sweep":
        t = sweep(bench, cache, parse_settings(args.settings), args.n, args.split, args.dataset, score=args.score,
                  image_seeds=[int(v) for v in args.image_seeds.split(",")])
        t["choice"] = sweep_choice(t, args.budget) | {"budget_s": args.budget}
        md = sweep_markdown(t) + (f"\nChoice (highest mean ρ on {next(iter(t['sets']))} within "
                                  f"{args.budget:g} s/class): `{t['choice']['setting']}`, "
                                  f"normalize={t['choice']['normalize']}.\n")
        if args.out:
            files.write_json(args.out + ".json", t)
            _atomic(args.out + ".md", md)
        print(md)
        return 0
    idx = cell_sample(bench, args.n, seed=0)
    if args.what == "fill":
        for name in args.scores.split(","):
            for part in (idx[: args.split], idx[args.split:]):
                print(json.dumps({name: fill(name, bench, part, cache, dataset=args.dataset)}), flush=True)
        return 0
    v = verdict(bench, cache, args.n, args.split, args.results)
    v["num_classes"] = {d: NUM_CLASSES[d] for d in DATASETS}
    md = markdown(v)
    if args.out:
        files.write_json(args.out + ".json", v)  # strict JSON: NaN -> null
        _atomic(args.out + ".md", md)
    print(md)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""Train-free search protocols and rank correlations on NATS-Bench (docs/nats.md).

Protocols (kept apart; the names are used throughout the docs):

* **P-S(N)** ``protocol='sample'``: draw N distinct cells uniformly, score them, take the argmax of the
  score; repeat R times with independent draws (repeat r draws with ``default_rng([seed, r])``);
  report mean ± std (over repeats, ``ddof=0``) of the chosen cells' 200-epoch test accuracy, on the
  search dataset and (for information) on all three.
* **P-T** ``protocol='transfer'``: P-S(N) with the score computed on CIFAR-10; the chosen cell is
  reported on all three datasets.
* **P-D** ``protocol='per-dataset'``: P-S(N) run separately for each dataset, the score computed with
  that dataset's images and number of classes; each chosen cell is reported on its own dataset.

Scores are computed once per (class, score, options, dataset, seed) and kept in a ``ScoreCache`` by
the package's one caching scorer, ``empirics.nas.scorer.Scorer`` (re-exported here with ``class_key``
and ``representatives``; cells of one isomorphism class share a value). All repeats use the same
score seed (one batch of images and one set of initializations per cell), so repeats share the cache.

Rank correlation: Spearman ρ and Kendall τ (τ-b, ``scipy.stats``) of the score with test accuracy,
with percentile bootstrap confidence intervals over resampled (score, accuracy) pairs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from empirics.nas.benchmark import DATASETS, Benchmark, canonical_dataset
from empirics.nas.cache import ScoreCache
from empirics.nas.scorer import Scorer, class_key, representatives
from empirics.nas.scores import Score
from theory import files
from theory.validate import as_int

__all__ = [
    "PROTOCOLS",
    "Scorer",
    "class_key",
    "representatives",
    "sample_search",
    "ps_draw",
    "ps_pick",
    "run_protocol",
    "SearchResult",
    "correlate",
    "bootstrap_ci",
    "scatter_plot",
]

PROTOCOLS = {"sample": "P-S", "transfer": "P-T", "per-dataset": "P-D"}


def ps_draw(pool: Sequence[int], n: int, seed: int, r: int) -> list[int]:
    """The r-th P-S draw: ``n`` distinct members of ``pool``, uniformly, with ``default_rng([seed, r])``.

    Every P-S in the package draws this way: sampling search over the whole benchmark
    (``pool = range(len(bench))``), P-S from a scored pool in the ablation, and the pools of
    ``eigennas correlate --draws``, so equal seeds give equal draws.
    """
    if not 1 <= n <= len(pool):
        raise ValueError(f"a P-S draw of {n} needs a pool of at least {n} cells (and n >= 1), got {len(pool)}")
    pos = np.random.default_rng([int(seed), int(r)]).choice(len(pool), size=n, replace=False)
    return [int(pool[int(j)]) for j in pos]


def ps_pick(scores: np.ndarray) -> int:
    """Position of the cell P-S chooses: the first maximum, NaN counting as −inf (ties are broken by the
    random draw order, i.e. at random)."""
    s = np.asarray(scores, dtype=float)
    return int(np.argmax(np.where(np.isnan(s), -np.inf, s)))


def sample_search(scorer: Scorer, n: int, repeats: int, seed: int = 0, score_seed: int = 0) -> list[dict[str, Any]]:
    """P-S(N): per repeat r, draw N cells with ``default_rng([seed, r])``, pick the argmax of the score.

    Returns one record per repeat: chosen index and arch, its score, its test accuracy on all three
    datasets, and the best test accuracy present in the sample (the oracle of that draw).
    """
    bench = scorer.bench
    records = []
    for r in range(repeats):
        idx = ps_draw(range(len(bench)), n, seed, r)
        sc = scorer.score_indices(idx, seed=score_seed, desc=f"{scorer.score.name} {scorer.dataset} rep {r + 1}")
        k = ps_pick(sc)
        chosen = idx[k]
        rec: dict[str, Any] = {
            "repeat": r,
            "index": chosen,
            "arch": bench.arch(chosen),
            "score": float(sc[k]),
            "search_dataset": scorer.dataset,
        }
        for ds in DATASETS:
            rec[f"test_{ds}"] = bench.test_accuracy(chosen, ds)
        rec["oracle_in_sample"] = float(np.nanmax(bench.accuracies(scorer.dataset, idx)))
        records.append(rec)
    return records


@dataclass
class SearchResult:
    """Records of a protocol run, its summary and its settings (JSON/CSV-ready)."""

    protocol: str
    settings: dict[str, Any]
    records: list[dict[str, Any]]
    summary: dict[str, dict[str, float]]
    wall_time_s: float
    computed: int
    compute_time_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "settings": self.settings,
            "summary": self.summary,
            "records": self.records,
            "wall_time_s": self.wall_time_s,
            "cells_scored": self.computed,
            "score_time_s": self.compute_time_s,
        }


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    return {"mean": float(np.mean(a)), "std": float(np.std(a)), "n": int(len(a))}


def run_protocol(
    protocol: str,
    score: Score,
    bench: Benchmark,
    n: int,
    repeats: int,
    dataset: str = "cifar10",
    seed: int = 0,
    score_seed: int = 0,
    cache: ScoreCache | None = None,
    data_dir: str | os.PathLike | None = None,
    iso: str = "auto",
    progress: bool = True,
) -> SearchResult:
    """Run P-S on ``dataset`` (``'sample'``), P-T (``'transfer'``, search on CIFAR-10) or P-D (``'per-dataset'``).

    ``summary[dataset]`` is mean/std over repeats of the test accuracy that the protocol reports on
    that dataset (P-S: all three, for the cell found on the search dataset).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, got {protocol!r}")
    n = as_int(n, "n (cells per draw)", minimum=1)
    repeats = as_int(repeats, "repeats", minimum=1)  # 0 repeats gave NaN means and exit status 0
    cache = cache if cache is not None else ScoreCache(None)
    t0 = time.perf_counter()
    search_sets = {"sample": [canonical_dataset(dataset)], "transfer": ["cifar10"], "per-dataset": list(DATASETS)}[
        protocol
    ]
    records: list[dict[str, Any]] = []
    computed, ctime = 0, 0.0
    summary: dict[str, dict[str, float]] = {}
    for ds in search_sets:
        scorer = Scorer(score, bench, ds, cache=cache, iso=iso, data_dir=data_dir, progress=progress)
        recs = sample_search(scorer, n, repeats, seed=seed, score_seed=score_seed)
        records.extend(recs)
        computed += scorer.computed
        ctime += scorer.compute_time_s
        report = [ds] if protocol == "per-dataset" else list(DATASETS)
        for rd in report:
            summary[rd] = _mean_std([r[f"test_{rd}"] for r in recs])
            summary[rd]["search_dataset"] = ds  # type: ignore[assignment]
            summary[rd]["oracle_in_sample_mean"] = (
                float(np.mean([r["oracle_in_sample"] for r in recs])) if rd == ds else math.nan
            )
    settings = {
        "protocol": f"{PROTOCOLS[protocol]}({n})",
        "score": score.name,
        "options": dict(score.options),
        "dataset": canonical_dataset(dataset) if protocol == "sample" else None,
        "n": n,
        "repeats": repeats,
        "seed": seed,
        "score_seed": score_seed,
        "iso": iso,
    }
    return SearchResult(protocol, settings, records, summary, time.perf_counter() - t0, computed, ctime)


# ---------------------------------------------------------------------------------- correlations


def bootstrap_ci(
    x: np.ndarray, y: np.ndarray, fn, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``fn(x, y)`` over resampled pairs (NaN results are dropped)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, size=n)
        v = fn(x[i], y[i])
        if np.isfinite(v):
            vals.append(v)
    if not vals:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1.0 - a))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.spearmanr(x, y).statistic)


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.kendalltau(x, y).statistic)


def correlate(
    scores: np.ndarray,
    accuracies: dict[str, np.ndarray],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Spearman ρ and Kendall τ-b of ``scores`` with each accuracy vector, with bootstrap CIs.

    Pairs with a NaN score or accuracy are dropped (the count used is reported as ``n``); ±inf scores
    are kept (they rank first/last).
    """
    s = np.asarray(scores, dtype=float)
    out: dict[str, dict[str, float]] = {}
    for ds, acc in accuracies.items():
        a = np.asarray(acc, dtype=float)
        ok = ~(np.isnan(s) | np.isnan(a))
        x, y = s[ok], a[ok]
        # ranks make ±inf usable by the correlation routines
        xr = stats.rankdata(x)
        rho = _spearman(xr, y)
        tau = _kendall(xr, y)
        lo_r, hi_r = bootstrap_ci(xr, y, _spearman, n_boot, level, seed)
        lo_t, hi_t = bootstrap_ci(xr, y, _kendall, n_boot, level, seed)
        out[ds] = {
            "n": int(ok.sum()),
            "spearman": rho,
            "spearman_lo": lo_r,
            "spearman_hi": hi_r,
            "kendall": tau,
            "kendall_lo": lo_t,
            "kendall_hi": hi_t,
            "level": level,
        }
    return out


def scatter_plot(
    scores: np.ndarray,
    accuracies: dict[str, np.ndarray],
    corr: dict[str, dict[str, float]],
    path: str | os.PathLike,
    score_name: str = "score",
) -> Path:
    """One panel per dataset: score (x) against test accuracy (y), titled with ρ and τ; saved as PNG."""
    import matplotlib  # matplotlib: heavy, only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display needed

    s = np.asarray(scores, dtype=float)
    fin = s[np.isfinite(s)]
    logx = bool(len(fin)) and fin.min() > 0 and fin.max() / fin.min() > 1e3
    fig, axes = plt.subplots(1, len(accuracies), figsize=(4.2 * len(accuracies), 3.6), squeeze=False)
    for ax, (ds, acc) in zip(axes[0], accuracies.items()):
        ok = np.isfinite(s) & np.isfinite(acc)
        ax.scatter(s[ok], np.asarray(acc)[ok], s=6, alpha=0.5)
        if logx:
            ax.set_xscale("log")
        c = corr.get(ds, {})
        rho, tau = c.get("spearman", math.nan), c.get("kendall", math.nan)
        ax.set_title(f"{ds}: ρ={rho:.3f}, τ={tau:.3f} (n={c.get('n', 0)})")
        ax.set_xlabel(score_name)
        ax.set_ylabel("test accuracy (%), 200 ep")
    fig.tight_layout()
    return files.save_figure(fig, path, dpi=110)

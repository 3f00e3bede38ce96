"""The full-space analysis of an atlas table (``empirics.nas.atlas``), from the table alone.

For every score column and every dataset's 200-epoch test accuracy:

* Spearman ρ and Kendall τ-b over all cells whose value is in the table (``search.correlate``,
  percentile bootstrap CIs over resampled cells), beside the full-space Kendall τ reported by
  AZ-NAS (Lee & Ham, CVPR 2024, Table 1) for the peers. ``correlate`` leaves NaN scores out (e.g. the
  trace-normalized λ_min of a cell whose output is identically zero, tr K = 0); for a column with NaN
  values the report also gives ρ and τ with NaN ranked last (``correlation_nan_last``), the rule the
  searches use;
* P-S(N) for N = 10, 100, 1000, 3000: R draws of N distinct cells (draw r uses
  ``default_rng([seed, r])``, as ``search.sample_search``), the argmax of the score (first maximum in
  draw order, NaN as −∞), mean ± std (ddof 0) of the chosen cells' test accuracy, the best accuracy
  in the draws (oracle) and the distance to the paper's EigenNAS 93.46 / 71.42 / 45.54;
  P-T is P-S with the CIFAR-10-image column reported on all three datasets; P-D uses each dataset's
  own-image column on its own dataset;
* the share of shortcut-free cells (``shortcut_free``) among each column's top-10 and top-100.

A column that is not complete is analysed on the cells it has (P-S draws from those cells only);
the report says so (``complete``, ``cells``), and P-S(N) is given for it only where it holds at least
``POOL_FACTOR`` × N cells.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from empirics.nas.atlas import AtlasTable, _atomic_write
from empirics.nas.benchmark import DATASETS, Benchmark
from empirics.nas.search import correlate, ps_draw, ps_pick
from theory import files
from theory.space import Arch, OpKind

__all__ = ["shortcut_free", "atlas_report", "write_report", "PEER_KENDALL", "PAPER", "SEARCH_NS"]

#: Full-space Kendall τ (CIFAR-10, CIFAR-100, ImageNet16-120) of AZ-NAS (Lee & Ham, CVPR 2024), Table 1.
PEER_KENDALL: dict[str, tuple[float, float, float]] = {
    "params (AZ-NAS Table 1)": (0.578, 0.552, 0.520),
    "NASWOT (AZ-NAS Table 1)": (0.557, 0.579, 0.573),
    "TE-NAS (AZ-NAS Table 1)": (0.536, 0.535, 0.492),
    "AZ-NAS (AZ-NAS Table 1)": (0.741, 0.723, 0.710),
}
#: EigenNAS as reported by the paper (Zhu et al. 2022), test accuracy (%).
PAPER: dict[str, float] = {"cifar10": 93.46, "cifar100": 71.42, "ImageNet16-120": 45.54}
SEARCH_NS: tuple[int, ...] = (10, 100, 1000, 3000)
#: a partial column is searched at N only when it has at least POOL_FACTOR × N cells
POOL_FACTOR = 10
_CONVS = {OpKind.CONV1X1, OpKind.CONV3X3, OpKind.DENSE}


def shortcut_free(arch: str | Arch, min_convs: int = 2) -> bool:
    """True when the cell has an input→output path and every such path (over non-``none`` edges)
    passes at least ``min_convs`` convolutions (``nor_conv_1x1``/``nor_conv_3x3``; pooling and skips
    do not count): no shortcut that bypasses the cell's depth."""
    a = Arch.parse(arch)
    out = a.output
    # fewest convolutions on any path from node 0 to node j, over edges that compute something
    best: dict[int, float] = {0: 0}
    for j in range(1, a.n_nodes + 1):
        vals = [
            best[e.src] + (1 if e.op.kind in _CONVS else 0)
            for e in a.incoming(j)
            if not e.op.is_none and math.isfinite(best.get(e.src, math.inf))
        ]
        best[j] = min(vals) if vals else math.inf
    return math.isfinite(best[out]) and best[out] >= min_convs


def _column_dataset(meta: dict[str, Any], name: str) -> str | None:
    return meta.get("columns", {}).get(name, {}).get("dataset")


def _search(values: np.ndarray, pool: np.ndarray, accs: dict[str, np.ndarray], n: int, repeats: int, seed: int):
    """P-S(n) over the cells ``pool`` (benchmark indices). For a partial column (pool smaller than the
    space) None unless the pool holds at least ``POOL_FACTOR`` × n cells: argmax-of-n drawn from a small
    pool is biased towards the pool's own best cell."""
    full = len(pool) == len(values)
    if not full and len(pool) < POOL_FACTOR * n:
        return None
    chosen, oracle = [], {ds: [] for ds in accs}
    cells = range(len(values)) if full else pool
    for r in range(repeats):
        idx = np.asarray(ps_draw(cells, n, seed, r))
        k = int(idx[ps_pick(values[idx])])
        chosen.append(k)
        for ds, a in accs.items():
            oracle[ds].append(float(np.nanmax(a[idx])))
    out: dict[str, Any] = {"n": n, "repeats": repeats, "pool": int(len(pool))}
    for ds, a in accs.items():
        v = a[chosen]
        out[ds] = {
            "mean": float(np.mean(v)),
            "std": float(np.std(v)),
            "oracle_mean": float(np.mean(oracle[ds])),
            "to_paper": float(np.mean(v) - PAPER[ds]),
        }
    return out


def atlas_report(
    table: str | os.PathLike | AtlasTable,
    bench: Benchmark,
    n_boot: int = 200,
    repeats: int = 100,
    seed: int = 0,
    ns: Sequence[int] = SEARCH_NS,
) -> dict[str, Any]:
    """The analysis as a JSON-ready dict, with a ``markdown`` rendering (see the module docstring)."""
    t = table if isinstance(table, AtlasTable) else AtlasTable.load(table, bench)
    accs = {ds: bench.accuracies(ds) for ds in DATASETS}
    free = np.array([shortcut_free(a) for a in t.archs])
    cols: dict[str, Any] = {}
    for name in t.columns:
        done = t.done[name]
        if not done.any():
            continue
        vals = t.values[name]
        pool = np.flatnonzero(done)
        c: dict[str, Any] = {
            "cells": int(done.sum()),
            "complete": bool(done.all()),
            "classes": int(len(np.unique(t.classes[done]))),
            "dataset": _column_dataset(t.meta, name),
        }
        pool_accs = {ds: a[pool] for ds, a in accs.items()}
        nan_last = np.where(np.isnan(vals[pool]), -np.inf, vals[pool])  # the searches' ranking rule
        c["correlation"] = correlate(vals[pool], pool_accs, n_boot=n_boot, seed=seed)
        c["nan_cells"] = int(np.isnan(vals[pool]).sum())
        if c["nan_cells"]:
            c["correlation_nan_last"] = correlate(nan_last, pool_accs, n_boot=n_boot, seed=seed)
        c["search"] = {str(n): _search(vals, pool, accs, n, repeats, seed) for n in ns}
        order = pool[np.lexsort((pool, -nan_last))]
        c["shortcut_free_top10"] = float(free[order[:10]].mean())
        c["shortcut_free_top100"] = float(free[order[:100]].mean())
        cols[name] = c
    # an incomplete column beside every complete one on the same cells (Kendall τ, no bootstrap)
    for name, c in cols.items():
        if c["complete"]:
            continue
        pool = np.flatnonzero(t.done[name])
        same = {}
        for other, oc in cols.items():
            if other == name or not (oc["complete"] or t.done[other][pool].all()):
                continue
            same[other] = {
                ds: float(stats.kendalltau(stats.rankdata(t.values[other][pool]), accs[ds][pool]).statistic)
                for ds in DATASETS
            }
        c["same_cells_kendall"] = same
    # P-T: the CIFAR-10-image column per score; P-D: each dataset's own-image column (or the
    # dataset-independent column) on its own dataset
    by_score: dict[str, dict[str | None, str]] = {}
    for name in cols:
        score = t.meta.get("columns", {}).get(name, {}).get("score", name.split("@")[0])
        by_score.setdefault(score, {})[cols[name]["dataset"]] = name
    pt, pd = {}, {}
    for score, m in by_score.items():
        c10 = m.get("cifar10", m.get(None))
        if c10 is not None:
            pt[score] = {"column": c10, "search": cols[c10]["search"]}
        per = {}
        for ds in DATASETS:
            cn = m.get(ds, m.get(None))
            if cn is not None:
                per[ds] = {"column": cn, **{n: (s[ds] if s else None) for n, s in cols[cn]["search"].items()}}
        pd[score] = per
    rep = {
        "table": str(getattr(table, "path", table)) if not isinstance(table, AtlasTable) else None,
        "bootstrap": n_boot,
        "repeats": repeats,
        "seed": seed,
        "space": {
            "cells": len(t.archs),
            "shortcut_free_share": float(free.mean()),
            "optimum": {ds: float(np.nanmax(a)) for ds, a in accs.items()},
        },
        "peers_kendall": {k: dict(zip(DATASETS, v)) for k, v in PEER_KENDALL.items()},
        "paper": PAPER,
        "columns": cols,
        "P-T": pt,
        "P-D": pd,
    }
    rep["markdown"] = _markdown(rep)
    return rep


def _f(x: float | None, d: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{d}f}"


def _markdown(rep: dict[str, Any]) -> str:
    L: list[str] = []
    cols = rep["columns"]
    L.append(
        f"Cells in the space: {rep['space']['cells']}; "
        f"shortcut-free: {100 * rep['space']['shortcut_free_share']:.1f} %; "
        "optimum " + " / ".join(f"{v:.2f}" for v in rep["space"]["optimum"].values()) + "."
    )
    L.append("")
    L.append(f"### Rank correlation with 200-epoch test accuracy ({rep['bootstrap']} bootstrap resamples, 95 % CI)")
    L.append("")
    L.append("| column | cells | complete | ρ C10 | ρ C100 | ρ IN16 | τ C10 [CI] | τ C100 [CI] | τ IN16 [CI] |")
    L.append("|---|---:|:-:|---:|---:|---:|---:|---:|---:|")
    for name, c in cols.items():
        cr = c["correlation"]
        rho = " | ".join(_f(cr[d]["spearman"]) for d in DATASETS)
        tau = " | ".join(
            f"{_f(cr[d]['kendall'])} [{_f(cr[d]['kendall_lo'])}, {_f(cr[d]['kendall_hi'])}]" for d in DATASETS
        )
        L.append(f"| {name} | {c['cells']} | {'yes' if c['complete'] else 'no'} | {rho} | {tau} |")
    for k, v in rep["peers_kendall"].items():
        L.append(f"| *{k}* | 15625 | | | | | {' | '.join(_f(x) for x in v.values())} |")
    for name, c in cols.items():
        if not c.get("nan_cells"):
            continue
        cr, nl = c["correlation"], c["correlation_nan_last"]
        L.append("")
        L.append(
            f"{name}: {c['nan_cells']} cells have no value (NaN) and are left out above "
            f"(n = {cr['cifar10']['n']} on C10). With NaN ranked last, as the searches rank it: ρ "
            + " / ".join(_f(nl[d]["spearman"]) for d in DATASETS)
            + ", τ "
            + " / ".join(f"{_f(nl[d]['kendall'])} [{_f(nl[d]['kendall_lo'])}, {_f(nl[d]['kendall_hi'])}]"
                         for d in DATASETS)
            + f" (n = {nl['cifar10']['n']} on C10)."
        )
    for name, c in cols.items():
        if c["complete"] or not c.get("same_cells_kendall"):
            continue
        L.append("")
        own = " | ".join(_f(c["correlation"][d]["kendall"]) for d in DATASETS)
        L.append(f"Kendall τ on the {c['cells']} cells of {name} (incomplete), every column on the same cells:")
        L.append("")
        L.append("| column | τ C10 | τ C100 | τ IN16 |")
        L.append("|---|---:|---:|---:|")
        L.append(f"| **{name}** | {own} |")
        for other, v in c["same_cells_kendall"].items():
            L.append(f"| {other} | " + " | ".join(_f(v[d]) for d in DATASETS) + " |")
    L.append("")
    L.append(f"### P-S(N) on each column's own search dataset ({rep['repeats']} draws, mean ± std; Δ = mean − paper)")
    L.append("")
    ns = list(next(iter(cols.values()))["search"]) if cols else []
    L.append("| column | search on | " + " | ".join(f"N={n}" for n in ns) + " |")
    L.append("|---|---|" + "---:|" * len(ns))
    for name, c in cols.items():
        ds = c["dataset"] or "cifar10"
        cells = []
        for n in ns:
            s = c["search"][n]
            cells.append("–" if s is None else f"{s[ds]['mean']:.2f} ± {s[ds]['std']:.2f} (Δ {s[ds]['to_paper']:+.2f})")
        L.append(f"| {name} | {ds} | " + " | ".join(cells) + " |")
    # oracle row: the best cell in the draws (same draws for every complete column)
    full = next((c for c in cols.values() if c["complete"]), None)
    if full is not None:
        for ds in DATASETS:
            row = [("–" if full["search"][n] is None else f"{full['search'][n][ds]['oracle_mean']:.2f}") for n in ns]
            L.append(f"| *best in the draws* | {ds} | " + " | ".join(row) + " |")
    L.append("")
    L.append("### P-T (search with CIFAR-10 images, reported on all three) and P-D (each dataset's own images)")
    L.append("")
    L.append("| score | protocol | N | C10 | C100 | IN16 |")
    L.append("|---|---|---:|---:|---:|---:|")
    for score, p in rep["P-T"].items():
        for n, s in p["search"].items():
            if s is None:
                continue
            L.append(
                f"| {score} | P-T ({p['column']}) | {n} | "
                + " | ".join(f"{s[d]['mean']:.2f} ± {s[d]['std']:.2f}" for d in DATASETS)
                + " |"
            )
    for score, per in rep["P-D"].items():
        for n in ns:
            vals = [per.get(d, {}).get(n) for d in DATASETS]
            if any(v is None for v in vals):
                continue
            src = ",".join(sorted({per[d]["column"] for d in DATASETS}))
            L.append(
                f"| {score} | P-D ({src}) | {n} | "
                + " | ".join(f"{v['mean']:.2f} ± {v['std']:.2f}" for v in vals)
                + " |"
            )
    L.append(f"| *paper EigenNAS* | | | {' | '.join(f'{v:.2f}' for v in rep['paper'].values())} |")
    L.append("")
    L.append("### Shortcut-free cells among each column's best")
    L.append("")
    L.append("| column | top-10 | top-100 |")
    L.append("|---|---:|---:|")
    for name, c in cols.items():
        L.append(f"| {name} | {100 * c['shortcut_free_top10']:.0f} % | {100 * c['shortcut_free_top100']:.0f} % |")
    L.append(f"| *whole space* | {100 * rep['space']['shortcut_free_share']:.1f} % | |")
    return "\n".join(L) + "\n"


def search_figure(rep: dict[str, Any], path: str | os.PathLike) -> Path:
    """P-S(N) mean test accuracy against N, one panel per dataset, one line per own-dataset column."""
    import matplotlib  # heavy, only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display needed

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, ds in zip(axes, DATASETS):
        for name, c in rep["columns"].items():
            if (c["dataset"] or ds) != ds and not (c["dataset"] == "cifar10" and name.startswith("eigen")):
                continue
            pts = [(int(n), s[ds]["mean"], s[ds]["std"]) for n, s in c["search"].items() if s is not None]
            if not pts:
                continue
            n, m, sd = map(np.array, zip(*pts))
            label = name + ("" if c["complete"] else f" ({c['cells']} cells)")
            ax.errorbar(n, m, yerr=sd, marker="o", capsize=2, label=label, alpha=0.85)
        ax.axhline(PAPER[ds], color="k", ls="--", lw=1, label="paper EigenNAS")
        ax.axhline(rep["space"]["optimum"][ds], color="gray", ls=":", lw=1, label="optimum")
        ax.set_xscale("log")
        ax.set_xlabel("N (cells drawn)")
        ax.set_ylabel("test accuracy of the argmax (%)")
        ax.set_title(f"P-S(N) on {ds}")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return files.save_figure(fig, path, dpi=110)


def write_report(
    rep: dict[str, Any], out_dir: str | os.PathLike, figure: str | os.PathLike | None = None
) -> list[Path]:
    """``report.json`` and ``report.md`` in ``out_dir`` (atomic writes) and the figure, if asked."""
    out = Path(out_dir)
    paths = [out / "report.json", out / "report.md"]
    body = {k: v for k, v in rep.items() if k != "markdown"}
    _atomic_write(paths[0], files.to_strict_json(body, indent=1, sort_keys=True) + "\n")
    _atomic_write(paths[1], rep["markdown"])
    if figure:
        paths.append(search_figure(rep, figure))
    return paths

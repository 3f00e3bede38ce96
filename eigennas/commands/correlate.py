"""``eigennas correlate``: Spearman/Kendall of a score with NATS-Bench test accuracy, bootstrap CIs, scatter."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from eigennas.commands._nats_common import add_common, opt_tag, setup, since_start, write_csv, write_json
from eigennas.commands._types import n_or_all, nonnegative_int, open_unit_interval, positive_int
from empirics.nas.benchmark import DATASETS, canonical_dataset
from empirics.nas.search import Scorer, correlate, ps_draw, scatter_plot
from theory import files

HELP = "rank correlation (Spearman, Kendall, bootstrap CIs) of a score with NATS-Bench accuracy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--n", type=n_or_all, default=1000,
                   help="cells sampled uniformly (default 1000; 'all' = the whole space)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the cell sample (default 0)")
    p.add_argument(
        "--draws",
        type=nonnegative_int,
        default=0,
        help="use the union of the cells of the first DRAWS P-S draws of 'eigennas search --n N --seed SEED' "
        "instead of one sample of N (shares the score cache with the search)",
    )
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), help="accuracy datasets (default all three)")
    p.add_argument(
        "--score-dataset",
        default="cifar10",
        help="images (and classes) used to compute the score (default cifar10); 'same' = each dataset's own",
    )
    p.add_argument("--boot", type=positive_int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--level", type=open_unit_interval, default=0.95, help="confidence level (default 0.95)")


def run(args: argparse.Namespace) -> int:
    files.check_output_dir(args.out)  # before any work: a long run must be able to save
    bench, score, cache = setup(args)
    datasets = [canonical_dataset(d) for d in args.datasets]
    n = len(bench) if str(args.n) == "all" else int(args.n)
    if args.draws > 0:
        idx = sorted({i for r in range(args.draws) for i in ps_draw(range(len(bench)), n, args.seed, r)})
    elif n >= len(bench):
        idx = list(range(len(bench)))
    else:
        idx = bench.sample(n, np.random.default_rng(args.seed))
    t0 = time.perf_counter()
    scores: dict[str, np.ndarray] = {}
    computed, ctime = 0, 0.0
    score_sets = datasets if args.score_dataset == "same" else [canonical_dataset(args.score_dataset)]
    for sd in score_sets:
        scorer = Scorer(
            score, bench, sd, cache=cache, iso=args.iso, data_dir=args.data_dir, progress=not args.no_progress
        )
        scores[sd] = scorer.score_indices(idx, seed=args.score_seed)
        computed += scorer.computed
        ctime += scorer.compute_time_s
    wall = time.perf_counter() - t0
    accs = {d: bench.accuracies(d, idx) for d in datasets}
    corr: dict[str, dict[str, float]] = {}
    for d in datasets:
        s = scores[d] if args.score_dataset == "same" else scores[score_sets[0]]
        corr.update(correlate(s, {d: accs[d]}, n_boot=args.boot, level=args.level, seed=args.seed))
    pct = int(round(args.level * 100))
    imgs = args.score_dataset if score.needs_images else "none (score needs no images)"
    print(f"score {score.name} {score.options}, {len(idx)} cells (seed {args.seed}), images: {imgs}")
    print(f"{'dataset':<15} {'n':>5}  {'Spearman':>8} [{pct}% CI]        {'Kendall':>8} [{pct}% CI]")
    for d, c in corr.items():
        print(
            f"{d:<15} {c['n']:>5}  {c['spearman']:8.3f} [{c['spearman_lo']:.3f}, {c['spearman_hi']:.3f}]"
            f"   {c['kendall']:8.3f} [{c['kendall_lo']:.3f}, {c['kendall_hi']:.3f}]"
        )
    print(f"scoring {wall:.1f} s ({since_start(args):.1f} s since start-up, loading included); {computed} cells "
          f"scored ({ctime:.1f} s), the rest from the cache")
    out = Path(args.out)
    draws = f"_draws{args.draws}" if args.draws > 0 else ""
    stem = f"correlate_{score.name}{opt_tag(score)}_n{len(idx)}{draws}_s{args.seed}_img-{args.score_dataset}"
    rows = []
    for j, i in enumerate(idx):
        row = {"index": i, "arch": bench.arch(i)}
        for sd, sv in scores.items():
            row[f"score_{sd}"] = float(sv[j])
        for d in datasets:
            row[f"test_{d}"] = float(accs[d][j])
        rows.append(row)
    write_csv(out / f"{stem}.csv", rows)
    write_json(
        out / f"{stem}.json",
        {
            "score": score.name,
            "options": score.options,
            "n": len(idx),
            "seed": args.seed,
            "score_dataset": args.score_dataset,
            "score_seed": args.score_seed,
            "correlations": corr,
            "wall_time_s": wall,
            "cells_scored": computed,
            "score_time_s": ctime,
        },
    )
    first = scores[score_sets[0]]
    png = scatter_plot(first, accs, corr, out / f"{stem}.png", score_name=score.name)
    print(f"wrote {out / (stem + '.json')}, {out / (stem + '.csv')} and {png}")
    return 0

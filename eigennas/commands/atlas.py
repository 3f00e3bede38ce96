"""``eigennas atlas``: score every class of the NATS topology space on Dask, into one resumable table;
``--report``: the full-space analysis of that table (correlations, P-S/P-T/P-D, shortcut-free shares)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eigennas.commands._types import nonnegative_int, positive_float, positive_int
from empirics.nas.atlas import make_columns, run_atlas
from empirics.nas.atlas_report import atlas_report, write_report
from empirics.nas.benchmark import DATASETS, load_benchmark
from empirics.nas.cache import DEFAULT_CACHE_DIR, ScoreCache
from empirics.nas.scores import SCORES, parse_options
from theory import files

HELP = "score every NATS-Bench cell (one value per isomorphism class) on Dask into a resumable table; --report"

DEFAULT_TABLE = "experiments/atlas/atlas.csv"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scores",
        default="params,theory,naswot,synflow,eigen",
        help="comma-separated scores (default params,theory,naswot,synflow,eigen); known: " + ", ".join(sorted(SCORES)),
    )
    p.add_argument(
        "--datasets",
        default="cifar10",
        help="comma-separated image datasets, each a column per score (default cifar10; 'all' = "
        + ",".join(DATASETS)
        + ")",
    )
    p.add_argument(
        "--opt",
        action="append",
        default=[],
        metavar="SCORE:KEY=VALUE",
        help="score option, repeatable, e.g. --opt eigen:seeds=1 (non-default options make a separate column)",
    )
    p.add_argument("--table", default=DEFAULT_TABLE, help=f"atlas table (default {DEFAULT_TABLE}; metadata beside it)")
    p.add_argument(
        "--workers",
        type=nonnegative_int,
        default=None,
        help="single-threaded workers of the embedded Dask LocalCluster (default one per core; 0 = in this process)",
    )
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="use an existing Dask scheduler (tcp://...)")
    p.add_argument("--device", default="cpu", help="torch device of the workers for scores that can use it (cuda)")
    p.add_argument("--cells", type=positive_int, default=None,
                   help="only the classes of the first CELLS benchmark indices")
    p.add_argument("--interleave", action="store_true", help="mix the columns' units in one random order")
    p.add_argument("--order-seed", type=nonnegative_int, default=0, help="seed of the random unit order (default 0)")
    p.add_argument("--score-seed", type=nonnegative_int, default=0,
                   help="seed of images and initializations (default 0)")
    p.add_argument("--flush-every", type=positive_int, default=200,
                   help="write the table every N results (default 200)")
    p.add_argument("--flush-seconds", type=positive_float, default=60.0, help="... or every T seconds (default 60)")
    p.add_argument("--chunk", type=positive_int, default=None,
                   help="units per task (default: sized by a measured pass to one second of work)")
    p.add_argument("--data-dir", default=None, help="data folder (default $EIGENNAS_DATA or ../shared/data)")
    p.add_argument("--backend", default="csv", choices=["csv", "nats"], help="benchmark backend (default csv)")
    p.add_argument("--bench-path", default=None, help="CSV file (csv backend) or NATS-Bench files (nats backend)")
    p.add_argument("--cache", default=DEFAULT_CACHE_DIR, help=f"score cache folder (default {DEFAULT_CACHE_DIR}/)")
    p.add_argument("--no-cache", action="store_true", help="keep scores in memory only (resume from the table)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--report", action="store_true", help="analyse the table instead of scoring (no scoring)")
    p.add_argument("--boot", type=positive_int, default=1000, help="--report: bootstrap resamples (default 1000)")
    p.add_argument("--repeats", type=positive_int, default=100, help="--report: P-S draws per N (default 100)")
    p.add_argument("--report-out", default="experiments/atlas", help="--report: folder of report.json/.md")
    p.add_argument("--figure", default="figures/atlas_search.png", help="--report: figure path ('' = none)")


def _options(pairs: list[str]) -> dict[str, dict]:
    out: dict[str, list[str]] = {}
    for p in pairs:
        if ":" not in p:
            raise ValueError(f"--opt {p!r} must look like SCORE:KEY=VALUE")
        name, kv = p.split(":", 1)
        out.setdefault(name.strip(), []).append(kv)
    return {k: parse_options(v, k) for k, v in out.items()}


def run(args: argparse.Namespace) -> int:
    # before any work: a run must be able to write its table (or a report its files)
    files.check_output_dir(Path(args.report_out) if args.report else Path(args.table).parent)
    bench = load_benchmark(args.bench_path, backend=args.backend, data_dir=args.data_dir)
    if args.report:
        rep = atlas_report(args.table, bench, n_boot=args.boot, repeats=args.repeats)
        paths = write_report(rep, args.report_out, figure=args.figure or None)
        print(rep["markdown"])
        print("wrote " + ", ".join(str(p) for p in paths))
        return 0

    scores = [s.strip() for s in args.scores.split(",") if s.strip()]
    datasets = list(DATASETS) if args.datasets == "all" else [d.strip() for d in args.datasets.split(",") if d.strip()]
    columns = make_columns(scores, datasets, _options(args.opt))
    cache = ScoreCache(None if args.no_cache else args.cache)
    indices = None if args.cells is None else range(min(int(args.cells), len(bench)))
    res = run_atlas(
        columns,
        bench,
        args.table,
        cache=cache,
        workers=args.workers,
        scheduler=args.scheduler,
        indices=indices,
        seed=args.score_seed,
        order_seed=args.order_seed,
        interleave=args.interleave,
        chunk=args.chunk,
        flush_every=args.flush_every,
        flush_seconds=args.flush_seconds,
        device=args.device,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    t = res.table
    for c in columns:
        m = t.meta["columns"][c.name]
        cls = f", classes {m['classes_done']}/{m['classes_total']}" if "classes_total" in m else ""
        print(
            f"{c.name:<28} cells {m['cells_done']}/{m['cells']}{cls}; computed now {res.computed[c.name]} "
            f"({res.seconds[c.name]:.1f} s, {m.get('seconds_per_unit', float('nan')):.4f} s/unit overall)"
        )
    print(f"wall {res.wall_s:.1f} s; table {Path(args.table)} (+ {Path(args.table).with_suffix('.json').name})")
    if res.interrupted:
        n = sum(res.computed.values())
        print(f"eigennas atlas: interrupted; {n} cells cached, rerun to resume (table {Path(args.table)})",
              file=sys.stderr)
        return 130
    return 0

"""Arguments and helpers shared by ``eigennas search`` and ``eigennas correlate``."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from eigennas.commands._types import nonnegative_int, positive_int
from empirics.nas.benchmark import Benchmark, load_benchmark
from empirics.nas.cache import DEFAULT_CACHE_DIR, ScoreCache
from empirics.nas.scores import SCORES, Score, get_score, parse_options
from theory import files


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--score", default="eigen", choices=sorted(SCORES), help="score to rank cells by (default eigen)")
    p.add_argument(
        "--opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="score option, repeatable, e.g. --opt batch_size=32 --opt seeds=1 --opt C=8 --opt N=1 --opt bn=eval",
    )
    p.add_argument("--data-dir", default=None, help="data folder (default $EIGENNAS_DATA or ../shared/data)")
    p.add_argument("--backend", default="csv", choices=["csv", "nats"], help="benchmark backend (default csv)")
    p.add_argument("--bench-path", default=None, help="CSV file (csv backend) or NATS-Bench files (nats backend)")
    p.add_argument("--cache", default=DEFAULT_CACHE_DIR, help=f"score cache folder (default {DEFAULT_CACHE_DIR}/)")
    p.add_argument("--no-cache", action="store_true", help="keep scores in memory only")
    p.add_argument(
        "--iso",
        default="auto",
        choices=["auto", "canonical", "nats", "arch"],
        help="which cells share one score: auto (canonical class for iso-invariant scores, else none), "
        "canonical (Arch.canonical), nats (NATS unique_str), arch (no sharing)",
    )
    p.add_argument("--score-seed", type=nonnegative_int, default=0,
                   help="seed of the image batch and initializations (default 0)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default="results", help="output folder (default results/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def setup(args: argparse.Namespace) -> tuple[Benchmark, Score, ScoreCache]:
    torch.set_num_threads(int(args.threads))
    bench = load_benchmark(args.bench_path, backend=args.backend, data_dir=args.data_dir)
    score = get_score(args.score, **parse_options(args.opt, args.score))
    cache = ScoreCache(None if args.no_cache else args.cache)
    args.interrupt_note = cache.interrupt_note  # what `eigennas` prints on Ctrl-C
    return bench, score, cache


def write_json(path: Path, obj: Any) -> None:
    """Strict JSON (NaN → null), written atomically (``theory.files``)."""
    files.write_json(path, obj)


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """CSV with 10 significant digits, written atomically (``theory.files``)."""
    files.write_csv(path, rows)


def opt_tag(score: Score) -> str:
    """Short file-name tag of the options that differ from the defaults."""
    diff = {k: v for k, v in score.options.items() if score.defaults.get(k) != v}
    return "".join(f"_{k}{v}" for k, v in sorted(diff.items())).replace(os.sep, "-")


def since_start(args: argparse.Namespace) -> float:
    """Seconds since the ``eigennas`` process started (imports and loading included)."""
    return time.perf_counter() - getattr(args, "started", time.perf_counter())

"""``eigennas figures``: regenerate the comparison figures into a folder."""

from __future__ import annotations

import argparse
import sys
import time

from eigennas.figures import FIGURES, make_figures

HELP = "regenerate the figures (bound vs exact vs measured lambda_min; NATS scatter) as PNG, PDF and CSV"


def add_arguments(p: argparse.ArgumentParser) -> None:
    names = "; ".join(f"{k}={stem}: {desc}" for k, (stem, desc) in FIGURES.items())
    p.add_argument("--quick", action="store_true",
                   help="small settings: the committed figures (the run prints its wall time)")
    p.add_argument("--only", default=None, help=f"comma-separated figures to make (default all). {names}")
    p.add_argument("--out", default="figures", help="output folder (default figures/)")
    p.add_argument("--data", default="cifar10", choices=["cifar10", "sphere"],
                   help="inputs for figures a-e: real CIFAR-10 samples (default) or synthetic sphere points")
    p.add_argument("--data-dir", default=None, help="data folder (default $EIGENNAS_DATA or ../shared/data)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    paths = make_figures(out=args.out, only=args.only, quick=args.quick, data=args.data, data_dir=args.data_dir,
                         show_progress=not args.no_progress, log=lambda m: print(m, file=sys.stderr))
    for p in paths:
        print(p)
    print(f"{len(paths)} files in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0

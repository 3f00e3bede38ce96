"""Benchmark: seconds per cell of the ``cntk``, ``cntk_bn`` and ``eigen_free`` scores at their defaults, against the
``eigen`` default (BN-train empirical NTK of the reduced NATS network), one thread, same process and images.

Images: ``empirics.nas.images.image_batch('cifar10', 32, seed=0)`` (each score takes its first batch_size).
Cells: ``--cells`` random NATS cells (seeded). Prints mean and max seconds per cell of each score.

``--sweep``: instead, the ``cntk`` kernel settings of ``eigennas verdict sweep`` (``experiments.verdict.SWEEP``,
or ``--settings 'batch_size=B,size=S,stages=T,cells=C;...'``) on the same cells and images: mean wall and
CPU seconds (``time.process_time``, all threads of this process) per cell, and the ratio of each setting's
CPU time to the first setting's (the default). CPU time is the cost of a cell on one core however loaded
the machine is; wall time is what it took here.

    python benchmarks/bench_nats_scores.py [--cells 10] [--threads 1] [--seed 0]
    python benchmarks/bench_nats_scores.py --sweep [--cells 20] [--settings ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", action="store_true", help="time the cntk settings of eigennas verdict sweep")
    ap.add_argument("--settings", default=None, help="with --sweep: the settings (default: the sweep's screen)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from empirics.nas.images import image_batch
    from empirics.nas.scores import get_score

    rng = np.random.default_rng(args.seed)
    cells = []
    for _ in range(args.cells):
        o = list(rng.choice(OPS, 6))
        cells.append(f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|")
    if args.sweep:
        from experiments.verdict import SWEEP, parse_settings

        settings = parse_settings(args.settings or list(SWEEP))
        x, y = image_batch("cifar10", max(st["batch_size"] for st in settings), seed=0)
        print(f"threads={args.threads}, {args.cells} cells, CIFAR-10 images; cntk settings")
        base = None
        for st in settings:
            s = get_score("cntk", **st)
            s.score(cells[0], x, y)  # warm-up
            w, c = time.perf_counter(), time.process_time()
            for a in cells:
                s.score(a, x, y)
            wall, cpu = (time.perf_counter() - w) / len(cells), (time.process_time() - c) / len(cells)
            base = cpu if base is None else base
            label = ",".join(f"{k}={v}" for k, v in st.items())
            print(f"{label:40s} wall {wall:.3f} s/cell  cpu {cpu:.3f} s/cell  cpu ratio {cpu / base:.2f}", flush=True)
        return
    x, y = image_batch("cifar10", 32, seed=0)
    scores = {name: get_score(name) for name in ("cntk", "cntk_bn", "eigen_free", "eigen")}
    for s in scores.values():  # warm-up
        s.score(cells[0], x, y)
    print(f"threads={args.threads}, {args.cells} cells, CIFAR-10 images")
    for name, s in scores.items():
        ts = []
        for a in cells:
            t = time.perf_counter()
            s.score(a, x, y)
            ts.append(time.perf_counter() - t)
        print(f"{name:10s} {s.options}  mean {np.mean(ts):.3f} s/cell  max {np.max(ts):.3f}", flush=True)


if __name__ == "__main__":
    main()

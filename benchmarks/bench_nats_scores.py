"""Benchmark: seconds per cell of the ``cntk``, ``cntk_bn`` and ``eigen_free`` scores at their defaults, against the
``eigen`` default (BN-train empirical NTK of the reduced NATS network), one thread, same process and images.

Images: ``empirics.nas.images.image_batch('cifar10', 32, seed=0)`` (each score takes its first batch_size).
Cells: ``--cells`` random NATS cells (seeded). Prints mean and max seconds per cell of each score.

    python benchmarks/bench_nats_scores.py [--cells 10] [--threads 1] [--seed 0]
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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from empirics.nas.images import image_batch
    from empirics.nas.scores import get_score

    x, y = image_batch("cifar10", 32, seed=0)
    rng = np.random.default_rng(args.seed)
    cells = []
    for _ in range(args.cells):
        o = list(rng.choice(OPS, 6))
        cells.append(f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|")
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

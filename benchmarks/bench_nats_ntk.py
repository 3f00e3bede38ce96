"""Benchmark: the exact infinite-channel NTK of the BN-free NATS network (``theory.nats_ntk``) against the
empirical NTK of its finite twin (``build_model(..., batchnorm=False)``, float64, the engine's AUTO method)
on the same images, in the same process, one thread by default.

For each (N, H, W) and each of a few cells: seconds per cell of ``nats_ntk`` (3 stages × 1 cell), the
estimate of ``nats_memory_bytes``, and seconds of the empirical NTK at C = 16 and C = 64 (ratio =
twin seconds / exact seconds). Images: Gaussian (the cost does not depend on the values).

    python benchmarks/bench_nats_ntk.py [--threads 1] [--sizes 16x8x8,32x8x8,8x16x16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

CELLS = [
    "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|skip_connect~0|avg_pool_3x3~1|avg_pool_3x3~2|",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", default="16x8x8,32x8x8,8x16x16", help="comma-separated NxHxW")
    ap.add_argument("--widths", default="16,64", help="twin widths C to time")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from empirics import build_model, empirical_ntk
    from theory.nats import nats_memory_bytes, nats_ntk

    widths = [int(c) for c in args.widths.split(",")]
    print(f"threads={args.threads}  torch {torch.__version__}")
    print(f"{'N':>3} {'H':>3} {'W':>3}  {'cell':<14} {'est MiB':>8} {'exact s':>8} " + " ".join(
        f"{'C=' + str(c) + ' s':>9} {'ratio':>6}" for c in widths))
    for size in args.sizes.split(","):
        n, h, w = (int(v) for v in size.split("x"))
        X = np.random.default_rng(0).standard_normal((n, 3, h, w))
        Xt = torch.from_numpy(X)
        for ci, arch in enumerate(CELLS):
            nats_ntk(arch, X[:2, :, :4, :4])  # warm-up (allocator, imports)
            t = time.perf_counter()
            nats_ntk(arch, X)
            te = time.perf_counter() - t
            est = nats_memory_bytes(arch, n, h, w) / 2**20
            cols = []
            for c in widths:
                t = time.perf_counter()
                model = build_model(arch, width=c, seed=0, family="nats", batchnorm=False, dtype=torch.float64)
                empirical_ntk(model, Xt)
                tc = time.perf_counter() - t
                cols.append(f"{tc:9.3f} {tc / te:6.1f}")
            print(f"{n:3d} {h:3d} {w:3d}  cell{ci:<10} {est:8.1f} {te:8.3f} " + " ".join(cols), flush=True)


if __name__ == "__main__":
    main()

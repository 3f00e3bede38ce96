"""Does a skip (or a pool) on edge 0→3 raise the exact λ_min of the BN-free NATS network? (docs/theory.md, Part IV)

Samples ``--cells`` NATS cells with edge 0→3 = none (the other five ops uniform over the five NATS ops, seeded),
replaces that edge by skip_connect and by avg_pool_3x3, and compares λ_min of ``theory.nats_ntk`` (3 stages ×
1 cell) raw and trace-normalized (λ_min / (tr Θ / N)) on ``--n`` CIFAR-10 images (``empirics.nas.images.image_batch``,
NB201 normalization, seed 0) average-pooled from 32×32 to ``--size``. Prints the number of rises and the
median ratio (variant / base) of each, the mean NATS-Bench test-accuracy change of the swap (CSV table of
the data folder) on CIFAR-10 / CIFAR-100 / ImageNet16-120, and in how many pairs the sign of each score's
change agrees with the sign of the accuracy change.

    python benchmarks/nats_skip_monotonicity.py [--cells 30] [--n 16] [--size 8] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def cell(o: list[str]) -> str:
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=30)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from empirics.nas.benchmark import CsvBenchmark
    from empirics.nas.images import image_batch
    from theory.nats import nats_ntk

    bench = CsvBenchmark()
    datasets = ("cifar10", "cifar100", "ImageNet16-120")

    X, _ = image_batch("cifar10", args.n, seed=0, dtype=torch.float64)
    X = F.avg_pool2d(X, 32 // args.size)
    rng = np.random.default_rng(args.seed)
    rows, accs = [], []
    for _ in range(args.cells):
        ops = list(rng.choice(OPS, 6))
        ops[3] = "none"
        vals, acc = [], []
        for op3 in ("none", "skip_connect", "avg_pool_3x3"):
            o = list(ops)
            o[3] = op3
            acc.append([bench.test_accuracy(cell(o), d) for d in datasets])
            K = nats_ntk(cell(o), X)
            ev = np.linalg.eigvalsh(K)
            vals.append((ev[0], ev[0] / (np.trace(K) / len(K))))
        rows.append(vals)
        accs.append(acc)
        print(cell(ops), " ".join(f"{v[0]:.4g}/{v[1]:.4g}" for v in vals), flush=True)
    R = np.array(rows)  # (cells, 3 variants, raw/trace)
    A = np.array(accs)  # (cells, 3 variants, 3 datasets)
    live = R[:, 0, 0] > 0
    print(f"{int(live.sum())} of {len(R)} base cells have λ_min > 0 (the others: the none edge was the only path)")
    for vi, name in ((1, "skip_connect"), (2, "avg_pool_3x3")):
        for ki, kind in ((0, "raw"), (1, "trace-normalized")):
            ratio = R[live, vi, ki] / R[live, 0, ki]
            dacc = A[live, vi] - A[live, 0]
            agree = " / ".join(str(int((np.sign(ratio - 1) == np.sign(dacc[:, d])).sum())) for d in range(3))
            print(f"none -> {name:12s} {kind:16s}: rises in {int((ratio > 1).sum())}/{int(live.sum())}, "
                  f"median ratio {np.median(ratio):.3f}, range [{ratio.min():.3f}, {ratio.max():.3f}]; "
                  f"sign agrees with the accuracy change in {agree} (C10 / C100 / IN16)")
        dacc = A[live, vi] - A[live, 0]
        print(f"none -> {name:12s} mean test-accuracy change " + " / ".join(f"{v:+.2f}" for v in dacc.mean(0))
              + "; rises in " + " / ".join(str(int((dacc[:, d] > 0).sum())) for d in range(3)))


if __name__ == "__main__":
    main()

"""Benchmark: the ``naswot`` score (one Gram matrix of ±1 codes, ``scores.agreement_counts``) against the
two-product form K_H = C Cᵀ + (1−C)(1−C)ᵀ in float64 it replaced, same process, same cells and images.

Both are timed end to end per cell (network built from its seed, one forward with the hooks, slogdet),
alternating the two on each cell so machine load hits both alike; the values must agree exactly
(both kernels are integer matrices computed exactly). Prints the mean seconds per cell of each and the
ratio two-product / one-Gram.

    python benchmarks/bench_naswot.py [--cells 20] [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def two_product_naswot(score, arch: str, images: torch.Tensor, seed: int, num_classes: int) -> float:
    """The former implementation: per ReLU, K += C Cᵀ + (1−C)(1−C)ᵀ with C the float64 0/1 codes."""
    from empirics.nas.scores import _init_seed, _set_bn_mode

    model = score.build(arch, num_classes, _init_seed(seed, 0))
    _set_bn_mode(model, score.options["bn"], images)
    n = len(images)
    K = torch.zeros(n, n, dtype=torch.float64)

    def hook(_mod: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
        c = (inp[0].detach().reshape(n, -1) > 0).to(torch.float64)
        K.add_(c @ c.T).add_((1.0 - c) @ (1.0 - c).T)

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(K)
    return float(logdet) if float(sign) > 0 else -math.inf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from empirics.nas.images import image_batch
    from empirics.nas.scores import get_score

    score = get_score("naswot")
    X, y = image_batch("cifar10", int(score.options["batch_size"]), seed=0)
    rng = np.random.default_rng(args.seed)
    cells = []
    for _ in range(args.cells):
        o = rng.choice(OPS, size=6)
        cells.append(f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|")
    score.score(cells[0], X, y, seed=0, num_classes=10)  # warm-up (allocator, thread pool), not timed
    t_new = t_old = 0.0
    for i, arch in enumerate(cells):
        t0 = time.perf_counter()
        v_new = score.score(arch, X, y, seed=i, num_classes=10)
        t1 = time.perf_counter()
        v_old = two_product_naswot(score, arch, X, i, 10)
        t2 = time.perf_counter()
        t_new += t1 - t0
        t_old += t2 - t1
        if v_new != v_old:
            raise SystemExit(f"values differ on {arch}: {v_new!r} vs {v_old!r}")
    n = len(cells)
    print(f"naswot, {n} cells, {args.threads} thread(s), batch {X.shape[0]}: values identical on all cells")
    print(f"  two-product float64: {t_old / n:.3f} s/cell")
    print(f"  one ±1 Gram (float32 exact): {t_new / n:.3f} s/cell")
    print(f"  ratio: {t_old / t_new:.2f}x")


if __name__ == "__main__":
    main()

"""Does adding one skip edge ever lower LB_r or the exact λ_min(Θ)? (docs/theory.md §III.5)

Proved for relu / leaky_relu / identity on constant-diagonal data (never lowers LB_r); this samples
architectures outside that scope. Each sample: an FC chain of depth 2–5 with activations drawn from
tanh, sigmoid, erf, gelu and swish, each possible skip (i, l) present with probability 0.3, data
``theory.sphere_data(8, 16, seed=k)`` for the k-th sample; one missing skip is added at random and
LB_r (``bounds.lower(arch, r)``) and the exact λ_min (``theory.lambda_min``) are compared.

Run: ``python benchmarks/skip_monotonicity.py [--samples 150] [--seed 0] [--r 4]``. Prints the counts
and the largest relative decrease of the exact λ_min.
"""

from __future__ import annotations

import argparse

import numpy as np

import bounds
import theory
from theory.presets import fc_skip

ACTS = ["tanh", "sigmoid", "erf", "gelu", "swish"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--r", type=int, default=4)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    lb_down = exact_down = tried = 0
    worst: tuple[float, str, str, int] | None = None
    for k in range(args.samples):
        L = int(rng.integers(2, 6))
        acts = [str(rng.choice(ACTS)) for _ in range(L)]
        pairs = [(i, l) for l in range(2, L + 1) for i in range(l - 1)]  # (l-1, l) is the dense edge
        have = [p for p in pairs if rng.random() < 0.3]
        free = [p for p in pairs if p not in have]
        if not free:
            continue
        new = free[int(rng.integers(len(free)))]
        a, b = fc_skip(acts, have), fc_skip(acts, have + [new])
        X = theory.sphere_data(8, 16, seed=k)
        tried += 1
        la, lb = theory.lambda_min(a, X), theory.lambda_min(b, X)
        if bounds.lower(b, args.r).evaluate(b, X).value < bounds.lower(a, args.r).evaluate(a, X).value * (1 - 1e-9):
            lb_down += 1
        if lb < la * (1 - 1e-9):
            exact_down += 1
            if worst is None or (la - lb) / la > worst[0]:
                worst = ((la - lb) / la, str(a), str(b), k)
    print(f"{tried} pairs (architecture, one added skip): LB_{args.r} decreased in {lb_down}, "
          f"exact lambda_min decreased in {exact_down}")
    if worst is not None:
        print(f"largest exact decrease {100 * worst[0]:.2f} % (sphere_data(8, 16, seed={worst[3]})):")
        print(f"  {worst[1]}\n  {worst[2]}")


if __name__ == "__main__":
    main()

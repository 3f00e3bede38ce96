"""Tightness of the λ_min(Θ) bounds per family, and the finite-width deviation ‖K̄_m − Θ‖₂ vs width.

Run: ``python benchmarks/bounds_tightness.py [--per-family 150] [--seed 0]``. Prints markdown tables
(used in docs/theory.md (Part III)). Families: FC chain (depth 1–8, random activation mix), FC with random skip
masks, ResNet (α ∈ {1, 1/√L, 1/L}), NATS FC analogue (random cells). Data: Gaussian points on the
sphere of radius √d, rows centred (constant kernel diagonals), in two regimes N ≤ d and N > d.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import bounds
import theory
from bounds.exact import exact_levels
from theory.presets import fc_chain, fc_skip, nats_fc_analogue, resnet
from theory.space import NATS_OPS, nats_arch_string

ACTS = ["relu", "leaky_relu(0.2)", "tanh", "sigmoid", "swish", "gelu", "erf", "identity"]


def sample(family: str, rng: np.random.Generator):
    L = int(rng.integers(1, 9))
    acts = [str(rng.choice(ACTS)) for _ in range(L)]
    if family == "FC chain":
        return fc_chain(acts)
    if family == "FC + skips":
        pairs = [(i, l) for l in range(1, L + 1) for i in range(l)]
        return fc_skip(acts, [p for p in pairs if rng.random() < 0.3])
    if family == "ResNet":
        return resnet(acts[0], L, str(rng.choice(["1", "1/sqrt(L)", "1/L"])))
    while True:
        ops = [str(rng.choice(NATS_OPS)) for _ in range(6)]
        a = nats_fc_analogue(nats_arch_string(ops))
        if not a.is_zero and a.dense_edges:
            return a


def data(N: int, d: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((N, d))
    X -= X.mean(axis=1, keepdims=True)
    return X * math.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)


def q(v: np.ndarray) -> str:
    p = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0])
    return " / ".join(f"{x:.3f}" for x in p)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-family", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--r", type=int, default=8)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    for N, d in [(16, 32), (32, 16)]:
        X = data(N, d, args.seed)
        print(f"\n### N = {N}, d = {d} (centred sphere data, seed {args.seed}), r = {args.r}, "
              f"{args.per_family} architectures per family\n")
        print("ratios to the exact λ_min(Θ): min / 25% / median / 75% / max\n")
        print("| family | closed form LB_r | S2 (Weyl+Schur) | S1 (Weyl) | upper U_2x2 | LB_r > 0 |")
        print("|---|---|---|---|---|---|")
        for fam in ["FC chain", "FC + skips", "ResNet", "NATS FC analogue"]:
            rows = []
            for _ in range(args.per_family):
                a = sample(fam, rng)
                lv = exact_levels(a, X)
                lo = bounds.lower(a, args.r).evaluate(a, X).value
                if lv.exact <= 0:
                    continue
                rows.append((lo / lv.exact, lv.s2 / lv.exact, lv.s1 / lv.exact, lv.u_2x2 / lv.exact))
            R = np.array(rows)
            print(f"| {fam} | {q(R[:, 0])} | {q(R[:, 1])} | {q(R[:, 2])} | {q(R[:, 3])} | "
                  f"{(R[:, 0] > 0).mean():.0%} |")

    from empirics.models.fc_model import FCNet
    from empirics.ntk.empirical import empirical_ntk

    print("\n### finite width: ‖K̄_m − Θ‖₂ (seed 0, N = 8, d = 8), Weyl: λ_min(K̄_m) ≥ λ_min(Θ) − ‖K̄_m − Θ‖₂\n")
    print("| architecture | width m | ‖K̄_m − Θ‖₂ | λ_min(Θ) − dev | λ_min(K̄_m) | λ_min(Θ) |")
    print("|---|---|---|---|---|---|")
    X = theory.sphere_data(8, 8, seed=0)
    for a in ["|dense_relu~0|+|skip_connect~0|dense_tanh~1|", str(resnet("relu", 3, "1/sqrt(L)"))]:
        T = theory.ntk(a, X)
        lam = float(np.linalg.eigvalsh(T)[0])
        devs = []
        for m in (64, 256, 1024, 4096):
            K = empirical_ntk(FCNet(a, 8, m, seed=0), X, device="cpu").numpy()
            lb, dev = bounds.finite_width(lam, K, T)
            devs.append(dev)
            print(f"| `{a}` | {m} | {dev:.4f} | {lb:.4f} | {np.linalg.eigvalsh(K)[0]:.4f} | {lam:.4f} |")
        slope = np.polyfit(np.log([64, 256, 1024, 4096]), np.log(devs), 1)[0]
        print(f"| (fitted rate) | | dev ∝ m^{slope:.2f} | | | |")


if __name__ == "__main__":
    main()

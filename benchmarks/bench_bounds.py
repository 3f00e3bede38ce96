"""Benchmark: closed-form lower and upper bounds for all 15,625 NATS-Bench FC analogues on one data set.

Run: ``python benchmarks/bench_bounds.py [--n 32] [--d 16] [--baseline 200]``.

Phases (printed separately, wall clock):
1. *compile*: map every cell to its FC analogue, group by bound structure (``bounds.closed.structure_key``:
   dense/identity edges, scale pattern, r), build the sympy bound of each structure and generate its
   numpy program (``Bound.compile``);
2. *evaluate*: for every structure, the symbol values on the data (diagonal recursion, Hermite
   coefficients, the exact 2-sample kernel of the upper bound), the compiled programs, and the scatter of
   the values back to all 15,625 cells (cells of one structure share activations here: all relu);
3. *baseline*: the naive per-cell evaluation (build the bound, compute its symbol values, sympy ``subs``)
   on a random sample of cells, extrapolated to 15,625; the headline ratio is baseline / (phase 1 +
   phase 2), the whole cost of ours with the compilation counted; the evaluation-only ratio is printed
   beside it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import bounds
import theory
from bounds.closed import DiagRecursion, structure_key, symbol_values
from bounds.data import data_stats
from bounds.lower_upper import pair_entries
from bounds.plan import Plan
from theory.presets import all_nats_arch_strings, nats_fc_analogue


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--baseline", type=int, default=200, help="cells in the naive baseline sample")
    args = ap.parse_args()
    X = theory.sphere_data(args.n, args.d, seed=0)

    t0 = time.perf_counter()
    cells = all_nats_arch_strings()
    archs = [nats_fc_analogue(s) for s in cells]
    plans = [Plan.of(a) for a in archs]
    keys = [structure_key(p, args.r) for p in plans]
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    reps = {k: idx[0] for k, idx in groups.items()}
    lo_b = {k: bounds.lower(archs[i], args.r) for k, i in reps.items()}
    up_b = {k: bounds.upper(archs[i]) for k, i in reps.items()}
    for k in reps:
        lo_b[k].compile()
        up_b[k].compile()
    t1 = time.perf_counter()

    lower = np.zeros(len(cells))
    upper = np.zeros(len(cells))
    ds = data_stats(X)
    for k, i in reps.items():
        plan = plans[i]
        idx = np.asarray(groups[k])
        if plan.zero:
            continue
        rec = DiagRecursion(plan, args.r, ds.q0, ds.m)
        vl = symbol_values(lo_b[k].structure, ds, rec)
        lower[idx] = lo_b[k](vl)
        pair = pair_entries(plan, X, ds)
        vu = symbol_values(up_b[k].structure, ds, rec, pair)
        upper[idx] = up_b[k](vu)
    t2 = time.perf_counter()

    rng = np.random.default_rng(0)
    sample = rng.choice(len(cells), size=min(args.baseline, len(cells)), replace=False)
    t3 = time.perf_counter()
    worst = 0.0
    for i in sample:
        a = archs[i]
        plan = plans[i]
        if plan.zero:
            continue
        b = bounds.lower(a, args.r)
        rec = DiagRecursion(plan, args.r, ds.q0, ds.m)
        v = b.subs(symbol_values(b.structure, ds, rec))
        worst = max(worst, abs(v - lower[i]) / max(1.0, abs(lower[i])))
    t4 = time.perf_counter()
    per_cell = (t4 - t3) / len(sample)

    print(f"data: {args.n} sphere points, d = {args.d}; r = {args.r}")
    print(f"cells: {len(cells)}, distinct bound structures: {len(groups)}")
    print(f"compile (group, build sympy, generate numpy programs): {t1 - t0:.3f} s")
    print(f"evaluate lower + upper for all {len(cells)} cells:        {t2 - t1:.3f} s")
    print(f"naive baseline (per-cell sympy subs, lower only): {per_cell * 1e3:.2f} ms/cell on {len(sample)} cells "
          f"-> {per_cell * len(cells):.1f} s extrapolated for {len(cells)}")
    base = per_cell * len(cells)
    print(f"ratio baseline / ours, whole (compile + evaluate, lower+upper): {base / (t2 - t0):.0f}x")
    print(f"ratio baseline / ours, evaluation only (compilation {t1 - t0:.1f} s left out): {base / (t2 - t1):.0f}x")
    print(f"max relative difference compiled vs subs on the sample: {worst:.2e}")
    ok = upper >= lower - 1e-9 * np.maximum(1.0, np.abs(upper))
    print(f"lower <= upper for all cells: {bool(ok.all())}; lower > 0 for {int((lower > 0).sum())} cells")


if __name__ == "__main__":
    main()

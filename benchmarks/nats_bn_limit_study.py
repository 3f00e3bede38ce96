"""Study: distance of the BN twin's empirical NTK and feature NNGP to the BatchNorm-limit kernels as C grows.

For the eight cells of ``tests/test_nats_bn.py`` (every op), ``--n`` images N(0, 1) of ``--size``² pixels
(``default_rng(2)``), ``--stages`` stages × 1 cell: for each width, the median over ``--seeds`` seeds
of ‖K_C − Θ‖_F/‖Θ‖_F (K_C: ``empirical_ntk(..., method="loop")`` of
``build_model(arch, width=C, family="nats", batchnorm="ntk", ...)``; Θ: ``theory.nats_kernels(...,
batchnorm=True)``), the same for the seed-averaged kernel, and for the NNGP 2·φφᵀ/C against the
limit's; then the geometric mean over the cells and its log-log slope. docs/theory.md, IV.6.

    python benchmarks/nats_bn_limit_study.py --stages 1 --n 4 --size 8 --widths 16,32,64,128,256 --seeds 4
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from empirics import build_model, empirical_ntk
from theory.nats import COVERING_CELLS as CELLS
from theory.nats import nats_kernels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", type=int, default=1)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--widths", default="16,32,64,128,256")
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    widths = [int(w) for w in args.widths.split(",")]
    X = torch.from_numpy(np.random.default_rng(2).standard_normal((args.n, 3, args.size, args.size)))
    rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))  # noqa: E731
    table = {"ntk": [], "nngp": []}
    for arch in CELLS:
        k = nats_kernels(arch, X, stages=args.stages, batchnorm=True)
        row_ntk, row_nngp = [], []
        for C in widths:
            Ks, Fs = [], []
            for s in range(args.seeds):
                m = build_model(arch, width=C, seed=s, family="nats", batchnorm="ntk", N=1, stages=args.stages,
                                dtype=torch.float64)
                Ks.append(empirical_ntk(m, X, method="loop").numpy())
                with torch.no_grad():
                    F = m.forward_features(X).numpy()
                Fs.append(2.0 * F @ F.T / m.c_last)
            row_ntk.append(float(np.median([rel(K, k.ntk) for K in Ks])))
            row_nngp.append(float(np.median([rel(F, k.nngp) for F in Fs])))
            print(f"{arch}  C={C}: NTK {row_ntk[-1]:.4f} (seed-mean kernel {rel(np.mean(Ks, 0), k.ntk):.4f})  "
                  f"NNGP {row_nngp[-1]:.4f}", flush=True)
        table["ntk"].append(row_ntk)
        table["nngp"].append(row_nngp)
    for name, rows in table.items():
        A = np.array(rows)
        g = np.exp(np.log(A).mean(0))
        slope = np.polyfit(np.log(widths), np.log(g), 1)[0] if len(widths) > 1 else float("nan")
        print(f"{name}: geometric mean " + " ".join(f"C={C}: {v:.4f}" for C, v in zip(widths, g))
              + f"  slope {slope:.3f}  max/min cell at C={widths[-1]}: {A[:, -1].max():.3f} / {A[:, -1].min():.3f}")


if __name__ == "__main__":
    main()

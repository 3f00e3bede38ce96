"""``eigennas bounds``: lower/upper bounds on λ_min(Θ) and the generalization bound, next to the exact value."""

from __future__ import annotations

import argparse

import numpy as np

import bounds
import theory
from eigennas.commands._types import int_range, nonnegative_int, positive_int
from theory.space import Arch

HELP = "lower/upper bounds on lambda_min(NTK) and the generalization bound, as LaTeX and numbers"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="FC arch string, e.g. '|dense_relu~0|+|dense_tanh~1|' (NATS cells: --fc-analogue)")
    p.add_argument("--r", type=int_range(0, 64), default=8,
                   help="Hermite order kept explicitly in the lower bound (default 8)")
    p.add_argument("--gershgorin", choices=["rowsum", "max"], default="rowsum",
                   help="Gershgorin statistic: row sums gamma_s (default) or (N-1) rho_max^s")
    p.add_argument("--n", type=positive_int, default=50, help="number of sphere samples (default 50)")
    p.add_argument("--d", type=positive_int, default=10, help="input dimension (default 10)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="data seed (default 0)")
    p.add_argument("--latex", action="store_true", help="print the formulas as LaTeX with the symbol table")
    p.add_argument("--fc-analogue", action="store_true", help="map NATS conv/pool ops to the FC analogue first")


def run(args: argparse.Namespace) -> int:
    arch = Arch.parse(args.arch)
    if args.fc_analogue:
        arch = arch.to_fc_analogue()
    lo = bounds.lower(arch, args.r, args.gershgorin)
    up = bounds.upper(arch)
    gen = bounds.generalization(arch, r=args.r)
    X = theory.sphere_data(args.n, args.d, seed=args.seed)
    print(f"architecture: {arch}")
    print(f"data: {args.n} Gaussian points on the sphere of radius sqrt({args.d}), seed {args.seed}")
    print(f"lower: {lo.statement}")
    print(f"upper: {up.statement}")
    print(f"generalization: {gen.statement}")
    if args.latex:
        print("\nlower bound (LaTeX):")
        print(lo.latex())
        print("symbols:")
        print(lo.table())
        print("\nupper bound (LaTeX):")
        print(up.latex())
        print("\ngeneralization (LaTeX):")
        print(gen.latex())
        print(gen.table())
    kp = theory.kernel_pieces(arch, X)  # one exact kernel for the certificate and the generalization bound
    cert = bounds.certify(arch, X, args.r, kp=kp)
    print()
    for line in cert.lines():
        print("  " + line)
    if cert.exact > 0:
        print(f"  tightness (closed-form lower / exact) {cert.tightness:.4f}")
    y = np.sign(X[:, 0]) + (X[:, 0] == 0)
    g = gen.evaluate(arch, X, y, kp=kp)
    print("\ngeneralization with C_1 = C_2 = 1, delta = 0.05, y = sign(x_1) (a shape, the constants are unknown):")
    for k in ("yT_Theta_inv_y", "relaxed_lambda_min", "relaxed_closed_form", "bound_exact", "bound_lambda_min",
              "bound_closed_form"):
        print(f"  {k:<22s} {g.parts[k]:.6g}")
    return 0

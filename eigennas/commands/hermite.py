"""``eigennas hermite``: Hermite coefficients of an activation."""

from __future__ import annotations

import argparse

from eigennas.commands._types import nonnegative_int, positive_float
from theory.activations import hermite_coefficients, parse_activation, second_moment

HELP = "Hermite coefficients mu_r of an activation (exact or quadrature) and the Parseval check"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("activation", help="e.g. relu, leaky_relu(0.2), tanh, 'mix(0.5*relu,0.5*tanh)'")
    p.add_argument("--r", type=nonnegative_int, default=8, help="largest order r (default 8)")
    p.add_argument("--q", type=positive_float, default=1.0, help="pre-activation variance q (default 1)")


def run(args: argparse.Namespace) -> int:
    act = parse_activation(args.activation)
    mu = hermite_coefficients(act, args.r, args.q)
    method = "exact closed form" if act.is_exact else "quadrature"
    print(f"{act.token}  (q = {args.q}, {method})")
    for r, m in enumerate(mu):
        print(f"  mu_{r:<3d} = {m: .10g}")  # significant digits: q = 1e-300 or 1e300 printed 0.0000 or 150 digits
    total = float((mu**2).sum())
    print(f"  sum mu_r^2 (r <= {args.r}) = {total:.10g}   E[sigma^2] = {second_moment(act, args.q):.10g}")
    return 0

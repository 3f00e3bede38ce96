"""``eigennas arch``: parse, print and canonicalize architecture strings."""

from __future__ import annotations

import argparse

from theory.space import Arch

HELP = "parse, print and canonicalize an architecture string; show its FC analogue"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="arch string, e.g. '|dense_relu~0|+|skip_connect~0|dense_tanh~1|'")
    p.add_argument("--fc", action="store_true", help="also print the FC analogue of a NATS-Bench cell")


def run(args: argparse.Namespace) -> int:
    a = Arch.parse(args.arch)
    print(f"arch:       {a}")
    print(f"nodes:      {a.n_nodes} (output = node {a.output})")
    for j in range(1, a.n_nodes + 1):
        ins = " + ".join(f"{e.op.token}(node {e.src})" for e in a.incoming(j))
        print(f"  node {j} = {ins}")
    print(f"canonical:  {a.canonical()}")
    print(f"zero output: {a.is_zero}")
    if args.fc:
        print(f"FC analogue: {a.to_fc_analogue()}")
    return 0

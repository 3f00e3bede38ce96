"""``eigennas kernel``: the exact infinite-width NTK (or NNGP) of an architecture and its spectrum."""

from __future__ import annotations

import argparse

import numpy as np

from eigennas.commands._types import nonnegative_int, positive_int
from theory import kernel_pieces, sphere_data
from theory.errors import kernel_errors, spectral_bound
from theory.space import Arch

HELP = "exact infinite-width NNGP/NTK of an architecture on data, and its lambda_min"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="FC arch string, e.g. '|dense_relu~0|+|skip_connect~0|dense_tanh~1|' "
                                "(a NATS-Bench cell is replaced by its FC analogue)")
    p.add_argument("--n", type=positive_int, default=50, help="number of samples (default 50)")
    p.add_argument("--d", type=positive_int, default=10, help="input dimension of synthetic data (default 10)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the synthetic data (default 0)")
    p.add_argument("--data", choices=("sphere", "cifar10"), default="sphere",
                   help="sphere: Gaussian points rescaled to the sphere of radius sqrt(d) (default); "
                        "cifar10: the first N CIFAR-10 test samples of the data folder, flattened, on the sphere")
    p.add_argument("--center", action="store_true", help="cifar10: subtract each image's mean before normalizing")
    p.add_argument("--data-dir", default=None, help="data folder (default: $EIGENNAS_DATA or ../shared/data)")
    p.add_argument("--nngp", action="store_true", help="report the NNGP kernel instead of the NTK")


def run(args: argparse.Namespace) -> int:
    arch = Arch.parse(args.arch)
    if not arch.is_fc:
        arch = arch.to_fc_analogue()
        print(f"NATS cell -> FC analogue: {arch}")
    source = "gaussian" if args.data == "sphere" else "cifar10"
    X = sphere_data(args.n, args.d, seed=args.seed, source=source, data_dir=args.data_dir, center=args.center)
    p = kernel_pieces(arch, X)
    K = p.nngp if args.nngp else p.ntk
    ev = np.linalg.eigvalsh((K + K.T) / 2)
    name = "NNGP" if args.nngp else "NTK"
    print(f"arch:       {arch}")
    print(f"data:       {args.data}, N = {X.shape[0]}, d = {X.shape[1]} (rows on the sphere of radius sqrt(d))")
    print(f"kernel:     exact infinite-width {name} (NTK parametrization, readout f = v.h_out/sqrt(m))")
    print(f"lambda_min: {ev[0]:.10g}")
    print(f"lambda_max: {ev[-1]:.10g}")
    print(f"trace:      {float(np.trace(K)):.10g}")
    bound = spectral_bound(kernel_errors(p).nngp) if args.nngp else kernel_errors(p).ntk_norm
    print(f"error:      |lambda_i - exact| <= {bound:.2e} for every eigenvalue (truncation, quadrature and "
          f"rounding propagated through the layers, theory.errors; Weyl)")
    return 0

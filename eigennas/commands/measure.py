"""``eigennas measure``: empirical NTK λ_min of a finite-width torch model, mean ± std over seeds.

FC architectures are measured on synthetic data on the sphere of radius √d (``theory.data.sphere_data``,
seed 0); NATS-Bench cells on a normalized batch of real CIFAR-10 / CIFAR-100 / ImageNet16-120 images
(``empirics.nas.images.image_batch``, seed 0). One model per seed (``empirics.build_model(arch, width, seed)``).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from tqdm import tqdm

from eigennas.commands._types import nonnegative_float, positive_int
from empirics.models.batchnorm import set_bn_mode
from empirics.models.build import build_model
from empirics.nas.images import image_batch
from empirics.ntk.empirical import empirical_ntk, estimate_cost
from empirics.ntk.spectrum import SeedSummary, repeat_over_seeds
from theory.data import available_memory_bytes, sphere_data
from theory.space import Arch

HELP = "empirical NTK lambda_min of a finite-width torch model (mean/std over seeds)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="arch string: FC ('|dense_relu~0|+|dense_relu~1|') or NATS-Bench cell")
    p.add_argument("--width", type=positive_int, default=None,
                   help="FC width (default 512) or NATS channels C (default 16)")
    p.add_argument("--seeds", type=positive_int, default=3, help="number of initialization seeds 0..S-1 (default 3)")
    p.add_argument("--n", type=positive_int, default=32, help="number of samples N (default 32)")
    p.add_argument("--d", type=positive_int, default=16, help="input dimension of the FC sphere data (default 16)")
    p.add_argument("--cells", type=positive_int, default=5, help="NATS cells per stage N (default 5)")
    p.add_argument("--dataset", default="cifar10", help="NATS images: cifar10, cifar100, ImageNet16-120")
    p.add_argument(
        "--bn", choices=["train", "eval", "decoupled"], default="train",
        help="NATS BatchNorm: batch statistics differentiated (train, default), running statistics (eval), or "
        "batch statistics held constant (decoupled)",
    )
    p.add_argument("--output", default="sum", help="sum | class:k | trace | full (default sum)")
    p.add_argument(
        "--method", default="auto", help="auto | loop | batched | jacrev | vmap | layerwise (default auto)"
    )
    p.add_argument("--params", choices=["all", "weights"], default="all", help="parameters of the NTK")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--data-dir", default=None, help="data folder (default ../shared/data or $EIGENNAS_DATA)")
    p.add_argument(
        "--max-time", type=nonnegative_float, default=1800.0,
        help="refuse when the up-front time estimate (all seeds) exceeds this many seconds (default 1800; 0: no limit)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _guard(model, X, args: argparse.Namespace) -> None:
    """Memory and time estimate up front (``empirics.ntk.estimate_cost``), printed to stderr; refuse
    what cannot fit in memory or would exceed ``--max-time``, before any NTK is computed."""
    # options (output, method, params, device) checked on two samples before any estimate or bar
    empirical_ntk(model, X[: min(2, X.shape[0])], output=args.output, method=args.method, params=args.params,
                  device=args.device)
    cost = estimate_cost(model, X, args.output)
    total = cost.seconds * args.seeds
    limit = available_memory_bytes()
    how = "coupled by BatchNorm batch statistics: cost grows as N^2" if cost.coupled else "samples independent"
    print(f"estimate: ~{cost.bytes / 2**30:.2g} GiB, ~{_duration(total)} for {args.seeds} seed(s) "
          f"(N = {X.shape[0]}, {how}; from one timed pass on {cost.probe} samples)", file=sys.stderr)
    if cost.bytes > limit:
        raise MemoryError(
            f"--n {X.shape[0]} needs about {cost.bytes / 2**30:.2f} GiB, more than the {limit / 2**30:.2f} GiB "
            "available; use a smaller --n (or --width)"
        )
    if args.max_time > 0 and total > args.max_time:
        raise ValueError(
            f"--n {X.shape[0]} would take about {_duration(total)} (more than --max-time {args.max_time:g} s); "
            "use a smaller --n, or raise --max-time (0: no limit)"
        )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.2g} s"
    if seconds < 7200:
        return f"{seconds / 60:.2g} min"
    return f"{seconds / 3600:.3g} h"


def run(args: argparse.Namespace) -> int:
    arch = Arch.parse(args.arch)
    nats = any(e.op.is_conv_space for e in arch.edges)
    if nats:
        X, _ = image_batch(args.dataset, batch_size=args.n, seed=0, data_dir=args.data_dir)
        classes = {"cifar10": 10, "cifar100": 100}.get(args.dataset.lower(), 120)
        width = 16 if args.width is None else args.width

        def builder(seed: int):
            m = build_model(arch, width=width, seed=seed, N=args.cells, num_classes=classes)
            return set_bn_mode(m, args.bn, X)

        what = (
            f"NATS cell network C={width}, N={args.cells}, {classes} classes, BN {args.bn}, "
            f"{args.n} {args.dataset} images"
        )
    else:
        X = torch.from_numpy(sphere_data(args.n, args.d, seed=0))
        width = 512 if args.width is None else args.width

        def builder(seed: int):
            return build_model(arch, width=width, seed=seed, in_dim=args.d)

        what = f"FC network width {width}, {args.n} points on the sphere of radius sqrt({args.d})"
    _guard(builder(0), X, args)
    t0 = time.perf_counter()
    summaries = []
    for s in tqdm(range(args.seeds), desc="seeds", unit="seed", disable=args.no_progress, file=sys.stderr):
        summaries.append(repeat_over_seeds(
            builder, X, [s], output=args.output, method=args.method, params=args.params, device=args.device
        ))
    summary = SeedSummary([s for m in summaries for s in m.seeds], [v for m in summaries for v in m.values])
    dt = time.perf_counter() - t0
    print(f"arch:       {arch}")
    print(f"model:      {what}")
    print(f"NTK:        output={args.output}, params={args.params}, method={args.method}")
    for s, v in zip(summary.seeds, summary.values):
        print(f"  seed {s}: lambda_min = {v:.6g}")
    print(
        f"lambda_min: {summary.mean:.6g} ± {summary.std:.2g} "
        f"(mean ± std over {len(summary.seeds)} seeds, {dt:.1f} s)"
    )
    return 0

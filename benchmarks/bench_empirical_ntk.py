"""Benchmark: the fast empirical-NTK paths against the faithful TE-NAS loop (one backward per sample).

Cases:
  (a) FC: depth-5 width-512 ReLU chain (empirics.build_model → FCNet, float64), N = 128 points on the sphere;
  (b) NATS-Bench cell network (C = 16, N = 5 cells per stage, float32) on 64 real CIFAR-10 test images
      (<data>/cifar10_samples/cifar10_test_1000_jpeg_yoongikim.npz, first 64, NB201 normalization),
      BatchNorm in **train** mode (TE-NAS semantics: rows of the Jacobian of the batched forward);
  (b') the same network with BatchNorm in **eval** mode (running statistics: samples independent);
  (b'') the same network with BatchNorm **decoupled** (the batch statistics of the training forward
      frozen: samples independent, so LAYERWISE applies).

Case (a) also times ``tutorial``: the PyTorch per-sample NTK tutorial's Jacobian contraction
(``torch.func.vmap(jacrev)`` per sample, then one einsum per parameter tensor), the real alternative to
our ``vmap`` method. ``--quick`` shrinks every case, and the titles print the sizes that ran.

Each method runs in a fresh subprocess (spawn) so that its peak resident memory can be measured
(ru_maxrss after the run minus the RSS before the NTK call; on CUDA, torch.cuda.max_memory_allocated).
Prints time, ratio to the loop, peak memory, λ_min and the max relative kernel difference to the loop.

    python benchmarks/bench_empirical_ntk.py [--threads 1] [--device cpu] [--quick] [--jacrev]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
NB201_MEAN = np.array([125.3, 123.0, 113.9]) / 255
NB201_STD = np.array([63.0, 62.1, 66.7]) / 255


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def cifar_batch(n: int, data_dir: str | None):
    import torch

    from theory.data_dir import find_data_dir

    path = Path(find_data_dir(data_dir)) / "cifar10_samples" / "cifar10_test_1000_jpeg_yoongikim.npz"
    with np.load(path) as z:
        imgs = z["images"][:n].astype(np.float64) / 255.0  # (n, 32, 32, 3)
    x = (imgs - NB201_MEAN) / NB201_STD
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(torch.float32)


def _job(case: str, method: str, threads: int, device: str, quick: bool, arch: str, data_dir, out) -> None:
    import torch

    torch.set_num_threads(threads)
    from empirics import build_model, empirical_ntk
    from theory.presets import fc_chain

    if case == "a":
        from theory.data import sphere_data

        n = 32 if quick else 128
        model = build_model(fc_chain("relu", 5), width=512, in_dim=16, seed=0)
        X = torch.from_numpy(sphere_data(n, 16, seed=0))
    else:
        n, C, N = (16, 8, 1) if quick else (64, 16, 5)
        model = build_model(arch, width=C, seed=0, N=N, num_classes=10)
        model.train() if case in ("b", "b''") else model.eval()
        X = cifar_batch(n, data_dir)
    if case == "b''":
        from empirics.models.batchnorm import freeze_batch_statistics

        freeze_batch_statistics(model, X)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base = _rss_bytes()
    t0 = time.perf_counter()
    if method == "tutorial":
        K = tutorial_ntk(model, X.to(device))
    else:
        K = empirical_ntk(model, X, method=method, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    peak = (
        torch.cuda.max_memory_allocated()
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    )
    out.put((dt, max(peak, 0), K.numpy()))


def tutorial_ntk(model, X):
    """The PyTorch tutorial "Neural Tangent Kernels" (torch.func): per-sample Jacobians by
    vmap(jacrev(f_single)), contracted one parameter tensor at a time with einsum; summed over outputs
    as ``empirical_ntk``'s default readout does (K_ij = Σ_c ⟨∂f_c(x_i), ∂f_c(x_j)⟩), in float64."""
    import torch
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def fnet_single(p, x):
        return functional_call(model, {**p, **buffers}, (x.unsqueeze(0),)).reshape(-1)

    jac = vmap(jacrev(fnet_single), (None, 0))(params, X)
    K = None
    for j in jac.values():
        j = j.flatten(2).to(torch.float64)
        term = torch.einsum("Naf,Maf->NM", j, j)
        K = term if K is None else K + term
    return K.cpu()


def run_one(case, method, args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    job_args = (case, method, args.threads, args.device, args.quick, args.arch, args.data_dir, q)
    p = ctx.Process(target=_job, args=job_args)
    p.start()
    res = q.get()
    p.join()
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    ap.add_argument("--jacrev", action="store_true", help="also time JACREV on (b) (slow on CPU)")
    ap.add_argument("--arch", default=ARCH)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--cases", default="a,b,b',b''", help="comma list of a, b, b', b''")
    args = ap.parse_args(argv)
    plans = {
        "a": ["loop", "batched", "vmap", "tutorial", "layerwise"],
        "b": ["loop", "batched"] + (["jacrev"] if args.jacrev else []),
        "b'": ["loop", "layerwise"],
        "b''": ["loop", "layerwise"],
    }
    n_a = 32 if args.quick else 128
    n_b, C, N = (16, 8, 1) if args.quick else (64, 16, 5)
    net = f"NATS cell net C={C} N={N}, float32, {n_b} CIFAR-10 images"
    titles = {
        "a": f"(a) FC relu depth 5, width 512, float64, N={n_a} sphere points",
        "b": f"(b) {net}, BN train (batched-forward Jacobian)",
        "b'": "(b') same network, BN eval (running statistics; samples independent)",
        "b''": "(b'') same network, BN decoupled (training statistics frozen; samples independent)",
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch threads {args.threads}, device {args.device}, load average {load:.2f}, arch {args.arch}")
    for case in args.cases.split(","):
        print("\n" + titles[case])
        print(f"  {'method':<10} {'time s':>8} {'loop/this':>10} {'peak MiB':>9} {'lambda_min':>14} {'max rel dK':>11}",
              flush=True)
        ref_t = ref_K = None
        seen = {}
        for method in plans[case]:
            dt, peak, K = run_one(case, method, args)
            seen[method] = (dt, peak)
            lam = float(np.linalg.eigvalsh(0.5 * (K + K.T))[0])
            if ref_K is None:
                ref_t, ref_K = dt, K
            d = float(np.abs(K - ref_K).max() / np.abs(ref_K).max())
            print(f"  {method:<10} {dt:8.2f} {ref_t / dt:10.1f} {peak / 2**20:9.0f} {lam:14.8g} {d:11.1e}", flush=True)
        if "vmap" in seen and "tutorial" in seen:
            (tv, pv), (tt, pt) = seen["vmap"], seen["tutorial"]
            print(f"  vmap / tutorial: time {tv / tt:.2f}x, peak memory {pv / max(pt, 1):.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

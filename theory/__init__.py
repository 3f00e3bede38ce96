"""Exact infinite-width kernels of the search space (docs/theory.md).

Public API (all float64, X is N×d with rows of equal norm; see ``theory.data`` for the convention):

* ``nngp(arch, X)``: Σ(x, x') = E[f(x) f(x')], the NNGP kernel of the readout f = vᵀh_out/√m;
* ``ntk(arch, X)``: Θ, the exact infinite-width NTK (NTK parametrization);
* ``lambda_min(arch, X, kernel="ntk")``: its smallest eigenvalue;
* ``kernel_pieces(arch, X)``: a ``KernelPieces`` with every node's forward kernel Σ_vv and mean m_v,
  every node's backward kernel Π_vv, cross-kernels on demand, and each dense edge's kernels and
  NTK contribution (``EdgePieces``), so that bounds/ and comparators reuse them;
* ``sphere_data(n, d, seed, source)``: synthetic or CIFAR-10 points on the sphere of radius √d;
* the dual activations in ``theory.dual``;
* ``nats_ntk(arch, images)`` / ``nats_nngp`` / ``nats_kernels``: the exact infinite-channel kernels of
  the BatchNorm-free NATS-Bench network on images (``theory.nats``; pixel-pair recursions).

Example::

    from theory import lambda_min, sphere_data
    X = sphere_data(50, 10, seed=0)
    print(lambda_min("|dense_relu~0|+|skip_connect~0|dense_tanh~1|", X))
"""

from __future__ import annotations

import importlib

import numpy as np

from theory.space import Arch

from .data import InputError, KernelTooLargeError, check_inputs, sphere_data
from .dual import DualResult, dual, dual_derivative, dual_gauss_hermite, gaussian_mean
from .kernels import INPUT, READOUT, EdgePieces, KernelPieces, kernel_pieces
from .lean import LeanKernels, lean_kernels

__all__ = [
    "nngp",
    "ntk",
    "lambda_min",
    "spectrum",
    "kernel_pieces",
    "lean_kernels",
    "LeanKernels",
    "KernelPieces",
    "EdgePieces",
    "INPUT",
    "READOUT",
    "sphere_data",
    "check_inputs",
    "InputError",
    "KernelTooLargeError",
    "dual",
    "dual_derivative",
    "dual_gauss_hermite",
    "gaussian_mean",
    "DualResult",
    "nats_ntk",
    "nats_nngp",
    "nats_kernels",
    "nats_memory_bytes",
    "NATSKernels",
]


def nngp(arch: Arch | str, X, normalize: bool = False) -> np.ndarray:
    """The NNGP kernel Σ_out,out (N×N) of ``arch`` on the rows of X (``theory.lean``: forward pass only)."""
    return lean_kernels(arch, X, ntk=False, nngp=True, normalize=normalize).nngp


def ntk(arch: Arch | str, X, normalize: bool = False) -> np.ndarray:
    """The exact infinite-width NTK Θ (N×N) of ``arch`` on the rows of X (``theory.lean``: only what Θ
    needs, the same numbers as ``kernel_pieces(arch, X).ntk`` to rounding)."""
    return lean_kernels(arch, X, ntk=True, normalize=normalize).ntk


def spectrum(arch: Arch | str, X, kernel: str = "ntk", normalize: bool = False) -> np.ndarray:
    """Eigenvalues (ascending) of the exact NTK (``kernel="ntk"``) or NNGP (``"nngp"``)."""
    if kernel not in ("ntk", "nngp"):
        raise ValueError(f"kernel must be 'ntk' or 'nngp', got {kernel!r}")
    p = lean_kernels(arch, X, ntk=kernel == "ntk", nngp=kernel == "nngp", normalize=normalize)
    K = p.ntk if kernel == "ntk" else p.nngp
    return np.linalg.eigvalsh((K + K.T) / 2)


def lambda_min(arch: Arch | str, X, kernel: str = "ntk", normalize: bool = False) -> float:
    """λ_min of the exact NTK (or NNGP) of ``arch`` on the rows of X."""
    return float(spectrum(arch, X, kernel=kernel, normalize=normalize)[0])


#: theory.nats needs torch; it is loaded on first use so that ``import theory`` stays torch-free
_NATS_EXPORTS = ("nats_ntk", "nats_nngp", "nats_kernels", "nats_memory_bytes", "NATSKernels")


def __getattr__(name: str):
    if name in _NATS_EXPORTS:
        return getattr(importlib.import_module("theory.nats"), name)
    raise AttributeError(f"module 'theory' has no attribute {name!r}")

"""Spectra of kernel matrices in float64, and repeats over initialization seeds.

``eigvalsh(K)`` returns the ascending eigenvalues of the symmetric part (K + Kᵀ)/2 in float64;
``lambda_min(K)`` the smallest. For a model builder, ``repeat_over_seeds`` evaluates
λ_min(K_seed) for each seed (K_seed = the empirical NTK of ``builder(seed)`` on X) and summarizes
mean and sample standard deviation (ddof = 1; 0 for one seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["eigvalsh", "lambda_min", "lambda_max", "condition_number", "SeedSummary", "repeat_over_seeds"]


def _as_sym64(K: torch.Tensor | np.ndarray) -> torch.Tensor:
    K = torch.as_tensor(K).detach().to("cpu", torch.float64)
    if K.ndim < 2 or K.shape[-1] != K.shape[-2]:
        raise ValueError(f"a kernel must be a square matrix (or a stack of them), got shape {tuple(K.shape)}")
    if not torch.isfinite(K).all():
        raise ValueError("the kernel has non-finite entries (NaN/inf)")
    return 0.5 * (K + K.transpose(-1, -2))


def eigvalsh(K: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Ascending eigenvalues (float64) of the symmetric part of K; works on stacks (..., n, n)."""
    return torch.linalg.eigvalsh(_as_sym64(K))


def lambda_min(K: torch.Tensor | np.ndarray) -> float | torch.Tensor:
    """Smallest eigenvalue of (K + Kᵀ)/2 in float64 (a float, or a tensor for a stack of kernels)."""
    ev = eigvalsh(K)[..., 0]
    return float(ev) if ev.ndim == 0 else ev


def lambda_max(K: torch.Tensor | np.ndarray) -> float | torch.Tensor:
    """Largest eigenvalue of (K + Kᵀ)/2 in float64."""
    ev = eigvalsh(K)[..., -1]
    return float(ev) if ev.ndim == 0 else ev


def condition_number(K: torch.Tensor | np.ndarray) -> float:
    """λ_max / λ_min (inf when λ_min ≤ 0)."""
    ev = eigvalsh(K)
    lo, hi = float(ev[..., 0].min()), float(ev[..., -1].max())
    return hi / lo if lo > 0 else float("inf")


@dataclass
class SeedSummary:
    """λ_min per seed and its mean / sample std (ddof = 1)."""

    seeds: list[int]
    values: list[float]
    spectra: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def __str__(self) -> str:
        return f"{self.mean:.6g} ± {self.std:.2g} (n = {len(self.values)} seeds)"


def repeat_over_seeds(
    builder: Callable[[int], nn.Module],
    X: torch.Tensor,
    seeds: Sequence[int] | int = 3,
    *,
    keep_spectra: bool = False,
    **ntk_kwargs,
) -> SeedSummary:
    """λ_min of ``empirical_ntk(builder(seed), X, **ntk_kwargs)`` for each seed (an int n means 0..n−1)."""
    from empirics.ntk import empirical_ntk

    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError("need at least one seed")
    vals: list[float] = []
    spectra: list[np.ndarray] = []
    for s in seed_list:
        K = empirical_ntk(builder(s), X, **ntk_kwargs)
        ev = eigvalsh(K)
        if ev.ndim > 1:
            raise ValueError("repeat_over_seeds needs an N×N kernel (output 'sum', 'class:k', 'full' or 'trace')")
        vals.append(float(ev[0]))
        if keep_spectra:
            spectra.append(ev.numpy())
    return SeedSummary(seed_list, vals, spectra)

"""Spectra of kernel matrices in float64, and repeats over initialization seeds.

``eigenvalues(K)`` (numpy) and ``eigvalsh(K)`` (the same values as a tensor) return the ascending
eigenvalues of the symmetric part (K + Kᵀ)/2 in float64, all NaN for a kernel with a non-finite
entry; ``lambda_min(K)`` the smallest. For a model builder, ``repeat_over_seeds`` evaluates
λ_min(K_seed) for each seed (K_seed = the empirical NTK of ``builder(seed)`` on X) and summarizes
mean and sample standard deviation (ddof = 1; 0 for one seed). ``spectrum_stats`` keeps the summary
of a spectrum that every score reduction needs, and ``normalized_value`` reduces it to a score
(raw λ_min and its normalizations; used by the ``eigen`` score and the ablation alike).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from empirics.ntk.empirical import empirical_ntk

__all__ = [
    "eigenvalues",
    "eigvalsh",
    "lambda_min",
    "lambda_max",
    "condition_number",
    "SeedSummary",
    "repeat_over_seeds",
    "NORMALIZATIONS",
    "spectrum_stats",
    "normalized_value",
]

#: the reductions of a spectrum to a score (``normalized_value``)
NORMALIZATIONS: tuple[str, ...] = ("raw", "trace", "lmax", "params", "log", "cond")


def eigenvalues(K: torch.Tensor | np.ndarray) -> np.ndarray:
    """The package's one eigensolve of an empirical kernel: ascending eigenvalues (float64, numpy) of the
    symmetric part (K + Kᵀ)/2, by LAPACK's symmetric solver (``numpy.linalg.eigvalsh``); works on stacks
    (..., n, n).

    NaN rule: a kernel with a non-finite entry (NaN/inf, e.g. a diverged forward pass) has all its
    eigenvalues NaN, so every score derived from it is NaN and ranked last; no exception.
    """
    A = torch.as_tensor(K).detach().to("cpu", torch.float64).numpy()
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"a kernel must be a square matrix (or a stack of them), got shape {tuple(A.shape)}")
    A = 0.5 * (A + np.swapaxes(A, -1, -2))
    finite = np.isfinite(A).all(axis=(-1, -2))
    if finite.all():
        return np.linalg.eigvalsh(A)
    out = np.full(A.shape[:-1], np.nan)
    if finite.any():
        out[finite] = np.linalg.eigvalsh(A[finite])
    return out


def eigvalsh(K: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``eigenvalues(K)`` as a float64 tensor (same values, same NaN rule)."""
    return torch.from_numpy(eigenvalues(K))


def lambda_min(K: torch.Tensor | np.ndarray) -> float | torch.Tensor:
    """Smallest eigenvalue of (K + Kᵀ)/2 in float64 (a float, or a tensor for a stack of kernels)."""
    ev = eigvalsh(K)[..., 0]
    return float(ev) if ev.ndim == 0 else ev


def lambda_max(K: torch.Tensor | np.ndarray) -> float | torch.Tensor:
    """Largest eigenvalue of (K + Kᵀ)/2 in float64."""
    ev = eigvalsh(K)[..., -1]
    return float(ev) if ev.ndim == 0 else ev


def condition_number(K: torch.Tensor | np.ndarray) -> float:
    """λ_max / λ_min (inf when λ_min ≤ 0, NaN for a non-finite kernel)."""
    ev = eigenvalues(K)
    lo, hi = float(ev[..., 0].min()), float(ev[..., -1].max())
    if math.isnan(lo) or math.isnan(hi):
        return math.nan
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


def spectrum_stats(ev: np.ndarray, params: float) -> dict[str, float]:
    """Summary statistics of an ascending spectrum kept in the cache (all normalizations derive from them)."""
    ev = np.asarray(ev, dtype=np.float64)
    if ev.size == 0 or not np.all(np.isfinite(ev)):
        return {
            "n": float(ev.size),
            "lmin": math.nan,
            "l2": math.nan,
            "lmax": math.nan,
            "trace": math.nan,
            "logdet_pos": math.nan,
            "n_nonpos": math.nan,
            "params": float(params),
        }
    pos = ev[ev > 0]
    return {
        "n": float(ev.size),
        "lmin": float(ev[0]),
        "l2": float(ev[1]) if ev.size > 1 else float(ev[0]),
        "lmax": float(ev[-1]),
        "trace": float(ev.sum()),
        "logdet_pos": float(np.log(pos).sum()) if pos.size else -math.inf,
        "n_nonpos": float(ev.size - pos.size),
        "params": float(params),
    }


def normalized_value(stats: Mapping[str, float], normalize: str) -> float:
    """A score from one spectrum's statistics (larger is better); NaN / −inf for degenerate spectra.

    ``raw`` λ_1 (EigenNAS, Zhu et al. 2022); ``trace`` n·λ_1/tr K (λ_min relative to the mean
    eigenvalue); ``lmax`` λ_1/λ_n (the inverse condition number); ``params`` λ_1/P; ``log`` log λ_1;
    ``cond`` −λ_n/λ_1 (TE-NAS, Chen, Gong & Wang, ICLR 2021). ``lmax`` and ``cond`` rank alike when
    λ_1 > 0; ``raw`` and ``log`` rank alike always.
    """
    lmin, lmax, tr, n = stats["lmin"], stats["lmax"], stats["trace"], stats["n"]
    if not math.isfinite(lmin):
        return math.nan
    if normalize == "raw":
        return lmin
    if normalize == "trace":
        return n * lmin / tr if tr > 0 else math.nan
    if normalize == "lmax":
        return lmin / lmax if lmax > 0 else math.nan
    if normalize == "params":
        return lmin / stats["params"] if stats["params"] > 0 else math.nan
    if normalize == "log":
        return math.log(lmin) if lmin > 0 else -math.inf
    if normalize == "cond":
        return -lmax / lmin if lmin > 0 else -math.inf
    raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")

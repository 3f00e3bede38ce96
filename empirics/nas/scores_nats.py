"""Scores of the BatchNorm-free NATS network (docs/theory.md, Part IV), registered in ``empirics.nas.scores``.

* ``cntk``: λ_min of the exact infinite-channel NTK Θ of the BN-free NATS network (``theory.nats_ntk``,
  ``stages`` × ``cells`` cells) on the first ``batch_size`` images of the batch, after average-pooling
  them to ``size`` × ``size`` (option of the score, not of the kernel: the kernel's cost is
  O((N·H·W)²); ``size=0`` keeps the images as given). ``normalize='trace'`` (default) gives
  N·λ_min/tr Θ, ``'raw'`` λ_min, ``'lmax'`` λ_min/λ_max (the inverse condition number, the ``eigen``
  score's reduction of the same name, ``empirics.ntk.spectrum.normalized_value``). Deterministic (the seed
  is ignored). A cell whose output is identically zero (Θ = 0) scores 0.
* ``eigen_free``: the measured counterpart, λ_min of the empirical NTK of the finite twin
  (``build_model(arch, width=C, family='nats', batchnorm=False, N=cells, stages=stages)``, float64,
  one output, N(0, 1) weights in NTK parametrization), same images and normalizations, averaged over
  ``seeds`` initializations.
* ``cntk_bn`` / ``eigen_free_bn``: the BatchNorm variants, same options. ``cntk_bn`` reads the
  BatchNorm-limit kernel ``theory.nats_ntk(..., batchnorm=True)`` (train-mode BN where NATS-Bench has it,
  each BN the covariance normalization Σ ↦ ΠΣΠ/(v + ε), Θ ↦ ΠΘΠ/(v + ε) over the batch and pixels;
  docs/theory.md, IV.6); ``eigen_free_bn`` the empirical NTK of the BN twin
  ``build_model(..., batchnorm='ntk')`` (batch-coupled). Separate names rather than an option, so the
  cache records of the BN-free scores keep their keys.

Defaults: batch 32, 4×4, 3 stages × 1 cell, trace-normalized; ``eigen_free`` C = 16, 1 seed. Chosen by
measurement (``eigennas verdict sweep``, docs/theory.md IV.4; ``experiments/results/index.json`` names
the table under ``cntk_default``, and ``tests/test_verdict.py`` re-applies the rule to it): the highest
mean Spearman ρ over the three datasets on the verdict's 1,000 cells, averaged over three image batches,
within 5 s per cell on one core (it takes about 0.05 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from empirics.models.build import build_model
from empirics.nas.scores import Score, ScoreError, ScoreOptions, _init_seed, register_score
from empirics.ntk.empirical import empirical_ntk
from empirics.ntk.spectrum import eigenvalues, normalized_value, spectrum_stats
from theory.nats import nats_ntk

__all__ = ["CntkScore", "EigenFreeScore", "CntkBNScore", "EigenFreeBNScore",
           "CntkOptions", "EigenFreeOptions", "pool_images", "kernel_value",
           "NORMALIZE"]


def pool_images(images: torch.Tensor | np.ndarray, size: int) -> torch.Tensor:
    """float64 (N, c, size, size) by average pooling (``size=0``: unchanged). H, W must be multiples of size."""
    x = torch.as_tensor(images).to(torch.float64)
    if x.ndim != 4:
        raise ScoreError(f"images must have shape (N, channels, H, W), got {tuple(x.shape)}")
    if size:
        h, w = x.shape[2], x.shape[3]
        if h % size or w % size:
            raise ScoreError(f"images of {h}×{w} cannot be average-pooled to {size}×{size} (not a divisor)")
        if (h, w) != (size, size):
            x = F.avg_pool2d(x, kernel_size=(h // size, w // size))
    return x


#: the normalizations of ``cntk`` / ``eigen_free`` (a subset of ``empirics.ntk.spectrum.NORMALIZATIONS``)
NORMALIZE: tuple[str, ...] = ("raw", "trace", "lmax")


def kernel_value(K: np.ndarray, normalize: str) -> float:
    """λ_min ('raw'), N·λ_min/tr K ('trace') or λ_min/λ_max ('lmax') of (K + Kᵀ)/2
    (``empirics.ntk.spectrum.eigenvalues`` and ``normalized_value``; NaN for a non-finite kernel); 0 for
    the zero kernel."""
    if normalize not in NORMALIZE:
        raise ScoreError(f"normalize must be one of {', '.join(NORMALIZE)}, got {normalize!r}")
    ev = eigenvalues(np.asarray(K, dtype=np.float64))
    st = spectrum_stats(ev, math.nan)
    if normalize != "raw" and math.isfinite(st["lmin"]) and st["trace"] <= 0:  # only Θ = 0 (Θ is PSD)
        return 0.0
    return normalized_value(st, normalize)


@dataclass(frozen=True)
class CntkOptions(ScoreOptions):
    """Options of ``cntk`` (module docstring)."""

    batch_size: int = 32
    size: int = 4
    stages: int = 3
    cells: int = 1
    normalize: str = "trace"

    def check(self) -> None:
        if self.normalize not in NORMALIZE:
            raise ScoreError(f"normalize must be one of {', '.join(NORMALIZE)}, got {self.normalize!r}")
        for k in ("batch_size", "stages", "cells"):
            if int(getattr(self, k)) < 1:
                raise ScoreError(f"{k} must be >= 1, got {getattr(self, k)!r}")
        if int(self.size) < 0 or (int(self.size) and int(self.size) % 2 ** (int(self.stages) - 1)):
            raise ScoreError(f"size must be 0 or a positive multiple of 2^(stages-1), got {self.size!r}")


@dataclass(frozen=True)
class EigenFreeOptions(CntkOptions):
    """Options of ``eigen_free``: those of ``cntk`` plus the twin's width ``C`` and ``seeds``."""

    C: int = 16
    seeds: int = 1

    def check(self) -> None:
        super().check()
        if int(self.C) < 1 or int(self.seeds) < 1:
            raise ScoreError("C and seeds must be >= 1")


class _NatsFree(Score):
    """Shared part of ``cntk`` and ``eigen_free``: the images are average-pooled (``pool_images``), the
    kernel(s) of the subclass (``kernels``) are read by ``kernel_value`` and the score is the mean over
    them (one kernel for ``cntk``: the mean of one value is that value)."""

    needs_model = False

    def _images(self, images: torch.Tensor) -> torch.Tensor:
        return pool_images(images, int(self.options["size"]))

    def kernels(self, arch: str, x: torch.Tensor, seed: int) -> list[np.ndarray]:
        """The kernel(s) of ``arch`` on the pooled images ``x`` (``self._images``) the value is read from."""
        raise NotImplementedError

    def _score(self, arch, images, labels, seed, num_classes):  # type: ignore[override]
        norm = str(self.options["normalize"])
        return float(np.mean([kernel_value(K, norm) for K in self.kernels(arch, self._images(images), seed)]))


@register_score
class CntkScore(_NatsFree):
    """λ_min of the exact NTK of the BN-free NATS network (module docstring)."""

    name = "cntk"
    Options = CntkOptions
    batchnorm = False

    def kernels(self, arch: str, x: torch.Tensor, seed: int) -> list[np.ndarray]:
        """[Θ] of ``theory.nats_ntk`` (deterministic: ``seed`` is ignored)."""
        o = self.options
        return [nats_ntk(arch, x, int(o["stages"]), int(o["cells"]), progress=False, batchnorm=self.batchnorm)]


@register_score
class EigenFreeScore(_NatsFree):
    """λ_min of the empirical NTK of the BN-free twin at width C (module docstring)."""

    name = "eigen_free"
    Options = EigenFreeOptions
    batchnorm: bool | str = False

    def kernels(self, arch: str, x: torch.Tensor, seed: int) -> list[np.ndarray]:
        """The twin's empirical NTK for each of the ``seeds`` initializations (``_init_seed(seed, k)``)."""
        o = self.options
        out = []
        for k in range(int(o["seeds"])):
            model = build_model(arch, width=int(o["C"]), seed=_init_seed(seed, k), family="nats",
                                batchnorm=self.batchnorm,
                                N=int(o["cells"]), stages=int(o["stages"]), dtype=torch.float64)
            out.append(empirical_ntk(model, x).numpy())
        return out


@register_score
class CntkBNScore(CntkScore):
    """λ_min of the BatchNorm-limit NTK of the NATS network (``theory.nats_ntk(..., batchnorm=True)``)."""

    name = "cntk_bn"
    Options = CntkOptions
    batchnorm = True


@register_score
class EigenFreeBNScore(EigenFreeScore):
    """λ_min of the empirical NTK of the BN twin (train-mode BatchNorm, NTK parametrization) at width C."""

    name = "eigen_free_bn"
    Options = EigenFreeOptions
    batchnorm = "ntk"

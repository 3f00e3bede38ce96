"""Ablation of the EigenNAS score's free choices on NATS-Bench (docs/eigennas.md).

EigenNAS (Zhu, Liu, Chrysos, Cevher, *Generalization Properties of NAS under Activation and Skip
Connection Search*, NeurIPS 2022) ranks a cell by λ_min(K) of the empirical NTK at initialization,

    K = J Jᵀ,   J_{r,·} = ∂f_r(X; θ₀)/∂θ   (θ = the ``weight`` tensors, X a batch of B images),

which leaves free choices that the paper does not pin down. A :class:`Variant` fixes each of them:

* ``C``, ``N``: network width and cells per stage (NATS-Bench: 16, 5; reduced: 8, 1).
* ``bn``: BatchNorm in ``train`` mode (batch statistics couple the samples, TE-NAS), ``eval`` (running
  statistics: the identity at initialization) or ``decoupled`` (the batch statistics held constant: no
  coupling through them; ``empirics.models.batchnorm``).
* ``output``: ``sum`` (f = Σ_c f_c, a B×B kernel), ``class:rand`` (one class c drawn from the score
  seed), ``class:k``, ``full`` (all logits, (B·C)×(B·C)), ``trace`` ((1/C) Σ_c K_c, the mean of the
  per-class blocks).
* ``batch_size`` B, ``images`` (``real`` images of the score dataset, or ``gaussian`` N(0, 1) noise of
  the same shape), ``seeds`` (initializations averaged: the score is the mean over k of the
  normalized value of the k-th initialization).
* ``normalize`` (derived from the same spectrum λ_1 ≤ … ≤ λ_n, nothing recomputed):
  ``raw`` λ_1; ``trace`` n·λ_1/tr K; ``lmax`` λ_1/λ_n; ``params`` λ_1/P (P = parameter count of the
  network scored); ``log`` log λ_1; ``cond`` −λ_n/λ_1 (the TE-NAS condition number, Chen, Gong &
  Wang, *Neural Architecture Search on ImageNet in Four GPU Hours*, ICLR 2021).
* ``kind``: ``eigen`` (the above), or the baselines ``theory`` (λ_min of the exact infinite-width NTK of
  the cell's FC analogue, ``empirics.nas.scores.TheoryScore``) and ``params`` (NATS-size parameter count).

Every spectrum is computed once per (cell class, spectrum options, dataset, score seed,
initialization k) by the library's caching scorer (``empirics.nas.scorer.Scorer`` in spectral mode),
and its summary statistics (n, λ_1, λ_2, λ_n, tr K, Σ log λ⁺, #λ ≤ 0, P, time) are appended to
``<cache>/spectra.jsonl``: all normalizations and seed counts are derived from the cache, and
interrupted runs resume. A variant is the ``eigen`` score's options plus an image source
(``Variant.score``, ``Variant.images``); an :class:`AblationSetup` holds where the variants are scored
(benchmark, dataset, score seed, cache) and gives each variant its ``Scorer``. Cells are scored on the
smallest-index member of their ``Arch.canonical`` class (as ``empirics.nas.search``).

Cells: one fixed random permutation of the 15,625 benchmark indices (``default_rng(seed)``, seed 0);
a variant evaluated on N cells uses its first N entries, so smaller runs are prefixes of larger ones
and every variant with the same N sees the same cells. The score is computed on the images and
number of classes of ``dataset`` (default CIFAR-10) and correlated with the 200-epoch test accuracy
of all three datasets (the P-T convention of ``empirics.nas.search``).

Per variant: Spearman ρ and Kendall τ with percentile bootstrap CIs (``empirics.nas.search.correlate``),
mean time per scored class, and P-S(n) drawn from the scored pool: R repeats, repeat r draws n of the
N scored cells with ``default_rng([seed, r])`` and takes the argmax; mean ± std (ddof 0) of the
chosen cells' test accuracy.

Search beyond sampling, driven by a variant's score: :func:`run_prune` (TE-NAS pruning of the
supernet) and :func:`run_evolution` (regularized evolution); the strategies themselves are in
``empirics.nas.strategies``."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from empirics.nas.benchmark import DATASETS, Benchmark, canonical_dataset
from empirics.nas.cache import ScoreCache
from empirics.nas.scorer import IMAGE_SOURCES, Scorer
from empirics.nas.scores import EigenOptions, EigenScore, ScoreError, get_score
from empirics.nas.search import correlate, ps_draw, ps_pick
from empirics.nas.strategies import evolution_search, prune_search, supernet
from empirics.ntk.spectrum import NORMALIZATIONS
from theory.validate import as_int

__all__ = [
    "Variant",
    "NORMALIZATIONS",
    "OUTPUTS",
    "AblationError",
    "parse_variant",
    "short_label",
    "expand_grid",
    "GRIDS",
    "cell_sample",
    "AblationSetup",
    "pool_search",
    "evaluate_variant",
    "run_prune",
    "run_evolution",
    "baseline_values",
]

OUTPUTS: tuple[str, ...] = ("sum", "class:rand", "full", "trace")
ModelFactory = Callable[[str, int, int, int], nn.Module]


class AblationError(ValueError):
    """A bad variant specification or an impossible ablation request."""


@dataclass(frozen=True)
class Variant:
    """One configuration of the score: the ``eigen`` score's options (``EigenOptions``: C, N, bn, output,
    batch_size, seeds, normalize; they are validated there) plus the image source ``images`` and the
    ``kind`` of score (``eigen`` or a baseline). See the module docstring for each field."""

    kind: str = "eigen"
    C: int = 8
    N: int = 1
    bn: str = "train"
    output: str = "sum"
    batch_size: int = 16
    images: str = "real"
    seeds: int = 1
    normalize: str = "raw"

    def __post_init__(self) -> None:
        if self.kind not in ("eigen", "theory", "params"):
            raise AblationError(f"kind must be eigen, theory or params, got {self.kind!r}")
        if self.images not in IMAGE_SOURCES:
            raise AblationError(f"images must be one of {', '.join(IMAGE_SOURCES)}, got {self.images!r}")
        try:
            self.options()
        except ScoreError as exc:
            raise AblationError(str(exc)) from None

    def options(self, seeds: int | None = None) -> EigenOptions:
        """The ``eigen`` score's options of this variant (``seeds`` overrides the number of initializations)."""
        return EigenOptions(
            batch_size=self.batch_size,
            output=self.output,
            bn=self.bn,
            seeds=self.seeds if seeds is None else seeds,
            C=self.C,
            N=self.N,
            normalize=self.normalize,
        )

    def score(self, model_factory: ModelFactory | None = None) -> EigenScore:
        """The ``eigen`` score of this variant (its image source is ``images``, used by the ``Scorer``)."""
        return EigenScore(model_factory=model_factory, **self.options().as_dict())

    @property
    def label(self) -> str:
        """``key=value`` list of the fields, the form :func:`parse_variant` reads."""
        if self.kind == "theory":
            return "kind=theory"
        if self.kind == "params":
            return "kind=params"
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.name != "kind")


def short_label(v: Variant) -> str:
    """The fields that differ from the reduced base ``Variant()`` ('base' when none), for tables."""
    if v.kind != "eigen":
        return v.label
    d = Variant()
    diff = [f"{f.name}={getattr(v, f.name)}" for f in fields(v) if getattr(v, f.name) != getattr(d, f.name)]
    return ",".join(diff) or "base"


def parse_variant(text: str, base: Variant | None = None) -> Variant:
    """``'C=16,N=5,batch_size=64,normalize=trace'`` → Variant (unnamed fields from ``base``/defaults)."""
    base = base or Variant()
    kw: dict[str, Any] = {}
    names = {f.name: f.type for f in fields(Variant)}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise AblationError(f"variant part {part!r} must look like key=value")
        k, v = (s.strip() for s in part.split("=", 1))
        if k == "batch":
            k = "batch_size"
        if k not in names:
            raise AblationError(f"variant has no field {k!r}; fields: {sorted(names)}")
        if k in ("C", "N", "batch_size", "seeds"):
            kw[k] = as_int(v, f"variant field {k}", error=AblationError)  # ASCII digits only
        else:
            kw[k] = v
    return replace(base, **kw)


def expand_grid(base: Variant, axes: Mapping[str, Sequence[Any]], mode: str = "one-at-a-time") -> list[Variant]:
    """Variants from a base and per-field alternatives.

    ``mode='one-at-a-time'``: the base, then for each axis every value that differs from the base with
    all other fields at the base (the ablation design); ``'product'``: the full Cartesian product.
    Duplicates are removed, order kept.
    """
    names = {f.name for f in fields(Variant)}
    bad = sorted(set(axes) - names)
    if bad:
        raise AblationError(f"unknown variant field(s) {bad}; fields: {sorted(names)}")
    out: list[Variant] = []
    if mode == "one-at-a-time":
        out.append(base)
        for k, values in axes.items():
            for v in values:
                out.append(replace(base, **{k: v}))
    elif mode == "product":
        keys = list(axes)
        for combo in itertools.product(*(axes[k] for k in keys)):
            out.append(replace(base, **dict(zip(keys, combo))))
    else:
        raise AblationError(f"mode must be 'one-at-a-time' or 'product', got {mode!r}")
    seen: set[Variant] = set()
    return [v for v in out if not (v in seen or seen.add(v))]


#: Named grids for ``eigennas ablate --grid``. ``reduced``: one-at-a-time around the cheap base
#: (C=8, N=1, batch 16, BN train, sum, real, 1 seed, raw); ``full``: the NATS-size network.
GRIDS: dict[str, Callable[[], list[Variant]]] = {
    "reduced": lambda: expand_grid(
        Variant(),
        {
            "normalize": ["trace", "lmax", "params", "log", "cond"],
            "bn": ["eval", "decoupled"],
            "output": ["class:rand", "trace", "full"],
            "batch_size": [32, 64],
            "images": ["gaussian"],
            "seeds": [3, 5],
        },
    ),
    "normalize": lambda: [Variant(normalize=n) for n in NORMALIZATIONS],
    "full": lambda: [Variant(C=16, N=5, batch_size=64, normalize=n) for n in NORMALIZATIONS],
    "baselines": lambda: [Variant(kind="theory"), Variant(kind="params")],
}


def cell_sample(bench: Benchmark, n: int, seed: int = 0, start: int = 0) -> list[int]:
    """Entries ``start .. n−1`` of one fixed permutation of all benchmark indices (``default_rng(seed)``).

    ``start = 0`` gives the first ``n`` (every smaller run is a prefix of a larger one); ``start > 0``
    gives cells disjoint from the first ``start``, for a held-out check of a configuration chosen on them.
    """
    if n < 1 or n > len(bench):
        raise AblationError(f"n must be in 1..{len(bench)}, got {n}")
    if not 0 <= start < n:
        raise AblationError(f"start must be in 0..n-1 = 0..{n - 1}, got {start}")
    perm = np.random.default_rng(int(seed)).permutation(len(bench))
    return [int(i) for i in perm[start:n]]


# --------------------------------------------------------------------------- where variants are scored

#: prefix of a supernet's name in the spectrum cache: ``supernet:`` + the op sets, '+' within an edge,
#: '|' between edges (the name is its class key, and the model factory of supernet scorers reads it)
SUPERNET = "supernet:"


def supernet_name(op_sets: Sequence[Sequence[str]]) -> str:
    """The cache name of the supernet with these op sets (one set per edge)."""
    return SUPERNET + "|".join("+".join(s) for s in op_sets)


def _supernet_factory(name: str, num_classes: int, C: int, N: int) -> nn.Module:
    """Model factory of supernet scorers: the supernet named ``name`` (``supernet_name``)."""
    if not name.startswith(SUPERNET):
        raise AblationError(f"not a supernet name: {name!r}")
    return supernet([e.split("+") for e in name[len(SUPERNET):].split("|")], C=C, N=N, num_classes=num_classes)


@dataclass
class AblationSetup:
    """Where the variants of one study are scored: the benchmark, the score dataset, the score seed, the
    spectrum cache (a ``ScoreCache``, use ``filename='spectra.jsonl'``), the data folder or an explicit
    (X, y) batch (tests). ``scorer(variant)`` is the variant's library ``Scorer`` (spectral mode: the
    variant's ``eigen`` score on its image source), one per variant, all sharing the cache; ``computed``
    counts the spectra they computed."""

    bench: Benchmark
    dataset: str = "cifar10"
    cache: ScoreCache = field(default_factory=lambda: ScoreCache(None))
    seed: int = 0
    data_dir: Any = None
    images: tuple[torch.Tensor, Any] | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        self.dataset = canonical_dataset(self.dataset)
        self._scorers: dict[tuple[Variant, bool], Scorer] = {}

    @property
    def computed(self) -> int:
        return sum(s.computed for s in self._scorers.values())

    def scorer(self, variant: Variant, supernets: bool = False) -> Scorer:
        """The spectral ``Scorer`` of an eigen variant; ``supernets``: the one that scores supernets named by
        ``supernet_name`` (each readout's kernel computed directly, as for a cell's own output)."""
        if variant.kind != "eigen":
            raise AblationError(f"only eigen variants have cached spectra, not kind={variant.kind}")
        key = (variant, supernets)
        if key not in self._scorers:
            score = variant.score(_supernet_factory if supernets else None)
            where = {"cache": self.cache, "data_dir": self.data_dir, "images": self.images, "progress": self.progress}
            self._scorers[key] = Scorer(
                score, self.bench, self.dataset, image_source=variant.images, spectral=True,
                share_jacobian=not supernets, **where,
            )
        return self._scorers[key]


def pool_search(
    values: np.ndarray, indices: Sequence[int], bench: Benchmark, n: int = 100, repeats: int = 10, seed: int = 0
) -> dict[str, Any]:
    """P-S(n) from a scored pool: repeat r draws n of the pool with ``default_rng([seed, r])`` (without
    replacement) and takes the argmax of the score (NaN = −inf); mean ± std (ddof 0) over repeats of the
    chosen cells' test accuracy per dataset, and of the best accuracy in the draw (oracle)."""
    values = np.asarray(values, dtype=float)
    if len(values) != len(indices):
        raise AblationError("values and indices differ in length")
    if n > len(indices):
        raise AblationError(f"P-S({n}) needs a pool of at least {n} scored cells, got {len(indices)}")
    chosen: list[int] = []
    oracle: dict[str, list[float]] = {d: [] for d in DATASETS}
    for r in range(repeats):
        sub = ps_draw(range(len(indices)), n, seed, r)
        chosen.append(int(indices[sub[ps_pick(values[sub])]]))
        for d in DATASETS:
            oracle[d].append(float(np.nanmax(bench.accuracies(d, [indices[j] for j in sub]))))
    out: dict[str, Any] = {"n": n, "repeats": repeats, "seed": seed, "chosen": chosen}
    for d in DATASETS:
        acc = np.asarray(bench.accuracies(d, chosen), dtype=float)
        out[d] = {"mean": float(acc.mean()), "std": float(acc.std()), "oracle": float(np.mean(oracle[d]))}
    return out


def baseline_values(
    variant: Variant, bench: Benchmark, indices: Sequence[int], cache: ScoreCache | None = None
) -> tuple[np.ndarray, float]:
    """Scores and mean time per computed cell of the ``theory`` / ``params`` baselines (registry scores,
    through the ordinary score cache)."""
    score = get_score(variant.kind)
    # "is None", not "or": an empty ScoreCache is falsy (len 0), and its first records would not be kept
    scorer = Scorer(score, bench, "cifar10", cache=ScoreCache(None) if cache is None else cache, progress=False)
    t0 = time.perf_counter()
    vals = scorer.score_indices(indices)
    dt = time.perf_counter() - t0
    per = scorer.compute_time_s / scorer.computed if scorer.computed else dt / max(1, len(indices))
    return vals, per


def evaluate_variant(
    variant: Variant,
    bench: Benchmark,
    indices: Sequence[int],
    setup: AblationSetup | None = None,
    score_cache: ScoreCache | None = None,
    ps_n: int = 100,
    repeats: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """One table row: correlations (all three datasets, bootstrap CIs), P-S(ps_n) from the pool, time/cell."""
    if variant.kind == "eigen":
        if setup is None:
            raise AblationError("eigen variants need an AblationSetup")
        vals, tpc = setup.scorer(variant).spectral_values(indices, setup.seed, desc=variant.label[:60])
        score_ds = setup.dataset
    else:
        vals, tpc = baseline_values(variant, bench, indices, score_cache)
        score_ds = "none"
    accs = {d: bench.accuracies(d, indices) for d in DATASETS}
    corr = correlate(vals, accs, n_boot=n_boot, seed=seed)
    row: dict[str, Any] = {
        "variant": variant.label,
        "fields": asdict(variant),
        "cells": len(indices),
        "classes": len({bench.arch(i) for i in indices}) if variant.kind == "params" else None,
        "score_dataset": score_ds,
        "time_per_cell_s": tpc,
        "correlations": corr,
        "nan_scores": int(np.sum(~np.isfinite(vals))),
    }
    n = min(ps_n, len(indices) // 2) if len(indices) < 2 * ps_n else ps_n
    row["ps"] = pool_search(vals, indices, bench, n=max(1, n), repeats=repeats, seed=seed)
    return row


# --------------------------------------------------------------------------- pruning and evolution


def _variant_fn_supernet(
    variant: Variant, setup: AblationSetup, seed: int | None = None
) -> Callable[[list[list[str]]], float]:
    """score_fn(op_sets) for :func:`prune_search`: the variant's score of the supernet (score seed ``seed``,
    default the setup's).

    Each supernet spectrum is cached like a cell's (class key: ``supernet_name`` of the op sets; the
    spectrum options, the score seed and the initialization), so the variants of one run share the
    supernets they all visit (the first round is the same for every normalization) and a repeated run
    is read from the cache.
    """

    if variant.kind != "eigen":
        raise AblationError("pruning needs an eigen variant (the baselines do not score supernets)")
    scorer = setup.scorer(variant, supernets=True)
    s = setup.seed if seed is None else seed

    def fn(op_sets: list[list[str]]) -> float:
        name = supernet_name(op_sets)
        return float(scorer.class_spectral_values([(name, name)], s)[0][0])

    return fn


def _search_row(bench: Benchmark, archs: Sequence[str], extra: Mapping[str, Any]) -> dict[str, Any]:
    idx = [bench.index(a) for a in archs]
    row: dict[str, Any] = {"archs": list(archs), "indices": idx, **extra}
    for d in DATASETS:
        acc = np.asarray(bench.accuracies(d, idx), dtype=float)
        row[d] = {"mean": float(acc.mean()), "std": float(acc.std())}
    return row


def run_prune(
    variant: Variant, setup: AblationSetup, repeats: int = 1, keep_connected: bool = False
) -> dict[str, Any]:
    """TE-NAS pruning driven by the variant's score, repeated with score seeds 0..repeats−1 (each repeat its
    own images and initializations); the found cells' test accuracy, mean ± std over repeats.
    ``keep_connected``: the guard of :func:`prune_search`."""
    archs, evals, t0 = [], 0, time.perf_counter()
    for r in range(repeats):
        res = prune_search(_variant_fn_supernet(variant, setup, setup.seed + r), keep_connected=keep_connected)
        archs.append(res["arch"])
        evals += res["evaluations"]
    return _search_row(
        setup.bench,
        archs,
        {
            "search": "prune+guard" if keep_connected else "prune",
            "variant": variant.label,
            "repeats": repeats,
            "evaluations": evals,
            "wall_s": time.perf_counter() - t0,
        },
    )


def run_evolution(
    variant: Variant,
    setup: AblationSetup,
    repeats: int = 10,
    cycles: int = 100,
    population: int = 20,
    sample: int = 5,
    score_cache: ScoreCache | None = None,
) -> dict[str, Any]:
    """Regularized evolution driven by the variant's score (cached per cell class), repeats with evolution
    seeds 0..repeats−1 and one score seed; the found cells' test accuracy, mean ± std over repeats."""
    bench = setup.bench
    if variant.kind == "eigen":
        scorer = setup.scorer(variant)

        def fn(a: str) -> float:
            return float(scorer.spectral_values([bench.index(a)], setup.seed)[0][0])

    else:

        def fn(a: str) -> float:
            return float(baseline_values(variant, bench, [bench.index(a)], score_cache)[0][0])

    archs, scored, t0 = [], 0, time.perf_counter()
    for r in range(repeats):
        res = evolution_search(fn, cycles=cycles, population=population, sample=sample, seed=r)
        archs.append(res["arch"])
        scored += res["scored"]
    return _search_row(
        bench,
        archs,
        {
            "search": "evolution",
            "variant": variant.label,
            "repeats": repeats,
            "cycles": cycles,
            "population": population,
            "sample": sample,
            "cells_scored": scored,
            "wall_s": time.perf_counter() - t0,
        },
    )

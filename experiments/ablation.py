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
initialization k) and its summary statistics (n, λ_1, λ_2, λ_n, tr K, Σ log λ⁺, #λ ≤ 0, P, time)
are appended to ``<cache>/spectra.jsonl``: all normalizations and seed counts are derived from the
cache, and interrupted runs resume. Cells are scored on the smallest-index member of their
``Arch.canonical`` class (as ``empirics.nas.search``).

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
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from empirics.models.nats_net import count_parameters
from empirics.nas.benchmark import DATASETS, Benchmark, canonical_dataset
from empirics.nas.cache import ScoreCache, options_fingerprint, record_key
from empirics.nas.images import NUM_CLASSES, image_batch
from empirics.nas.scores import EigenOptions, EigenScore, ScoreError, get_score
from empirics.nas.search import Scorer, class_key, correlate, ps_draw, ps_pick, representatives
from empirics.nas.strategies import evolution_search, prune_search, supernet
from empirics.ntk.spectrum import NORMALIZATIONS, eigenvalues, normalized_value, spectrum_stats
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
    "SpectrumRunner",
    "pool_search",
    "evaluate_variant",
    "run_prune",
    "run_evolution",
    "baseline_values",
]

OUTPUTS: tuple[str, ...] = ("sum", "class:rand", "full", "trace")
#: where a variant's images come from: the score dataset's images, or N(0, 1) noise of their shape
IMAGE_SOURCES: tuple[str, ...] = ("real", "gaussian")


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

    def spectrum_options(self) -> dict[str, Any]:
        """The options that determine one spectrum (not ``seeds`` nor ``normalize``)."""
        return {
            "C": self.C,
            "N": self.N,
            "bn": self.bn,
            "output": self.output,
            "batch_size": self.batch_size,
            "images": self.images,
        }

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


# --------------------------------------------------------------------------- spectra and normalizations


ModelFactory = Callable[[str, int, int, int], nn.Module]


def _eigen_score(variant: Variant, model_factory: ModelFactory | None) -> EigenScore:
    """The single-initialization ``EigenScore`` whose spectrum a variant reads."""
    return EigenScore(model_factory=model_factory, **variant.options(seeds=1).as_dict())


@dataclass
class SpectrumRunner:
    """Computes and caches NTK spectra of benchmark cells for eigen variants.

    ``cache``: a ``ScoreCache`` (use ``filename='spectra.jsonl'``); ``model_factory`` as in
    ``empirics.nas.scores`` (default the NATS network); ``images``: an explicit (X, y) batch (tests).
    """

    bench: Benchmark
    dataset: str = "cifar10"
    cache: ScoreCache = field(default_factory=lambda: ScoreCache(None))
    seed: int = 0
    data_dir: Any = None
    model_factory: ModelFactory | None = None
    images: tuple[torch.Tensor, Any] | None = None
    progress: bool = False
    computed: int = 0
    compute_time_s: float = 0.0

    def __post_init__(self) -> None:
        self.dataset = canonical_dataset(self.dataset)
        self._batches: dict[tuple[str, int], torch.Tensor] = {}

    @property
    def num_classes(self) -> int:
        return int(NUM_CLASSES[self.dataset])

    def batch(self, images: str, batch_size: int) -> torch.Tensor:
        """The image batch of the variant: real images of the dataset, or N(0, 1) noise of their shape."""
        key = (images, batch_size)
        if key not in self._batches:
            if self.images is not None:
                X = self.images[0][:batch_size]
                if len(X) < batch_size:
                    raise AblationError(f"{batch_size} images wanted, {len(X)} given")
            else:
                X = image_batch(self.dataset, batch_size, self.seed, data_dir=self.data_dir)[0]
            if images == "gaussian":
                g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, 4242]).generate_state(1)[0]))
                X = torch.randn(X.shape, generator=g, dtype=X.dtype)
            self._batches[key] = X
        return self._batches[key]

    def _cls(self, arch: str) -> tuple[str, str]:
        ck = class_key(arch, "canonical", self.bench)
        return ck, representatives(self.bench, "canonical").get(ck, arch)

    def key(self, ck: str, variant: Variant, k: int) -> str:
        return record_key(ck, "eigen_spectrum", {**variant.spectrum_options(), "init": k}, self.dataset, self.seed)

    def _params(self, arch: str, variant: Variant) -> float:
        if self.model_factory is None:
            return float(count_parameters(arch, C=variant.C, N=variant.N, num_classes=self.num_classes))
        m = self.model_factory(arch, self.num_classes, variant.C, variant.N)
        return float(sum(p.numel() for p in m.parameters() if p.requires_grad))

    def compute(self, arch: str, variant: Variant, k: int) -> dict[str, float]:
        """Spectrum statistics of initialization k of ``arch`` under ``variant`` (no cache)."""
        return self.compute_outputs(arch, variant, k)[variant.output]

    def compute_outputs(self, arch: str, variant: Variant, k: int) -> dict[str, dict[str, float]]:
        """Spectrum statistics of initialization k under ``variant``, keyed by output readout.

        For ``output='full'`` or ``'trace'`` one Jacobian of all logits gives both: with the full kernel
        K_full[(n, c), (m, c')] = ⟨∂f_c(x_n)/∂θ, ∂f_c'(x_m)/∂θ⟩ (row index n·C + c), the per-class blocks
        are K_c = K_full[c::C, c::C] and the ``trace`` kernel is (1/C) Σ_c K_c, so both spectra are
        returned (the caller caches both). Other outputs return their own entry only.
        """
        P = self._params(arch, variant)
        X = self.batch(variant.images, variant.batch_size)
        if variant.output not in ("full", "trace"):
            sc = _eigen_score(variant, self.model_factory)
            ev = sc.spectrum(arch, X, self.seed, self.num_classes, k)
            return {variant.output: spectrum_stats(ev, P)}
        sc = _eigen_score(replace(variant, output="full"), self.model_factory)
        K = sc.kernel(arch, X, self.seed, self.num_classes, k)
        C = self.num_classes
        if K.shape != (len(X) * C, len(X) * C):
            raise AblationError(f"full kernel of shape {tuple(K.shape)}, expected {len(X) * C} rows")
        K_trace = torch.stack([K[c::C, c::C] for c in range(C)]).mean(dim=0)
        return {"full": spectrum_stats(eigenvalues(K), P), "trace": spectrum_stats(eigenvalues(K_trace), P)}

    def store(
        self, key: str, st: Mapping[str, float], arch: str, cls: str, variant: Variant, k: int, dt: float, **extra: Any
    ) -> None:
        """Append one spectrum record (statistics ``st`` of initialization k under ``variant``) to the cache."""
        self.cache.put(
            key,
            st["lmin"],
            arch=arch,
            cls=cls,
            score="eigen_spectrum",
            options=options_fingerprint({**variant.spectrum_options(), "init": k}),
            dataset=self.dataset,
            seed=self.seed,
            stats=dict(st),
            time_s=round(dt, 4),
            **extra,
        )

    def stats(self, indices: Sequence[int], variant: Variant, inits: int | None = None) -> list[list[dict[str, Any]]]:
        """Per cell, the cached records (with ``stats`` and ``time_s``) of initializations 0..inits−1,
        computing the missing ones (``inits`` defaults to ``variant.seeds``)."""
        if variant.kind != "eigen":
            raise AblationError("SpectrumRunner handles eigen variants only")
        inits = variant.seeds if inits is None else inits
        archs = [self.bench.arch(int(i)) for i in indices]
        todo: dict[str, tuple[str, str, int]] = {}
        keys: list[list[str]] = []
        for a in archs:
            ck, rep = self._cls(a)
            row = []
            for k in range(inits):
                rk = self.key(ck, variant, k)
                row.append(rk)
                if rk not in self.cache and rk not in todo:
                    todo[rk] = (rep, ck, k)
            keys.append(row)
        items: Iterable = todo.items()
        if self.progress and todo:
            items = tqdm(list(todo.items()), desc=variant.label[:60], unit="spec", leave=False)
        for rk, (rep, ck, k) in items:
            if rk in self.cache:  # stored as a by-product of an earlier item (full / trace)
                continue
            t0 = time.perf_counter()
            by_output = self.compute_outputs(rep, variant, k)
            dt = time.perf_counter() - t0
            self.computed += 1
            self.compute_time_s += dt
            for out, st in by_output.items():
                v = replace(variant, output=out)
                key = self.key(ck, v, k)
                if out != variant.output and key in self.cache:
                    continue
                extra = {} if out == variant.output else {"computed_with": variant.output}
                self.store(key, st, rep, ck, v, k, dt, **extra)
        out: list[list[dict[str, Any]]] = []
        for row in keys:
            recs = []
            for rk in row:
                rec = self.cache.record(rk)
                if rec is None:  # pragma: no cover - put() always stores
                    raise AblationError(f"missing cache record {rk}")
                recs.append(rec)
            out.append(recs)
        return out

    def values(self, indices: Sequence[int], variant: Variant) -> tuple[np.ndarray, float]:
        """Scores of the cells (mean over ``variant.seeds`` initializations of the normalized λ_min) and the
        mean cost (s) of one cell's class, summed over its initializations, from the stored times."""
        recs = self.stats(indices, variant)
        vals = np.empty(len(recs))
        for i, row in enumerate(recs):
            vs = [normalized_value(r["stats"], variant.options().reduction) for r in row]
            vals[i] = float(np.mean(vs)) if vs else math.nan
        per_class: dict[str, float] = {}
        for row in recs:
            per_class[row[0]["cls"]] = sum(float(r.get("time_s", math.nan)) for r in row)
        return vals, float(np.mean(list(per_class.values()))) if per_class else math.nan


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
    scorer = Scorer(score, bench, "cifar10", cache=cache or ScoreCache(None), progress=False)
    t0 = time.perf_counter()
    vals = scorer.score_indices(indices)
    dt = time.perf_counter() - t0
    per = scorer.compute_time_s / scorer.computed if scorer.computed else dt / max(1, len(indices))
    return vals, per


def evaluate_variant(
    variant: Variant,
    bench: Benchmark,
    indices: Sequence[int],
    runner: SpectrumRunner | None = None,
    score_cache: ScoreCache | None = None,
    ps_n: int = 100,
    repeats: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """One table row: correlations (all three datasets, bootstrap CIs), P-S(ps_n) from the pool, time/cell."""
    if variant.kind == "eigen":
        if runner is None:
            raise AblationError("eigen variants need a SpectrumRunner")
        vals, tpc = runner.values(indices, variant)
        score_ds = runner.dataset
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


def _variant_fn_supernet(variant: Variant, runner: SpectrumRunner) -> Callable[[list[list[str]]], float]:
    """score_fn(op_sets) for :func:`prune_search`: the variant's score of the supernet.

    Each supernet spectrum is cached like a cell's (key: the op sets, the spectrum options, the score
    seed and the initialization), so the variants of one run share the supernets they all visit (the
    first round is the same for every normalization) and a repeated run is read from the cache.
    """

    if variant.kind != "eigen":
        raise AblationError("pruning needs an eigen variant (the baselines do not score supernets)")

    def fn(op_sets: list[list[str]]) -> float:
        def factory(_arch: str, nc: int, C: int, N: int) -> nn.Module:
            return supernet(op_sets, C=C, N=N, num_classes=nc)

        sc = _eigen_score(variant, factory)
        X = runner.batch(variant.images, variant.batch_size)
        name = "supernet:" + "|".join("+".join(s) for s in op_sets)
        vals = []
        for k in range(variant.seeds):
            key = runner.key(name, variant, k)
            rec = runner.cache.record(key)
            if rec is None:
                t0 = time.perf_counter()
                model = factory("", runner.num_classes, variant.C, variant.N)
                P = float(sum(p.numel() for p in model.parameters() if p.requires_grad))
                st = spectrum_stats(sc.spectrum("supernet", X, runner.seed, runner.num_classes, k), P)
                dt = time.perf_counter() - t0
                runner.computed += 1
                runner.compute_time_s += dt
                runner.store(key, st, name, name, variant, k, dt)
                rec = runner.cache.record(key)
            assert rec is not None
            vals.append(normalized_value(rec["stats"], variant.options().reduction))
        return float(np.mean(vals))

    return fn


def _search_row(bench: Benchmark, archs: Sequence[str], extra: Mapping[str, Any]) -> dict[str, Any]:
    idx = [bench.index(a) for a in archs]
    row: dict[str, Any] = {"archs": list(archs), "indices": idx, **extra}
    for d in DATASETS:
        acc = np.asarray(bench.accuracies(d, idx), dtype=float)
        row[d] = {"mean": float(acc.mean()), "std": float(acc.std())}
    return row


def run_prune(
    variant: Variant, runner: SpectrumRunner, repeats: int = 1, keep_connected: bool = False
) -> dict[str, Any]:
    """TE-NAS pruning driven by the variant's score, repeated with score seeds 0..repeats−1 (each repeat its
    own images and initializations); the found cells' test accuracy, mean ± std over repeats.
    ``keep_connected``: the guard of :func:`prune_search`."""
    archs, evals, t0 = [], 0, time.perf_counter()
    seed0 = runner.seed
    try:
        for r in range(repeats):
            runner.seed = seed0 + r
            runner._batches.clear()
            res = prune_search(_variant_fn_supernet(variant, runner), keep_connected=keep_connected)
            archs.append(res["arch"])
            evals += res["evaluations"]
    finally:
        runner.seed = seed0
        runner._batches.clear()
    return _search_row(
        runner.bench,
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
    runner: SpectrumRunner,
    repeats: int = 10,
    cycles: int = 100,
    population: int = 20,
    sample: int = 5,
    score_cache: ScoreCache | None = None,
) -> dict[str, Any]:
    """Regularized evolution driven by the variant's score (cached per cell class), repeats with evolution
    seeds 0..repeats−1 and one score seed; the found cells' test accuracy, mean ± std over repeats."""
    bench = runner.bench
    if variant.kind == "eigen":

        def fn(a: str) -> float:
            return float(runner.values([bench.index(a)], variant)[0][0])

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

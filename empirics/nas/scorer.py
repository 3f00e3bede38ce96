"""The one caching scorer of benchmark cells: search, correlation and the ablation study use it (the atlas,
``empirics.nas.atlas``, writes the same scalar records from its Dask workers).

A ``Scorer`` scores cells of a ``Benchmark`` with one ``Score`` on one dataset's images and keeps every
value in a ``ScoreCache``, in one of two forms:

* **scalar** (``spectral=False``, the default): one record per (class, score, options, dataset, seed)
  holding the score's value (``Score.score``).
* **spectral** (``spectral=True``, the ``eigen`` family: ``EigenScore`` and ``TenasCondScore``): one record
  per (class, spectrum options, dataset, seed, initialization k) holding ``spectrum_stats`` of the k-th
  initialization's NTK spectrum λ_1 ≤ … ≤ λ_n under the name ``eigen_spectrum``. The value of a cell is
  the mean over k < ``seeds`` of ``normalized_value(stats_k, reduction)``, so every normalization (raw,
  trace, lmax, params, log, cond) and every number of initializations is read from the same records
  and nothing is recomputed. The spectrum options are the score's options but ``seeds`` and
  ``normalize`` (``EigenScore.spectrum_options``) plus the image source. With ``share_jacobian``
  the ``full`` and ``trace`` readouts come from one Jacobian of all logits and both are stored
  (``EigenScore.init_stats_by_output``).

The class of a cell is its ``Arch.canonical()`` string for scores that are invariant under that
isomorphism (``Score.iso_invariant``), else the cell itself (``iso='auto'``); ``iso='nats'`` uses
NATS-Bench's ``unique_str`` and ``iso='arch'`` disables sharing. A class is scored on its member with
the smallest benchmark index (``representatives``), so values do not depend on the order in which
cells are met (members differ in dead-branch weights, which shift the random initialization).

Images (``image_source``): ``real``, the given batch or ``image_batch(dataset, batch_size, seed)``
(64 images for scores without a batch size); ``gaussian``, N(0, 1) noise of the shape of the first
``batch_size`` of them, drawn from a generator seeded by ``SeedSequence([seed, 4242])``.
"""

from __future__ import annotations

import math
import os
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from empirics.nas.benchmark import Benchmark, canonical_dataset, nats_unique_str
from empirics.nas.cache import ScoreCache, options_fingerprint, record_key
from empirics.nas.images import NUM_CLASSES, image_batch
from empirics.nas.scores import EigenScore, Score, ScoreError
from empirics.ntk.spectrum import normalized_value
from theory.space import Arch

__all__ = ["IMAGE_SOURCES", "SPECTRUM_RECORD", "Scorer", "class_key", "representatives"]

#: where a scorer's images come from: the score dataset's images, or N(0, 1) noise of their shape
IMAGE_SOURCES: tuple[str, ...] = ("real", "gaussian")
#: the score name of a cached spectrum record (one initialization of an ``eigen``-family score)
SPECTRUM_RECORD = "eigen_spectrum"


def class_key(arch: str, iso: str, bench: Benchmark | None = None) -> str:
    """The key under which a cell's score is stored: 'arch' (itself), 'canonical' or 'nats' (unique_str)."""
    if iso == "arch":
        return str(arch)
    if iso == "canonical":
        return "canon:" + str(Arch.parse(arch).canonical())
    if iso == "nats":
        if bench is None:
            return "nats:" + nats_unique_str(arch)
        return "nats:" + bench.unique_str(arch)
    raise ValueError(f"iso must be 'arch', 'canonical', 'nats' or 'auto', got {iso!r}")


_REPRESENTATIVES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def representatives(bench: Benchmark, iso: str) -> dict[str, str]:
    """For each class key (``class_key(·, iso)``), the arch string of its member with the smallest
    benchmark index: the cell that is actually scored for the class, whatever order cells come in."""
    per_bench = _REPRESENTATIVES.setdefault(bench, {})
    if iso not in per_bench:
        reps: dict[str, str] = {}
        for i in range(len(bench)):
            a = bench.arch(i)
            reps.setdefault(class_key(a, iso, bench), a)
        per_bench[iso] = reps
    return per_bench[iso]


@dataclass
class Scorer:
    """Scores benchmark cells with one score on one dataset, through the cache (module docstring).

    ``images`` (X, y) may be given; otherwise a batch of ``score.batch_size`` images (64 for scores
    without a batch size) is drawn from the data folder with ``image_batch(dataset, ..., seed)``.
    ``computed`` / ``compute_time_s`` count what this scorer computed (values or spectra).
    """

    score: Score
    bench: Benchmark
    dataset: str = "cifar10"
    cache: ScoreCache = field(default_factory=lambda: ScoreCache(None))
    iso: str = "auto"
    data_dir: str | os.PathLike | None = None
    images: tuple[Any, Any] | None = None
    progress: bool = True
    image_source: str = "real"
    spectral: bool = False
    share_jacobian: bool = True
    computed: int = 0
    compute_time_s: float = 0.0

    def __post_init__(self) -> None:
        self.dataset = canonical_dataset(self.dataset)
        if self.iso == "auto":
            self.iso = "canonical" if self.score.iso_invariant else "arch"
        if self.image_source not in IMAGE_SOURCES:
            raise ScoreError(f"images must be one of {', '.join(IMAGE_SOURCES)}, got {self.image_source!r}")
        if self.spectral and not isinstance(self.score, EigenScore):
            raise ScoreError(f"score {self.score.name!r} has no cached spectra (spectral scoring is for eigen scores)")
        self._batches: dict[int, tuple[Any, Any]] = {}

    @property
    def num_classes(self) -> int:
        return int(NUM_CLASSES[self.dataset])

    def batch(self, seed: int) -> tuple[Any, Any]:
        """The (X, y) batch of score seed ``seed`` from the scorer's image source (module docstring)."""
        if seed not in self._batches:
            if self.images is not None:
                X, y = self.images
            else:
                X, y = image_batch(self.dataset, self.score.batch_size or 64, seed, data_dir=self.data_dir)
            if self.image_source == "gaussian":
                X, y = self._first(X, y)
                g = torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), 4242]).generate_state(1)[0]))
                X = torch.randn(X.shape, generator=g, dtype=X.dtype)
            self._batches[seed] = (X, y)
        return self._batches[seed]

    def _first(self, X: Any, y: Any) -> tuple[Any, Any]:
        """The first ``score.batch_size`` images (all for a score without a batch size), or a clear error."""
        bs = self.score.batch_size or len(X)
        if len(X) < bs:
            raise ScoreError(f"{bs} images wanted, {len(X)} given")
        return X[:bs], None if y is None else y[:bs]

    def _options(self) -> dict[str, Any]:
        """The score's options in the scalar record key (the image source only when it is not 'real')."""
        if self.image_source == "real":
            return self.score.options
        return {**self.score.options, "images": self.image_source}

    def _cache_dataset(self) -> str:
        return self.dataset if self.score.dataset_dependent else "*"

    def key(self, arch: str, seed: int) -> tuple[str, str]:
        """(class key, scalar record key) of ``arch`` for score seed ``seed``."""
        ck = class_key(arch, self.iso, self.bench)
        return ck, record_key(ck, self.score.name, self._options(), self._cache_dataset(), seed)

    def _spectrum_options(self, k: int, output: str | None = None) -> dict[str, Any]:
        assert isinstance(self.score, EigenScore)
        opts = self.score.spectrum_options()
        if output is not None:
            opts["output"] = output
        return {**opts, "images": self.image_source, "init": int(k)}

    def spectrum_key(self, ck: str, seed: int, k: int, output: str | None = None) -> str:
        """Record key of the spectrum of initialization k of class ``ck`` (``output``: another readout)."""
        return record_key(ck, SPECTRUM_RECORD, self._spectrum_options(k, output), self.dataset, seed)

    def _classes(self, indices: Sequence[int]) -> list[tuple[str, str]]:
        """(class key, representative arch) of each benchmark index."""
        reps = representatives(self.bench, self.iso) if self.iso != "arch" else {}
        out = []
        for i in indices:
            a = self.bench.arch(int(i))
            ck = class_key(a, self.iso, self.bench)
            out.append((ck, reps.get(ck, a)))
        return out

    def _bar(self, items: list, desc: str | None, unit: str) -> Iterable:
        if not self.progress or not items:
            return items
        return tqdm(items, desc=desc or f"{self.score.name} {self.dataset}", unit=unit, leave=False)

    # ------------------------------------------------------------------------------ values

    def score_indices(self, indices: Sequence[int], seed: int = 0, desc: str | None = None) -> np.ndarray:
        """Scores of the cells ``indices`` (benchmark indices), computing only what the cache lacks."""
        if self.spectral:
            return self.spectral_values(indices, seed, desc)[0]
        archs = [self.bench.arch(int(i)) for i in indices]
        keys = [self.key(a, seed) for a in archs]
        reps = representatives(self.bench, self.iso) if self.iso != "arch" else {}
        todo: dict[str, tuple[str, str]] = {}
        for a, (ck, rk) in zip(archs, keys):
            if rk not in self.cache and rk not in todo:
                todo[rk] = (reps.get(ck, a), ck)
        if todo:
            X, y = (None, None) if not self.score.needs_images else self.batch(seed)
            for rk, (a, ck) in self._bar(list(todo.items()), desc, "cell"):
                t0 = time.perf_counter()
                v = self.score.score(a, X, y, seed=seed, num_classes=self.num_classes)
                dt = time.perf_counter() - t0
                self.computed += 1
                self.compute_time_s += dt
                self.cache.put(rk, v, **self._record_fields(a, ck, self.score.name, self._options(), seed, dt))
        out = np.empty(len(archs))
        for i, (_, rk) in enumerate(keys):
            v = self.cache.get(rk)
            out[i] = math.nan if v is None else v
        return out

    def _record_fields(
        self, arch: str, ck: str, name: str, options: Mapping[str, Any], seed: int, dt: float, **extra: Any
    ) -> dict[str, Any]:
        """The fields stored in clear next to a value (the parts of its key, and the time it took)."""
        return {
            "arch": arch,
            "cls": ck,
            "score": name,
            "options": options_fingerprint(options),
            "dataset": self._cache_dataset(),
            "seed": int(seed),
            **extra,
            "time_s": round(dt, 4),
        }

    def spectral_values(
        self, indices: Sequence[int], seed: int = 0, desc: str | None = None
    ) -> tuple[np.ndarray, float]:
        """Spectral scores of the cells (mean over the score's ``seeds`` initializations of the normalized
        λ_min, ``normalized_value``) and the mean cost (s) of one cell's class, summed over its
        initializations, from the stored times."""
        return self.class_spectral_values(self._classes(indices), seed, desc)

    def class_spectral_values(
        self, classes: Sequence[tuple[str, str]], seed: int = 0, desc: str | None = None
    ) -> tuple[np.ndarray, float]:
        """``spectral_values`` of (class key, arch) pairs (``class_spectra``)."""
        assert isinstance(self.score, EigenScore)
        recs = self.class_spectra(classes, seed, desc=desc)
        vals = np.empty(len(recs))
        for i, row in enumerate(recs):
            vs = [normalized_value(r["stats"], self.score.opts.reduction) for r in row]
            vals[i] = float(np.mean(vs)) if vs else math.nan
        per_class: dict[str, float] = {}
        for row in recs:
            per_class[row[0]["cls"]] = sum(float(r.get("time_s", math.nan)) for r in row)
        return vals, float(np.mean(list(per_class.values()))) if per_class else math.nan

    # ------------------------------------------------------------------------------ spectra

    def spectra(
        self, indices: Sequence[int], seed: int = 0, inits: int | None = None, desc: str | None = None
    ) -> list[list[dict[str, Any]]]:
        """Per cell, the cached spectrum records (with ``stats`` and ``time_s``) of initializations
        0..inits−1 (default the score's ``seeds``), computing the missing ones."""
        return self.class_spectra(self._classes(indices), seed, inits, desc)

    def class_spectra(
        self, classes: Sequence[tuple[str, str]], seed: int = 0, inits: int | None = None, desc: str | None = None
    ) -> list[list[dict[str, Any]]]:
        """``spectra`` of (class key, arch) pairs: the arch is what the score's model factory builds (a
        benchmark cell, or any name the factory reads, such as a supernet's)."""
        if not self.spectral:
            raise ScoreError("spectra are cached by a spectral scorer (Scorer(..., spectral=True))")
        assert isinstance(self.score, EigenScore)
        inits = self.score.opts.seeds if inits is None else inits
        todo: dict[str, tuple[str, str, int]] = {}
        keys: list[list[str]] = []
        for ck, rep in classes:
            row = []
            for k in range(inits):
                rk = self.spectrum_key(ck, seed, k)
                row.append(rk)
                if rk not in self.cache and rk not in todo:
                    todo[rk] = (rep, ck, k)
            keys.append(row)
        if todo:
            X = self._first(*self.batch(seed))[0]
            for rk, (rep, ck, k) in self._bar(list(todo.items()), desc, "spec"):
                if rk in self.cache:  # stored as a by-product of an earlier item (full / trace)
                    continue
                self._compute_spectrum(rep, ck, X, seed, k)
        out: list[list[dict[str, Any]]] = []
        for row in keys:
            recs = []
            for rk in row:
                rec = self.cache.record(rk)
                if rec is None:  # pragma: no cover - put() always stores
                    raise ScoreError(f"missing cache record {rk}")
                recs.append(rec)
            out.append(recs)
        return out

    def _compute_spectrum(self, arch: str, ck: str, X: torch.Tensor, seed: int, k: int) -> None:
        """Compute and store the spectrum of initialization k of ``arch`` (class ``ck``), with the other
        readout that the same Jacobian gives when ``share_jacobian`` (marked ``computed_with``)."""
        score = self.score
        assert isinstance(score, EigenScore)
        own = score.opts.output
        t0 = time.perf_counter()
        if self.share_jacobian:
            by_output = score.init_stats_by_output(arch, X, seed, self.num_classes, k)
        else:
            by_output = {own: score.init_stats(arch, X, seed, self.num_classes, k)}
        dt = time.perf_counter() - t0
        self.computed += 1
        self.compute_time_s += dt
        for out, st in by_output.items():
            key = self.spectrum_key(ck, seed, k, out)
            if out != own and key in self.cache:
                continue
            extra: dict[str, Any] = {"stats": dict(st)}
            if out != own:
                extra["computed_with"] = own
            fields = self._record_fields(arch, ck, SPECTRUM_RECORD, self._spectrum_options(k, out), seed, dt, **extra)
            self.cache.put(key, st["lmin"], **fields)

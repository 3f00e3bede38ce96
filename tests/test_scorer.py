"""The one caching scorer (empirics.nas.scorer): scalar and spectral records, image sources, cache keys."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from empirics.nas.cache import ScoreCache, record_key
from empirics.nas.scorer import SPECTRUM_RECORD, Scorer, class_key
from empirics.nas.scores import ScoreError, get_score

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OPTS = {"C": 8, "N": 1, "batch_size": 6}


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(11)
    return torch.randn(6, 3, 32, 32, generator=g), torch.arange(6) % 10


@pytest.fixture(scope="module")
def cells(bench):
    return bench.sample(3, np.random.default_rng(4))


def test_spectral_values_equal_the_scores_and_share_one_cache(bench, batch, cells, tmp_path):
    """The spectral scorer's value of a cell is the score's own value (same kernels, same reduction), for
    every normalization and for tenas_cond; after the first, every one is read from the cached spectra."""
    cache = ScoreCache(tmp_path, filename="spectra.jsonl")
    computed = 0
    for name, opts in [("eigen", {"normalize": "trace", "seeds": 2}), ("eigen", {"normalize": "none", "seeds": 2}),
                       ("eigen", {"normalize": "lmax", "seeds": 1}), ("tenas_cond", {"seeds": 2})]:
        score = get_score(name, **OPTS, **opts)
        spectral = Scorer(score, bench, cache=cache, images=batch, progress=False, spectral=True)
        got = spectral.score_indices(cells)
        want = Scorer(score, bench, images=batch, progress=False).score_indices(cells)
        np.testing.assert_array_equal(got, want)
        computed += spectral.computed
    classes = {class_key(bench.arch(i), "canonical", bench) for i in cells}
    assert computed == 2 * len(classes)  # two initializations per class, computed once for all four scores
    lines = (tmp_path / "spectra.jsonl").read_text().splitlines()
    assert len(lines) == computed and {json.loads(t)["score"] for t in lines} == {SPECTRUM_RECORD}


def test_spectrum_keys_are_the_recorded_ones(bench, batch, cells):
    """A spectrum record's key: class, 'eigen_spectrum', the spectrum options (no seeds, no normalize) with
    the image source and the initialization, dataset, seed; a scalar record's key: the score's options."""
    score = get_score("eigen", **OPTS, seeds=1, output="class:rand")
    sc = Scorer(score, bench, "cifar10", images=batch, progress=False, spectral=True, image_source="gaussian")
    ck = class_key(bench.arch(cells[0]), "canonical", bench)
    want = record_key(ck, "eigen_spectrum", {"C": 8, "N": 1, "bn": "train", "output": "class:rand", "batch_size": 6,
                                             "images": "gaussian", "init": 1}, "cifar10", 3)
    assert sc.spectrum_key(ck, 3, 1) == want
    real = Scorer(score, bench, images=batch, progress=False)
    assert real.key(bench.arch(cells[0]), 0)[1] == record_key(ck, "eigen", score.options, "cifar10", 0)
    noise = Scorer(score, bench, images=batch, progress=False, image_source="gaussian")
    assert noise.key(bench.arch(cells[0]), 0)[1] != real.key(bench.arch(cells[0]), 0)[1]


def test_gaussian_images_and_errors(bench, batch, cells):
    score = get_score("eigen", **OPTS, seeds=1)
    g0 = Scorer(score, bench, images=batch, progress=False, image_source="gaussian").batch(0)[0]
    g1 = Scorer(score, bench, images=batch, progress=False, image_source="gaussian").batch(1)[0]
    assert g0.shape == batch[0].shape and not torch.equal(g0, batch[0]) and not torch.equal(g0, g1)
    assert abs(float(g0.mean())) < 0.1 and abs(float(g0.std()) - 1.0) < 0.1  # N(0, 1) noise
    with pytest.raises(ScoreError, match="images must be one of"):
        Scorer(score, bench, image_source="noise")
    with pytest.raises(ScoreError, match="no cached spectra"):
        Scorer(get_score("params"), bench, spectral=True)
    with pytest.raises(ScoreError, match="spectral scorer"):
        Scorer(score, bench, images=batch, progress=False).spectra(cells)
    big = get_score("eigen", C=8, N=1, batch_size=8, seeds=1)
    with pytest.raises(ScoreError, match="8 images wanted, 6 given"):
        Scorer(big, bench, images=batch, progress=False, spectral=True).spectra(cells)

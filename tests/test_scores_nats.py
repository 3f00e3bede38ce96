"""The cntk and eigen_free scores against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from empirics import build_model, empirical_ntk
from empirics.nas.scores import SCORES, ScoreError, _init_seed, get_score
from empirics.nas.scores_nats import kernel_value, pool_images
from theory.nats import nats_ntk

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
ZERO = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _images(n=6, h=16, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, 3, h, h))).float()


def test_registered():
    assert {"cntk", "eigen_free"} <= set(SCORES)
    with pytest.raises(ScoreError, match="normalize"):
        get_score("cntk", normalize="cond")
    with pytest.raises(ScoreError, match="size"):
        get_score("cntk", size=6)
    with pytest.raises(ScoreError, match="needs a batch"):
        get_score("cntk").score(ARCH)
    with pytest.raises(ScoreError, match="cannot be average-pooled"):
        get_score("cntk", batch_size=2, size=12).score(ARCH, _images(2, 16))


def test_cntk_is_lambda_min_of_the_exact_kernel_on_pooled_images():
    x = _images(6, 16)
    pooled = F.avg_pool2d(x.double(), 2)
    K = nats_ntk(ARCH, pooled[:4])
    ev = np.linalg.eigvalsh(K)
    raw = get_score("cntk", batch_size=4, size=8, normalize="raw").score(ARCH, x)
    tr = get_score("cntk", batch_size=4, size=8).score(ARCH, x)
    assert raw == pytest.approx(ev[0], rel=1e-12)
    assert tr == pytest.approx(4 * ev[0] / np.trace(K), rel=1e-12)
    lm = get_score("cntk", batch_size=4, size=8, normalize="lmax").score(ARCH, x)
    assert lm == pytest.approx(ev[0] / ev[-1], rel=1e-12)
    # the trace normalization removes the scale of the images (the kernel is 2-homogeneous)
    assert get_score("cntk", batch_size=4, size=8).score(ARCH, 4 * x) == pytest.approx(tr, rel=1e-10)
    assert get_score("cntk", batch_size=4, size=0).score(ARCH, x[:, :, :8, :8]) == pytest.approx(
        kernel_value(nats_ntk(ARCH, x[:4, :, :8, :8].double()), "trace"), rel=1e-12)
    for norm in ("raw", "trace", "lmax"):
        assert get_score("cntk", batch_size=4, normalize=norm).score(ZERO, x) == 0.0
    with pytest.raises(ScoreError, match="normalize"):
        kernel_value(np.eye(2), "cond")
    assert np.isnan(kernel_value(np.array([[1.0, np.nan], [np.nan, 1.0]]), "lmax"))
    torch.testing.assert_close(pool_images(x, 16), x.double())


def test_eigen_free_is_lambda_min_of_the_twin():
    x = _images(4, 8)
    s = get_score("eigen_free", batch_size=3, size=8, C=8, seeds=2, normalize="raw")
    vals = []
    for k in range(2):
        m = build_model(ARCH, width=8, seed=_init_seed(5, k), family="nats", batchnorm=False, N=1, stages=3,
                        dtype=torch.float64)
        vals.append(np.linalg.eigvalsh(empirical_ntk(m, x[:3].double()).numpy())[0])
    assert s.score(ARCH, x, seed=5) == pytest.approx(np.mean(vals), rel=1e-10)


def test_batchnorm_variants():
    """cntk_bn = λ_min of the BN-limit kernel, eigen_free_bn = λ_min of the BN twin's empirical NTK; both
    registered with the options of their BN-free scores and separate cache keys (other score names)."""
    assert {"cntk_bn", "eigen_free_bn"} <= set(SCORES)
    assert SCORES["cntk_bn"].defaults == SCORES["cntk"].defaults
    x = _images(6, 16)
    pooled = F.avg_pool2d(x.double(), 2)[:4]
    K = nats_ntk(ARCH, pooled, batchnorm=True)
    ev = np.linalg.eigvalsh(K)
    assert get_score("cntk_bn", batch_size=4, size=8, normalize="raw").score(ARCH, x) == pytest.approx(ev[0], rel=1e-12)
    tr = get_score("cntk_bn", batch_size=4, size=8).score(ARCH, x)
    assert tr == pytest.approx(4 * ev[0] / np.trace(K), rel=1e-12)
    assert tr != pytest.approx(get_score("cntk", batch_size=4, size=8).score(ARCH, x), rel=1e-3)
    # BN removes the images' scale from the kernel itself (up to ε), so even the raw value is scale-free
    raw5 = get_score("cntk_bn", batch_size=4, size=8, normalize="raw").score(ARCH, 5 * x)
    assert raw5 == pytest.approx(ev[0], rel=1e-4)
    assert get_score("cntk_bn", batch_size=4, size=8).score(ZERO, x) == 0.0
    s = get_score("eigen_free_bn", batch_size=3, size=8, C=8, seeds=2, normalize="raw")
    xs = F.avg_pool2d(x.double(), 2)[:3]
    vals = []
    for k in range(2):
        m = build_model(ARCH, width=8, seed=_init_seed(0, k), family="nats", batchnorm="ntk", N=1, stages=3,
                        dtype=torch.float64)
        vals.append(np.linalg.eigvalsh(empirical_ntk(m, xs, method="loop").numpy())[0])
    assert s.score(ARCH, x, seed=0) == pytest.approx(np.mean(vals), rel=1e-9)

"""Property tests of bounds.nats: random NATS cells, random tiny images, random skeletons."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bounds.nats import levels_from_kernels, nats_levels, nats_upper
from theory.nats import nats_kernels

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def cell(o):
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


@st.composite
def cases(draw):
    ops = draw(st.lists(st.sampled_from(OPS), min_size=6, max_size=6))
    stages = draw(st.integers(1, 3))
    cells = draw(st.integers(1, 2))
    n = draw(st.integers(2, 5))
    f = 2 ** (stages - 1)
    h = f * draw(st.integers(1 if stages == 3 else 2, 2))
    w = f * draw(st.integers(1 if stages == 3 else 2, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3, h, w)) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    if draw(st.booleans()):  # a nearly duplicated image: λ_min close to 0
        X[1] = X[0] + 1e-3 * rng.standard_normal(X[0].shape)
    if draw(st.booleans()):  # a positive mean, as real images have
        X = X + 1.0
    return cell(ops), X, stages, cells


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_sandwich(case):
    arch, X, stages, cells = case
    k = nats_kernels(arch, X, stages, cells, groups=True)
    L = levels_from_kernels(k)
    lam = float(np.linalg.eigvalsh(k.ntk)[0])
    tol = 1e-9 * max(1.0, np.abs(k.ntk).max())
    assert 0.0 <= L.s0 <= L.s1 + tol and L.s0 <= L.s2 + tol
    assert L.lower <= lam + tol, (arch, L)
    assert lam <= L.u_2x2 + tol <= min(L.u_pair, L.u_diag) + 2 * tol, (arch, L)
    u_diag, u2, pairs = nats_upper(arch, X, stages, cells, pairs=2)
    assert lam <= u2 + tol and u2 <= u_diag + tol
    np.testing.assert_allclose(u_diag, np.diag(k.ntk).min(), rtol=1e-9, atol=tol)
    for i, j in pairs:  # the pair runs are principal submatrices of the full kernel
        sub = k.ntk[np.ix_([i, j], [i, j])]
        assert u2 <= float(np.linalg.eigvalsh(sub)[0]) + tol


def test_levels_on_a_fixed_cell_are_informative():
    # a cell with every op, 4 images 8×8: the lower bounds are positive and below the exact value, and the
    # Weyl bound over the groups recovers a sizeable part of λ_min
    X = np.random.default_rng(0).standard_normal((4, 3, 8, 8))
    L = nats_levels(cell(["nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none", "nor_conv_1x1", "skip_connect"]), X)
    assert 0 < L.s0 < L.s1 < L.exact < L.u_2x2
    assert 0 < L.s2 < L.exact
    assert L.s1 > 0.3 * L.exact
    assert len(L.lines()) == 7


def test_levels_need_groups():
    X = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    with pytest.raises(ValueError, match="groups=True"):
        levels_from_kernels(nats_kernels(cell(["skip_connect"] * 6), X))

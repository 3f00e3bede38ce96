"""theory.nats against a brute-force recursion written here independently.

The reference below shares no code with theory/nats.py: it works with dense matrices over
(sample, pixel) (size N·H·W), builds every conv tap, pool and stride as an explicit 0/1 or averaging
matrix by loops (the 3×3 pool directly in 2-D, not as a product of 1-D factors), and computes
covariances and cross-NTKs of a cell by a memoized bilinear recursion over the variables "node j" and
"edge e" (instead of the atom decomposition of theory/nats.py): cov(node j, ·) = Σ_{e into j}
cov(edge e, ·); for linear edges cov(L_e node i, ·) = L_e cov(node i, ·); a conv edge's output has
the conv map as its own covariance, is uncorrelated with the cell input and every other conv edge, and
meets a linear edge only through that edge's source node.

With ``bn_eps`` the reference carries the BatchNorm limit (docs/theory.md, IV.6) with an explicit
centring matrix Π = I − 11ᵀ/M over all M batch-pixel positions: Σ ↦ ΠΣΠ/(v + ε), Θ ↦ ΠΘΠ/(v + ε),
v = tr(ΠΣΠ)/M, after the stem conv, every conv edge, the reduction's convs a and b, and before the head.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from theory import InputError, KernelTooLargeError
from theory.nats import nats_kernels, nats_memory_bytes, nats_nngp, nats_ntk
from theory.space import ArchError

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def cell(ops: list[str]) -> str:
    o = ops
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


# ------------------------------------------------------------------------------ brute-force reference


def tap_matrices(H, W, k, stride, pad):
    """One matrix per tap (dy, dx): (Ho·Wo) × (H·W), 1 where input pixel = stride·o + d − pad exists."""
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    mats = []
    for dy in range(k):
        for dx in range(k):
            M = np.zeros((Ho * Wo, H * W))
            for oi in range(Ho):
                for oj in range(Wo):
                    i, j = stride * oi + dy - pad, stride * oj + dx - pad
                    if 0 <= i < H and 0 <= j < W:
                        M[oi * Wo + oj, i * W + j] = 1.0
            mats.append(M)
    return mats, Ho, Wo


def pool3_matrix(H, W):
    M = np.zeros((H * W, H * W))
    for i in range(H):
        for j in range(W):
            nb = [(a, b) for a in range(i - 1, i + 2) for b in range(j - 1, j + 2) if 0 <= a < H and 0 <= b < W]
            for a, b in nb:
                M[i * W + j, a * W + b] = 1.0 / len(nb)
    return M


def pool2_matrix(H, W):
    M = np.zeros((H // 2 * W // 2, H * W))
    for oi in range(H // 2):
        for oj in range(W // 2):
            for a in (2 * oi, 2 * oi + 1):
                for b in (2 * oj, 2 * oj + 1):
                    M[oi * (W // 2) + oj, a * W + b] = 0.25
    return M


def relu_expectations(S):
    v = np.clip(np.diag(S), 0, None)
    q = np.sqrt(np.outer(v, v))
    V, Vd = np.zeros_like(S), np.zeros_like(S)
    for a in range(S.shape[0]):
        for b in range(S.shape[1]):
            if q[a, b] <= 0:
                continue
            # a pixel with itself has cos θ = 1 exactly (rounding would make θ ≈ 1e-8 and V' off by ~1e-9)
            c = 1.0 if a == b else min(1.0, max(-1.0, S[a, b] / q[a, b]))
            t = math.acos(c)
            V[a, b] = q[a, b] * (math.sin(t) + (math.pi - t) * c) / (2 * math.pi)
            Vd[a, b] = (math.pi - t) / (2 * math.pi)
    return V, Vd


class Ref:
    def __init__(self, n, bn_eps=None):
        self.n = n
        self.bn_eps = bn_eps

    def bn(self, S, T):
        if self.bn_eps is None:
            return S, T
        M = S.shape[0]
        P = np.eye(M) - np.full((M, M), 1.0 / M)
        Sc = P @ S @ P
        v = np.trace(Sc) / M
        return Sc / (v + self.bn_eps), P @ T @ P / (v + self.bn_eps)

    def big(self, M):
        return np.kron(np.eye(self.n), M)

    def conv(self, S, T, H, W, k, stride, sw2):
        """Conv of ReLU: (Σ', Θ', Ho, Wo)."""
        mats, Ho, Wo = tap_matrices(H, W, k, stride, k // 2 if stride == 1 else 1)
        V, Vd = relu_expectations(S)
        S2 = sum(self.big(M) @ V @ self.big(M).T for M in mats) * sw2 / k**2
        T2 = S2 + sum(self.big(M) @ (T * Vd) @ self.big(M).T for M in mats) * sw2 / k**2
        S2, T2 = self.bn(S2, T2)
        return S2, T2, Ho, Wo

    def cell(self, arch_edges, n_nodes, S0, T0, H, W):
        """Covariance algebra over the variables ('node', j) and ('edge', e) = op_e(node src_e), by
        bilinearity: cov(node j, ·) = Σ_{e into j} cov(edge e, ·); a conv edge's output correlates only
        with itself (its own N(0,1) weights) and with whatever contains it."""
        P = self.big(pool3_matrix(H, W))
        lin = {"skip_connect": np.eye(S0.shape[0]), "avg_pool_3x3": P}
        conv_out = {}

        def conv_of(e):
            if e not in conv_out:
                src, _, op = arch_edges[e]
                S2, T2, _, _ = self.conv(cov(("node", src), ("node", src), 0), cov(("node", src), ("node", src), 1),
                                         H, W, int(op[-1]), 1, 2.0)
                conv_out[e] = (S2, T2)
            return conv_out[e]

        memo = {}

        def cov(u, v, which):  # which = 0: NNGP, 1: NTK
            key = (u, v, which)
            if key in memo:
                return memo[key]
            if u[0] == "node" and u[1] == 0 and v[0] == "node" and v[1] == 0:
                r = (S0, T0)[which]
            elif u[0] == "node" and u[1] > 0:
                r = sum((cov(("edge", e), v, which) for e, (_, d, _) in enumerate(arch_edges) if d == u[1]),
                        np.zeros_like(S0))
            elif v[0] == "node" and v[1] > 0:
                r = cov(v, u, which).T
            elif u[0] == "edge" and arch_edges[u[1]][2] == "none":
                r = np.zeros_like(S0)
            elif v[0] == "edge" and arch_edges[v[1]][2] == "none":
                r = np.zeros_like(S0)
            elif u[0] == "edge" and arch_edges[u[1]][2].startswith("nor_conv"):
                if u == v:
                    r = conv_of(u[1])[which]
                elif v[0] == "edge" and not arch_edges[v[1]][2].startswith("nor_conv"):
                    src, _, op = arch_edges[v[1]]
                    r = cov(u, ("node", src), which) @ lin[op].T
                else:  # another conv edge, or the cell input
                    r = np.zeros_like(S0)
            elif v[0] == "edge" and arch_edges[v[1]][2].startswith("nor_conv"):
                r = cov(v, u, which).T
            elif u[0] == "edge":  # linear edge against a linear edge or the cell input
                src, _, op = arch_edges[u[1]]
                r = lin[op] @ cov(("node", src), v, which)
            else:  # node 0 against a linear edge
                r = cov(v, u, which).T
            memo[key] = r
            return r

        out = ("node", n_nodes)
        S, T = cov(out, out, 0), cov(out, out, 1)
        return (S + S.T) / 2, (T + T.T) / 2

    def network(self, arch, X, stages, cells):
        from theory.space import Arch

        a = Arch.parse(arch)
        edges = [(e.src, e.dst, e.op.kind.value) for e in a.edges]
        n, c, H, W = X.shape
        F = X.transpose(0, 2, 3, 1).reshape(n * H * W, c)
        mats, _, _ = tap_matrices(H, W, 3, 1, 1)
        S = sum(self.big(M) @ (F @ F.T / c) @ self.big(M).T for M in mats) / 9
        S, T = self.bn(S, S.copy())
        for s in range(stages):
            if s > 0:
                Sa, Ta, Ho, Wo = self.conv(S, T, H, W, 3, 2, 2.0)
                Sb, Tb, _, _ = self.conv(Sa, Ta, Ho, Wo, 3, 1, 2.0)
                D = self.big(pool2_matrix(H, W))
                S, T = Sb + D @ S @ D.T, Tb + D @ S @ D.T + D @ T @ D.T
                H, W = Ho, Wo
            for _ in range(cells):
                S, T = self.cell(edges, a.n_nodes, S, T, H, W)
        G = self.big(np.ones((1, H * W)) / (H * W))
        S, T = self.bn(S, T)
        V, Vd = relu_expectations(S)
        nngp = 2.0 * G @ V @ G.T
        ntk = nngp + 2.0 * G @ (T * Vd) @ G.T
        return ntk, nngp


# ------------------------------------------------------------------------------ tests

CELLS = [
    cell(["nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none", "nor_conv_1x1", "skip_connect"]),
    cell(["avg_pool_3x3", "avg_pool_3x3", "avg_pool_3x3", "avg_pool_3x3", "avg_pool_3x3", "avg_pool_3x3"]),
    cell(["nor_conv_1x1", "nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1", "nor_conv_1x1", "nor_conv_3x3"]),
    cell(["skip_connect", "none", "avg_pool_3x3", "nor_conv_3x3", "none", "skip_connect"]),
    cell(["nor_conv_3x3", "none", "nor_conv_3x3", "none", "none", "nor_conv_3x3"]),  # a conv chain
    cell(["none", "none", "none", "none", "none", "none"]),  # identically zero
    "|nor_conv_3x3~0|nor_conv_3x3~0|+|avg_pool_3x3~1|skip_connect~0|",  # parallel equal convs
]


def _images(n, h, w, seed=0, c=3):
    return np.random.default_rng(seed).standard_normal((n, c, h, w))


@pytest.mark.parametrize("arch", CELLS)
def test_matches_bruteforce_three_stages(arch):
    X = _images(3, 4, 4)
    ntk_ref, nngp_ref = Ref(3).network(arch, X, 3, 1)
    k = nats_kernels(arch, X)
    scale = max(1.0, np.abs(ntk_ref).max())
    np.testing.assert_allclose(k.ntk, ntk_ref, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(k.nngp, nngp_ref, rtol=1e-10, atol=1e-12 * scale)


@pytest.mark.parametrize("seed", range(6))
def test_matches_bruteforce_random_cells_two_cells_per_stage(seed):
    rng = np.random.default_rng(100 + seed)
    arch = cell(list(rng.choice(OPS, 6)))
    X = _images(2, 4, 8, seed=seed, c=2)
    ntk_ref, nngp_ref = Ref(2).network(arch, X, 2, 2)
    k = nats_kernels(arch, X, stages=2, cells_per_stage=2, groups=True)
    np.testing.assert_allclose(k.ntk, ntk_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(k.nngp, nngp_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sum(k.parts.values()), k.ntk, rtol=1e-12, atol=1e-12)
    assert set(k.parts) <= {"stem", "stage1.cell1", "stage1.cell2", "reduce1", "stage2.cell1", "stage2.cell2",
                            "head"}


@pytest.mark.parametrize("arch", CELLS)
def test_batchnorm_limit_matches_bruteforce_three_stages(arch):
    X = _images(3, 4, 4, seed=7)
    ntk_ref, nngp_ref = Ref(3, bn_eps=1e-5).network(arch, X, 3, 1)
    k = nats_kernels(arch, X, batchnorm=True)
    scale = max(1.0, np.abs(ntk_ref).max())
    np.testing.assert_allclose(k.ntk, ntk_ref, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(k.nngp, nngp_ref, rtol=1e-10, atol=1e-12 * scale)
    if np.abs(ntk_ref).max() > 0:  # BN changes the kernel (the check can fail)
        assert not np.allclose(k.ntk, nats_kernels(arch, X).ntk, rtol=1e-3)


@pytest.mark.parametrize("seed", range(4))
def test_batchnorm_limit_matches_bruteforce_random_cells_two_cells_per_stage(seed):
    rng = np.random.default_rng(200 + seed)
    arch = cell(list(rng.choice(OPS, 6)))
    X = _images(2, 4, 8, seed=seed, c=2)
    eps = 0.3  # a large ε, so that its place in the map is tested too
    ntk_ref, nngp_ref = Ref(2, bn_eps=eps).network(arch, X, 2, 2)
    k = nats_kernels(arch, X, stages=2, cells_per_stage=2, groups=True, batchnorm=True, bn_eps=eps)
    # rtol 1e-8, not 1e-10: some pixel pairs of these cells are correlated with cos θ = 1 up to rounding,
    # where θ = arccos(cos θ) turns a 1e-16 rounding difference into ~1e-8 (the BN-free kernel has the same
    # conditioning; e.g. the all-pool cell on 8×8 images differs by 4e-9 between X and 7·X without BN)
    np.testing.assert_allclose(k.ntk, ntk_ref, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(k.nngp, nngp_ref, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sum(k.parts.values()), k.ntk, rtol=1e-12, atol=1e-12)
    for part in k.parts.values():
        assert np.linalg.eigvalsh(part)[0] > -1e-10 * max(1.0, np.abs(part).max())


def test_batchnorm_limit_invariances():
    # BN makes the network invariant to a global scale of the images (up to ε) and to a constant shift of
    # every image channel (the stem conv of a constant is constant away from the zero-padded border, so
    # only an interior-constant shift is exact: use ε = 0 and the scale)
    X = _images(3, 8, 8, seed=9)
    for arch in CELLS[:4]:
        K = nats_kernels(arch, X, batchnorm=True, bn_eps=0.0)
        K2 = nats_kernels(arch, 7.0 * X, batchnorm=True, bn_eps=0.0)
        # 1e-7: the all-pool cell has pixel pairs with cos θ = 1 (arccos conditioning, see above)
        np.testing.assert_allclose(K2.ntk, K.ntk, rtol=1e-7)
        np.testing.assert_allclose(K2.nngp, K.nngp, rtol=1e-7)
        assert not np.allclose(nats_kernels(arch, 7.0 * X, batchnorm=True).ntk, 49.0 * K.ntk, rtol=1e-2)
    # a node that is identically zero stays zero (no 0/0 at ε = 0)
    z = nats_kernels(CELLS[5], X, batchnorm=True, bn_eps=0.0)
    assert np.all(z.ntk == 0.0) and np.all(z.nngp == 0.0)
    # the node after a BN has unit mean variance over the batch-pixel positions, zero batch mean
    k = nats_kernels(CELLS[2], X, batchnorm=True, bn_eps=0.0)
    S = k.last_sigma
    np.testing.assert_allclose(np.trace(S) / len(S), 1.0, rtol=1e-12)
    np.testing.assert_allclose(k.last_theta.sum(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(S.sum(axis=0), 0.0, atol=1e-10)


def test_batchnorm_bad_input():
    X = _images(2, 4, 4)
    with pytest.raises(ValueError, match="batchnorm must be a boolean"):
        nats_ntk(CELLS[0], X, batchnorm="yes")
    for eps in (-1.0, float("nan"), True):
        with pytest.raises(ValueError, match="bn_eps"):
            nats_ntk(CELLS[0], X, batchnorm=True, bn_eps=eps)
    need = nats_memory_bytes(CELLS[0], 2, 4, 4, batchnorm=True)
    assert need > nats_memory_bytes(CELLS[0], 2, 4, 4)
    with pytest.raises(KernelTooLargeError, match="memory_limit_bytes"):
        nats_ntk(CELLS[0], X, batchnorm=True, memory_limit_bytes=need - 1)


def test_api_torch_numpy_and_groups_agree():
    arch = CELLS[0]
    X = _images(3, 8, 8, seed=3)
    K = nats_ntk(arch, X)
    np.testing.assert_allclose(nats_ntk(arch, torch.from_numpy(X)), K, rtol=1e-13)
    np.testing.assert_allclose(nats_ntk(arch, torch.from_numpy(X).float()), nats_ntk(arch, X.astype(np.float32)),
                               rtol=1e-13)
    g = nats_kernels(arch, X, groups=True)
    np.testing.assert_allclose(g.ntk, K, rtol=1e-12)
    np.testing.assert_allclose(nats_nngp(arch, X), g.nngp, rtol=1e-13)
    assert K.dtype == np.float64 and K.shape == (3, 3)
    for part in g.parts.values():  # each group's NTK is a Gram matrix J_g J_gᵀ
        assert np.linalg.eigvalsh(part)[0] > -1e-10 * np.abs(part).max()
    # the NTK dominates its head-weight part, the NNGP (Θ_head = Σ_f)
    np.testing.assert_allclose(g.parts["head"], g.nngp, rtol=1e-13)


def test_homogeneity_in_the_images():
    # every op is positively homogeneous of degree 1 in the input: kernels scale by t²
    X = _images(2, 4, 4, seed=5)
    for arch in CELLS[:4]:
        np.testing.assert_allclose(nats_ntk(arch, 3.0 * X), 9.0 * nats_ntk(arch, X), rtol=1e-11)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    X = _images(4, 8, 8, seed=1)
    for arch in CELLS[:3]:
        np.testing.assert_allclose(nats_ntk(arch, torch.from_numpy(X).cuda()), nats_ntk(arch, X), rtol=1e-10)
        np.testing.assert_allclose(nats_ntk(arch, torch.from_numpy(X).cuda(), batchnorm=True),
                                   nats_ntk(arch, X, batchnorm=True), rtol=1e-10)


def test_bad_input():
    arch = CELLS[0]
    X = _images(2, 4, 4)
    with pytest.raises(ArchError, match="not a NATS-Bench cell"):
        nats_ntk("|dense_relu~0|+|skip_connect~0|dense_relu~1|", X)
    with pytest.raises(ArchError, match="not a NATS-Bench cell"):
        nats_ntk("|0.5*skip_connect~0|", X)
    with pytest.raises(InputError, match="shape"):
        nats_ntk(arch, X[0])
    with pytest.raises(InputError, match="divisible by 4"):
        nats_ntk(arch, _images(2, 6, 4))
    Y = X.copy()
    Y[1, 0, 2, 2] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        nats_ntk(arch, Y)
    with pytest.raises(InputError, match="numpy array or a torch tensor"):
        nats_ntk(arch, X.tolist())
    with pytest.raises(ValueError, match="stages"):
        nats_ntk(arch, X, stages=0)
    need = nats_memory_bytes(arch, 2, 4, 4)
    with pytest.raises(KernelTooLargeError, match="memory_limit_bytes"):
        nats_ntk(arch, X, memory_limit_bytes=need - 1)
    nats_ntk(arch, X, memory_limit_bytes=need)
    # 64 images of 32×32 is (65,536)² entries per tensor: refused by the default budget
    with pytest.raises(KernelTooLargeError, match="GiB"):
        nats_ntk(arch, np.zeros((64, 3, 32, 32)))


def test_covering_cells_cover_the_ops_and_edges_they_claim():
    from theory.nats import COVERING_CELLS
    from theory.space import Arch

    ops = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}
    seen = [set() for _ in range(6)]
    for cell in COVERING_CELLS:
        for k, edge in enumerate(Arch.parse(cell).edges):
            seen[k].add(str(edge.op))
    assert set().union(*seen) == ops
    assert sum(s >= ops - {"none"} for s in seen) >= 5 and min(len(s) for s in seen) >= 3, seen

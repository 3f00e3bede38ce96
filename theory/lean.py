"""The lean engine behind ``theory.ntk``/``nngp``: only what Θ (or Σ) needs, block by block.

Same network, limits and numbers as ``theory.kernels`` (whose module docstring has the model);
``kernel_pieces`` keeps every intermediate kernel for bounds/ and the comparators, this module keeps
none. It runs the NTK recursion in *forward* mode over the features of ``theory.kernels``
(the input coordinate X0 and the dense-edge outputs F_e = σ_e(g_e)), with A_vf the identity-path
coefficients (h_v = Σ_f A_vf F_f):

    Σ_v = Σ_f A_vf² (V_f − M_f M_fᵀ) + m_v m_vᵀ,     Θ_v = Σ_f A_vf² T_f,
    T_X0 = 0,   T_e = c_w (Σ_u + Θ_u) ⊙ V'_e   for a dense edge e: u → w,
    Θ = Σ_out + Θ_out.

Θ_v is the tangent kernel of node v's coordinates, lim (1/m) Σ_θ ∂h_v(x)/∂θ · ∂h_v(x')/∂θ: the
pre-activation g_e = √(c_w/n_u) W_e h_u has tangent kernel c_w Σ_u (from W_e) + c_w Θ_u (through
h_u), σ_e multiplies it by V'_e = E[σ'σ'] (gradient independence, as for the backward kernels Π in
``theory.kernels``), and tangents of distinct features are orthogonal in the limit because distinct
features read independent weight matrices. Expanding Θ_out along the identity paths gives the
backward-mode sum of ``theory.kernels`` term by term, Σ_out + Σ_e c_w α_e² Σ_uu ⊙ Π_ww ⊙ V'_e (the
tests assert equality with ``kernel_pieces`` to rounding on random DAGs). For a chain it is the
recursion of Jacot et al. (2018) and Arora et al. (2019), Θ_l = c_w(Σ_{l−1} + Θ_{l−1}) ⊙ V'_l.

Why it is lean:

* every operation is elementwise in the pair (i, j) apart from rank-one mean corrections, so only
  the upper triangle is computed, in row blocks of about ``BLOCK_ELEMENTS`` entries that stay in
  cache while all the operations of one edge run on them; the lower triangle is mirrored at the end;
* a feature's blocks are freed as soon as the last edge (or the readout) that reads it has used
  them, so a chain holds two half matrices at a time; the input kernel XXᵀ/d is formed per block;
* the relu family, erf and gelu evaluate their value and derivative kernels together from one
  arc-cosine/arcsine (``theory.dual.DualPlan``), and the Mehler coefficients of the other
  activations are computed once per edge (one correlation matrix per edge, one Horner per block).

Cost relative to a chain of the same number of dense edges: one extra pass per edge whose source
node mixes several features (the rank-one mean corrections and the Σ_f A² sums), and the memory of
the features that skips keep alive (a ResNet keeps its trunk's features until the last block).
Nodes that do not reach the output are skipped (their gradient is zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theory.activations import default_weight_variance
from theory.space import Arch, Edge

from .data import check_inputs, check_memory
from .dual import DualPlan
from .kernels import parse_fc_arch, warn_if_truncated

__all__ = ["LeanKernels", "lean_kernels", "BLOCK_ELEMENTS"]

#: Target number of entries per row block (≈ 0.5 MiB of float64 per temporary).
BLOCK_ELEMENTS = 1 << 16

_INPUT = "x"


@dataclass(frozen=True)
class LeanKernels:
    """Θ (``ntk``, None when not asked for) and Σ_out,out (``nngp``, None when not asked for) of an
    architecture, with the dual-activation truncation bounds per dense edge ``edge_bounds``
    (edge, activation token, largest pre-activation variance, absolute bound, bound relative to the
    largest feature-kernel diagonal), as ``EdgePieces`` reports them."""

    arch: Arch
    ntk: np.ndarray | None
    nngp: np.ndarray | None
    edge_bounds: tuple[tuple[Edge, str, float, float, float], ...]

    @property
    def relative_error_bound(self) -> float:
        return max((b[4] for b in self.edge_bounds), default=0.0)


class _Feature:
    """Upper-triangle row blocks of V_f (and T_f), the feature mean M_f and the diagonal of V_f."""

    def __init__(self, n_blocks: int, mean: np.ndarray, vdiag: np.ndarray, tangent: bool) -> None:
        self.V: list[np.ndarray | None] = [None] * n_blocks
        self.T: list[np.ndarray | None] | None = [None] * n_blocks if tangent else None
        self.mean = mean
        self.vdiag = vdiag


def _row_blocks(n: int, target: int) -> list[tuple[int, int]]:
    """Row ranges [r0, r1) whose upper-triangle blocks (r1 − r0) × (n − r0) hold about ``target`` entries."""
    out, r0 = [], 0
    while r0 < n:
        r1 = min(n, r0 + max(1, target // (n - r0)))
        out.append((r0, r1))
        r0 = r1
    return out


def _mirror(full: np.ndarray, blocks: list[tuple[int, int]]) -> None:
    """Fill the lower triangle of ``full`` from its upper-triangle row blocks, in place."""
    for r0, r1 in blocks:
        full[r1:, r0:r1] = full[r0:r1, r1:].T
        sq = full[r0:r1, r0:r1]
        lower = np.tril_indices(r1 - r0, -1)
        sq[lower] = sq.T[lower]


def lean_kernels(arch: Arch | str, X, *, ntk: bool = True, nngp: bool = False, normalize: bool = False,
                 max_bytes: int | None = None, block_elements: int = BLOCK_ELEMENTS) -> LeanKernels:
    """Θ and/or Σ_out,out of ``arch`` on the rows of X (conventions and errors of ``kernel_pieces``)."""
    a = parse_fc_arch(arch)
    live = a.live_nodes
    active = [(i, e) for i, e in enumerate(a.edges) if not e.op.is_none and e.src in live]
    out = a.output
    useful: set[int] = {out} if out in live else set()
    for v in range(a.n_nodes, -1, -1):
        if v in live and any(e.src == v and e.dst in useful for _, e in active):
            useful.add(v)
    edges = [(i, e) for i, e in active if e.dst in useful]
    edges.sort(key=lambda ie: (ie[1].dst, ie[0]))

    # identity-path coefficients A_v (symbolic pass), the order of the dense edges, last uses
    coef: dict[int, dict[str | int, float]] = {0: {_INPUT: 1.0}}
    dense: list[tuple[int, Edge]] = []
    for v in sorted(useful - {0}):
        cv: dict[str | int, float] = {}
        for i, e in edges:
            if e.dst != v:
                continue
            if e.op.is_skip:
                for f, c in coef[e.src].items():
                    cv[f] = cv.get(f, 0.0) + e.op.scale * c
            else:
                dense.append((i, e))
                cv[i] = cv.get(i, 0.0) + e.op.scale
        coef[v] = cv
    last: dict[str | int, int] = {}
    for pos, (_, e) in enumerate(dense):
        for f in coef[e.src]:
            last[f] = pos
    if out in useful:
        for f in coef[out]:
            last[f] = len(dense)
    alive, peak = 0, 0
    for pos in range(len(dense)):  # features alive at once (half matrices, V and T)
        alive += 1
        peak = max(peak, alive)
        alive -= sum(1 for f, p in last.items() if p == pos and f != _INPUT)
    per = 2 if ntk else 1
    X = check_inputs(X, normalize=normalize)  # O(N·d): before the N×N guard, which needs a valid N
    check_memory(X.shape[0], max(1, math.ceil(per * peak / 2)) + int(ntk) + int(nngp), max_bytes)
    with np.errstate(over="ignore", invalid="ignore"):
        return _run(a, X, coef, dense, last, out in useful, ntk, nngp, block_elements)


def _run(a: Arch, X: np.ndarray, coef: dict, dense: list[tuple[int, Edge]], last: dict, has_out: bool,
         want_ntk: bool, want_nngp: bool, block_elements: int) -> LeanKernels:
    N, d = X.shape
    blocks = _row_blocks(N, block_elements)
    feats: dict[str | int, _Feature] = {}
    x_mean = X.mean(1)
    x_diag = np.einsum("ij,ij->i", X, X) / d

    def v_block(f: str | int, b: int) -> np.ndarray:
        if f == _INPUT:
            r0, r1 = blocks[b]
            return X[r0:r1] @ X[r0:].T / d
        return feats[f].V[b]

    def mean_of(f: str | int) -> np.ndarray:
        return x_mean if f == _INPUT else feats[f].mean

    means: dict[int, np.ndarray] = {}

    def node_mean(u: int) -> np.ndarray:
        """m_u = Σ_f A_uf M_f (computed once per node)."""
        if u not in means:
            m = np.zeros(N)
            for f, c in coef[u].items():
                m += c * mean_of(f)
            means[u] = m
        return means[u]

    lowrank: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def node_lowrank(u: int) -> tuple[np.ndarray, np.ndarray]:
        if u not in lowrank:
            cols, w = [node_mean(u)], [1.0]
            for f, c in coef[u].items():
                M = mean_of(f)
                if np.any(M != 0.0):
                    cols.append(M)
                    w.append(-c * c)
            lowrank[u] = (np.stack(cols, axis=1), np.array(w))
        return lowrank[u]

    def node_diag(u: int) -> np.ndarray:
        cu = coef[u]
        if len(cu) == 1:
            (f, c), = cu.items()
            return c * c * (x_diag if f == _INPUT else feats[f].vdiag)
        m = node_mean(u)
        S = m * m
        for f, c in cu.items():
            M = mean_of(f)
            S += (c * c) * ((x_diag if f == _INPUT else feats[f].vdiag) - M * M)
        return S

    def node_sigma(u: int, b: int) -> np.ndarray:
        """Σ_u on row block b (may be a stored block: read only)."""
        r0, r1 = blocks[b]
        cu = coef[u]
        if len(cu) == 1:
            (f, c), = cu.items()
            V = v_block(f, b)
            return V if c == 1.0 else V * (c * c)
        U, w = node_lowrank(u)  # m_u m_uᵀ − Σ_f A_uf² M_f M_fᵀ as one rank-k product
        S = (U[r0:r1] * w) @ U[r0:].T
        for f, c in cu.items():
            V = v_block(f, b)
            S += V if c * c == 1.0 else (c * c) * V
        return S

    def node_theta(u: int, b: int) -> np.ndarray | None:
        """Θ_u on row block b, or None when it is zero (only the input feature)."""
        acc = None
        for f, c in coef[u].items():
            if f == _INPUT:
                continue
            T = feats[f].T[b]
            acc = T * (c * c) if acc is None else acc + (c * c) * T
        return acc

    def release(pos: int, b: int | None) -> None:
        for f, p in last.items():
            if p == pos and f != _INPUT and f in feats:
                if b is None:
                    del feats[f]
                else:
                    feats[f].V[b] = None
                    if feats[f].T is not None:
                        feats[f].T[b] = None

    bounds = []
    for pos, (i, e) in enumerate(dense):
        act = e.op.activation
        cw = default_weight_variance(act)
        u = e.src
        q = cw * node_diag(u)
        if not np.all(np.isfinite(q)):
            raise FloatingPointError(
                f"the kernels of {a} overflow float64 on these data (they grow too fast with depth)")
        plan = DualPlan(act, q, value=True, derivative=want_ntk)
        if plan.needs_rho_max:  # largest off-diagonal |ρ| of this edge's covariance (``dual``'s rule)
            rmax = 0.0
            for b, (r0, r1) in enumerate(blocks):
                rho, _ = plan.rho(cw * node_sigma(u, b), r0, r1)
                np.abs(rho, out=rho)
                idx = np.arange(r1 - r0)
                rho[idx, idx] = 0.0
                rmax = max(rmax, float(rho.max()))
            plan.prepare(rmax)
        for what, arr in (("E[σσ]", plan.diag_value), ("E[σ'σ']", plan.diag_derivative), ("mean", plan.mean)):
            if arr is not None and not np.all(np.isfinite(arr)):
                raise FloatingPointError(
                    f"edge {e} of {a}: the dual activation {what} is not finite at pre-activation variances "
                    f"up to q = {q.max():.3g}; the kernels of this architecture blow up with depth"
                )
        F = _Feature(len(blocks), plan.mean, plan.diag_value, want_ntk)
        for b, (r0, r1) in enumerate(blocks):
            S = node_sigma(u, b)
            K = S * cw
            V, D = plan.block(K, r0, r1)
            if not math.isfinite(float(V.sum())) or (D is not None and not math.isfinite(float(D.sum()))):
                raise FloatingPointError(
                    f"edge {e} of {a}: the dual activation is not finite at pre-activation variances "
                    f"up to q = {q.max():.3g}; the kernels of this architecture blow up with depth"
                )
            F.V[b] = V
            if want_ntk:  # T_e = c_w (Σ_u + Θ_u) ⊙ V'_e, in K's buffer (block() does not keep it)
                Th = node_theta(u, b)
                if Th is not None:
                    Th *= cw
                    K += Th
                K *= D
                F.T[b] = K
            release(pos, b)
        release(pos, None)
        feats[i] = F
        eb = max(plan.error_bound_value, plan.error_bound_derivative)
        bounds.append((e, act.token, float(q.max()), eb, eb / max(float(np.max(plan.diag_value)), 1e-300)))

    theta = sigma = None
    if want_ntk:
        theta = np.zeros((N, N)) if not has_out else np.empty((N, N))
    if want_nngp:
        sigma = np.zeros((N, N)) if not has_out else np.empty((N, N))
    if has_out:
        for b, (r0, r1) in enumerate(blocks):
            S = node_sigma(a.output, b)
            if sigma is not None:
                sigma[r0:r1, r0:] = S
            if theta is not None:
                Th = node_theta(a.output, b)
                theta[r0:r1, r0:] = S if Th is None else S + Th
            release(len(dense), b)
        for K in (theta, sigma):
            if K is not None:
                _mirror(K, blocks)
                if not math.isfinite(float(K.sum())):
                    raise FloatingPointError(
                        f"the kernels of {a} overflow float64 on these data (they grow too fast with depth)")
    result = LeanKernels(a, theta, sigma, tuple(bounds))
    warn_if_truncated(a, [(e, tok, qmax, rel) for e, tok, qmax, _, rel in bounds], stacklevel=5)
    return result

"""A small, independent reference for the exact infinite-width kernels (bounds' own cross-check).

``theory/`` is the package's source of truth for Σ, Π and Θ; this module re-derives them from the
orthogonal decomposition of ``bounds.plan`` so that (i) the bounds can be developed and tested
against an exact kernel that shares no code with theory/, and (ii) the two derivations can be
compared (tests/test_bounds_reference.py). Formulas (docs/theory.md §III.2):

    Σ_uu = (a_u + P_{0u} m)(a_u + P_{0u} m)ᵀ + P_{0u}² (XXᵀ/d − m mᵀ) + Σ_e P_{e→u}² K̃_e
    K̃_e = E[σ(g)σ(g)ᵀ] − M_e M_eᵀ,   g ~ N(0, c_e Σ_{src(e)}),   M_e = E[σ(g)],  a_u = Σ_e P_{e→u} M_e
    Ṡ_e = E[σ'(g)σ'(g)ᵀ]
    Π_v = S_{v→out}² J + Σ_e S_{v→src(e)}² α_e² c_e Ṡ_e ⊙ Π_{dst(e)}
    Θ   = Σ_out + Σ_e c_e α_e² Σ_{src(e)} ⊙ Ṡ_e ⊙ Π_{dst(e)}

m(x) is the input's coordinate mean ("feature mean" of node 0, used only when an identity path from
the input meets a dense edge with non-zero mean); ``input_mean=False`` treats the input as orthogonal
to the constant direction instead. Expectations: arc-cosine closed forms for relu/leaky_relu/identity,
a 2-D Gauss–Hermite rule otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bounds.plan import Plan
from theory.activations import Activation, Identity, LeakyReLU, Mixture, ReLU
from theory.space import Arch

__all__ = ["Pieces", "reference_pieces", "reference_ntk"]

_G = 64
_z1, _w1 = np.polynomial.hermite_e.hermegauss(_G)
_w1 = _w1 / math.sqrt(2 * math.pi)


@dataclass
class Pieces:
    """Per-node and per-edge kernels (N×N): Σ_uu, Π_v, and per dense edge Ṡ_e and its NTK term."""

    sigma: dict[int, np.ndarray] = field(default_factory=dict)
    pi: dict[int, np.ndarray] = field(default_factory=dict)
    sdot: dict[int, np.ndarray] = field(default_factory=dict)
    term: dict[int, np.ndarray] = field(default_factory=dict)
    readout: np.ndarray | None = None
    ntk: np.ndarray | None = None


def _piecewise_linear(act: Activation) -> tuple[float, float] | None:
    """(relu weight, identity weight) when σ = w_r relu + w_i x, else None."""
    if isinstance(act, ReLU):
        return 1.0, 0.0
    if isinstance(act, LeakyReLU):
        return 1.0 - act.slope, act.slope
    if isinstance(act, Identity):
        return 0.0, 1.0
    if isinstance(act, Mixture):
        wr = wi = 0.0
        for w, a in act.components:
            p = _piecewise_linear(a)
            if p is None:
                return None
            wr += w * p[0]
            wi += w * p[1]
        return wr, wi
    return None


def dual(act: Activation, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E[σ(g)σ(g)ᵀ], E[σ(g)], E[σ'(g)σ'(g)ᵀ] for g ~ N(0, cov)."""
    d = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    outer = np.outer(d, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(outer > 0, cov / np.where(outer > 0, outer, 1.0), 0.0)
    rho = np.clip(rho, -1.0, 1.0)
    pl = _piecewise_linear(act)
    if pl is not None:
        wr, wi = pl
        th = np.arccos(rho)
        relu_k = outer / (2 * math.pi) * (np.sqrt(1 - rho**2) + (math.pi - th) * rho)
        relu_d = (math.pi - th) / (2 * math.pi)
        # E[relu(u) v] = cov/2 ; E[relu'(u)] = 1/2
        K = wr * wr * relu_k + 2 * wr * wi * cov / 2 + wi * wi * cov
        Sd = wr * wr * relu_d + 2 * wr * wi * 0.5 + wi * wi
        M = wr * d / math.sqrt(2 * math.pi)
        return K, M, Sd
    # 2-D Gauss–Hermite: u = d_i z1, v = d_j (ρ z1 + √(1−ρ²) z2)
    Z1 = _z1[:, None]
    Z2 = _z1[None, :]
    W = _w1[:, None] * _w1[None, :]
    s = np.sqrt(np.clip(1 - rho**2, 0.0, None))
    n = cov.shape[0]
    K = np.empty((n, n))
    Sd = np.empty((n, n))
    for i in range(n):
        u = d[i] * Z1
        fu = act.numpy(u)
        du = act.derivative_numpy(u)
        for j in range(i, n):
            v = d[j] * (rho[i, j] * Z1 + s[i, j] * Z2)
            K[i, j] = K[j, i] = float(np.sum(W * fu * act.numpy(v)))
            Sd[i, j] = Sd[j, i] = float(np.sum(W * du * act.derivative_numpy(v)))
    M = np.array([float(_w1 @ act.numpy(di * _z1)) for di in d])
    return K, M, Sd


def reference_pieces(arch: Arch | str, X: np.ndarray, input_mean: bool = True) -> Pieces:
    """All kernels of ``arch`` on the rows of X (see the module docstring)."""
    plan = Plan.of(arch)
    X = np.asarray(X, dtype=np.float64)
    N, d = X.shape
    out = Pieces()
    if plan.zero:
        out.readout = np.zeros((N, N))
        out.ntk = np.zeros((N, N))
        return out
    S = plan.skip_weights()
    G0 = X @ X.T / d
    m = X.mean(axis=1) if input_mean else np.zeros(N)
    Kt: dict[int, np.ndarray] = {}
    Ms: dict[int, np.ndarray] = {}

    def sigma_of(u: int) -> np.ndarray:
        if u == 0:
            return G0
        p0 = S[(0, u)]
        a = np.zeros(N)
        tot = p0 * p0 * (G0 - np.outer(m, m))
        for e in plan.dense:
            if e.dst <= u and S[(e.dst, u)] != 0:
                p = e.alpha * S[(e.dst, u)]
                a = a + p * Ms[e.k]
                tot = tot + p * p * Kt[e.k]
        v = a + p0 * m
        return tot + np.outer(v, v)

    for u in plan.nodes:
        outs = [e for e in plan.dense if e.src == u]
        if not outs and u != plan.n:
            continue
        sig = sigma_of(u)
        out.sigma[u] = sig
        for e in outs:
            K, M, Sd = dual(e.act, e.c * sig)
            Kt[e.k] = K - np.outer(M, M)
            Ms[e.k] = M
            out.sdot[e.k] = Sd
    out.readout = out.sigma[plan.n]
    J = np.ones((N, N))
    for v in reversed(plan.nodes):
        if v == 0:
            continue
        P = S[(v, plan.n)] ** 2 * J
        for e in plan.dense:
            w = S.get((v, e.src), 0) if e.src >= v else 0
            if w != 0:
                P = P + w * w * e.alpha**2 * e.c * out.sdot[e.k] * out.pi[e.dst]
        out.pi[v] = P
    theta = out.readout.copy()
    for e in plan.dense:
        t = e.c * e.alpha**2 * out.sigma[e.src] * out.sdot[e.k] * out.pi[e.dst]
        out.term[e.k] = t
        theta = theta + t
    out.ntk = theta
    return out


def reference_ntk(arch: Arch | str, X: np.ndarray, input_mean: bool = True) -> np.ndarray:
    return reference_pieces(arch, X, input_mean).ntk  # type: ignore[return-value]

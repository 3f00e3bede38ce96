"""Exact infinite-width NNGP and NTK of every fully connected cell DAG of the search space.

Network and parametrization (NTK parametrization, Jacot et al. 2018)
-----------------------------------------------------
Node 0 is the input x ∈ ℝ^d. Every other node v is a vector of width m,
h_v = Σ_{skip u→v} α_{uv} h_u + Σ_{dense e: u→v} α_e σ_e(g_e),  g_e = √(c_w/n_u) W_e h_u,
with W_e ∈ ℝ^{m×n_u} i.i.d. N(0, 1), a fresh matrix per dense edge, n_u = d for u = 0 and m
otherwise, and c_w = 1/E[σ(z)²] (``default_weight_variance``). A skip out of node 0 carries x tiled
to width m (see ``empirics.models.fc_model``). The output is the readout f(x) = vᵀ h_out/√m, v ~ N(0, I_m).
The kernels are the m → ∞ limits (the tensor-program limits of Yang 2019/2020, which cover any DAG
of this kind): NNGP Σ(x, x') = E[f(x) f(x')] and NTK Θ(x, x') = Σ_θ ∂f(x)/∂θ · ∂f(x')/∂θ.

Forward pass (features)
-----------------------
In the limit the coordinates of g_e form a centred Gaussian process with covariance
c_w Σ_uu(x, x'), where Σ_uv(x, x') = lim (1/m) h_u(x)·h_v(x'); distinct dense edges have independent
W, hence independent g's. Every node is therefore a fixed linear combination of *features*:
the input coordinate X0 (the coordinate of x read at a uniformly random index) and the dense-edge
outputs F_e = σ_e(g_e),

    h_v = Σ_f A_vf F_f,   A_vf = Σ over identity paths f → v of the product of the scales,

(A is built in topological order: A_v = Σ_skip α A_u + Σ_dense α_e 1_e). Distinct features are
independent, so E[F_f(x) F_f'(x')] = M_f(x) M_f'(x') for f ≠ f' (feature means M), and
E[F_f(x) F_f(x')] = V_f(x, x') with V_e = dual(σ_e)(c_w Σ_uu) and V_X0 = XXᵀ/d, M_X0(x) = mean(x).
Hence every (cross-)kernel is

    Σ_vw = Σ_f A_vf A_wf (V_f − M_f M_fᵀ) + m_v m_wᵀ,    m_v = Σ_f A_vf M_f  (the node's coordinate mean),

which is why feature means matter: with relu/sigmoid/swish/gelu features and skips, distinct edges
are correlated through their means, and a skip from a non-centred input couples x's mean with them.

Backward pass (Π) and the NTK
-----------------------------
Let δ_v = √m ∂f/∂h_v. Then δ_out = v (the readout) and, backwards,
δ_u = Σ_{skip u→w} α δ_w + Σ_{dense e: u→w} Z_e,  Z_e = √(c_w/m) W_eᵀ(α_e δ_w ⊙ σ_e'(g_e)).
In the limit (gradient independence, exact here because the readout is sampled independently,
Yang 2020) the Z_e and v are independent centred Gaussian vectors, independent of the forward
features, with Cov(Z_e) = c_w α_e² Π_ww ⊙ V'_e, V'_e = dual(σ_e')(c_w Σ_uu). So every δ_u is a fixed
combination δ_u = Σ_z B_uz Z_z (B_out,readout = 1; identity paths sum products of scales) and

    Π_uw = Σ_z B_uz B_wz Cov(Z_z),   Cov(readout) = 1 (the all-ones matrix).

Backward signals that reach a node through several identity paths add coherently (B), while signals
through distinct fresh matrices do not interfere. The NTK sums the readout term and one term per
dense edge e: u → w (the gradient w.r.t. W_e is (α_e √(c_w/n_u)/√m)(δ_w ⊙ σ'(g_e)) h_uᵀ):

    Θ = Σ_out,out + Σ_e Σ_uu ⊙ Cov(Z_e) = Σ_out,out + Σ_e c_w α_e² Σ_uu ⊙ Π_ww ⊙ V'_e.

For a chain this is the recursion of Jacot et al. (2018) / Arora et al. (2019); for ReLU the duals
are the arc-cosine kernels (Cho & Saul 2009), for erf the arcsine kernel (Williams 1997).

Dead nodes: following ``Arch.live_nodes``, a node with no non-``none`` path from the input carries
the zero function and every edge out of it is dropped (a dense edge would otherwise add the constant
σ(0); the finite model in ``empirics.models.fc_model`` drops it too). All arrays are float64 and every
operation is vectorized over the N² pairs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from theory.activations import Activation, default_weight_variance
from theory.space import Arch, ArchError, Edge

from .data import check_inputs, check_memory
from .dual import dual, dual_derivative, gaussian_mean

__all__ = ["EdgePieces", "KernelPieces", "kernel_pieces", "INPUT", "READOUT", "parse_fc_arch", "ACCURACY_WARNING"]

#: ``kernel_pieces`` warns when an edge's dual-activation truncation bound exceeds this fraction of its
#: largest feature-kernel diagonal (smooth saturating σ at large pre-activation variance, where the
#: Mehler series in ``theory.dual`` cannot reach ``MEHLER_TOL`` within ``GH_MAX_ORDER`` orders).
ACCURACY_WARNING = 1e-6

#: Key of the input feature X0 in ``KernelPieces.forward_coef``.
INPUT = "x"
#: Key of the readout vector in ``KernelPieces.backward_coef``.
READOUT = "readout"


@dataclass
class EdgePieces:
    """The kernels of one active dense edge e: src → dst (index = position in ``arch.edges``).

    ``pre_kernel`` = c_w Σ_src,src is the covariance of the pre-activation g_e;
    ``feature_kernel`` V_e = E[σ(g_e(x)) σ(g_e(x'))], ``feature_mean`` M_e(x) = E[σ(g_e(x))];
    ``derivative_kernel`` V'_e = E[σ'(g_e(x)) σ'(g_e(x'))];
    ``backward_kernel`` Cov(Z_e) = c_w α² Π_dst ⊙ V'_e (the edge's contribution to Π_src);
    ``ntk_term`` = Σ_src,src ⊙ Cov(Z_e), this edge's weight-gradient contribution to Θ;
    ``error_bound`` bounds the absolute error per entry of V_e and V'_e (0 for closed forms).
    """

    edge: Edge
    index: int
    activation: Activation
    alpha: float
    c_w: float
    pre_kernel: np.ndarray
    feature_kernel: np.ndarray
    feature_mean: np.ndarray
    derivative_kernel: np.ndarray
    backward_kernel: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    ntk_term: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    error_bound: float = 0.0

    @property
    def relative_error_bound(self) -> float:
        """``error_bound`` relative to the largest diagonal entry of the feature kernel."""
        return self.error_bound / max(float(np.max(np.diag(self.feature_kernel))), 1e-300)

    @property
    def src(self) -> int:
        return self.edge.src

    @property
    def dst(self) -> int:
        return self.edge.dst


@dataclass
class KernelPieces:
    """Everything the exact kernels are made of (see the module docstring for the math).

    ``sigma[v]`` = Σ_vv (N×N) and ``mean[v]`` = m_v (N,) for every live node v (node 0 included);
    ``pi[v]`` = Π_vv for every live node (zero for nodes that do not reach the output);
    ``edges`` the active dense edges; ``forward_coef[v]`` = {feature: A_vf} with features
    ``INPUT`` and dense-edge indices; ``backward_coef[v]`` = {``READOUT`` or edge index: B_vz};
    ``readout_term`` = Σ_out,out; ``ntk`` = Θ; ``nngp`` = Σ_out,out.
    """

    arch: Arch
    X: np.ndarray
    sigma: dict[int, np.ndarray]
    mean: dict[int, np.ndarray]
    pi: dict[int, np.ndarray]
    edges: tuple[EdgePieces, ...]
    forward_coef: dict[int, dict[str | int, float]]
    backward_coef: dict[int, dict[str | int, float]]
    ntk: np.ndarray
    nngp: np.ndarray

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def readout_term(self) -> np.ndarray:
        return self.nngp

    @property
    def error_bound(self) -> float:
        """A crude bound on the dual-activation truncation error summed over edges (0 when all
        duals are closed forms); it is not propagated through later layers."""
        return float(sum(e.error_bound for e in self.edges))

    @property
    def relative_error_bound(self) -> float:
        """The largest per-edge ``EdgePieces.relative_error_bound`` (0 when all duals are closed forms)."""
        return max((e.relative_error_bound for e in self.edges), default=0.0)

    def edge(self, index: int) -> EdgePieces:
        """The pieces of the dense edge ``arch.edges[index]``."""
        for e in self.edges:
            if e.index == index:
                return e
        raise KeyError(f"edge {index} is not an active dense edge of {self.arch}")

    def _feature(self, f: str | int) -> tuple[np.ndarray, np.ndarray]:
        if f == INPUT:
            return self.X @ self.X.T / self.X.shape[1], self.X.mean(1)
        e = self.edge(int(f))
        return e.feature_kernel, e.feature_mean

    def cross(self, v: int, w: int) -> np.ndarray:
        """Σ_vw(x, x') = lim (1/m) h_v(x)·h_w(x') for live nodes v, w (zero if either is dead)."""
        if v not in self.forward_coef or w not in self.forward_coef:
            return np.zeros((self.n, self.n))
        out = np.outer(self.mean[v], self.mean[w])
        a, b = self.forward_coef[v], self.forward_coef[w]
        for f in set(a) & set(b):
            V, M = self._feature(f)
            out += a[f] * b[f] * (V - np.outer(M, M))
        return out

    def pi_cross(self, v: int, w: int) -> np.ndarray:
        """Π_vw(x, x') = lim (1/m) δ_v(x)·δ_w(x') (backward cross-kernel, δ = √m ∂f/∂h)."""
        out = np.zeros((self.n, self.n))
        if v not in self.backward_coef or w not in self.backward_coef:
            return out
        a, b = self.backward_coef[v], self.backward_coef[w]
        for z in set(a) & set(b):
            out += a[z] * b[z] * (1.0 if z == READOUT else self.edge(int(z)).backward_kernel)
        return out


def parse_fc_arch(arch: Arch | str) -> Arch:
    """Parse and check that the architecture is in the FC space (no NATS conv/pool ops)."""
    a = Arch.parse(arch) if isinstance(arch, str) else arch
    if not isinstance(a, Arch):
        raise ArchError(f"expected an Arch or an arch string, got {type(arch).__name__}")
    if not a.is_fc:
        conv = sorted({e.op.token for e in a.edges if e.op.is_conv_space})
        raise ArchError(
            f"{a} contains NATS convolutional ops {conv}; the exact kernels are defined for the FC space. "
            "Use arch.to_fc_analogue() (theory.presets.nats_fc_analogue) for the FC analogue of a NATS cell"
        )
    return a


def _add(dst: dict, src: dict, scale: float) -> None:
    for k, v in src.items():
        dst[k] = dst.get(k, 0.0) + scale * v


def kernel_pieces(arch: Arch | str, X, normalize: bool = False, max_bytes: int | None = None) -> KernelPieces:
    """Compute all forward/backward kernels, the NNGP and the NTK of ``arch`` on the rows of X.

    X: (N, d) samples of equal norm (or ``normalize=True`` to put them on the sphere of radius √d).
    Raises InputError for bad data, ArchError for non-FC architectures and KernelTooLargeError
    (a MemoryError) before allocating when the N×N matrices would not fit in ``max_bytes``
    (default: half the available memory).
    """
    a = parse_fc_arch(arch)
    live = a.live_nodes
    active = [(i, e) for i, e in enumerate(a.edges) if not e.op.is_none and e.src in live]
    n_dense = sum(1 for _, e in active if e.op.is_dense)
    X = check_inputs(X, normalize=normalize)  # O(N·d): before the N×N guard, which needs a valid N
    check_memory(X.shape[0], 2 * (a.n_nodes + 1) + 6 * n_dense + 4, max_bytes)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected and reported below
        kp = _compute(a, X, live, active)
    _warn_if_truncated(kp)
    return kp


def _warn_if_truncated(kp: KernelPieces) -> None:
    warn_if_truncated(kp.arch, [(e.edge, e.activation.token, float(np.max(np.diag(e.pre_kernel))),
                                 e.relative_error_bound) for e in kp.edges], stacklevel=4)


def warn_if_truncated(arch: Arch, edges: list[tuple[Edge, str, float, float]], stacklevel: int = 4) -> None:
    """RuntimeWarning naming the edges (edge, activation token, largest pre-activation variance,
    relative bound) whose dual activations carry a relative truncation bound above
    ``ACCURACY_WARNING`` (the kernel is still returned; ``KernelPieces.relative_error_bound`` has it)."""
    bad = [b for b in edges if b[3] > ACCURACY_WARNING]
    if not bad:
        return
    parts = ", ".join(
        f"edge {e.src}->{e.dst} {token} at pre-activation variance up to {qmax:.3g}: {rel:.1e}"
        for e, token, qmax, rel in bad
    )
    warnings.warn(
        f"exact kernel of {arch}: dual-activation series truncated, relative error per entry bounded by "
        f"{parts} (KernelPieces.relative_error_bound); saturating activations at large variance approach "
        "a step (tanh, sigmoid) or a relu (swish), whose Hermite series converge slowly",
        RuntimeWarning,
        stacklevel=stacklevel,
    )


def _compute(a: Arch, X: np.ndarray, live: frozenset[int], active: list[tuple[int, Edge]]) -> KernelPieces:
    N, d = X.shape

    # ---------------------------------------------------------------- forward
    A: dict[int, dict[str | int, float]] = {0: {INPUT: 1.0}}
    sigma: dict[int, np.ndarray] = {0: X @ X.T / d}
    mean: dict[int, np.ndarray] = {0: X.mean(1)}
    feats: dict[str | int, tuple[np.ndarray, np.ndarray]] = {INPUT: (sigma[0], mean[0])}
    edge_pieces: dict[int, EdgePieces] = {}
    for v in range(1, a.n_nodes + 1):
        if v not in live:
            continue
        coef: dict[str | int, float] = {}
        for i, e in active:
            if e.dst != v:
                continue
            if e.op.is_skip:
                _add(coef, A[e.src], e.op.scale)
                continue
            act = e.op.activation
            cw = default_weight_variance(act)
            K = cw * sigma[e.src]
            q = np.diag(K).copy()
            fwd = dual(act, q, q, K, same=True)
            bwd = dual_derivative(act, q, q, K, same=True)
            M = gaussian_mean(act, q)
            for what, arr in (("E[σσ]", fwd.value), ("E[σ'σ']", bwd.value), ("mean", M)):
                if not np.all(np.isfinite(arr)):
                    raise FloatingPointError(
                        f"edge {e} of {a}: the dual activation {what} is not finite at pre-activation variances "
                        f"up to q = {q.max():.3g}; the kernels of this architecture blow up with depth"
                    )
            edge_pieces[i] = EdgePieces(e, i, act, e.op.scale, cw, K, fwd.value, M, bwd.value,
                                        error_bound=max(fwd.error_bound, bwd.error_bound))
            feats[i] = (fwd.value, M)
            _add(coef, {i: 1.0}, e.op.scale)
        A[v] = coef
        m_v = np.zeros(N)
        for f, c in coef.items():
            m_v += c * feats[f][1]
        S = np.outer(m_v, m_v)
        for f, c in coef.items():
            V, M = feats[f]
            S += (c * c) * (V - np.outer(M, M))
        sigma[v], mean[v] = S, m_v

    # ---------------------------------------------------------------- backward
    out = a.output
    B: dict[int, dict[str | int, float]] = {}
    pi: dict[int, np.ndarray] = {}
    theta = np.zeros((N, N))
    for v in range(a.n_nodes, -1, -1):
        if v not in live:
            continue
        coef = {READOUT: 1.0} if v == out else {}
        for i, e in active:
            if e.src != v:
                continue
            if e.op.is_skip:
                _add(coef, B[e.dst], e.op.scale)
            else:
                ep = edge_pieces[i]
                ep.backward_kernel = ep.c_w * ep.alpha**2 * pi[e.dst] * ep.derivative_kernel
                ep.ntk_term = sigma[v] * ep.backward_kernel
                theta += ep.ntk_term
                _add(coef, {i: 1.0}, 1.0)
        B[v] = coef
        P = np.zeros((N, N))
        for z, c in coef.items():
            P += (c * c) * (1.0 if z == READOUT else edge_pieces[int(z)].backward_kernel)
        pi[v] = P

    nngp = sigma[out].copy() if out in live else np.zeros((N, N))
    theta += nngp
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(nngp))):
        raise FloatingPointError(f"the kernels of {a} overflow float64 on these data (they grow too fast with depth)")
    return KernelPieces(
        arch=a, X=X, sigma=sigma, mean=mean, pi=pi,
        edges=tuple(edge_pieces[i] for i in sorted(edge_pieces)),
        forward_coef=A, backward_coef=B, ntk=theta, nngp=nngp,
    )

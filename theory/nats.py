"""The exact infinite-channel NTK / NNGP of the BatchNorm-free NATS-Bench network (docs/theory.md, Part IV).

The network (NTK parametrization: every weight i.i.d. N(0, 1); a conv or linear layer outputs
(σ_w/√fan_in)·(W ⋆ input), fan_in = c_in·k²; no biases):

* stem: Conv3×3, padding 1, σ_w² = 1;
* ``stages`` stages of ``cells_per_stage`` cells; a cell is the DAG of the arch string, node j =
  Σ_{i<j} op_{i→j}(node i), output = the last node, with ``nor_conv_k`` = Conv k×k(ReLU(h)) (padding
  k//2, σ_w² = 2, its own weights per edge), ``avg_pool_3x3`` (stride 1, padding 1,
  count_include_pad=False), ``skip_connect`` = identity, ``none`` = 0;
* between stages the reduction block: a = Conv3×3 stride 2 padding 1 (ReLU(h)), b = Conv3×3(ReLU(a)),
  both σ_w² = 2; shortcut = Conv1×1(AvgPool2d(2, 2)(h)), σ_w² = 1, no ReLU; output b + shortcut;
* head: f = (σ_v/√C)·vᵀ GAP(ReLU(h)), σ_v² = 2, one output.

As every channel count → ∞ (any order; the tensor-program limit), every pre-activation channel is a
centred Gaussian process over (image, pixel), i.i.d. across channels. The kernels are tensors over pixel
pairs, T[n, i, j, m, k, l] = lim (1/C) Σ_c E[h_c(x_n)_{ij} h_c(x_m)_{kl}] (NNGP, Σ) and the matching
per-channel NTK (Θ). The recursions (derivation in docs/theory.md, Part IV):

* conv k×k, stride s, of ReLU(h) with σ_w²:  Σ' = σ_w² 𝒲(V(Σ)),  Θ' = Σ' + σ_w² 𝒲(Θ ⊙ V'(Σ)),
  where 𝒲 is the same-offset window mean over the k×k taps on *both* pixel indices (Arora et al. 2019),
  with zero padding and stride s, and V, V' are the arc-cosine kernels of ReLU and its derivative
  (Cho & Saul 2009) applied pixel pair by pixel pair;
* a linear map L on the pixels (identity, 3×3 average pool, 2×2 average pool): Σ' = L Σ Lᵀ,
  Θ' = L Θ Lᵀ (L acts on both pixel indices);
* a node is a sum of *atoms*, each a polynomial in the pool operator A applied to an atom: the cell
  input or the output of one conv edge. Conv outputs have their own zero-mean weights, so distinct atoms
  have zero cross-covariance and zero cross-NTK in the limit; hence
  Σ_node = Σ_atoms P_a(A) Σ_a P_a(A)ᵀ and the same for Θ;
* head: Σ_f = σ_v² ⟨V(Σ)⟩,  Θ_f = Σ_f + σ_v² ⟨Θ ⊙ V'(Σ)⟩, ⟨·⟩ the mean over both pixel indices (GAP).

With ``batchnorm=True`` the kernels of the same network with train-mode BatchNorm where NATS-Bench has
it (after the stem conv, every cell conv, the reduction's convs a and b, and before the head's ReLU), in
the limit of deterministic batch statistics: each BN maps Σ ↦ ΠΣΠ/(v + ε), Θ ↦ ΠΘΠ/(v + ε) over the
node's N·h·w batch-pixel positions, Π = I − 11ᵀ/(N·h·w), v = tr(ΠΣΠ)/(N·h·w) (``_batchnorm``; IV.6).

Public API: ``nats_ntk``, ``nats_nngp``, ``nats_kernels`` (→ ``NATSKernels``: the NTK, the NNGP and the
NTK split by parameter group, each summand J_g J_gᵀ ⪰ 0), ``nats_memory_bytes`` (the up-front estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from theory.space import Arch, ArchError, OpKind

from .data import InputError, KernelTooLargeError, available_memory_bytes

__all__ = [
    "nats_ntk",
    "nats_nngp",
    "nats_kernels",
    "nats_memory_bytes",
    "NATSKernels",
    "check_nats_arch",
    "check_images",
    "SIGMA_W2_STEM",
    "SIGMA_W2_CONV",
    "SIGMA_W2_SHORTCUT",
    "SIGMA_V2",
    "COVERING_CELLS",
]

#: weight variances of the network (module docstring)
SIGMA_W2_STEM = 1.0
SIGMA_W2_CONV = 2.0
SIGMA_W2_SHORTCUT = 1.0
SIGMA_V2 = 2.0

#: Eight cells that together use every op (none, skip, conv 1×1, conv 3×3, avg pool), every non-zero op
#: on five of the six edges, and every edge with at least three ops (``tests/test_theory_nats.py`` checks
#: it): the cells of the Monte-Carlo convergence studies of the finite twins (tests and
#: ``benchmarks/nats_bn_limit_study.py``).
COVERING_CELLS = (
    "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
)

_NATS_KINDS = {OpKind.NONE, OpKind.SKIP, OpKind.CONV1X1, OpKind.CONV3X3, OpKind.AVGPOOL}
_KSIZE = {OpKind.CONV1X1: 1, OpKind.CONV3X3: 3}
#: default memory budget on the CPU (bytes), capped by half the available memory
DEFAULT_CPU_BUDGET = 4 << 30


@dataclass
class NATSKernels:
    """The exact kernels of one (arch, images) pair, float64 numpy N×N.

    ``ntk`` = Σ_g ``parts[g]``; ``parts`` maps a parameter group (``"stem"``, ``"stage1.cell1"``,
    ``"reduce1"``, ..., ``"head"``) to its NTK summand Θ_g = lim J_g J_gᵀ (PSD). With ``groups=False``
    ``parts`` holds the single entry ``"all"``. The head is Θ = Σ_f + σ_v² ⟨Θ_h ⊙ V'(Σ_h)⟩ with
    Σ_h, Θ_h = ``last_sigma``, ``last_theta``.
    """

    ntk: np.ndarray
    nngp: np.ndarray
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    #: the last stage's pixel-level kernels before the head, Σ_h and Θ_h flattened to (N·h·w)×(N·h·w)
    #: (row index n·h·w + pixel), with (h, w) its resolution: what bounds/ needs for the head's Schur bound
    last_sigma: np.ndarray | None = None
    last_theta: np.ndarray | None = None
    last_shape: tuple[int, int] = (0, 0)


# ------------------------------------------------------------------------------------------ checks


def check_nats_arch(arch: Arch | str) -> Arch:
    """Parse ``arch`` and check it is a NATS-Bench cell (none / skip / conv1x1 / conv3x3 / avg_pool, unscaled)."""
    a = Arch.parse(arch) if not isinstance(arch, Arch) else arch
    bad = sorted({e.op.token for e in a.edges if e.op.kind not in _NATS_KINDS or e.op.scale != 1.0})
    if bad:
        raise ArchError(
            f"{a} is not a NATS-Bench cell: ops {bad} are not among none, skip_connect, nor_conv_1x1, "
            "nor_conv_3x3, avg_pool_3x3 (unscaled)"
        )
    return a


def check_images(images, stages: int = 3, device: torch.device | str | None = None) -> torch.Tensor:
    """Validate images (N, c, H, W) (numpy or torch, floating point, finite; H and W divisible by
    2^(stages−1)) and return them as a float64 torch tensor on ``device`` (default: where they are)."""
    if isinstance(images, np.ndarray):
        if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
            raise InputError(f"images have dtype {images.dtype}; expected a real floating point array")
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise InputError(f"images must be a numpy array or a torch tensor, got {type(images).__name__}")
    if images.is_complex() or images.dtype == torch.bool:
        raise InputError(f"images have dtype {images.dtype}; expected real numbers")
    if images.ndim != 4:
        raise InputError(f"images must have shape (N, channels, H, W), got {tuple(images.shape)}")
    n, c, h, w = images.shape
    if n < 1 or c < 1:
        raise InputError(f"images need at least one sample and one channel, got shape {tuple(images.shape)}")
    f = 2 ** (stages - 1)
    if h < 1 or w < 1 or h % f or w % f:
        raise InputError(
            f"image height and width must be positive and divisible by {f} (2^(stages-1) for {stages} stages, "
            f"one stride-2 reduction between stages), got H={h}, W={w}"
        )
    x = images.to(device=device if device is not None else images.device, dtype=torch.float64)
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise InputError(f"images contain {bad} non-finite values (NaN or ±inf)")
    return x


def _check_sizes(stages: int, cells_per_stage: int) -> None:
    for name, v in (("stages", stages), ("cells_per_stage", cells_per_stage)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


# ------------------------------------------------------------------------------------------ plan

def _cell_plan(a: Arch) -> tuple[list[dict[int, dict[int, int]]], list[tuple[int, int, int]], set[int]]:
    """The atom decomposition of the nodes of one cell.

    Atoms: 0 = the cell input, then one per conv edge (in edge order), recorded as (source, target, k).
    Returns ``decomp[j]`` = {atom: {pool power p: number of paths}} for every node j (node j =
    Σ_atoms Σ_p c_p A^p atom), the conv atoms, and the set of nodes whose kernel is needed (sources of
    conv edges and the output).
    """
    decomp: list[dict[int, dict[int, int]]] = [{0: {0: 1}}]
    atoms: list[tuple[int, int, int]] = []
    for j in range(1, a.n_nodes + 1):
        d: dict[int, dict[int, int]] = {}
        for e in a.incoming(j):
            kind = e.op.kind
            if kind is OpKind.NONE:
                continue
            if kind in _KSIZE:
                atoms.append((e.src, j, _KSIZE[kind]))
                d[len(atoms)] = {0: 1}
                continue
            shift = 1 if kind is OpKind.AVGPOOL else 0
            for atom, poly in decomp[e.src].items():
                tgt = d.setdefault(atom, {})
                for p, c in poly.items():
                    tgt[p + shift] = tgt.get(p + shift, 0) + c
        decomp.append(d)
    needed = {src for src, _, _ in atoms} | {a.n_nodes}
    return decomp, atoms, needed


def nats_memory_bytes(
    arch: Arch | str, n: int, height: int, width: int, groups: bool = False, stages: int = 3,
    cells_per_stage: int = 1, *, batchnorm: bool = False,
) -> int:
    """Up-front estimate (bytes) of the peak working memory of ``nats_kernels``.

    One pixel-pair tensor of stage 1 holds (N·H·W)² float64 numbers (a *unit*). In a cell at most
    (number of conv atoms + 3)·(1 + G) of them are alive, with G the number of Θ groups (1, or
    stem + head + stages·cells_per_stage + (stages − 1) reductions with ``groups``), plus the transients
    of one step: the ReLU maps and their temporaries (10 units) and the zero-padded copies of a window
    (3 × ((H+2)(W+2)/(HW))² units). Later stages are 16× smaller. The estimate is that count × 1.5.
    Checked against the measured peak RSS (24 images 8×8, 3 stages × 2 cells, three cells, with and
    without groups, two runs): measured / estimate between 0.17 and 0.77. ``batchnorm`` adds the
    centred copies of one BatchNorm step (2·(1 + G) units).
    """
    a = check_nats_arch(arch)
    _, atoms, _ = _cell_plan(a)
    g = (2 + stages * cells_per_stage + stages - 1) if groups else 1
    pad = ((height + 2) * (width + 2) / (height * width)) ** 2
    count = (len(atoms) + 3) * (1 + g) + 10 + 3 * pad + (2 * (1 + g) if batchnorm else 0)
    unit = 8 * (n * height * width) ** 2
    return int(1.5 * count * unit)


# ------------------------------------------------------------------------------------------ operators
# Pixel-pair tensors have shape (N, H, W, N, H, W): axes (1, 4) are the two row indices, (2, 5) the columns.


def _window_axes(T: torch.Tensor, ax1: int, ax2: int, k: int, stride: int, pad: int) -> torch.Tensor:
    """Σ_{d<k} T[.., s·o + d − pad, .., s·o' + d − pad, ..] / k on the axis pair (ax1, ax2), zero padded."""
    L = T.shape[ax1]
    out = (L + 2 * pad - k) // stride + 1
    if pad:
        shape = list(T.shape)
        shape[ax1] += 2 * pad
        shape[ax2] += 2 * pad
        P = T.new_zeros(shape)
        idx = [slice(None)] * T.ndim
        idx[ax1] = slice(pad, pad + L)
        idx[ax2] = slice(pad, pad + L)
        P[tuple(idx)] = T
    else:
        P = T
    acc = None
    for d in range(k):
        idx = [slice(None)] * T.ndim
        idx[ax1] = slice(d, d + stride * (out - 1) + 1, stride)
        idx[ax2] = slice(d, d + stride * (out - 1) + 1, stride)
        piece = P[tuple(idx)]
        acc = piece.clone() if acc is None else acc.add_(piece)
    return acc.div_(k)


def _window(T: torch.Tensor, k: int, stride: int = 1) -> torch.Tensor:
    """The conv window mean 𝒲 (k×k taps, the same offset on both pixel indices, padding k//2 (stride 1)
    or 1 (the stride-2 3×3 conv)). Separable: rows on axes (1, 4), then columns on (2, 5)."""
    pad = k // 2
    return _window_axes(_window_axes(T, 1, 4, k, stride, pad), 2, 5, k, stride, pad)


def _pool3_matrix(L: int, device, dtype=torch.float64) -> torch.Tensor:
    """1-D factor of AvgPool2d(3, 1, 1, count_include_pad=False): row i averages the valid i−1, i, i+1
    (the 2-D count is the product of the row and column counts)."""
    M = torch.zeros(L, L, dtype=dtype, device=device)
    for i in range(L):
        lo, hi = max(0, i - 1), min(L, i + 2)
        M[i, lo:hi] = 1.0 / (hi - lo)
    return M


def _pool2_matrix(L: int, device, dtype=torch.float64) -> torch.Tensor:
    """1-D factor of AvgPool2d(2, 2): row o averages 2o and 2o+1."""
    M = torch.zeros(L // 2, L, dtype=dtype, device=device)
    for o in range(L // 2):
        M[o, 2 * o: 2 * o + 2] = 0.5
    return M


def _left(T: torch.Tensor, MH: torch.Tensor, MW: torch.Tensor) -> torch.Tensor:
    """Apply the pixel map MH ⊗ MW to the first pixel index."""
    T = torch.einsum("ai,nijmkl->najmkl", MH, T)
    return torch.einsum("bj,najmkl->nabmkl", MW, T)


def _right(T: torch.Tensor, MH: torch.Tensor, MW: torch.Tensor) -> torch.Tensor:
    """Apply the pixel map MH ⊗ MW to the second pixel index."""
    T = torch.einsum("ck,nijmkl->nijmcl", MH, T)
    return torch.einsum("dl,nijmcl->nijmcd", MW, T)


def _both(T: torch.Tensor, MH: torch.Tensor, MW: torch.Tensor) -> torch.Tensor:
    return _right(_left(T, MH, MW), MH, MW)


def _relu_maps(S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """V(Σ) = E[ReLU(u)ReLU(v)] and V'(Σ) = E[1{u>0}1{v>0}] for (u, v) ~ N(0, Σ-pair), every pixel pair
    (Cho & Saul 2009): with q = √(Σ_uu Σ_vv), cos θ = Σ_uv / q,
    V = q (sin θ + (π − θ) cos θ) / (2π),  V' = (π − θ) / (2π); a pixel of zero variance is ≡ 0, and
    V = V' = 0 there (ReLU'(0) = 0, as in torch)."""
    shape = S.shape
    M = S.reshape(shape[0] * shape[1] * shape[2], -1)
    var = torch.diagonal(M).clamp_min(0.0)
    sd = torch.sqrt(var)
    inv = torch.where(sd > 0, 1.0 / torch.where(sd > 0, sd, torch.ones_like(sd)), torch.zeros_like(sd))
    cos = (M * inv[:, None]).mul_(inv[None, :]).clamp_(-1.0, 1.0)
    # a pixel with itself has cos θ = 1 exactly (rounding would give θ ≈ √eps, and V' an O(√eps) error)
    torch.diagonal(cos).copy_((sd > 0).to(M.dtype))
    theta = torch.arccos(cos)
    # q·cos = Σ_uv; zero-variance rows/columns have cos = 0 and q = 0, so V = 0 there
    V = (torch.sin(theta).mul_(sd[:, None]).mul_(sd[None, :]) + (math.pi - theta) * M).div_(2 * math.pi)
    live = (inv > 0).to(M.dtype)
    Vd = (math.pi - theta).div_(2 * math.pi).mul_(live[:, None]).mul_(live[None, :])
    return V.reshape(shape), Vd.reshape(shape)


# ------------------------------------------------------------------------------------------ state

Kernel = tuple[torch.Tensor, dict[str, torch.Tensor]]  # (Σ, {group: Θ_g})


def _add_into(dst: dict[str, torch.Tensor], src: dict[str, torch.Tensor]) -> None:
    for g, t in src.items():
        if g in dst:
            dst[g] = dst[g] + t
        else:
            dst[g] = t


def _conv_relu(state: Kernel, k: int, stride: int, sw2: float, group: str,
               maps: tuple[torch.Tensor, torch.Tensor] | None = None, bn: _BN | None = None) -> Kernel:
    """Conv k×k (stride) of ReLU(h), σ_w² = sw2: Σ' = sw2 𝒲(V), Θ'_g = sw2 𝒲(Θ_g ⊙ V'), Θ'_group += Σ';
    then the BatchNorm limit ``_batchnorm`` when ``bn`` is given (ReLU → Conv → BN)."""
    S, th = state
    V, Vd = _relu_maps(S) if maps is None else maps
    S2 = _window(V, k, stride).mul_(sw2)
    th2 = {g: _window(t * Vd, k, stride).mul_(sw2) for g, t in th.items()}
    _add_into(th2, {group: S2})
    return (S2, th2) if bn is None else _batchnorm((S2, th2), bn)


@dataclass(frozen=True)
class _BN:
    """The BatchNorm of the network: its ``eps`` (no affine parameters: γ = 1, β = 0 fixed)."""

    eps: float


def _center(T: torch.Tensor) -> torch.Tensor:
    """Π T Π over the M = N·H·W batch-pixel positions, Π = I − 11ᵀ/M: T − row means − column means + grand mean."""
    shape = T.shape
    m = shape[0] * shape[1] * shape[2]
    X = T.reshape(m, m)
    out = X - X.mean(dim=1, keepdim=True)
    out = out - out.mean(dim=0, keepdim=True)
    return out.reshape(shape)


def _batchnorm(state: Kernel, bn: _BN) -> Kernel:
    """Train-mode BatchNorm without affine parameters (Ioffe & Szegedy 2015) in the deterministic-statistics
    limit (docs/theory.md, IV.6).

    A pre-BN channel is (C → ∞ first) a centred GP h over the M = N·h·w batch-pixel positions with
    covariance Σ; BN maps it to y = Πh / √(s² + ε), Π = I − 11ᵀ/M, s² = hᵀΠh / M. Replacing s² by its
    mean v = tr(ΠΣΠ)/M (exact as the effective number of positions M_eff = tr(ΠΣΠ)² / ‖ΠΣΠ‖²_F → ∞;
    s² fluctuates by O(1/√M_eff) relative):

        Σ_y = ΠΣΠ / (v + ε),   Θ_y,g = ΠΘ_gΠ / (v + ε).

    The Jacobian of BN is (Π − yyᵀ/M)/√(s² + ε): the batch-mean part Π is kept exactly; the batch-variance
    part, a rank-one projection per channel, is dropped. Its effect is O(1/M_eff) for an upstream Θ that
    is deterministic per channel (all of this network's weights; not a BN scale γ, whose gradient is the
    channel's own output ŷ and is removed *exactly* by the next BN: that is why γ, β are not trained
    parameters here), but with a large constant, through the correlation of y with the ReLU gate that
    follows: against the finite BN network the NTK keeps a bias of ≈ 4 % on one stage of 4 images 8×8 and
    ≈ 50 % at three stages (docs/theory.md, IV.6, with the Stein correction that removes it for one BN;
    the NNGP has no such floor). Unlike Yang et al. 2019 (mean field theory of batch normalization: C → ∞
    at a fixed batch, the exact expectation over the per-channel statistics), this is the further
    large-M limit of that expectation.
    """
    S, th = state
    Sc = _center(S)
    m = S.shape[0] * S.shape[1] * S.shape[2]
    v = float(torch.diagonal(Sc.reshape(m, m)).sum()) / m
    # v + ε = 0 only for an identically zero node at ε = 0: it stays zero (Σ = 0 there, nothing to divide)
    inv = 1.0 / (v + bn.eps) if v + bn.eps > 0 else 0.0
    return Sc.mul_(inv), {g: _center(t).mul_(inv) for g, t in th.items()}


def _poly_apply(T: torch.Tensor, poly: dict[int, int], A: tuple[torch.Tensor, torch.Tensor], side) -> torch.Tensor:
    """Σ_p c_p A^p T on one side (``side`` = _left or _right)."""
    out = None
    cur = T
    for p in range(max(poly) + 1):
        if p > 0:
            cur = side(cur, *A)
        c = poly.get(p, 0)
        if c:
            term = cur if c == 1 else cur * c
            out = term if out is None else out + term
    return out


def _node_kernel(decomp: dict[int, dict[int, int]], atom_states: list[Kernel | None], A, like: torch.Tensor
                 ) -> Kernel:
    """Σ_node = Σ_atoms P_a(A) Σ_a P_a(A)ᵀ, the same for every Θ_g (atoms are uncorrelated)."""
    S_tot: torch.Tensor | None = None
    th_tot: dict[str, torch.Tensor] = {}
    for atom, poly in decomp.items():
        S, th = atom_states[atom]
        S_n = _poly_apply(_poly_apply(S, poly, A, _left), poly, A, _right)
        S_tot = S_n if S_tot is None else S_tot + S_n
        _add_into(th_tot, {g: _poly_apply(_poly_apply(t, poly, A, _left), poly, A, _right) for g, t in th.items()})
    if S_tot is None:  # the node is identically zero
        S_tot = torch.zeros_like(like)
    return S_tot, th_tot


def _cell(state: Kernel, plan, group: str, bn: _BN | None = None) -> Kernel:
    """One cell: conv atoms from the kernels of their source nodes, nodes as sums over atoms. Two conv
    edges with the same source and kernel size have equal kernels (computed once; still distinct,
    uncorrelated atoms). Node kernels and ReLU maps are freed after their last conv edge."""
    decomp, atoms, needed = plan
    S0 = state[0]
    H, W = S0.shape[1], S0.shape[2]
    A = (_pool3_matrix(H, S0.device), _pool3_matrix(W, S0.device))
    atom_states: list[Kernel | None] = [state] + [None] * len(atoms)
    cache: dict[tuple[int, int], Kernel] = {}
    maps: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    node_states: dict[int, Kernel] = {0: state}
    last_dst = {}
    for src, dst, _ in atoms:
        last_dst[src] = max(dst, last_dst.get(src, 0))
    n_nodes = len(decomp) - 1
    for j in range(1, n_nodes + 1):
        for i, (src, dst, k) in enumerate(atoms):
            if dst != j:
                continue
            if (src, k) not in cache:
                if src not in maps:
                    maps[src] = _relu_maps(node_states[src][0])
                cache[(src, k)] = _conv_relu(node_states[src], k, 1, SIGMA_W2_CONV, group, maps[src], bn)
            atom_states[i + 1] = cache[(src, k)]
        for src in [s for s, last in last_dst.items() if last == j]:
            maps.pop(src, None)
            for key in [key for key in cache if key[0] == src]:
                del cache[key]
            if src != 0:
                node_states.pop(src, None)
        if j in needed:
            node_states[j] = _node_kernel(decomp[j], atom_states, A, S0)
    return node_states[n_nodes]


def _reduction(state: Kernel, group: str, bn: _BN | None = None) -> Kernel:
    """b = Conv3×3(ReLU(a)), a = Conv3×3 stride 2 (ReLU(h)); shortcut Conv1×1(AvgPool2(h)); out = b + shortcut
    (b and the shortcut have independent last weights: zero cross terms). With ``bn``: a and b are
    followed by BatchNorm, the shortcut is not (as in NATS-Bench's ResNetBasicblock)."""
    S, th = state
    a = _conv_relu(state, 3, 2, SIGMA_W2_CONV, group, bn=bn)
    b = _conv_relu(a, 3, 1, SIGMA_W2_CONV, group, bn=bn)
    del a
    H, W = S.shape[1], S.shape[2]
    P = (_pool2_matrix(H, S.device), _pool2_matrix(W, S.device))
    S_s = _both(S, *P).mul_(SIGMA_W2_SHORTCUT)
    th_s = {g: _both(t, *P).mul_(SIGMA_W2_SHORTCUT) for g, t in th.items()}
    _add_into(th_s, {group: S_s})
    S_out = b[0] + S_s
    th_out = dict(b[1])
    _add_into(th_out, th_s)
    return S_out, th_out


# ------------------------------------------------------------------------------------------ main


def nats_kernels(
    arch: Arch | str,
    images,
    stages: int = 3,
    cells_per_stage: int = 1,
    *,
    groups: bool = False,
    device: torch.device | str | None = None,
    memory_limit_bytes: int | None = None,
    progress: bool | None = None,
    batchnorm: bool = False,
    bn_eps: float = 1e-5,
) -> NATSKernels:
    """The exact infinite-channel NTK and NNGP (N×N float64) of the BN-free NATS network of ``arch`` on
    ``images`` (N, c, H, W) (numpy or torch, used as given: no normalization inside).

    Args:
        arch: a NATS-Bench cell (arch string or Arch) over none / skip_connect / nor_conv_1x1 /
            nor_conv_3x3 / avg_pool_3x3.
        images: (N, c, H, W), finite, H and W divisible by 2^(stages−1).
        stages, cells_per_stage: the skeleton (NATS-Bench: 3 stages × 5 cells).
        groups: also return the NTK split by parameter group (``NATSKernels.parts``).
        device: where to compute (default: the images' device; numpy → CPU). CUDA works.
        memory_limit_bytes: refuse (``KernelTooLargeError``) when ``nats_memory_bytes`` exceeds it;
            default min(4 GiB, half the available memory) on the CPU, 60 % of free memory on CUDA.
        progress: tqdm bar over the blocks; default on when the stage-1 tensor exceeds 64 MiB.
        batchnorm: the BatchNorm-limit kernel (docs/theory.md, IV.6) of the network with train-mode
            BatchNorm where NATS-Bench has it: after the stem conv, after every conv edge of a cell, after the
            reduction block's convs a and b (not its shortcut conv), and before the head's ReLU. Each BN
            maps Σ ↦ ΠΣΠ/(v + ε), Θ ↦ ΠΘΠ/(v + ε) over the N·h·w batch-pixel positions of its node
            (``_batchnorm``): the C → ∞ limit with the per-channel batch statistics replaced by their
            means (exact as the effective batch-pixel count M_eff grows; its NTK is measurably biased at
            small batches, see ``_batchnorm``). The BNs have
            no trained affine γ, β (γ = 1, β = 0 as at NATS-Bench's initialization, so the forward pass and
            the NNGP are those of NATS's affine BN at init; the NTK lacks the γ, β gradients, see IV.6).
            ``last_sigma`` / ``last_theta`` are then the kernels after the head's BatchNorm.
        bn_eps: the BN ε (PyTorch's default 1e-5).
    """
    _check_sizes(stages, cells_per_stage)
    if not isinstance(batchnorm, bool):
        raise ValueError(f"batchnorm must be a boolean, got {batchnorm!r}")
    if not (isinstance(bn_eps, (int, float)) and not isinstance(bn_eps, bool) and math.isfinite(bn_eps)
            and bn_eps >= 0):
        raise ValueError(f"bn_eps must be a finite number >= 0, got {bn_eps!r}")
    bn = _BN(float(bn_eps)) if batchnorm else None
    a = check_nats_arch(arch)
    x = check_images(images, stages, device)
    n, c, H, W = x.shape
    need = nats_memory_bytes(a, n, H, W, groups, stages, cells_per_stage, batchnorm=batchnorm)
    if memory_limit_bytes is None:
        if x.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(x.device)
            limit = int(0.6 * free)
        else:
            limit = min(DEFAULT_CPU_BUDGET, available_memory_bytes() // 2)
    else:
        limit = int(memory_limit_bytes)
    if need > limit:
        raise KernelTooLargeError(
            f"nats_kernels on N={n} images of {H}×{W} needs about {need / 2**30:.2f} GiB "
            f"((N·H·W)² = {(n * H * W) ** 2:,} float64 entries per pixel-pair tensor, several alive at once), "
            f"more than the {limit / 2**30:.2f} GiB allowed (memory_limit_bytes); use fewer or smaller images "
            "(e.g. average-pool them down)"
        )
    if progress is None:
        progress = 8 * (n * H * W) ** 2 > (64 << 20)
    plan = _cell_plan(a)
    blocks: list[tuple[str, str]] = [("stem", "stem")]
    for s in range(1, stages + 1):
        if s > 1:
            blocks.append(("reduce", f"reduce{s - 1}"))
        for ci in range(1, cells_per_stage + 1):
            blocks.append(("cell", f"stage{s}.cell{ci}"))
    blocks.append(("head", "head"))

    with torch.no_grad():
        bar = tqdm(blocks, desc="nats_ntk", disable=not progress, leave=False)
        state: Kernel | None = None
        out: NATSKernels | None = None
        for kind, label in bar:
            g = label if groups else "all"
            if kind == "stem":
                T0 = torch.einsum("ncij,mckl->nijmkl", x, x).div_(c)
                S = _window(T0, 3, 1).mul_(SIGMA_W2_STEM)
                del T0
                state = (S, {g: S})
                if bn is not None:
                    state = _batchnorm(state, bn)
            elif kind == "reduce":
                state = _reduction(state, g, bn)
            elif kind == "cell":
                state = _cell(state, plan, g, bn)
            else:
                if bn is not None:  # lastact: BN → ReLU
                    state = _batchnorm(state, bn)
                S, th = state
                V, Vd = _relu_maps(S)
                nngp = V.mean(dim=(1, 2, 4, 5)).mul_(SIGMA_V2)
                parts = {k: (t * Vd).mean(dim=(1, 2, 4, 5)).mul_(SIGMA_V2) for k, t in th.items()}
                _add_into(parts, {g: nngp})
                parts_np = {k: _sym(v) for k, v in parts.items()}
                ntk = np.sum(list(parts_np.values()), axis=0)
                Th = sum(th.values()) if th else torch.zeros_like(S)
                side = S.shape[0] * S.shape[1] * S.shape[2]
                out = NATSKernels(ntk=ntk, nngp=_sym(nngp), parts=parts_np, last_sigma=_sym(S.reshape(side, side)),
                                  last_theta=_sym(Th.reshape(side, side)), last_shape=(S.shape[1], S.shape[2]))
        bar.close()
    return out


def _sym(t: torch.Tensor) -> np.ndarray:
    m = t.detach().to("cpu", torch.float64).numpy()
    return (m + m.T) / 2


def nats_ntk(arch: Arch | str, images, stages: int = 3, cells_per_stage: int = 1, **kw) -> np.ndarray:
    """The exact infinite-channel NTK (N×N float64) of the BN-free NATS network (``nats_kernels``);
    ``batchnorm=True``: the BatchNorm-limit NTK."""
    return nats_kernels(arch, images, stages, cells_per_stage, **kw).ntk


def nats_nngp(arch: Arch | str, images, stages: int = 3, cells_per_stage: int = 1, **kw) -> np.ndarray:
    """The exact infinite-channel NNGP Σ_f = lim E[f(x) f(x')] (N×N float64) of the BN-free NATS network;
    ``batchnorm=True``: the BatchNorm-limit NNGP (``nats_kernels``)."""
    return nats_kernels(arch, images, stages, cells_per_stage, **kw).nngp

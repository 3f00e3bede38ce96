"""Architecture presets of the paper's search space.

* ``fc_chain(acts)``: the depth-L fully connected net h_l = σ_l(W_l h_{l−1}), one activation per layer.
* ``fc_skip(acts, skips)``: the same chain plus identity edges i → l (the skip mask S[i, l] = 1).
* ``resnet(act, depth, alpha)``: h_1 = σ(W_1 x), h_l = h_{l−1} + α·σ(W_l h_{l−1}) for l = 2..L,
  with α ∈ {1, 1/√L, 1/L} (or any positive number).
* ``nats_fc_analogue(arch_str)``: the FC analogue of a NATS-Bench cell (``Arch.to_fc_analogue``).
* ``all_nats_arch_strings()``: the 15,625 cells of NATS-Bench's topology space in its index order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np

from theory.activations import Activation, parse_activation
from theory.space import NATS_OPS, Arch, ArchError, Edge, Op, OpKind, nats_arch_string

__all__ = [
    "fc_chain",
    "fc_skip",
    "resnet",
    "resnet_alpha",
    "nats_fc_analogue",
    "all_nats_arch_strings",
]


def _acts(acts: Sequence[str | Activation] | str | Activation, depth: int | None = None) -> list[Activation]:
    if isinstance(acts, (str, Activation)):
        if depth is None:
            raise ArchError("give a list of activations, or one activation and a depth")
        return [parse_activation(acts)] * depth
    out = [parse_activation(a) for a in acts]
    if depth is not None and len(out) != depth:
        raise ArchError(f"{len(out)} activations given for depth {depth}")
    if not out:
        raise ArchError("an FC chain needs at least one layer")
    return out


def fc_chain(acts: Sequence[str | Activation] | str | Activation, depth: int | None = None) -> Arch:
    """Fully connected chain: node l = dense_{σ_l}(node l−1), l = 1..L."""
    layers = _acts(acts, depth)
    return Arch(tuple((Edge(l - 1, l, Op(OpKind.DENSE, a)),) for l, a in enumerate(layers, start=1)))


def fc_skip(
    acts: Sequence[str | Activation] | str | Activation,
    skips: Iterable[tuple[int, int]] | np.ndarray,
    depth: int | None = None,
) -> Arch:
    """FC chain plus identity edges: ``skips`` is a set of (i, l) pairs with 0 ≤ i < l ≤ L, or an
    (L+1)×(L+1) boolean mask S with S[i, l] = 1 meaning node l also receives node i unchanged."""
    layers = _acts(acts, depth)
    L = len(layers)
    if isinstance(skips, np.ndarray):
        S = np.asarray(skips, dtype=bool)
        if S.shape != (L + 1, L + 1):
            raise ArchError(f"skip mask must have shape {(L + 1, L + 1)}, got {S.shape}")
        if np.any(np.tril(S)):
            raise ArchError("skip mask must be strictly upper triangular (S[i, l] needs i < l)")
        pairs = [(int(i), int(l)) for i, l in zip(*np.nonzero(S))]
    else:
        pairs = [(int(i), int(l)) for i, l in skips]
    nodes: list[list[Edge]] = [[Edge(l - 1, l, Op(OpKind.DENSE, a))] for l, a in enumerate(layers, start=1)]
    seen = set()
    for i, l in pairs:
        if not (0 <= i < l <= L):
            raise ArchError(f"skip ({i}, {l}) is not an edge of a depth-{L} chain (need 0 ≤ i < l ≤ {L})")
        if (i, l) in seen:
            raise ArchError(f"skip ({i}, {l}) given twice")
        seen.add((i, l))
        nodes[l - 1].append(Edge(i, l, Op(OpKind.SKIP)))
    return Arch(tuple(tuple(sorted(n, key=lambda e: (e.src, e.op.token))) for n in nodes))


def resnet_alpha(depth: int, alpha: float | str) -> float:
    """Resolve α given as a number or as one of '1', '1/sqrt(L)', '1/L'."""
    if isinstance(alpha, str):
        key = alpha.replace(" ", "").replace("√L", "sqrt(L)")
        table = {"1": 1.0, "1/sqrt(L)": 1.0 / math.sqrt(depth), "1/L": 1.0 / depth}
        if key not in table:
            raise ArchError(f"unknown ResNet alpha {alpha!r}; use a number or one of {sorted(table)}")
        return table[key]
    a = float(alpha)
    if not (math.isfinite(a) and a > 0):
        raise ArchError(f"ResNet alpha must be positive, got {alpha!r}")
    return a


def resnet(act: str | Activation, depth: int, alpha: float | str = "1/sqrt(L)") -> Arch:
    """ResNet h_1 = σ(W_1 x), h_l = h_{l−1} + α·σ(W_l h_{l−1}) (l = 2..L), read out from h_L.

    Each block is a pair of parallel edges ``|skip_connect~l−1|α*dense_σ~l−1|`` into node l.
    """
    if depth < 1:
        raise ArchError(f"ResNet depth must be >= 1, got {depth}")
    a = parse_activation(act)
    al = resnet_alpha(depth, alpha)
    nodes: list[tuple[Edge, ...]] = [(Edge(0, 1, Op(OpKind.DENSE, a)),)]
    for l in range(2, depth + 1):
        nodes.append((Edge(l - 1, l, Op(OpKind.SKIP)), Edge(l - 1, l, Op(OpKind.DENSE, a, al))))
    return Arch(tuple(tuple(sorted(n, key=lambda e: (e.src, e.op.token))) for n in nodes))


def nats_fc_analogue(arch: str | Arch, conv_activation: str | Activation = "relu") -> Arch:
    """FC analogue of a NATS-Bench cell (see ``Arch.to_fc_analogue`` for the op mapping)."""
    return Arch.parse(arch).to_fc_analogue(conv_activation)


def all_nats_arch_strings() -> list[str]:
    """All 5^6 = 15,625 NATS-Bench topology cells, in the benchmark's index order.

    The index order of NAS-Bench-201 / NATS-tss enumerates the six edges (1←0, 2←0, 2←1, 3←0,
    3←1, 3←2) with the last edge varying slowest... the exact order is checked against the
    benchmark table in the tests; here edges are enumerated with itertools.product over NATS_OPS.
    """
    return [nats_arch_string(ops) for ops in itertools.product(NATS_OPS, repeat=6)]

"""The search space: one typed data model of cell DAGs shared by theory/, bounds/ and empirics/.

A cell is a DAG of nodes 0..n. Node 0 is the input, node n the output; every other
node j is the sum of its incoming edges, ``node_j = Σ_{i<j} op_{i→j}(node_i)``. Ops:

* ``none``: the zero map; ``skip_connect``: the identity;
* ``dense_<act>``: h ↦ σ(W h · √(c_w / fan_in)), a fresh Gaussian W per edge (NTK parametrization;
  c_w = 1/E[σ(z)²] by default, see ``theory.activations.default_weight_variance``);
* the NATS-Bench convolutional ops ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``.

Any op may carry a scale α, written as a prefix ``α*op`` (ResNets: ``0.25*dense_relu``). The text
form is the NATS-Bench arch string, one ``|...|`` group per node j = 1..n listing ``op~src``:

    |dense_relu~0|+|skip_connect~0|dense_tanh~1|

(node 1 = dense_relu(node 0); node 2 = skip(node 0) + dense_tanh(node 1)). ``Arch.parse`` and
``str(arch)`` round-trip exactly; ``Arch.canonical`` removes dead paths (``none`` edges, nodes that
carry the zero function or do not reach the output) and relabels nodes to the lexicographically
smallest topological numbering, so that isomorphic cells compare equal.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from theory.activations import Activation, ActivationError, _fmt, parse_activation
from theory.validate import NUMBER, ascii_text

__all__ = [
    "ArchError",
    "OpKind",
    "Op",
    "Edge",
    "Arch",
    "NATS_OPS",
    "NATS_EDGES",
    "nats_arch_string",
]


class ArchError(ValueError):
    """A malformed, unknown or structurally invalid architecture."""


class OpKind(str, enum.Enum):
    """The kinds of edge operation."""

    NONE = "none"
    SKIP = "skip_connect"
    DENSE = "dense"
    CONV1X1 = "nor_conv_1x1"
    CONV3X3 = "nor_conv_3x3"
    AVGPOOL = "avg_pool_3x3"


#: The five operations of the NATS-Bench topology search space, in its canonical order.
NATS_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The six edges (src → dst) of a NATS-Bench topology cell, in arch-string order.
NATS_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
_CONV_KINDS = {OpKind.CONV1X1, OpKind.CONV3X3, OpKind.AVGPOOL}
_NUM = NUMBER  # ASCII digits only (\d would read Arabic-Indic or full-width digits)


@dataclass(frozen=True)
class Op:
    """One edge operation: its kind, the activation of a dense edge, and a scale α."""

    kind: OpKind
    activation: Activation | None = None
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, OpKind):
            raise ArchError(f"op kind must be an OpKind, got {self.kind!r}")
        if (self.kind is OpKind.DENSE) != (self.activation is not None):
            raise ArchError("a dense op needs an activation and only a dense op has one")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ArchError(f"op scale must be a positive finite number, got {self.scale!r}")

    @classmethod
    def parse(cls, token: str) -> Op:
        """Parse ``[α*]name`` where name is none, skip_connect, dense_<act> or a NATS op."""
        text = ascii_text(token, "op", ArchError)
        scale = 1.0
        m = re.fullmatch(rf"({_NUM})\*(.+)", text)
        if m is not None:
            scale = float(m.group(1))
            text = m.group(2)
            if not (math.isfinite(scale) and scale > 0):
                raise ArchError(f"op scale must be positive, got {m.group(1)!r} in {token!r}")
        if text.startswith("dense_"):
            try:
                act = parse_activation(text[len("dense_"):])
            except ActivationError as exc:
                raise ArchError(f"unknown activation in op {token!r}: {exc}") from None
            return cls(OpKind.DENSE, act, scale)
        for kind in OpKind:
            if kind is not OpKind.DENSE and text == kind.value:
                return cls(kind, None, scale)
        raise ArchError(
            f"unknown op {token!r}; known: none, skip_connect, dense_<activation>, "
            "nor_conv_1x1, nor_conv_3x3, avg_pool_3x3 (optionally prefixed by 'α*')"
        )

    @property
    def token(self) -> str:
        name = f"dense_{self.activation.token}" if self.kind is OpKind.DENSE else self.kind.value
        return name if self.scale == 1.0 else f"{_fmt(self.scale)}*{name}"

    def __str__(self) -> str:
        return self.token

    @property
    def is_none(self) -> bool:
        return self.kind is OpKind.NONE

    @property
    def is_dense(self) -> bool:
        return self.kind is OpKind.DENSE

    @property
    def is_skip(self) -> bool:
        return self.kind is OpKind.SKIP

    @property
    def is_conv_space(self) -> bool:
        """True for the NATS-Bench convolutional-space ops (conv and pooling)."""
        return self.kind in _CONV_KINDS


@dataclass(frozen=True)
class Edge:
    """A directed edge src → dst carrying an op."""

    src: int
    dst: int
    op: Op

    def __str__(self) -> str:
        return f"{self.op.token}~{self.src}"


@dataclass(frozen=True)
class Arch:
    """A cell DAG: ``nodes[j-1]`` holds the incoming edges of node j (j = 1..n), sorted by source.

    Construct with ``Arch.parse(text)``, ``Arch.from_edges(...)`` or the presets in
    ``theory.presets``. Invariants (checked): every node j ≥ 1 has at least one incoming edge,
    every edge goes from an earlier node to a later one (no cycles). Parallel edges (two ops from
    the same source, e.g. a ResNet block ``|skip_connect~1|0.5*dense_relu~1|``) are allowed and
    summed; edges are kept sorted by (source, op text).
    """

    nodes: tuple[tuple[Edge, ...], ...]

    def __post_init__(self) -> None:
        if len(self.nodes) == 0:
            raise ArchError("an architecture needs at least one node besides the input")
        for j, incoming in enumerate(self.nodes, start=1):
            if len(incoming) == 0:
                raise ArchError(f"node {j} has no inputs")
            for e in incoming:
                if e.dst != j:
                    raise ArchError(f"edge {e} is listed under node {j} but points to node {e.dst}")
                if not (0 <= e.src < j):
                    raise ArchError(
                        f"edge '{e}' into node {j} reads node {e.src}, which is not an earlier node: "
                        "that would make a cycle (edges must go from lower to higher node numbers)"
                    )

    # ------------------------------------------------------------------ construction

    @classmethod
    def parse(cls, text: str) -> Arch:
        """Parse a NATS-Bench style arch string. Errors name the bad token and its position."""
        if isinstance(text, Arch):
            return text
        s = ascii_text(text, "architecture string", ArchError)
        if not s:
            raise ArchError("empty architecture string")
        groups = s.split("+")
        # '+' may also appear inside an exponent of a number (1e+3); rejoin such splits
        merged: list[str] = []
        for g in groups:
            if merged and not (merged[-1].endswith("|") and g.startswith("|")):
                merged[-1] = merged[-1] + "+" + g
            else:
                merged.append(g)
        nodes: list[tuple[Edge, ...]] = []
        offset = 0
        for j, group in enumerate(merged, start=1):
            if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
                raise ArchError(
                    f"node group {j} {group!r} at character {offset} of {text!r} must look like |op~src|op~src|"
                )
            body = group[1:-1]
            if body == "":
                raise ArchError(f"node {j} has no inputs (empty group at character {offset} of {text!r})")
            edges = []
            pos = offset + 1
            for k, tok in enumerate(body.split("|")):
                where = f"token {k + 1} of node {j} (character {pos} of {text!r})"
                if tok.count("~") != 1:
                    raise ArchError(f"bad token {tok!r} at {where}: expected op~src")
                op_text, src_text = tok.split("~")
                if not re.fullmatch(r"[0-9]+", src_text):
                    raise ArchError(f"bad source {src_text!r} in token {tok!r} at {where}: expected a node number")
                try:
                    op = Op.parse(op_text)
                except ArchError as exc:
                    raise ArchError(f"bad token {tok!r} at {where}: {exc}") from None
                src = int(src_text)
                if src >= j:
                    raise ArchError(
                        f"bad token {tok!r} at {where}: node {j} cannot read node {src} "
                        "(a source must be an earlier node; otherwise the graph has a cycle)"
                    )
                edges.append(Edge(src, j, op))
                pos += len(tok) + 1
            nodes.append(tuple(sorted(edges, key=_by_src)))
            offset += len(group) + 1
        return cls(tuple(nodes))

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[int, int, str | Op]], n_nodes: int | None = None) -> Arch:
        """Build from (src, dst, op) triples over node labels; node 0 is the input and the largest
        label the output. Labels are renumbered topologically; cycles and nodes without inputs are
        errors."""
        triples = [(int(s), int(d), o if isinstance(o, Op) else Op.parse(o)) for s, d, o in edges]
        labels = {0} | {s for s, _, _ in triples} | {d for _, d, _ in triples}
        if n_nodes is not None:
            labels |= set(range(n_nodes + 1))
        out_label = max(labels)
        succ: dict[int, list[int]] = {v: [] for v in labels}
        indeg = {v: 0 for v in labels}
        for s, d, _ in triples:
            if s == d:
                raise ArchError(f"edge {s}->{d} is a self loop (a cycle)")
            succ[s].append(d)
            indeg[d] += 1
        for v in labels:
            if v != 0 and indeg[v] == 0:
                raise ArchError(f"node {v} has no inputs")
        if indeg[0] != 0:
            raise ArchError("node 0 is the input and cannot have incoming edges")
        order: list[int] = []
        ready = [0]
        remaining = dict(indeg)
        while ready:
            v = min(ready)
            ready.remove(v)
            order.append(v)
            for w in succ[v]:
                remaining[w] -= 1
                if remaining[w] == 0:
                    ready.append(w)
        if len(order) != len(labels):
            cyc = sorted(v for v in labels if remaining[v] > 0)
            raise ArchError(f"the edges form a cycle through nodes {cyc}")
        if order[-1] != out_label:
            # the output must come last; other sinks before it are allowed (they are dead ends)
            order.remove(out_label)
            order.append(out_label)
        rank = {v: i for i, v in enumerate(order)}
        for s, d, _ in triples:
            if rank[s] >= rank[d]:
                raise ArchError(f"edge {s}->{d} leaves the output node {out_label}; the output must be a sink")
        n = len(order) - 1
        per_node: list[list[Edge]] = [[] for _ in range(n)]
        for s, d, o in triples:
            per_node[rank[d] - 1].append(Edge(rank[s], rank[d], o))
        return cls(tuple(tuple(sorted(p, key=_by_src)) for p in per_node))

    # ------------------------------------------------------------------ views

    def __str__(self) -> str:
        return "+".join("|" + "|".join(str(e) for e in incoming) + "|" for incoming in self.nodes)

    def __repr__(self) -> str:
        return f"Arch({str(self)!r})"

    @property
    def n_nodes(self) -> int:
        """Number of non-input nodes n (the output is node n)."""
        return len(self.nodes)

    @property
    def output(self) -> int:
        return len(self.nodes)

    @property
    def edges(self) -> tuple[Edge, ...]:
        return tuple(e for incoming in self.nodes for e in incoming)

    @property
    def dense_edges(self) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.op.is_dense)

    def incoming(self, j: int) -> tuple[Edge, ...]:
        if not 1 <= j <= self.n_nodes:
            raise ArchError(f"node {j} does not exist (nodes are 1..{self.n_nodes})")
        return self.nodes[j - 1]

    @property
    def is_fc(self) -> bool:
        """True when no edge is a NATS convolutional-space op (the FC search space of the paper)."""
        return not any(e.op.is_conv_space for e in self.edges)

    @property
    def is_conv(self) -> bool:
        """True when every edge is a NATS-Bench op (the convolutional topology space)."""
        return all(e.op.kind in {OpKind.NONE, OpKind.SKIP} | _CONV_KINDS and e.op.scale == 1.0 for e in self.edges)

    @property
    def activations(self) -> tuple[Activation, ...]:
        """Activations of the dense edges, in edge order."""
        return tuple(e.op.activation for e in self.dense_edges)  # type: ignore[misc]

    @cached_property
    def live_nodes(self) -> frozenset[int]:
        """Nodes that carry a non-zero function of the input: reachable from 0 through non-none edges."""
        live = {0}
        for j, incoming in enumerate(self.nodes, start=1):
            if any((not e.op.is_none) and e.src in live for e in incoming):
                live.add(j)
        return frozenset(live)

    @cached_property
    def useful_nodes(self) -> frozenset[int]:
        """Live nodes that reach the output through non-none edges from live nodes."""
        live = self.live_nodes
        if self.output not in live:
            return frozenset()
        useful = {self.output}
        for j in range(self.output, 0, -1):
            if j not in useful:
                continue
            for e in self.nodes[j - 1]:
                if not e.op.is_none and e.src in live:
                    useful.add(e.src)
        return frozenset(useful)

    @property
    def is_zero(self) -> bool:
        """True when the output is identically zero (every path to it passes a ``none``)."""
        return self.output not in self.live_nodes

    # ------------------------------------------------------------------ canonical form

    def pruned_edges(self) -> list[Edge]:
        """The edges that affect the output: non-none, from a live node, into a useful node."""
        useful = self.useful_nodes
        return [e for e in self.edges if not e.op.is_none and e.src in useful and e.dst in useful]

    def canonical(self) -> Arch:
        """The canonical representative of this cell's isomorphism class.

        1. Dead paths are dropped (see ``pruned_edges``); a cell whose output is zero becomes
           ``|none~0|``.
        2. Identity aliases are collapsed: a node whose only input is one unscaled ``skip_connect``
           computes exactly its source, so its readers read the source instead (and an output
           that is such an alias is replaced by its source).
        3. The remaining intermediate nodes are relabelled by the topological order whose string is
           lexicographically smallest (exhaustive over topological orders: exact DAG isomorphism
           for the small cells of this space; beyond 9 intermediate nodes the pruned order is kept,
           a valid but not necessarily minimal label).

        This is equality of the computed random function (same ops, same weight sharing). NATS-Bench's
        own ``unique_str`` is a different, path-expansion notion (it ignores weight sharing and keeps
        some zero paths); the benchmark interface exposes that one separately.
        """
        if self.is_zero:
            return Arch(((Edge(0, 1, Op(OpKind.NONE)),),))
        edges = [(e.src, e.dst, e.op) for e in self.pruned_edges()]
        out = self.output
        while True:
            ins: dict[int, list[tuple[int, int, Op]]] = {}
            for t in edges:
                ins.setdefault(t[1], []).append(t)
            alias = next(
                (
                    v
                    for v, lst in sorted(ins.items())
                    if len(lst) == 1 and lst[0][2] == Op(OpKind.SKIP) and (v != out or lst[0][0] != 0)
                ),
                None,
            )
            if alias is None:
                break
            src = ins[alias][0][0]
            if alias == out:
                # the output equals node src: keep only what feeds src
                out = src
                keep = {src}
                for s_, d_, _ in sorted(edges, key=lambda t: -t[1]):
                    if d_ in keep:
                        keep.add(s_)
                edges = [t for t in edges if t[1] in keep and t[1] != alias]
            else:
                edges = [(src if s_ == alias else s_, d_, o) for s_, d_, o in edges if d_ != alias]
        nodes_used = sorted({0, out} | {t[0] for t in edges} | {t[1] for t in edges})
        inner = [v for v in nodes_used if v not in (0, out)]
        preds = {v: {t[0] for t in edges if t[1] == v} for v in inner}
        best: str | None = None
        best_arch: Arch | None = None
        orders: Iterable[tuple[int, ...]]
        if len(inner) <= 9:
            orders = (p for p in itertools.permutations(inner) if _is_topological(p, preds))
        else:
            orders = [tuple(inner)]
        for perm in orders:
            relabel = {0: 0, out: len(inner) + 1}
            relabel.update({v: i + 1 for i, v in enumerate(perm)})
            per_node: list[list[Edge]] = [[] for _ in range(len(inner) + 1)]
            for s_, d_, o in edges:
                per_node[relabel[d_] - 1].append(Edge(relabel[s_], relabel[d_], o))
            cand = Arch(tuple(tuple(sorted(p, key=_by_src)) for p in per_node))
            text = str(cand)
            if best is None or text < best:
                best, best_arch = text, cand
        assert best_arch is not None
        return best_arch

    def isomorphic(self, other: Arch | str) -> bool:
        """True when both cells compute the same network up to relabelling and dead paths."""
        return self.canonical() == Arch.parse(other).canonical()

    # ------------------------------------------------------------------ conversions

    def to_fc_analogue(self, conv_activation: str | Activation = "relu") -> Arch:
        """The fully connected analogue of a NATS-Bench cell.

        ``nor_conv_1x1`` and ``nor_conv_3x3`` (ReLU-Conv-BN) become ``dense_relu`` (a fresh
        Gaussian matrix followed by the activation; the ReLU that NATS applies before the conv is
        moved after it, which is the same composition up to the first/last layer);
        ``avg_pool_3x3`` is a linear, mean-preserving map with no parameters and becomes the identity
        ``skip_connect``; ``none`` and ``skip_connect`` are kept. Dense edges keep their own ops.
        """
        act = parse_activation(conv_activation)
        mapping = {
            OpKind.CONV1X1: Op(OpKind.DENSE, act),
            OpKind.CONV3X3: Op(OpKind.DENSE, act),
            OpKind.AVGPOOL: Op(OpKind.SKIP),
        }
        nodes = tuple(
            tuple(sorted((Edge(e.src, e.dst, mapping.get(e.op.kind, e.op)) for e in inc), key=_by_src))
            for inc in self.nodes
        )
        return Arch(nodes)

    def nats_ops(self) -> list[str]:
        """The six edge ops (``NATS_EDGES`` order) of a NATS-Bench topology cell; ArchError for any other
        architecture. The inverse of ``nats_arch_string``."""
        if [(e.src, e.dst) for e in self.edges] != list(NATS_EDGES) or any(
            e.op.token not in NATS_OPS for e in self.edges
        ):
            raise ArchError(f"not a NATS topology cell: {self}")
        return [e.op.token for e in self.edges]

    def with_ops(self, ops: Sequence[str | Op]) -> Arch:
        """Same DAG with the ops replaced, in ``edges`` order."""
        if len(ops) != len(self.edges):
            raise ArchError(f"expected {len(self.edges)} ops, got {len(ops)}")
        it = iter(o if isinstance(o, Op) else Op.parse(o) for o in ops)
        return Arch(tuple(tuple(Edge(e.src, e.dst, next(it)) for e in inc) for inc in self.nodes))


def nats_arch_string(ops: Sequence[str]) -> str:
    """The NATS-Bench arch string of the topology cell with the six edge ops ``ops`` (``NATS_EDGES``
    order): ``|o₀~0|+|o₁~0|o₂~1|+|o₃~0|o₄~1|o₅~2|``. ``Arch.nats_ops`` is its inverse."""
    if len(ops) != len(NATS_EDGES):
        raise ArchError(f"a NATS cell has {len(NATS_EDGES)} edges, got {len(ops)} ops")
    o = [str(x) for x in ops]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def _by_src(e: Edge) -> tuple[int, str]:
    return (e.src, e.op.token)


def _is_topological(order: Sequence[int], preds: dict[int, set[int]]) -> bool:
    pos = {v: i for i, v in enumerate(order)}
    return all(pos[p] < pos[v] for v in order for p in preds[v] if p in pos)

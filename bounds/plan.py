"""The structure of an architecture as the bounds see it: dense edges and skip-only path weights.

In the infinite-width limit every node's feature vector decomposes into mutually orthogonal parts
(derivation in docs/theory.md §III.2): for node u,

    h_u(x) = a_u(x)·1  +  P_{0→u} · x  +  Σ_{dense e} P_{e→u} · φ̃_e(x)

where φ̃_e = σ_e(g_e) − E[σ_e(g_e)] is the centred output of dense edge e (fresh weights, so the
φ̃_e of different edges are orthogonal to each other, to 1 and to the input in the limit), a_u(x) is
the propagated feature mean, and the **path weights** are sums over *skip-only* paths:

    S_{w→u} = Σ_{paths w ⇝ u using only skip_connect edges} Π α_s      (S_{u→u} = 1)
    P_{0→u} = S_{0→u},        P_{e→u} = α_e · S_{dst(e)→u}.

Backward signals decompose the same way with S_{v→out} and S_{v→src(e)}. A ``Plan`` holds these
weights, computed for any scalar type (floats for evaluation, sympy symbols for the formulas).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from theory.activations import Activation, default_weight_variance
from theory.space import Arch

__all__ = ["DenseEdge", "SkipEdge", "Plan", "BoundError", "depth"]


class BoundError(ValueError):
    """A bound cannot be stated for this input (the message names the violated assumption)."""


@dataclass(frozen=True)
class DenseEdge:
    """Dense edge number k (in ``Plan.dense`` order): src → dst, activation, weight variance, scale."""

    k: int
    src: int
    dst: int
    act: Activation
    c: float
    alpha: float


@dataclass(frozen=True)
class SkipEdge:
    src: int
    dst: int
    alpha: float


@dataclass(frozen=True)
class Plan:
    """Dense and skip edges of the pruned architecture (edges that cannot affect the output are
    dropped: ``none`` edges, edges out of dead nodes, edges into nodes that do not reach the output)."""

    n: int
    dense: tuple[DenseEdge, ...]
    skips: tuple[SkipEdge, ...]
    zero: bool
    #: the architecture the plan was made from (kept, so nothing needs to rebuild it from the plan)
    arch: Arch | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, arch: Arch | str | Plan) -> Plan:
        """The plan of ``arch`` (a Plan is returned as is; plans are cached per architecture, so the
        bounds of one architecture share one parse and one plan)."""
        if isinstance(arch, Plan):
            return arch
        return _plan_of(Arch.parse(arch))

    @classmethod
    def build(cls, arch: Arch) -> Plan:
        """Build the plan (uncached; ``Plan.of`` is the cached entry point)."""
        if arch.is_zero:
            return cls(arch.output, (), (), True, arch)
        dense: list[DenseEdge] = []
        skips: list[SkipEdge] = []
        for e in arch.pruned_edges():
            if e.op.is_dense:
                act = e.op.activation
                assert act is not None
                dense.append(DenseEdge(len(dense), e.src, e.dst, act, default_weight_variance(act), e.op.scale))
            elif e.op.is_skip:
                skips.append(SkipEdge(e.src, e.dst, e.op.scale))
            else:
                raise BoundError(
                    f"edge {e} is a convolutional-space op; bounds are stated for the FC space: "
                    "use theory.presets.nats_fc_analogue(arch) first"
                )
        return cls(arch.output, tuple(dense), tuple(skips), False, arch)

    @property
    def nodes(self) -> range:
        return range(self.n + 1)

    def skip_weights(self, scale: Callable[[SkipEdge], Any] | None = None) -> dict[tuple[int, int], Any]:
        """S[(w, u)] = Σ over skip-only paths w ⇝ u of the product of ``scale(edge)`` (default α)."""
        sc = scale or (lambda s: s.alpha)
        S: dict[tuple[int, int], Any] = {}
        for w in self.nodes:
            S[(w, w)] = 1
            for u in range(w + 1, self.n + 1):
                tot: Any = 0
                for s in self.skips:
                    if s.dst == u and s.src >= w and (w, s.src) in S and S[(w, s.src)] != 0:
                        tot = tot + S[(w, s.src)] * sc(s)
                S[(w, u)] = tot
        return S


@lru_cache(maxsize=4096)
def _plan_of(arch: Arch) -> Plan:
    return Plan.build(arch)


def depth(arch: Arch | str | Plan) -> int:
    """L: the largest number of dense edges on a path from the input to the output."""
    plan = Plan.of(arch)
    best = {0: 0}
    for u in range(1, plan.n + 1):
        cands = [best[e.src] + 1 for e in plan.dense if e.dst == u and e.src in best]
        cands += [best[s.src] for s in plan.skips if s.dst == u and s.src in best]
        if cands:
            best[u] = max(cands)
    return best.get(plan.n, 0)

"""Search strategies on the NATS-Bench topology space, driven by any score (larger is better).

* :func:`prune_search`: TE-NAS pruning (Chen, Gong & Wang, *Neural Architecture Search on ImageNet in
  Four GPU Hours*, ICLR 2021): start from the supernet with all five ops on each of the six edges (op
  outputs summed, :func:`supernet`); each round, for every edge e and op o still on e, score the
  supernet without o on e; on every edge remove the op whose removal lowers the score least (largest
  score after removal); stop when one op per edge is left.
* :func:`evolution_search`: regularized (aging) evolution (Real, Aggarwal, Huang & Le, *Regularized
  Evolution for Image Classifier Architecture Search*, AAAI 2019): population P of random cells; each
  cycle samples S members, mutates the best (one edge gets another op) and appends the child, removing
  the oldest member; the answer is the best-scored cell ever seen.

Sampling (P-S: the argmax of a score over random cells) is in ``empirics.nas.search``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from empirics.models.nats_net import NATSCell, NATSNetwork, nats_cell_op
from theory.space import NATS_EDGES, NATS_OPS, Arch, ArchError, Op, nats_arch_string

__all__ = [
    "SearchError",
    "arch_from_ops",
    "ops_from_arch",
    "SuperCell",
    "supernet",
    "cell_connected",
    "prune_search",
    "evolution_search",
]

class SearchError(ValueError):
    """A search-strategy request that cannot be run (wrong cell size, empty op set, bad population)."""


def arch_from_ops(ops: Sequence[str]) -> str:
    """NATS arch string from the six edge ops in ``NATS_EDGES`` order (``theory.space.nats_arch_string``)."""
    try:
        return nats_arch_string(ops)
    except ArchError as exc:
        raise SearchError(str(exc)) from None


def ops_from_arch(arch: str | Arch) -> list[str]:
    """The six edge ops (``NATS_EDGES`` order) of a NATS topology cell (``Arch.nats_ops``)."""
    try:
        return Arch.parse(str(arch)).nats_ops()
    except ArchError as exc:
        raise SearchError(str(exc)) from None


class SuperCell(nn.Module):
    """A NATS cell with a set of ops per edge, summed (the TE-NAS supernet cell).

    node j = Σ_{i<j} Σ_{o∈S_ij} o(node i).
    """

    def __init__(self, op_sets: Sequence[Sequence[str]], c: int) -> None:
        super().__init__()
        if len(op_sets) != 6 or any(len(s) == 0 for s in op_sets):
            raise SearchError("a supernet cell needs a non-empty op set on each of the 6 edges")
        self.edges = nn.ModuleList()
        for s in op_sets:
            self.edges.append(nn.ModuleList([nats_cell_op(Op.parse(o).kind, c) for o in s]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            total: torch.Tensor | None = None
            for e, (src, dst) in enumerate(NATS_EDGES):
                if dst != j:
                    continue
                for op in self.edges[e]:
                    y = op(nodes[src])
                    total = y if total is None else total + y
            assert total is not None
            nodes.append(total)
        return nodes[-1]


def supernet(op_sets: Sequence[Sequence[str]], C: int = 8, N: int = 1, num_classes: int = 10) -> nn.Module:
    """The NATS network whose searched cells are ``SuperCell(op_sets)`` (stem, reduction blocks and head
    as ``NATSNetwork``)."""
    net = NATSNetwork(arch_from_ops(["skip_connect"] * 6), C=C, N=N, num_classes=num_classes)
    ch = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
    for i, cell in enumerate(net.cells):
        if isinstance(cell, NATSCell):
            net.cells[i] = SuperCell(op_sets, ch[i])
    return net


def cell_connected(op_sets: Sequence[Sequence[str]]) -> bool:
    """True when the (super)cell's output is not identically zero: ``not Arch.is_zero`` of the cell with
    every op of every edge's set as a parallel edge (a path from input to output avoiding ``none``)."""
    return not Arch.from_edges(
        [(src, dst, o) for (src, dst), s in zip(NATS_EDGES, op_sets) for o in s], n_nodes=3
    ).is_zero


def prune_search(
    score_fn: Callable[[list[list[str]]], float], ops: Sequence[str] = NATS_OPS, keep_connected: bool = False
) -> dict[str, Any]:
    """TE-NAS-style pruning (Chen et al. 2021) driven by ``score_fn(op_sets)`` (larger is better).

    Start with S_e = ``ops`` on every edge e. Each round, for every edge e with |S_e| > 1 and every o ∈ S_e,
    s(e, o) = score_fn(S with o removed from S_e); then on every such edge remove argmax_o s(e, o) (the op
    whose removal lowers the score least), all edges at once. Stop when |S_e| = 1 for all e.

    ``keep_connected`` (a guard, not part of TE-NAS): the edges are visited in ``NATS_EDGES`` order and each
    removes its best-scored op among those whose removal, together with the removals already chosen in
    this round, leaves a path from input to output (:func:`cell_connected`); the scores are unchanged.
    Returns the arch string, the rounds (scores seen) and the number of score evaluations.
    """
    sets = [list(ops) for _ in NATS_EDGES]
    rounds: list[dict[str, Any]] = []
    evals = 0
    while any(len(s) > 1 for s in sets):
        ranked: dict[int, list[str]] = {}
        seen: dict[str, float] = {}
        for e, s in enumerate(sets):
            if len(s) <= 1:
                continue
            vals: list[tuple[float, int, str]] = []
            for i, o in enumerate(s):
                trial = [list(t) for t in sets]
                trial[e] = [x for x in s if x != o]
                v = float(score_fn(trial))
                evals += 1
                seen[f"{e}:{o}"] = v
                vals.append((-math.inf if math.isnan(v) else v, -i, o))
            ranked[e] = [o for _, _, o in sorted(vals, reverse=True)]  # best first; ties: first op
        removed: dict[int, str] = {}
        after = [list(t) for t in sets]
        for e, cands in ranked.items():
            choice = cands[0]
            if keep_connected:
                for o in cands:
                    trial = [list(t) for t in after]
                    trial[e] = [x for x in after[e] if x != o]
                    if cell_connected(trial):
                        choice = o
                        break
            removed[e] = choice
            after[e] = [x for x in after[e] if x != choice]
        sets = after
        rounds.append({"removed": {str(e): o for e, o in removed.items()}, "scores": seen})
    return {"arch": arch_from_ops([s[0] for s in sets]), "rounds": rounds, "evaluations": evals}


def evolution_search(
    score_fn: Callable[[str], float],
    cycles: int = 100,
    population: int = 20,
    sample: int = 5,
    seed: int = 0,
    ops: Sequence[str] = NATS_OPS,
) -> dict[str, Any]:
    """Regularized evolution (Real et al. 2019) driven by ``score_fn(arch_str)`` (larger is better).

    ``population`` random cells start the queue; each of ``cycles`` steps draws ``sample`` members
    uniformly, copies the best and mutates one uniformly chosen edge to a different op, appends the child
    and drops the oldest member. Scores are memoized per arch string. Returns the best-scored arch seen,
    its score, and the number of distinct cells scored.
    """
    if population < 2 or not 1 <= sample <= population or cycles < 0:
        raise SearchError("need population >= 2, 1 <= sample <= population, cycles >= 0")
    rng = np.random.default_rng(int(seed))
    memo: dict[str, float] = {}

    def f(a: str) -> float:
        if a not in memo:
            v = float(score_fn(a))
            memo[a] = -math.inf if math.isnan(v) else v
        return memo[a]

    pop: deque[str] = deque()
    for _ in range(population):
        a = arch_from_ops([ops[int(rng.integers(len(ops)))] for _ in NATS_EDGES])
        f(a)
        pop.append(a)
    for _ in range(cycles):
        cand = [pop[int(j)] for j in rng.choice(len(pop), size=sample, replace=False)]
        parent = max(cand, key=f)
        child = ops_from_arch(parent)
        e = int(rng.integers(6))
        child[e] = [o for o in ops if o != child[e]][int(rng.integers(len(ops) - 1))]
        c = arch_from_ops(child)
        f(c)
        pop.append(c)
        pop.popleft()
    best = max(memo, key=lambda a: memo[a])
    return {"arch": best, "score": memo[best], "scored": len(memo), "history": list(memo)}

"""A tiny stand-in for the NATS cell network, for fast unit tests of the scores and the search harness.

stem conv(3→C)+BN, ``N`` copies of the cell (ops ReLU-Conv-BN, 3×3 average pool, identity, zero),
ReLU, global average pool, linear classifier. Not the NATS-Bench network (no reduction blocks).
"""

from __future__ import annotations

import torch
from torch import nn

from theory.space import Arch


class _RCB(nn.Module):
    def __init__(self, C: int, k: int) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, k, padding=k // 2, bias=False), nn.BatchNorm2d(C))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


def _op(name: str, C: int) -> nn.Module:
    return {
        "nor_conv_1x1": lambda: _RCB(C, 1),
        "nor_conv_3x3": lambda: _RCB(C, 3),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
        "skip_connect": nn.Identity,
        "none": _Zero,
    }[name]()


class ToyCell(nn.Module):
    def __init__(self, arch: str, C: int) -> None:
        super().__init__()
        a = Arch.parse(arch)
        self.edges = [(e.src, e.dst) for e in a.edges]
        self.ops = nn.ModuleList(_op(e.op.token, C) for e in a.edges)
        self.n = a.n_nodes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x] + [None] * self.n
        for j in range(1, self.n + 1):
            nodes[j] = sum(op(nodes[s]) for (s, d), op in zip(self.edges, self.ops) if d == j)
        return nodes[self.n]


class ToyNet(nn.Module):
    def __init__(self, arch: str, num_classes: int, C: int = 4, N: int = 1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.Sequential(*[ToyCell(arch, C) for _ in range(N)])
        self.last = nn.ReLU()
        self.classifier = nn.Linear(C, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.last(self.cells(self.stem(x)))
        return self.classifier(h.mean(dim=(2, 3)))


def toy_factory(arch: str, num_classes: int, C: int, N: int) -> nn.Module:
    return ToyNet(arch, num_classes, C=C, N=N)

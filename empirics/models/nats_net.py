"""The NATS-Bench topology network (xautodl ``TinyNetwork``), written here from an eigennas ``Arch``.

Layout (Dong & Yang, NAS-Bench-201 / NATS-Bench tss; defaults C = 16, N = 5)::

    stem:   Conv3x3(3 → C, bias=False) → BN(C)
    stage 1: N cells on C channels            (32×32 for CIFAR)
    reduce:  ResNetBasicblock(C → 2C, stride 2)
    stage 2: N cells on 2C channels           (16×16)
    reduce:  ResNetBasicblock(2C → 4C, stride 2)
    stage 3: N cells on 4C channels           (8×8)
    head:    BN(4C) → ReLU → global average pool → Linear(4C → num_classes)

A cell is the DAG of the arch string: node 0 is the cell input, node j = Σ_{i<j} op_{i→j}(node i), the
cell output is the last node. Ops (all channel- and resolution-preserving inside a cell):

* ``none``: x ↦ 0·x (``xautodl`` ``Zero``: no parameters),
* ``skip_connect``: identity,
* ``nor_conv_1x1`` / ``nor_conv_3x3``: ReLU → Conv(k, padding k//2, bias = not affine) → BN,
* ``avg_pool_3x3``: AvgPool2d(3, stride 1, padding 1, count_include_pad=False).

``ResNetBasicblock(C_in → C_out, stride 2)``: ReLUConvBN 3×3 stride 2 → ReLUConvBN 3×3, plus the
shortcut AvgPool2d(2, 2) → Conv1x1(C_in → C_out, bias=False); output = shortcut + block.

Parameter count (``count_parameters``, no instantiation), with r(c_in, c_out, k) = c_in·c_out·k² +
(2·c_out if affine else c_out) for one ReLUConvBN:

    P = (27·C + 2C) + Σ_stages s N·Σ_{conv edges e} r(C_s, C_s, k_e)
        + Σ_{reductions} [r(C_s, 2C_s, 3) + r(2C_s, 2C_s, 3) + C_s·2C_s] + 2·4C + (4C·classes + classes),

which equals ``params_M_cifar10`` × 10⁶ of the NATS-Bench table for all 15,625 cells (tests).

Differences from xautodl, all deliberate and harmless: ``forward`` returns the logits only (xautodl
returns ``(features, logits)``; ``forward_features`` gives the pooled features); cells may have any
number of nodes. Initialization is PyTorch's default for every layer (as in xautodl).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from theory.space import Arch, ArchError, OpKind

__all__ = [
    "NATSNetwork", "NATSCell", "ReLUConvBN", "ResNetBasicblock", "WiredCell", "nats_op", "nats_cell_op",
    "count_parameters",
    "NATS_NUM_CLASSES",
]

#: number of classes of the three NATS-Bench datasets
NATS_NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120, "ImageNet16-120": 120}

_KERNEL = {OpKind.CONV1X1: 1, OpKind.CONV3X3: 3}


def _check_conv_arch(arch: Arch | str) -> Arch:
    a = Arch.parse(arch) if not isinstance(arch, Arch) else arch
    if not a.is_conv:
        bad = sorted({e.op.token for e in a.edges if e.op.kind not in _ALLOWED or e.op.scale != 1.0})
        raise ArchError(
            f"{a} is not a NATS-Bench convolutional cell: ops {bad} are not among none, skip_connect, "
            "nor_conv_1x1, nor_conv_3x3, avg_pool_3x3 (unscaled)"
        )
    return a


_ALLOWED = {OpKind.NONE, OpKind.SKIP, OpKind.CONV1X1, OpKind.CONV3X3, OpKind.AVGPOOL}


def _check_sizes(C: int, N: int, num_classes: int) -> None:
    for name, v in (("C", C), ("N", N), ("num_classes", num_classes)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


class ReLUConvBN(nn.Module):
    """ReLU → Conv2d(c_in → c_out, k, stride, padding, bias = not affine) → BatchNorm2d(c_out)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=not affine),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ResNetBasicblock(nn.Module):
    """The reduction block between stages: two ReLUConvBN 3×3 (the first with stride 2) plus an
    AvgPool(2)+Conv1x1 shortcut (stride 2) or the identity (stride 1, same channels)."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, affine: bool = True, track_running_stats: bool = True
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine, track_running_stats)
        if stride == 2:
            self.downsample: nn.Module | None = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif c_in != c_out:
            self.downsample = ReLUConvBN(c_in, c_out, 1, 1, 0, affine, track_running_stats)
        else:
            self.downsample = None
        self.out_dim = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_b(self.conv_a(x))
        residual = x if self.downsample is None else self.downsample(x)
        return residual + y


def nats_op(kind: OpKind, conv: Callable[[int], nn.Module]) -> nn.Module:
    """The module of one NATS edge: none → zero, skip_connect → identity, avg_pool_3x3 → 3×3 average pool
    (stride 1, padding 1, padding not counted), nor_conv_k×k → ``conv(k)``, the network's conv block
    (the NATS cell's ReLU-conv-BN, the BatchNorm-free twin's ReLU-conv in NTK parametrization)."""
    if kind is OpKind.NONE:
        return _Zero()
    if kind is OpKind.SKIP:
        return nn.Identity()
    if kind in _KERNEL:
        return conv(_KERNEL[kind])
    if kind is OpKind.AVGPOOL:
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ArchError(f"op {kind.value} is not a NATS-Bench op")


def nats_cell_op(kind: OpKind, c: int, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    """The NATS cell's module of one edge: ``nats_op`` with the ReLU-conv-BN block (c → c channels)."""
    return nats_op(kind, lambda k: ReLUConvBN(c, c, k, 1, k // 2, affine, track_running_stats))


class WiredCell(nn.Module):
    """A cell DAG of ``arch``: node j = Σ_i op_{i→j}(node i), one module per edge from ``make_op``, output the
    last node. The NATS cell (with BatchNorm) and its BatchNorm-free twin differ only in ``make_op``."""

    def __init__(self, arch: Arch, make_op: Callable[[OpKind], nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        self._wiring: list[list[tuple[int, int]]] = []  # per node: (layer index, source node)
        for incoming in arch.nodes:
            wires = []
            for e in incoming:
                wires.append((len(self.layers), e.src))
                self.layers.append(make_op(e.op.kind))
            self._wiring.append(wires)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for wires in self._wiring:
            total = None
            for li, src in wires:
                y = self.layers[li](nodes[src])
                total = y if total is None else total + y
            nodes.append(total)
        return nodes[-1]


class NATSCell(WiredCell):
    """One cell (xautodl ``InferCell`` at stride 1, C_in = C_out = c): node j = Σ_i op_{i→j}(node i)."""

    def __init__(self, arch: Arch | str, c: int, affine: bool = True, track_running_stats: bool = True) -> None:
        checked = _check_conv_arch(arch)
        super().__init__(checked, lambda kind: nats_cell_op(kind, c, affine, track_running_stats))
        self.arch = checked


class NATSNetwork(nn.Module):
    """The NATS-Bench topology network (xautodl TinyNetwork) for one cell ``arch``.

    Args:
        arch: a NATS-Bench cell (Arch or arch string) using only none / skip_connect / nor_conv_1x1 /
            nor_conv_3x3 / avg_pool_3x3.
        C: channels of the first stage (16 in NATS-Bench); stages have C, 2C, 4C.
        N: cells per stage (5 in NATS-Bench).
        num_classes: 10 (CIFAR-10), 100 (CIFAR-100) or 120 (ImageNet16-120); any positive integer works.
        affine, track_running_stats: BatchNorm options of the cells and reduction blocks (NATS-Bench:
            True, True). With ``affine=False`` the convolutions get a bias (xautodl's ``bias=not affine``).
            The stem and head BatchNorms are always affine with running statistics, as in xautodl.
        in_channels: input channels (3 for RGB).

    ``forward(x)`` takes (batch, in_channels, H, W) and returns logits (batch, num_classes).
    """

    def __init__(
        self,
        arch: Arch | str,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        affine: bool = True,
        track_running_stats: bool = True,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        _check_sizes(C, N, num_classes)
        self.arch = _check_conv_arch(arch)
        self.C, self.N, self.num_classes, self.in_channels = C, N, num_classes, in_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        channels = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        self.cells = nn.ModuleList()
        c_prev = C
        for c_curr, red in zip(channels, reductions):
            if red:
                cell: nn.Module = ResNetBasicblock(c_prev, c_curr, 2, affine, track_running_stats)
            else:
                cell = NATSCell(self.arch, c_curr, affine, track_running_stats)
            self.cells.append(cell)
            c_prev = c_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"NATSNetwork expects images of shape (batch, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features after the head BN+ReLU: (batch, 4C)."""
        self._check_input(x)
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.lastact(h)
        return self.global_pooling(h).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def _relu_conv_bn_params(c_in: int, c_out: int, k: int, affine: bool) -> int:
    return c_in * c_out * k * k + (2 * c_out if affine else c_out)


def count_parameters(
    arch: Arch | str, C: int = 16, N: int = 5, num_classes: int = 10, affine: bool = True, in_channels: int = 3
) -> int:
    """Number of trainable parameters of ``NATSNetwork(arch, C, N, num_classes, affine)``, computed
    from the formula in the module docstring without building the network.

    NATS-Bench's ``params_M_cifar10`` is this number / 10⁶ (C=16, N=5, num_classes=10); it counts the
    parameters of every edge, including edges on dead paths (they are instantiated too).
    """
    _check_sizes(C, N, num_classes)
    a = _check_conv_arch(arch)
    per_cell_unit = [(_KERNEL[e.op.kind]) for e in a.edges if e.op.kind in _KERNEL]
    total = in_channels * C * 9 + 2 * C  # stem conv (no bias) + affine BN
    for c in (C, 2 * C, 4 * C):
        total += N * sum(_relu_conv_bn_params(c, c, k, affine) for k in per_cell_unit)
    for c in (C, 2 * C):  # reduction blocks c -> 2c
        total += _relu_conv_bn_params(c, 2 * c, 3, affine) + _relu_conv_bn_params(2 * c, 2 * c, 3, affine) + c * 2 * c
    total += 2 * 4 * C  # head BN
    total += 4 * C * num_classes + num_classes  # classifier
    return total

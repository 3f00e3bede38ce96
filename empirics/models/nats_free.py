"""The BatchNorm-free NATS-Bench network in NTK parametrization: the finite twin of ``theory.nats``.

Same skeleton as ``empirics.nats_net.NATSNetwork`` (stem, ``stages`` stages of N cells on C·2^(s−1)
channels, the stride-2 reduction block between stages, global average pooling, a linear head), with:

* no BatchNorm anywhere and no biases;
* NTK parametrization: every weight is a ``Parameter`` drawn i.i.d. N(0, 1); a conv / linear layer
  outputs (σ_w/√fan_in)·(W ⋆ input), fan_in = c_in·k² (the scale is a fixed multiplier after the
  ``nn.Conv2d``, so the empirical-NTK engine's LAYERWISE method sees a plain conv);
* stem Conv3×3 (σ_w² = 1); ``nor_conv_k`` = Conv k×k(ReLU(h)) (σ_w² = 2); ``avg_pool_3x3`` stride 1,
  padding 1, count_include_pad=False; ``skip_connect`` identity; ``none`` zero;
* reduction: a = Conv3×3 stride 2 (ReLU(h)), b = Conv3×3(ReLU(a)) (σ_w² = 2 both), shortcut
  Conv1×1(AvgPool2d(2, 2)(h)) (σ_w² = 1), output b + shortcut;
* head f = (σ_v/√C_last)·Vᵀ GAP(ReLU(h)), σ_v² = 2, ``num_classes`` outputs (1 by default).

Its empirical NTK converges to ``theory.nats_ntk`` as C → ∞ (tests/test_nats_free.py). Build it with
``empirics.build_model(arch, width=C, family="nats", batchnorm=False, N=cells, stages=3, dtype=torch.float64)``.

**The BN twin** (``batchnorm=True`` here; ``build_model(..., batchnorm="ntk")``): the same network with
``BatchNorm2d(eps=bn_eps, affine=bn_affine, track_running_stats=False)`` (batch statistics in every mode,
i.e. train-mode BN) where NATS-Bench has it: after the stem conv, after every conv edge of a cell
(ReLU → Conv → BN), after the reduction block's convs a and b (not after its shortcut conv), and before
the head's ReLU (NATS ``lastact`` = BN → ReLU). Default ``bn_affine=False`` (γ = 1, β = 0 fixed: the
forward pass of NATS's affine BN at init, without the γ, β gradients), the network whose empirical NTK
(batch-coupled) approaches ``theory.nats_ntk(..., batchnorm=True)`` as C grows, up to the finite-batch
bias of that limit (docs/theory.md, IV.6; tests/test_nats_bn.py). ``bn_affine=True`` trains γ, β; the
theory does not model that NTK (IV.6 gives the measured gap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from empirics.models.nats_net import WiredCell, nats_op
from theory.nats import check_nats_arch
from theory.space import Arch, OpKind

__all__ = ["NATSFreeNetwork", "NTKConv", "BNSpec", "free_parameter_count"]

_KERNEL = {OpKind.CONV1X1: 1, OpKind.CONV3X3: 3}
SIGMA_W2_STEM, SIGMA_W2_CONV, SIGMA_W2_SHORTCUT, SIGMA_V2 = 1.0, 2.0, 1.0, 2.0


@dataclass(frozen=True)
class BNSpec:
    """BatchNorm of the BN twin: ``affine`` (γ, β trained) and ``eps``; always batch statistics."""

    affine: bool = False
    eps: float = 1e-5

    def make(self, c: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(c, eps=self.eps, affine=self.affine, track_running_stats=False)


class NTKConv(nn.Module):
    """[ReLU →] Conv2d(c_in → c_out, k, stride, padding, no bias) with N(0, 1) weights, output × σ_w/√(c_in·k²)
    [→ BatchNorm2d with ``bn``]."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, padding: int, sigma_w2: float, relu: bool,
                 bn: BNSpec | None = None) -> None:
        super().__init__()
        self.relu = relu
        self.conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=False)
        nn.init.normal_(self.conv.weight, 0.0, 1.0)
        self.scale = math.sqrt(sigma_w2 / (c_in * k * k))
        self.bn = bn.make(c_out) if bn is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(torch.relu(x) if self.relu else x) * self.scale
        return y if self.bn is None else self.bn(y)


class _Cell(WiredCell):
    def __init__(self, arch: Arch, c: int, bn: BNSpec | None = None) -> None:
        super().__init__(
            arch, lambda kind: nats_op(kind, lambda k: NTKConv(c, c, k, 1, k // 2, SIGMA_W2_CONV, relu=True, bn=bn))
        )


class _Reduction(nn.Module):
    def __init__(self, c_in: int, c_out: int, bn: BNSpec | None = None) -> None:
        super().__init__()
        self.conv_a = NTKConv(c_in, c_out, 3, 2, 1, SIGMA_W2_CONV, relu=True, bn=bn)
        self.conv_b = NTKConv(c_out, c_out, 3, 1, 1, SIGMA_W2_CONV, relu=True, bn=bn)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2, padding=0)
        self.shortcut = NTKConv(c_in, c_out, 1, 1, 0, SIGMA_W2_SHORTCUT, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(self.pool(x))


class NATSFreeNetwork(nn.Module):
    """The BN-free NATS network in NTK parametrization (module docstring).

    Args:
        arch: a NATS-Bench cell.
        C: channels of stage 1 (stage s has C·2^(s−1)).
        N: cells per stage.
        stages: number of stages (a reduction block between consecutive stages).
        num_classes: outputs of the head (1: the theory's scalar f).
        in_channels: image channels.
        batchnorm: the BN twin (module docstring): train-mode BatchNorm where NATS-Bench has it.
        bn_affine, bn_eps: its BatchNorm's affine γ, β (trained) and ε.
    """

    def __init__(
        self, arch: Arch | str, C: int = 16, N: int = 1, stages: int = 3, num_classes: int = 1, in_channels: int = 3,
        batchnorm: bool = False, bn_affine: bool = False, bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if not isinstance(batchnorm, bool) or not isinstance(bn_affine, bool):
            raise ValueError(f"batchnorm and bn_affine must be booleans, got {batchnorm!r}, {bn_affine!r}")
        if not (isinstance(bn_eps, (int, float)) and not isinstance(bn_eps, bool) and math.isfinite(bn_eps)
                and bn_eps >= 0):
            raise ValueError(f"bn_eps must be a finite number >= 0, got {bn_eps!r}")
        bn = BNSpec(bn_affine, float(bn_eps)) if batchnorm else None
        self.batchnorm = batchnorm
        for name, v in (("C", C), ("N", N), ("stages", stages), ("num_classes", num_classes),
                        ("in_channels", in_channels)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.arch = check_nats_arch(arch)
        self.C, self.N, self.stages, self.num_classes, self.in_channels = C, N, stages, num_classes, in_channels
        self.stem = NTKConv(in_channels, C, 3, 1, 1, SIGMA_W2_STEM, relu=False, bn=bn)
        blocks: list[nn.Module] = []
        c = C
        for s in range(stages):
            if s > 0:
                blocks.append(_Reduction(c, 2 * c, bn))
                c *= 2
            blocks.extend(_Cell(self.arch, c, bn) for _ in range(N))
        self.cells = nn.ModuleList(blocks)
        self.c_last = c
        self.last_bn = bn.make(c) if bn is not None else None
        self.classifier = nn.Linear(c, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, 0.0, 1.0)
        self.head_scale = math.sqrt(SIGMA_V2 / c)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """GAP(ReLU(h)) of the last stage: (batch, C_last)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"NATSFreeNetwork expects images of shape (batch, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        f = 2 ** (self.stages - 1)
        if x.shape[2] % f or x.shape[3] % f:
            raise ValueError(f"image height and width must be divisible by {f}, got {tuple(x.shape[2:])}")
        h = self.stem(x)
        for block in self.cells:
            h = block(h)
        if self.last_bn is not None:
            h = self.last_bn(h)
        return torch.relu(h).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x)) * self.head_scale


def free_parameter_count(arch: Arch | str, C: int = 16, N: int = 1, stages: int = 3, num_classes: int = 1,
                         in_channels: int = 3, batchnorm: bool = False, bn_affine: bool = False) -> int:
    """Number of parameters of ``NATSFreeNetwork`` (all weights; no biases; with ``batchnorm`` and
    ``bn_affine`` also 2 per channel of every BatchNorm)."""
    a = check_nats_arch(arch)
    ks = [_KERNEL[e.op.kind] for e in a.edges if e.op.kind in _KERNEL]
    b = 2 if (batchnorm and bn_affine) else 0
    total, c = in_channels * C * 9 + b * C, C
    for s in range(stages):
        if s > 0:
            total += c * 2 * c * 9 + 2 * c * 2 * c * 9 + c * 2 * c + 2 * b * 2 * c
            c *= 2
        total += N * sum(c * c * k * k + b * c for k in ks)
    return total + c * num_classes + b * c

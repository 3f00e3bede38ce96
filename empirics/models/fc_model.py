"""Finite-width torch model of an FC cell DAG, in exactly the parametrization of ``theory.kernels``.

    h_0 = x ∈ ℝ^d;   h_v = Σ_{skip u→v} α h_u + Σ_{dense e: u→v} α_e σ_e(√(c_w/n_u) W_e h_u);
    f(x) = V h_out / √m      (``readout`` V ∈ ℝ^{k×m}, default k = 1 output)

with every W_e and V i.i.d. N(0, 1) (NTK parametrization, no biases), n_u = d for the input and m
(``width``) for every other node, and c_w = 1/E[σ(z)²]. A skip out of node 0 carries x *tiled*
to width m (x repeated m/d times), so that (1/m)·h·h' = x·x'/d and the coordinate mean is mean(x),
exactly as in the infinite-width kernels; this needs ``width`` to be a multiple of ``in_dim``.
Edges out of nodes that carry the zero function (``Arch.live_nodes``) are dropped, as in the theory.
NATS-Bench convolutional ops are rejected (the NATS cell network is built in empirics.models.build).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from theory.activations import default_weight_variance
from theory.space import Arch, ArchError

__all__ = ["FCNet"]


class FCNet(nn.Module):
    """Wide FC network of an architecture of the FC search space.

    Parameters: ``weights[str(edge index)]`` of shape (width, fan_in) for every active dense edge
    (index into ``arch.edges``) and ``readout`` of shape (num_outputs, width). ``forward(x)`` maps
    (N, in_dim) to (N, num_outputs). ``node_features(x)`` returns every live node's features.
    """

    def __init__(self, arch: Arch | str, in_dim: int, width: int, seed: int = 0,
                 dtype: torch.dtype = torch.float64, num_outputs: int = 1) -> None:
        super().__init__()
        a = Arch.parse(arch) if isinstance(arch, str) else arch
        if not a.is_fc:
            conv = sorted({e.op.token for e in a.edges if e.op.is_conv_space})
            raise ArchError(f"FCNet builds FC architectures only; {a} has NATS convolutional ops {conv} "
                            "(use arch.to_fc_analogue() or the NATS cell network of empirics.models.build)")
        if in_dim < 1 or width < 1 or num_outputs < 1:
            raise ValueError(f"in_dim, width and num_outputs must be positive, got {in_dim}, {width}, {num_outputs}")
        self.arch, self.in_dim, self.width, self.seed = a, int(in_dim), int(width), int(seed)
        live = a.live_nodes
        self._active = [(i, e) for i, e in enumerate(a.edges) if not e.op.is_none and e.src in live]
        self._tile = any(e.op.is_skip and e.src == 0 for _, e in self._active)
        if self._tile and width % in_dim != 0:
            raise ValueError(
                f"{a} has a skip out of the input node, which tiles x to the width: width {width} must be a "
                f"multiple of in_dim {in_dim}"
            )
        gen = torch.Generator().manual_seed(int(seed))
        self.weights = nn.ParameterDict()
        self._cw: dict[int, float] = {}
        for i, e in self._active:
            if e.op.is_dense:
                fan_in = in_dim if e.src == 0 else width
                self.weights[str(i)] = nn.Parameter(torch.randn(width, fan_in, generator=gen, dtype=dtype))
                self._cw[i] = default_weight_variance(e.op.activation)
        self.readout = nn.Parameter(torch.randn(num_outputs, width, generator=gen, dtype=dtype))
        self._live = live

    def node_features(self, x: torch.Tensor, preacts: dict | None = None) -> dict[int, torch.Tensor]:
        """Features h_v (N, width) of every live node (node 0: x itself, (N, in_dim)).

        If ``preacts`` is a dict it receives, per dense edge index, the pair (h_src, g_e) of the edge's
        input and pre-activation g_e = √(c_w/n_src) h_src W_eᵀ (handy for per-layer NTK formulas).
        """
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"expected input of shape (N, {self.in_dim}), got {tuple(x.shape)}")
        h: dict[int, torch.Tensor] = {0: x}
        tiled = x.repeat(1, self.width // self.in_dim) if self._tile else None
        for v in range(1, self.arch.n_nodes + 1):
            if v not in self._live:
                continue
            acc = None
            for i, e in self._active:
                if e.dst != v:
                    continue
                if e.op.is_skip:
                    term = tiled if e.src == 0 else h[e.src]
                else:
                    src = h[e.src]
                    g = src @ self.weights[str(i)].T * math.sqrt(self._cw[i] / src.shape[1])
                    if preacts is not None:
                        preacts[i] = (src, g)
                    term = e.op.activation.torch(g)
                if e.op.scale != 1.0:
                    term = e.op.scale * term
                acc = term if acc is None else acc + term
            h[v] = acc
        return h

    def forward(self, x: torch.Tensor, preacts: dict | None = None) -> torch.Tensor:
        h = self.node_features(x, preacts)
        out = self.arch.output
        if out not in h:
            return x.new_zeros(x.shape[0], self.readout.shape[0]) + 0.0 * self.readout.sum()
        return h[out] @ self.readout.T / math.sqrt(self.width)

"""Test helpers: empirical NTKs of FCNet computed independently of theory/ (shared by the theory tests)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from empirics.models.fc_model import FCNet


def empirical_ntk(model: FCNet, X: np.ndarray) -> np.ndarray:
    """NTK of output 0 from per-layer outer products: for g = s W h, ∂f/∂W = s (∂f/∂g) hᵀ, so
    ⟨∂f(x)/∂W, ∂f(x')/∂W⟩ = s² (G Gᵀ)(H Hᵀ) entrywise; readout: (1/m) h_out·h_out'.
    Samples do not interact, so ∂(Σ_i f_i)/∂g_i is the per-sample gradient G."""
    x = torch.as_tensor(X, dtype=torch.float64)
    pre: dict = {}
    h = model.node_features(x, pre)
    out = model.arch.output
    f = (h[out] @ model.readout[0] / math.sqrt(model.width)) if out in h else x.new_zeros(len(x))
    K = torch.zeros(len(x), len(x), dtype=torch.float64)
    if out in h:
        K += h[out] @ h[out].T / model.width
    if pre:
        keys = sorted(pre)
        grads = torch.autograd.grad(f.sum(), [pre[k][1] for k in keys], allow_unused=True)
        for k, G in zip(keys, grads):
            if G is None:
                continue
            src = pre[k][0]
            s2 = model._cw[k] / src.shape[1]
            K += s2 * (G @ G.T) * (src @ src.T)
    return K.detach().numpy()


def jacobian_ntk(model: FCNet, X: np.ndarray) -> np.ndarray:
    """Reference NTK from full per-sample Jacobians over all parameters (torch.func; small widths only)."""
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    x = torch.as_tensor(X, dtype=torch.float64)

    def f(p, xi):
        return functional_call(model, p, (xi[None],))[0, 0]

    J = vmap(jacrev(f), in_dims=(None, 0))(params, x)
    flat = torch.cat([j.reshape(len(x), -1) for j in J.values()], dim=1)
    return (flat @ flat.T).numpy()


def mean_empirical_ntk(arch, X: np.ndarray, width: int, seeds) -> np.ndarray:
    return np.mean([empirical_ntk(FCNet(arch, X.shape[1], width, seed=s), X) for s in seeds], axis=0)


def rel_fro(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


def _weight_params(model: nn.Module) -> list[torch.Tensor]:
    return [p for n, p in model.named_parameters() if p.requires_grad and "weight" in n]


def weight_ntk(model: nn.Module, x: torch.Tensor, output: str = "sum") -> torch.Tensor:
    """Reference for the ``eigen`` score's kernel, written apart from ``empirics.ntk``: the empirical NTK
    over the model's ``weight`` tensors, float64 Gram, the TE-NAS way.

    One forward of the whole batch in the model's current mode (BN train couples the samples), then one
    backward per output: ``output='sum'`` differentiates Σ_c f_c(x_i) (N×N kernel), ``'full'`` every
    logit f_c(x_i) ((N·C)×(N·C) kernel, ordered sample-major). Parameters that get no gradient (dead
    branches) contribute zero.
    """
    params = _weight_params(model)
    if not params:
        raise ValueError("the model has no weight tensors")
    out = model(x)
    if isinstance(out, (tuple, list)):
        out = out[-1]
    out = out.reshape(len(x), -1)
    if output == "sum":
        targets = [out[i].sum() for i in range(len(x))]
    elif output == "full":
        targets = [out[i, c] for i in range(len(x)) for c in range(out.shape[1])]
    else:
        raise ValueError(f"output must be 'sum' or 'full', got {output!r}")
    rows = []
    for t in targets:
        grads = torch.autograd.grad(t, params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])
        )
    J = torch.stack(rows).to(torch.float64)
    return J @ J.T

"""BatchNorm modes of an empirical NTK: coupled, decoupled, or running statistics.

A BatchNorm layer in training mode normalizes each channel with the statistics of the current batch,

    y_i = γ (x_i − μ_B) / √(σ²_B + ε) + β,   μ_B = mean over (batch, H, W),  σ²_B the biased variance,

so every output y_i depends on every sample of the batch. Its Jacobian with respect to the weights then
carries terms through μ_B and σ²_B, and the "empirical NTK" K_ij = ⟨∂f(x_i)/∂θ, ∂f(x_j)/∂θ⟩ of the
batch (TE-NAS, Chen, Gong & Wang, ICLR 2021) is the kernel of a function of the whole batch: samples are
*coupled*, and computing it exactly costs one backward pass per sample through the batch.

Three modes, the ``bn`` option of ``empirics.nas.scores.EigenScore`` and ``experiments.ablation.Variant``:

* ``train``: batch statistics, differentiated (coupled kernel, TE-NAS);
* ``eval``: running statistics (at initialization μ = 0, σ² = 1, so BatchNorm is the identity up to ε:
  the network is *not* normalized);
* ``decoupled``: the batch statistics of a training-mode forward pass, held constant: the forward pass
  and hence every activation equal those of ``train``, but μ_B, σ²_B are constants of θ in the
  Jacobian, so row i of J is the gradient of sample i alone (K is a per-sample kernel of one fixed,
  normalized network). Implemented by :func:`freeze_batch_statistics`.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BN_MODES", "BatchNormModeError", "freeze_batch_statistics", "set_bn_mode"]

#: The BatchNorm modes of an empirical-NTK score (see the module docstring).
BN_MODES = ("train", "eval", "decoupled")

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class BatchNormModeError(ValueError):
    """An unknown BatchNorm mode, or a model whose BatchNorm layers cannot hold the batch statistics."""


@torch.no_grad()
def freeze_batch_statistics(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to the statistics of ``images``' training-mode forward
    pass and put the model in eval mode (returns the model).

    One forward pass in training mode records, at each BatchNorm input x, the per-channel mean and the
    *biased* variance over (batch, spatial) — exactly the values the training-mode layer normalizes with.
    Writing them into ``running_mean`` / ``running_var`` and switching to eval mode reproduces that
    forward pass (every activation, hence f(X), is unchanged) while the statistics no longer depend on θ.
    Layers built with ``track_running_stats=False`` always use batch statistics and cannot be frozen:
    ``BatchNormModeError``. The images are moved to the device and dtype of the model's parameters.
    """
    layers = [m for m in model.modules() if isinstance(m, _BN)]
    untracked = [m for m in layers if not m.track_running_stats]
    if untracked:
        raise BatchNormModeError(
            f"{len(untracked)} BatchNorm layer(s) have track_running_stats=False: they always use batch "
            "statistics, so bn='decoupled' cannot hold them fixed"
        )
    stats: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(mod: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
        x = inp[0]
        dims = [d for d in range(x.dim()) if d != 1]
        stats[mod] = (x.mean(dim=dims), x.var(dim=dims, unbiased=False))

    ref = next(model.parameters(), None)
    x = images if ref is None else images.to(device=ref.device, dtype=ref.dtype)
    handles = [m.register_forward_pre_hook(record) for m in layers]
    try:
        model.train()
        model(x)
    finally:
        for h in handles:
            h.remove()
    for m in layers:
        if m not in stats:  # a layer the forward pass never reached (a dead branch): leave it as it is
            continue
        mean, var = stats[m]
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
    return model.eval()


def set_bn_mode(model: nn.Module, bn: str, images: torch.Tensor | None = None) -> nn.Module:
    """Put ``model`` in BatchNorm mode ``bn`` (one of ``BN_MODES``); ``decoupled`` needs the batch."""
    if bn == "train":
        return model.train()
    if bn == "eval":
        return model.eval()
    if bn == "decoupled":
        if images is None:
            raise BatchNormModeError("bn='decoupled' needs the batch of images whose statistics it freezes")
        return freeze_batch_statistics(model, images)
    raise BatchNormModeError(f"bn must be one of {', '.join(BN_MODES)}, got {bn!r}")

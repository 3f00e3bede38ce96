"""One entry point for the torch model of any architecture of the search space.

* FC architectures (``arch.is_fc``: dense / skip / none edges, ResNets with α) →
  ``empirics.models.fc_model.FCNet(arch, in_dim, width, seed, dtype)`` (NTK parametrization, the theory's
  own model; its infinite-width NTK is theory/'s kernel).
* NATS-Bench convolutional cells (``arch.is_conv``) → ``empirics.models.nats_net.NATSNetwork`` with
  C = ``width`` (default 16), N cells per stage, ``num_classes``; PyTorch default initialization
  drawn under ``torch.manual_seed(seed)`` without disturbing the global RNG. With
  ``batchnorm=False``: ``empirics.models.nats_free.NATSFreeNetwork`` (no BatchNorm, no biases, NTK
  parametrization; keywords ``N`` (default 1), ``stages`` (3), ``num_classes`` (1), ``in_channels``),
  the finite twin of ``theory.nats_ntk``. With ``batchnorm="ntk"``: the same twin with train-mode
  BatchNorm where NATS-Bench has it (``NATSFreeNetwork(batchnorm=True)``; keywords ``bn_affine``,
  ``bn_eps``), the finite twin of ``theory.nats_ntk(..., batchnorm=True)``.
"""

from __future__ import annotations

import torch
from torch import nn

from empirics.models.fc_model import FCNet
from empirics.models.nats_free import NATSFreeNetwork
from empirics.models.nats_net import NATSNetwork
from theory.space import Arch, ArchError
from theory.validate import as_int

__all__ = ["build_model"]


def build_model(
    arch: Arch | str,
    width: int | None = None,
    seed: int = 0,
    in_dim: int | None = None,
    *,
    dtype: torch.dtype | None = None,
    family: str = "auto",
    batchnorm: bool | str = True,
    **kw,
) -> nn.Module:
    """Build the model of ``arch``.

    FC: ``width`` (default 512), ``in_dim`` (required), ``dtype`` (default float64), extra keywords
    passed to FCNet (e.g. ``num_outputs``). NATS: ``width`` = C (default 16), keywords ``N`` (5),
    ``num_classes`` (10), ``affine``, ``track_running_stats``, ``in_channels``; ``dtype`` default
    float32 (NATS-Bench). ``in_dim``, if given for a NATS cell, must equal ``in_channels``.

    ``batchnorm`` (NATS only): False builds the BatchNorm-free twin ``NATSFreeNetwork``; ``"ntk"`` the BN
    twin (NTK parametrization, train-mode BatchNorm; module docstring); True (default) the NATS network.

    ``family``: ``"auto"`` (a cell with a conv/pool op → NATS, otherwise FC; so a NATS cell made only
    of skip/none edges is built as FC unless ``family="nats"``), ``"fc"`` or ``"nats"``.
    """
    a = Arch.parse(arch) if not isinstance(arch, Arch) else arch
    if width is not None:
        width = as_int(width, "width", minimum=1)  # width 1.5 or True is an error, not int(1.5) = 1
    if in_dim is not None:
        in_dim = as_int(in_dim, "in_dim", minimum=1)
    seed = as_int(seed, "seed", minimum=0)
    if not (batchnorm is True or batchnorm is False or (isinstance(batchnorm, str) and batchnorm == "ntk")):
        raise ValueError(f"batchnorm must be True, False or 'ntk', got {batchnorm!r}")
    if family not in ("auto", "fc", "nats"):
        raise ValueError(f"family must be 'auto', 'fc' or 'nats', got {family!r}")
    has_conv = any(e.op.is_conv_space for e in a.edges)
    if family == "nats" and not a.is_conv:
        raise ArchError(f"{a} is not a NATS-Bench cell (family='nats')")
    if family == "fc" and has_conv:
        raise ArchError(f"{a} has NATS convolutional ops; it has no FC model (use arch.to_fc_analogue())")
    if batchnorm is not True and not (family == "nats" or (family == "auto" and a.is_conv and has_conv)):
        raise ValueError(f"batchnorm={batchnorm!r} applies to NATS networks only; {a} is built as FC "
                         "(use family='nats')")
    if family == "nats" or (family == "auto" and a.is_conv and has_conv):
        C = 16 if width is None else int(width)
        in_ch = int(kw.pop("in_channels", 3))
        if in_dim is not None and int(in_dim) != in_ch:
            raise ValueError(f"NATS networks take images with in_channels={in_ch} channels, got in_dim={in_dim}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            if batchnorm is True:
                model = NATSNetwork(a, C=C, in_channels=in_ch, **kw)
            else:
                model = NATSFreeNetwork(a, C=C, in_channels=in_ch, batchnorm=batchnorm == "ntk", **kw)
        return model.to(dtype or torch.float32)
    if a.is_fc:
        if in_dim is None:
            raise ValueError(f"FC architecture {a} needs in_dim (the input dimension)")
        w = 512 if width is None else int(width)
        return FCNet(a, int(in_dim), w, int(seed), dtype=dtype or torch.float64, **kw)
    raise ArchError(f"{a} mixes dense ops with NATS convolutional ops; no model exists for such a cell")

"""eigennas: the theory of NAS under activation and skip-connection search, made executable.

Layers, each importing only the ones below it:

* ``theory``: the search space (``theory.space``, ``theory.presets``), the activations
  (``theory.activations``, ``theory.gaussian``) and the exact infinite-width kernels;
* ``bounds`` (λ_min and generalization bounds) and ``empirics`` (torch models, the empirical-NTK
  engine, train-free NAS on NATS-Bench), both on ``theory``;
* ``experiments``: research runs (the ablation study), on ``empirics``;
* ``eigennas``: the application (comparator, figures, command line) and the re-exports below.
"""

from theory.activations import (
    Activation,
    ActivationError,
    default_weight_variance,
    derivative_hermite_coefficients,
    hermite_coefficient_symbolic,
    hermite_coefficients,
    parse_activation,
    second_moment,
)
from theory.presets import all_nats_arch_strings, fc_chain, fc_skip, nats_fc_analogue, resnet
from theory.space import NATS_OPS, Arch, ArchError, Edge, Op, OpKind

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "ActivationError",
    "Arch",
    "ArchError",
    "Edge",
    "NATS_OPS",
    "Op",
    "OpKind",
    "all_nats_arch_strings",
    "default_weight_variance",
    "derivative_hermite_coefficients",
    "fc_chain",
    "fc_skip",
    "hermite_coefficient_symbolic",
    "hermite_coefficients",
    "nats_fc_analogue",
    "parse_activation",
    "resnet",
    "second_moment",
]

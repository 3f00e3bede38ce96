"""eigennas: the theory of NAS under activation and skip-connection search, made executable.

Packages: ``eigennas`` (search space, activations, data, CLI), ``theory`` (exact infinite-width
kernels), ``bounds`` (λ_min and generalization bounds), ``empirics`` (torch models, empirical NTK,
NATS-Bench).
"""

from eigennas.activations import (
    Activation,
    ActivationError,
    default_weight_variance,
    derivative_hermite_coefficients,
    hermite_coefficient_symbolic,
    hermite_coefficients,
    parse_activation,
    second_moment,
)
from eigennas.presets import all_nats_arch_strings, fc_chain, fc_skip, nats_fc_analogue, resnet
from eigennas.space import NATS_OPS, Arch, ArchError, Edge, Op, OpKind

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

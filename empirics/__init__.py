"""Finite networks of the search space and their empirical NTK (see empirics.ntk, empirics.nats_net).

Public API (imported lazily, so ``import empirics.benchmark`` stays light):
``empirical_ntk``, ``NTKMethod``, ``lambda_min``, ``eigvalsh``, ``repeat_over_seeds``, ``build_model``,
``count_parameters``, ``NATSNetwork``, ``set_bn_mode`` / ``freeze_batch_statistics`` (BatchNorm modes of
an empirical NTK: coupled, running statistics, or batch statistics held constant).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "empirical_ntk": "empirics.ntk",
    "NTKMethod": "empirics.ntk",
    "NTKError": "empirics.ntk",
    "NTKInputError": "empirics.ntk",
    "NTKMemoryError": "empirics.ntk",
    "is_batch_coupled": "empirics.ntk",
    "lambda_min": "empirics.spectrum",
    "lambda_max": "empirics.spectrum",
    "eigvalsh": "empirics.spectrum",
    "repeat_over_seeds": "empirics.spectrum",
    "SeedSummary": "empirics.spectrum",
    "build_model": "empirics.build",
    "count_parameters": "empirics.nats_net",
    "NATSNetwork": "empirics.nats_net",
    "set_bn_mode": "empirics.batchnorm",
    "freeze_batch_statistics": "empirics.batchnorm",
    "BN_MODES": "empirics.batchnorm",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'empirics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))

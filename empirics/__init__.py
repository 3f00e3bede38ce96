"""Finite networks of the search space, their empirical NTK, and train-free NAS on NATS-Bench.

Subpackages by job: ``empirics.models`` (the torch networks and BatchNorm modes), ``empirics.ntk`` (the
empirical-NTK engine and spectra), ``empirics.nas`` (benchmark tables, images, score cache, scores,
search protocols and strategies).

Public API (imported lazily, so ``import empirics.nas.benchmark`` does not load the NTK engine):
``empirical_ntk``, ``NTKMethod``, ``lambda_min``, ``eigvalsh``, ``repeat_over_seeds``, ``build_model``,
``count_parameters``, ``NATSNetwork``, ``set_bn_mode`` / ``freeze_batch_statistics`` (BatchNorm modes of
an empirical NTK: coupled, running statistics, or batch statistics held constant).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "empirical_ntk": "empirics.ntk.empirical",
    "NTKMethod": "empirics.ntk.empirical",
    "NTKError": "empirics.ntk.empirical",
    "NTKInputError": "empirics.ntk.empirical",
    "NTKMemoryError": "empirics.ntk.empirical",
    "is_batch_coupled": "empirics.ntk.empirical",
    "lambda_min": "empirics.ntk.spectrum",
    "lambda_max": "empirics.ntk.spectrum",
    "eigvalsh": "empirics.ntk.spectrum",
    "repeat_over_seeds": "empirics.ntk.spectrum",
    "SeedSummary": "empirics.ntk.spectrum",
    "build_model": "empirics.models.build",
    "count_parameters": "empirics.models.nats_net",
    "NATSNetwork": "empirics.models.nats_net",
    "set_bn_mode": "empirics.models.batchnorm",
    "freeze_batch_statistics": "empirics.models.batchnorm",
    "BN_MODES": "empirics.models.batchnorm",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'empirics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))

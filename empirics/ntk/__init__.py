"""The empirical-NTK engine: ``empirical`` (the kernel J Jᵀ of a torch model, several methods),
``_layerwise`` (the per-layer contraction behind ``NTKMethod.LAYERWISE``), ``spectrum`` (float64
eigenvalues, normalizations, seeds summaries) and ``_errors`` (the errors they raise).

``from empirics.ntk import empirical_ntk`` keeps working: the public names of ``empirical`` are
re-exported here.
"""

from empirics.ntk import empirical as _empirical
from empirics.ntk.empirical import (  # noqa: F401 - re-exported, listed in empirical.__all__
    NTKError,
    NTKInputError,
    NTKMemoryError,
    NTKMethod,
    default_device,
    empirical_ntk,
    is_batch_coupled,
    select_parameters,
)

__all__ = list(_empirical.__all__)

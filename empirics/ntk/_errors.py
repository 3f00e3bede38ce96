"""Errors of the empirical NTK (re-exported by empirics.ntk.empirical and empirics.ntk)."""

from __future__ import annotations

__all__ = ["NTKError", "NTKInputError", "NTKMemoryError"]


class NTKError(ValueError):
    """An empirical NTK cannot be computed for this model / input / option."""


class NTKInputError(NTKError):
    """The input batch does not fit the model (shape, dtype, non-finite values)."""


class NTKMemoryError(NTKError, MemoryError):
    """The memory limit is too small for even one chunk of the computation."""

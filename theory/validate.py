"""Input validation shared by every layer: one function per kind of input, each naming the input.

The package's ground floor (numpy only), so that ``theory``, ``bounds``, ``empirics`` and the command
line check the same things the same way and say so in the same words:

* text read as architecture strings or activations: ``ascii_text`` (no look-alike characters:
  Python's ``str.isdigit``/``\\d``/``float`` accept Arabic-Indic, full-width and other digits,
  which would be read as node numbers or parameters); ``NUMBER`` is the ASCII number pattern;
* numbers: ``as_int`` (an integer in a range, booleans and 1.5 refused), ``as_float`` (a finite
  real in a range);
* data arrays: ``as_real_array`` (lists, tuples, numpy arrays and torch tensors alike; ragged,
  string, complex, boolean, object and non-finite input refused with the reason), ``unit_roundoff``
  (the precision the data arrived in) and ``sphere_rows`` (the equal-norm convention of
  ``theory.data``, scale-safe: norms are taken of each row divided by its largest entry, so data
  scaled by 1e-200 is not "zero rows" and data scaled by 1e200 does not overflow to inf).

Every function takes ``error=``, the exception class to raise (a ``ValueError`` subclass of the
caller's layer, e.g. ``theory.InputError`` or ``bounds.BoundError``), and ``what=``, the name of the
input used in the message.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
import unicodedata
from typing import Any

import numpy as np

__all__ = [
    "NUMBER",
    "ascii_text",
    "as_int",
    "as_float",
    "as_real_array",
    "unit_roundoff",
    "sphere_rows",
    "norm_tolerance",
    "norm_spread",
    "check_rows",
    "NORM_RTOL",
    "SQUARED_NORM_RANGE",
]

#: A decimal number in ASCII digits only (``\d`` would match any Unicode decimal digit).
NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"

#: Relative tolerance on ‖x_i‖² for "equal norm" when the data is float64 (or integer).
NORM_RTOL = 1e-8

#: Squared row norms the kernels are computed at without rescaling (Σ_00 = XXᵀ/d and the layer
#: variances are formed in float64; outside this range they can under- or overflow).
SQUARED_NORM_RANGE = (1e-120, 1e120)

_Err = type[Exception]
_U64 = float(np.finfo(np.float64).eps) / 2


# ---------------------------------------------------------------------------------------------- text


def ascii_text(value: Any, what: str = "text", error: _Err = ValueError) -> str:
    """``value`` stripped, after checking that it is a ``str`` of printable ASCII characters.

    The message names the first offending character, its position and its Unicode name (e.g. an
    Arabic-Indic digit zero that ``int`` would read as 0).
    """
    if not isinstance(value, str):
        raise error(f"{what} must be a string, got {type(value).__name__}")
    for i, ch in enumerate(value):
        if not (" " <= ch <= "~") and ch not in "\t\n\r":
            name = unicodedata.name(ch, f"U+{ord(ch):04X}")
            raise error(
                f"{what} {value!r} has the non-ASCII character {ch!r} ({name}) at position {i}; "
                "architecture strings and activations use ASCII letters, digits and punctuation only"
            )
    return value.strip()


# ------------------------------------------------------------------------------------------- numbers


def as_int(
    value: Any,
    what: str = "value",
    minimum: int | None = None,
    maximum: int | None = None,
    error: _Err = ValueError,
) -> int:
    """``value`` as an int in [minimum, maximum].

    Accepted: Python and numpy integers, integral floats (16.0), and strings of ASCII digits.
    Refused: booleans, non-integral or non-finite numbers (width 1.5), other types.
    """
    if isinstance(value, (bool, np.bool_)):
        raise error(f"{what} must be an integer, got the boolean {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[-+]?[0-9]+", text):
            raise error(f"{what} must be an integer, got {value!r}")
        out = int(text)
    elif isinstance(value, numbers.Integral):
        out = operator.index(value)
    elif isinstance(value, numbers.Real):
        f = float(value)
        if not (math.isfinite(f) and f.is_integer()):
            raise error(f"{what} must be an integer, got {value!r}")
        out = int(f)
    else:
        raise error(f"{what} must be an integer, got {type(value).__name__}")
    if minimum is not None and out < minimum:
        raise error(f"{what} must be >= {minimum}, got {out}")
    if maximum is not None and out > maximum:
        raise error(f"{what} must be <= {maximum}, got {out}")
    return out


def as_float(
    value: Any,
    what: str = "value",
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    strict_min: bool = False,
    strict_max: bool = False,
    error: _Err = ValueError,
) -> float:
    """``value`` as a finite float in the interval given by minimum/maximum (open where ``strict_*``).

    Strings must be ASCII decimal numbers (``NUMBER``); booleans, NaN and ±inf are refused.
    """
    if isinstance(value, (bool, np.bool_)):
        raise error(f"{what} must be a number, got the boolean {value!r}")
    if isinstance(value, str):
        if not re.fullmatch(NUMBER, value.strip()):
            raise error(f"{what} must be a finite decimal number, got {value!r}")
        out = float(value)
    elif isinstance(value, numbers.Real):
        out = float(value)
    else:
        raise error(f"{what} must be a number, got {type(value).__name__}")
    if not math.isfinite(out):
        raise error(f"{what} must be finite, got {out!r}")
    if minimum is not None and (out < minimum or (strict_min and out == minimum)):
        raise error(f"{what} must be {'>' if strict_min else '>='} {minimum:g}, got {out:g}")
    if maximum is not None and (out > maximum or (strict_max and out == maximum)):
        raise error(f"{what} must be {'<' if strict_max else '<='} {maximum:g}, got {out:g}")
    return out


# -------------------------------------------------------------------------------------------- arrays


def _to_numpy(X: Any) -> Any:
    """torch tensors (without importing torch) → numpy; everything else unchanged."""
    if type(X).__module__.startswith("torch") and hasattr(X, "detach"):
        return X.detach().cpu().numpy()
    return X


def unit_roundoff(X: Any) -> float:
    """Unit roundoff u = eps/2 of the floating type ``X`` arrives in (float64's for integers and
    Python lists of floats): the precision to which its values, and so its row norms, are known."""
    X = _to_numpy(X)
    dt = getattr(X, "dtype", None)
    if dt is not None and np.issubdtype(dt, np.floating):
        return float(np.finfo(dt).eps) / 2
    return float(np.finfo(np.float64).eps) / 2


def as_real_array(X: Any, what: str = "X", error: _Err = ValueError, ndim: int | None = 2) -> np.ndarray:
    """``X`` as a finite float64 array with ``ndim`` dimensions (None: any), at least one entry per axis.

    Accepts nested lists/tuples, numpy arrays of integer or floating type and torch tensors, so that
    every package takes the same inputs. Refuses, naming the reason: ragged nesting, strings and
    other non-numbers, complex values (they would be silently truncated to their real part),
    booleans, NaN/±inf (with the first rows that hold them) and empty axes.
    """
    X = _to_numpy(X)
    try:
        A = np.asarray(X)
    except ValueError:  # numpy >= 1.24 refuses ragged nesting
        raise error(f"{what} is ragged (its rows have different lengths or nesting)") from None
    kind = A.dtype.kind
    if kind == "O":
        kinds = {type(v).__name__ for v in A.ravel()[:1000]}
        if any(isinstance(v, (list, tuple, np.ndarray)) for v in A.ravel()[:1000]):
            raise error(f"{what} is ragged (its rows have different lengths or nesting)")
        raise error(f"{what} must hold real numbers, got Python objects of types {sorted(kinds)}")
    if kind in "USV":
        sample = str(A.ravel()[0]) if A.size else ""
        raise error(f"{what} must hold real numbers, got strings (e.g. {sample!r}); convert them first")
    if kind == "c":
        raise error(f"{what} must be real, got complex values of dtype {A.dtype} (the kernels are real)")
    if kind == "b":
        raise error(f"{what} must hold real numbers, got booleans; convert them with X.astype(float) if meant")
    if kind not in "iuf":
        raise error(f"{what} must hold real numbers, got dtype {A.dtype}")
    if ndim is not None and A.ndim != ndim:
        shape = "N samples × d features" if ndim == 2 else f"{ndim} dimensions"
        raise error(f"{what} must be a {ndim}-D array ({shape}), got shape {A.shape}")
    if A.size == 0:
        raise error(f"{what} must have at least one entry along every axis, got shape {A.shape}")
    A = A.astype(np.float64, copy=False)
    bad = ~np.isfinite(A)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(A.shape[0], -1))[0])
        more = " ..." if rows.size > 10 else ""
        raise error(f"{what} has non-finite entries (NaN or inf) in rows {rows[:10].tolist()}{more}")
    return A


def norm_tolerance(u: float, d: int) -> float:
    """Relative tolerance on ‖x_i‖² for rows that should have equal norm, known to unit roundoff u.

    Rounding each of d coordinates to u and summing d squares (pairwise, as numpy does; a user's own
    normalization in that precision) perturbs ‖x‖² by at most about (2 + log2 d)·u relatively; we
    allow 4·(2 + √d)·u, which is above that for every d and far below any real difference of norms.
    For float64 data the tolerance is ``NORM_RTOL``.
    """
    return max(NORM_RTOL, 4.0 * (2.0 + math.sqrt(d)) * u)


def _scaled_norms(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row scales s_i = max_j |x_ij| and ‖x_i/s_i‖ (in [1, √d] for non-zero rows): no under/overflow."""
    s = np.abs(X).max(axis=1)
    safe = np.where(s > 0, s, 1.0)
    Y = X / safe[:, None]
    return s, np.sqrt(np.einsum("ij,ij->i", Y, Y))


def check_rows(X: np.ndarray, what: str = "X", error: _Err = ValueError, in_range: bool = True) -> None:
    """Refuse zero rows of a validated float64 N×d array and, with ``in_range``, rows whose squared
    norm lies outside ``SQUARED_NORM_RANGE`` (computed scale-safely: 1e-200-scaled rows are tiny, not
    zero)."""
    s, r = _scaled_norms(X)
    zero = np.nonzero(s == 0)[0]
    if zero.size:
        raise error(f"{what} has zero rows {zero[:10].tolist()}; they cannot be put on the sphere")
    if not in_range:
        return
    log10_sq = 2.0 * (np.log10(s) + np.log10(r))
    lo_ok, hi_ok = (math.log10(b) for b in SQUARED_NORM_RANGE)
    bad = np.nonzero((log10_sq < lo_ok) | (log10_sq > hi_ok))[0]
    if bad.size:
        raise error(
            f"rows {bad[:10].tolist()} of {what} have squared norm {_pow10(float(log10_sq[bad[0]]))} (row {bad[0]}), "
            f"outside [{SQUARED_NORM_RANGE[0]:.0e}, {SQUARED_NORM_RANGE[1]:.0e}] where the kernels are computed "
            "without under/overflow; rescale X, e.g. to norm sqrt(d) (normalize=True)"
        )


def norm_spread(X: np.ndarray) -> float:
    """(max_i ‖x_i‖² − min_i ‖x_i‖²) / max_i ‖x_i‖², scale-safe (X without zero rows)."""
    s, r = _scaled_norms(X)
    k = int(np.argmax(np.log(s) + np.log(r)))
    rel = (s / s[k]) * (r / r[k])  # ‖x_i‖ / max_j ‖x_j‖ ∈ (0, 1]
    return float(1.0 - rel.min() ** 2)


def sphere_rows(
    X: np.ndarray,
    normalize: bool = False,
    u: float | None = None,
    what: str = "X",
    error: _Err = ValueError,
) -> np.ndarray:
    """Check (or enforce) the sphere convention on a validated float64 N×d array.

    * a zero row is refused (it cannot be put on a sphere);
    * ``normalize=True``: every row is rescaled to norm √d (scale-safe);
    * otherwise rows must have equal squared norms to ``norm_tolerance(u, d)`` (u: the unit roundoff
      the data arrived in, see ``unit_roundoff``; default float64's). Data that arrived in a lower
      precision and passes is projected onto its common sphere in float64 (a change below its own
      rounding), so the kernels see exactly equal norms. The squared radius must lie in
      ``SQUARED_NORM_RANGE``; outside it the message suggests ``normalize=True``.
    """
    n, d = X.shape
    check_rows(X, what, error, in_range=False)
    s, r = _scaled_norms(X)
    if normalize:
        sq = np.einsum("ij,ij->i", X, X)
        lo, hi = SQUARED_NORM_RANGE
        if np.all((sq >= lo) & (sq <= hi)):
            return X * np.sqrt(d / sq)[:, None]  # the usual formula (same bits as ever) where it is safe
        return (X / s[:, None]) * (math.sqrt(d) / r)[:, None]
    u = _U64 if u is None else float(u)
    spread = norm_spread(X)
    tol = norm_tolerance(u, d)
    if spread > tol:
        log10_sq = 2.0 * (np.log10(s) + np.log10(r))
        raise error(
            f"samples of {what} must lie on a sphere (equal norms): squared norms differ by a relative "
            f"{spread:.3g} (range [{_pow10(float(log10_sq.min()))}, {_pow10(float(log10_sq.max()))}]), more than "
            f"the {tol:.2g} allowed for data known to unit roundoff {u:.2g}. "
            "Pass normalize=True to rescale every row to norm sqrt(d)"
        )
    check_rows(X, what, error)
    if u > _U64 and spread > 0:  # arrived in lower precision: put on the common sphere in float64
        k = int(np.argmax(np.log(s) + np.log(r)))
        rel = (s / s[k]) * (r / r[k])
        radius = s[k] * r[k] * math.sqrt(float(np.mean(rel**2)))
        return (X / s[:, None]) * (radius / r)[:, None]
    return X


def _pow10(log10_value: float) -> str:
    """A number given by its log10, printed without forming it (it may under/overflow)."""
    if -300 < log10_value < 300:
        return f"{10.0**log10_value:.6g}"
    e = math.floor(log10_value)
    return f"{10.0 ** (log10_value - e):.4g}e{e:+d}"

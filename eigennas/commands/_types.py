"""argparse types for the commands' numbers: ``theory.validate`` rules, argparse's error line.

``--threads 0``, ``--repeats 0``, ``--n -5``, ``--width 1.5``, ``--level 1.5`` and non-ASCII digits are
refused by the parser (exit 2, ``argument --threads: must be an integer >= 1, got 0``) before any
data is read.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from theory.validate import as_float, as_int

__all__ = [
    "positive_int",
    "nonnegative_int",
    "int_range",
    "positive_float",
    "nonnegative_float",
    "open_unit_interval",
    "n_or_all",
]


def _arg_error(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message.replace("value must", "must", 1))


def int_range(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer (ASCII digits) in [minimum, maximum]."""

    def parse(text: str) -> int:
        return as_int(text, "value", minimum, maximum, error=_arg_error)

    parse.__name__ = "integer"
    return parse


positive_int = int_range(1)
nonnegative_int = int_range(0)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return as_float(text, "value", 0.0, strict_min=True, error=_arg_error)


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    return as_float(text, "value", 0.0, error=_arg_error)


def open_unit_interval(text: str) -> float:
    """A finite number in (0, 1), e.g. a confidence level."""
    return as_float(text, "value", 0.0, 1.0, strict_min=True, strict_max=True, error=_arg_error)


def n_or_all(text: str) -> int | str:
    """A positive integer or the word 'all'."""
    if text.strip().lower() == "all":
        return "all"
    return positive_int(text)

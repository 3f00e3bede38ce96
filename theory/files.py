"""Writing result files: atomically, as strict JSON, as CSV with a fixed number of significant digits.

Shared by every layer (the package's ground floor; standard library and numpy only):

* ``atomic_write(path, write)``: ``write`` fills a temporary file in the same folder, which is then
  renamed over ``path`` (``os.replace``, atomic on POSIX). An error or Ctrl-C leaves the previous
  file (or none), never a partial one under the final name, and removes the temporary file.
* ``write_text``, ``write_json``, ``write_csv``: the three formats through ``atomic_write``.
* ``to_strict_json(obj)``: JSON that strict parsers accept: NaN and ±inf become ``null``
  (``allow_nan=False`` guarantees that no bare ``NaN`` slips through), numpy scalars and arrays
  become numbers and lists.
* ``format_number(x)``: floats with ``DIGITS`` = 10 significant digits (``repr`` would print the last
  bits, which differ between runs by rounding noise near 1e-15 and make regenerated CSVs differ).
* ``check_output_dir(path)``: create the folder and prove it writable before any work is done.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DIGITS",
    "OutputError",
    "atomic_write",
    "save_figure",
    "write_text",
    "write_json",
    "write_csv",
    "to_strict_json",
    "csv_text",
    "strict_jsonable",
    "format_number",
    "check_output_dir",
]

#: Significant digits of floats in written CSV files.
DIGITS = 10


class OutputError(OSError):
    """An output folder or file that cannot be written."""


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path next to ``path`` (same suffix, so writers that infer
    the format from it work), then rename it to ``path``. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:  # on disk before the rename: a crash leaves the old file or the new
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def save_figure(fig: Any, path: str | os.PathLike, close: bool = True, **savefig: Any) -> Path:
    """Save a matplotlib figure atomically, in the format named by the suffix of ``path`` (png without
    one); ``savefig``: the options of ``Figure.savefig`` (dpi, ...). ``close``: then close it (pyplot
    keeps every open figure), also when saving failed."""
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when plotting

    p = Path(path)
    try:
        return atomic_write(p, lambda t: fig.savefig(t, format=p.suffix.lstrip(".") or "png", **savefig))
    finally:
        if close:
            plt.close(fig)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write(path, lambda t: t.write_text(text, encoding="utf-8"))


def strict_jsonable(obj: Any) -> Any:
    """``obj`` with non-finite floats replaced by None, numpy scalars/arrays by Python numbers/lists,
    tuples by lists and mapping keys by strings; anything else non-JSON by ``str``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.ndarray):
        return strict_jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): strict_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [strict_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # torch scalars and the like
        try:
            return strict_jsonable(obj.item())
        except (TypeError, ValueError):
            pass
    return str(obj)


def to_strict_json(obj: Any, indent: int | None = 2, **kw: Any) -> str:
    """Strict JSON text of ``obj`` (see ``strict_jsonable``); ``allow_nan=False`` as a guarantee."""
    kw.setdefault("ensure_ascii", False)
    return json.dumps(strict_jsonable(obj), indent=indent, allow_nan=False, **kw)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as strict JSON (one trailing newline), atomically."""
    return write_text(path, to_strict_json(obj) + "\n")


def format_number(value: Any, digits: int = DIGITS) -> str:
    """A CSV cell: floats with ``digits`` significant digits ('nan', 'inf', '-inf' as such; -0 as 0),
    ints and everything else as ``str``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        text = f"{f:.{digits}g}"
        if not math.isfinite(float(text)):  # rounding up within 1e-10 of the largest float
            return repr(f)
        return "0" if text in ("0", "-0") else text
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return "" if value is None else str(value)


def csv_text(rows: Sequence[Mapping[str, Any]], digits: int = DIGITS) -> str:
    """CSV text of ``rows`` (columns in first-seen order; floats by ``format_number``)."""
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)  # RFC 4180 line ends, as before
    w.writeheader()
    for r in rows:
        w.writerow({k: format_number(v, digits) for k, v in r.items()})
    return buf.getvalue()


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], digits: int = DIGITS) -> Path:
    """Write ``rows`` as CSV (see ``csv_text``), atomically."""
    text = csv_text(rows, digits)
    return atomic_write(path, lambda t: t.write_text(text, encoding="utf-8", newline=""))


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``path`` if needed and prove it writable (a temporary file is created and removed),
    before any work: a long run must not compute for an hour and then fail to save."""
    if not str(path).strip():
        raise OutputError(f"{what} is empty ('' would mean the current folder); name a folder")
    p = Path(path)
    try:
        if p.exists() and not p.is_dir():
            raise OutputError("it exists and is not a folder")
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-test-"):
            pass
    except (OSError, ValueError) as exc:  # ValueError: a name the OS cannot hold (an embedded NUL byte)
        reason = getattr(exc, "strerror", None) or str(exc)
        raise OutputError(f"{what} {p} is not writable: {reason}") from None
    return p

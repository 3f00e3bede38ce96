"""Where the real data lives: ``--data-dir`` flag, ``EIGENNAS_DATA``, or ``../shared/data``.

Nothing is downloaded: code only reads the folder it is pointed at.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DataNotFoundError", "find_data_dir", "ENV_VAR"]

ENV_VAR = "EIGENNAS_DATA"


class DataNotFoundError(FileNotFoundError):
    """The data folder (NATS-Bench accuracy table, image samples) could not be found."""


def _candidates() -> list[Path]:
    here = Path(__file__).resolve().parent.parent  # the repository root in a source checkout
    return [Path.cwd() / ".." / "shared" / "data", here / ".." / "shared" / "data", Path.cwd() / "shared" / "data"]


def find_data_dir(data_dir: str | os.PathLike | None = None, required: bool = True) -> Path | None:
    """Resolve the data folder: explicit argument, then $EIGENNAS_DATA, then ``../shared/data``
    next to the working directory or the source checkout.

    Raises DataNotFoundError (when ``required``) naming every place that was tried.
    """
    tried: list[str] = []
    if data_dir is not None:
        p = Path(data_dir).expanduser()
        if p.is_dir():
            return p.resolve()
        tried.append(f"{p} (given)")
        if required:
            raise DataNotFoundError(f"data folder {p} does not exist")
        return None
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if p.is_dir():
            return p.resolve()
        tried.append(f"{p} (${ENV_VAR})")
    for c in _candidates():
        if c.is_dir():
            return c.resolve()
        tried.append(str(c))
    if required:
        raise DataNotFoundError(
            "no data folder found; pass --data-dir or set $" + ENV_VAR + ". Tried: " + ", ".join(tried)
        )
    return None

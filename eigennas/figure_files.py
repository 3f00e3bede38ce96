"""Writing one figure: its plotted numbers as CSV (fixed significant digits), PNG and PDF, each atomically."""

from __future__ import annotations

from pathlib import Path

from theory import files

__all__ = ["save_figure"]

#: no creation date in the PDF, so that a rerun writes the same bytes
_PDF_META = {"CreationDate": None}


def save_figure(fig, out: Path, stem: str, rows: list[dict[str, object]]) -> list[Path]:
    paths = [out / f"{stem}.csv", out / f"{stem}.png", out / f"{stem}.pdf"]
    files.write_csv(paths[0], rows)  # floats with files.DIGITS significant digits: reproducible bytes
    files.save_figure(fig, paths[1], close=False, dpi=130, bbox_inches="tight")
    files.save_figure(fig, paths[2], bbox_inches="tight", metadata=_PDF_META)
    return paths

"""``eigennas verdict``: the BN-free theory's scores against the ``eigen`` default on the ablation's cells
(``experiments.verdict``): ``fill`` caches ``cntk`` / ``eigen_free`` (resumable), ``table`` writes the
verdict JSON and Markdown (docs/theory.md, Part IV.4)."""

from __future__ import annotations

from experiments.verdict import add_arguments, run

HELP = "the BN-free theory's cntk / eigen_free against the eigen default on the ablation's 1,000 + 300 cells"

__all__ = ["HELP", "add_arguments", "run"]

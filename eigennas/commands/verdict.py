"""``eigennas verdict``: the BN-free theory's scores against the ``eigen`` default on the ablation's cells
(``experiments.verdict``): ``fill`` caches ``cntk`` / ``cntk_bn`` / ``eigen_free`` (resumable), ``table``
writes the verdict JSON and Markdown (docs/theory.md, Part IV.4), ``sweep`` measures the ``cntk`` kernel
settings and applies the default rule (Part IV.4a)."""

from __future__ import annotations

from experiments.verdict import add_arguments, run

HELP = ("the theory's cntk / cntk_bn / eigen_free against the eigen default on the ablation's 1,000 + 300 cells; "
        "sweep: the cntk settings")

__all__ = ["HELP", "add_arguments", "run"]

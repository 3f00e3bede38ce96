"""The ``eigennas`` command line: one sub-command per job, each in ``eigennas/commands/<name>.py``.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Commands whose module has not landed yet are listed and answer "not yet available" (exit 2)
instead of pretending to work. Errors print one line (exit 1); Ctrl-C prints one line saying what
was kept ("interrupted; N cells cached, rerun to resume") and exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence

#: When this module was imported: commands report their time since start-up (imports, loading) too.
STARTED = time.perf_counter()

#: Exit status after Ctrl-C (128 + SIGINT, the shell's convention).
INTERRUPTED = 130

#: (name, one-line description used when the module is not available)
COMMANDS: tuple[tuple[str, str], ...] = (
    ("arch", "parse, print and canonicalize an architecture string; show its FC analogue"),
    ("hermite", "Hermite coefficients mu_r of an activation (exact or quadrature)"),
    ("kernel", "exact infinite-width NNGP/NTK of an architecture on data, and its lambda_min"),
    ("measure", "empirical NTK lambda_min of a finite-width torch model (mean/std over seeds)"),
    ("bounds", "lower/upper bounds on lambda_min(NTK) and the generalization bound, as LaTeX and numbers"),
    ("explain", "walk through an architecture: Hermite coefficients, bounds, exact and measured lambda_min"),
    ("figures", "regenerate the comparison figures (bound vs exact vs measured) into figures/"),
    ("search", "train-free NAS on NATS-Bench with a score (eigen, naswot, params, ...) and a protocol"),
    ("correlate", "rank correlation (Spearman, Kendall, bootstrap CIs) of a score with NATS-Bench accuracy"),
    ("atlas", "score every NATS-Bench cell (one value per isomorphism class) on Dask into a resumable table; --report"),
    ("ablate", "ablation of the eigen score's choices on NATS-Bench; TE-NAS pruning and evolution searches"),
    ("verdict", "the theory's cntk / cntk_bn / eigen_free against the eigen default on the ablation's cells; sweep"),
)


def _load(name: str):
    try:
        return importlib.import_module(f"eigennas.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"eigennas.commands.{name}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eigennas",
        description=(
            "Executable theory of NAS under activation and skip-connection search "
            "(Zhu, Liu, Chrysos, Cevher, NeurIPS 2022): exact NTKs, lambda_min bounds, EigenNAS."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, fallback in COMMANDS:
        mod = _load(name)
        help_text = getattr(mod, "HELP", fallback) if mod is not None else f"{fallback} [not yet available]"
        p = sub.add_parser(name, help=help_text, description=help_text)
        if mod is not None:
            mod.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 error, 2 usage, 130 interrupted)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # while importing or parsing, before a command runs
        print("eigennas: interrupted", file=sys.stderr)
        return INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.started = STARTED
    mod = _load(args.command)
    if mod is None:
        print(f"eigennas {args.command}: not yet available in this version", file=sys.stderr)
        return 2
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        # one line, no traceback; a command that caches sets args.interrupt_note to say what it kept
        note = getattr(args, "interrupt_note", None)
        kept = note() if callable(note) else "no partial output (files are written whole or not at all)"
        lead = "\n" if sys.stderr.isatty() else ""  # end a progress bar's line on a terminal
        print(f"{lead}eigennas {args.command}: interrupted; {kept}", file=sys.stderr)
        return INTERRUPTED
    except (ValueError, OSError, MemoryError) as exc:
        print(f"eigennas {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

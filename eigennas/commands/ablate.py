"""``eigennas ablate``: ablation of the EigenNAS score's free choices on NATS-Bench (``experiments.ablation``).

Each variant is a comma-separated ``key=value`` list over the fields of ``experiments.ablation.Variant``
(kind, C, N, bn, output, batch_size, images, seeds, normalize); unnamed fields take the reduced base
(C=8, N=1, BN train, sum of logits, batch 16, real images, 1 seed, raw λ_min). For each variant the
command prints (and writes as JSON and a Markdown table) Spearman/Kendall with bootstrap CIs on the
three datasets, P-S(n) from the scored pool and the time per cell. ``--search prune|evolve`` runs the
TE-NAS pruning or regularized evolution with each variant instead.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from eigennas.commands._types import nonnegative_int, positive_int
from empirics.nas.benchmark import canonical_dataset, load_benchmark
from empirics.nas.cache import ScoreCache
from empirics.nas.search import class_key
from experiments.ablation import (
    GRIDS,
    NORMALIZATIONS,
    AblationError,
    AblationSetup,
    Variant,
    cell_sample,
    evaluate_variant,
    parse_variant,
    run_evolution,
    run_prune,
    short_label,
)
from theory import files

HELP = "ablation of the eigen score's choices (BN, output, normalization, batch, images, seeds, size) on NATS-Bench"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="SPEC",
        help="a variant, e.g. 'normalize=trace' or 'C=16,N=5,batch_size=64' or 'kind=theory' (repeatable)",
    )
    p.add_argument("--grid", action="append", default=[], choices=sorted(GRIDS), help="a named grid (repeatable)")
    p.add_argument("--n", type=positive_int, default=1000,
                   help="cells: the first N of the fixed permutation (default 1000)")
    p.add_argument(
        "--start",
        type=nonnegative_int,
        default=0,
        help="skip the first START cells of the permutation (cells START..N-1: a held-out set; default 0)",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the cell permutation and of P-S draws (default 0)")
    p.add_argument("--score-seed", type=nonnegative_int, default=0,
                   help="seed of the images and initializations (default 0)")
    p.add_argument("--dataset", default="cifar10", help="images and classes the score is computed on (default cifar10)")
    p.add_argument("--ps-n", type=positive_int, default=100, help="P-S(n) from the scored pool (default 100)")
    p.add_argument("--repeats", type=positive_int, default=10, help="P-S / search repeats (default 10)")
    p.add_argument("--boot", type=positive_int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--search", default="none", choices=["none", "prune", "evolve"], help="search instead of ablation")
    p.add_argument(
        "--prune-guard",
        action="store_true",
        help="pruning never leaves the cell without a path from input to output (not part of TE-NAS)",
    )
    p.add_argument("--cycles", type=positive_int, default=100, help="evolution cycles (default 100)")
    p.add_argument("--population", type=positive_int, default=20, help="evolution population (default 20)")
    p.add_argument("--sample", type=positive_int, default=5, help="evolution tournament size (default 5)")
    p.add_argument(
        "--all-normalizations",
        action="store_true",
        help="evaluate every eigen variant under all normalizations (derived from the same cached spectra)",
    )
    p.add_argument("--cached-only", action="store_true", help="use only cells whose spectra are cached (no compute)")
    p.add_argument("--data-dir", default=None, help="data folder (default $EIGENNAS_DATA or ../shared/data)")
    p.add_argument("--bench-path", default=None, help="benchmark CSV (default from the data folder)")
    p.add_argument("--cache", default=".eigennas_cache", help="cache folder (spectra.jsonl, scores.jsonl)")
    p.add_argument("--no-cache", action="store_true", help="keep everything in memory")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default="results", help="output folder (default results/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _variants(args: argparse.Namespace) -> list[Variant]:
    out: list[Variant] = []
    for g in args.grid:
        out.extend(GRIDS[g]())
    out.extend(parse_variant(v) for v in args.variant)
    if not out:
        out = [Variant()]
    if getattr(args, "all_normalizations", False):
        out = [replace(v, normalize=n) if v.kind == "eigen" else v for v in out for n in NORMALIZATIONS]
    seen: set[Variant] = set()
    return [v for v in out if not (v in seen or seen.add(v))]


def _ci(c: dict[str, float], key: str) -> str:
    return f"{c[key]:.3f} [{c[key + '_lo']:.3f}, {c[key + '_hi']:.3f}]"


def _pm(d: dict[str, float]) -> str:
    return "nan" if not math.isfinite(d["mean"]) else f"{d['mean']:.2f} ± {d['std']:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of ablation rows."""
    head = (
        "| variant | cells | ρ / τ C10 | ρ / τ C100 | ρ / τ IN16 | P-S(n) C10 | C100 | IN16 | s/cell |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        c = r["correlations"]
        ps = r["ps"]
        cells = [
            f"`{short_label(Variant(**r['fields']))}`",
            str(r["cells"]),
            *(f"{_ci(c[d], 'spearman')} / {_ci(c[d], 'kendall')}" for d in ("cifar10", "cifar100", "ImageNet16-120")),
            *(_pm(ps[d]) for d in ("cifar10", "cifar100", "ImageNet16-120")),
            f"{r['time_per_cell_s']:.3g}",
        ]
        cells[5] = f"P-S({ps['n']}) ×{ps['repeats']}: {cells[5]}"
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def search_table(rows: list[dict[str, Any]]) -> str:
    head = "| search | variant | repeats | C10 | C100 | IN16 | cost |\n|---|---|---|---|---|---|---|\n"
    lines = []
    for r in rows:
        if "evaluations" in r:
            cost = f"{r['evaluations']} supernet scores, {r['wall_s']:.0f} s"
        else:
            cost = f"{r['cells_scored']} cells scored (sum over repeats), {r['wall_s']:.0f} s"
        accs = " | ".join(_pm(r[d]) for d in ("cifar10", "cifar100", "ImageNet16-120"))
        name = short_label(parse_variant(r["variant"]))
        lines.append(f"| {r['search']} | `{name}` | {r['repeats']} | {accs} | {cost} |")
    return head + "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    out = files.check_output_dir(args.out)  # before any work: a long run must be able to save
    torch.set_num_threads(int(args.threads))
    bench = load_benchmark(args.bench_path, data_dir=args.data_dir)
    variants = _variants(args)
    root = None if args.no_cache else args.cache
    spectra = ScoreCache(root, filename="spectra.jsonl")
    scores = ScoreCache(root)
    args.interrupt_note = lambda: f"{spectra.interrupt_note('spectra')}; {scores.interrupt_note('scores')}"
    setup = AblationSetup(
        bench, args.dataset, spectra, seed=args.score_seed, data_dir=args.data_dir, progress=not args.no_progress
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.search != "none":
        srows = []
        for v in variants:
            if args.search == "prune":
                srows.append(run_prune(v, setup, repeats=args.repeats, keep_connected=args.prune_guard))
            else:
                srows.append(run_evolution(v, setup, args.repeats, args.cycles, args.population, args.sample, scores))
        text = search_table(srows)
        print(text)
        path = _claim(out, f"ablate_{args.search}{_dataset_tag(args.dataset)}_{stamp}", (".json",))
        files.write_json(path.with_suffix(".json"), srows)
        _release(path)
        print(f"wrote {path}.json")
        return 0
    cells = cell_sample(bench, args.n, args.seed, start=args.start)
    rows = []
    for v in variants:
        idx = cells
        if args.cached_only and v.kind == "eigen":
            keep = []
            scorer = setup.scorer(v)
            for i in cells:
                ck = class_key(bench.arch(i), scorer.iso, bench)
                if all(scorer.spectrum_key(ck, args.score_seed, k) in spectra for k in range(v.seeds)):
                    keep.append(i)
                else:
                    break  # a prefix of the permutation, so the cells stay the same for every variant
            idx = keep
        if len(idx) < 4:
            print(f"{v.label}: only {len(idx)} cells cached, skipped")
            continue
        row = evaluate_variant(
            v, bench, idx, setup, scores, ps_n=args.ps_n, repeats=args.repeats, n_boot=args.boot, seed=args.seed
        )
        rows.append(row)
        c = row["correlations"]
        print(
            f"{v.label}: {len(idx)} cells, rho C10/C100/IN16 = "
            + " / ".join(f"{c[d]['spearman']:.3f}" for d in c)
            + f", P-S({row['ps']['n']}) C10 {_pm(row['ps']['cifar10'])}, {row['time_per_cell_s']:.3g} s/cell",
            flush=True,
        )
    if not rows:
        raise AblationError("no variant could be evaluated")
    text = table(rows)
    print()
    print(text)
    tag = re.sub(r"[^A-Za-z0-9_.=-]+", "_", "+".join(args.grid) or f"{len(variants)}variants")
    span = f"n{args.n}" if args.start == 0 else f"cells{args.start}-{args.n}"
    stem = _claim(out, f"ablate_{tag}{_dataset_tag(args.dataset)}_{span}_s{args.seed}_{stamp}", (".json", ".md"))
    files.write_json(
        stem.with_suffix(".json"),
        {
            "n": args.n,
            "start": args.start,
            "seed": args.seed,
            "score_seed": args.score_seed,
            "dataset": args.dataset,
            "rows": rows,
        },
    )
    files.write_text(stem.with_suffix(".md"), text)
    _release(stem)
    print(f"wrote {stem}.json and {stem}.md")
    return 0


def _dataset_tag(dataset: str) -> str:
    """'' for the default CIFAR-10 images, else '_<dataset>' (file names say which images scored)."""
    d = canonical_dataset(dataset)
    return "" if d == "cifar10" else f"_{d}"


def _claim_file(stem: Path) -> Path:
    return stem.with_name(f".{stem.name}.claim")


def _claim(out: Path, name: str, suffixes: tuple[str, ...]) -> Path:
    """A result stem ``out/name`` (then ``name-2``, ``name-3``, ...) none of whose files exist yet,
    claimed by creating the hidden ``.name.claim`` exclusively: two runs started in the same second
    (the stamp has one-second resolution) never overwrite each other, and no file exists under a
    final name before its complete content is renamed there (``theory.files``). ``_release``
    removes the claim once the files are written."""
    for k in range(1, 1000):
        stem = out / (name if k == 1 else f"{name}-{k}")
        if any(stem.with_suffix(sfx).exists() for sfx in suffixes):
            continue
        try:
            with open(_claim_file(stem), "x"):
                return stem
        except FileExistsError:
            continue
    raise AblationError(f"no free result name for {out / name}")


def _release(stem: Path) -> None:
    _claim_file(stem).unlink(missing_ok=True)

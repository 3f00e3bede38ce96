"""``eigennas search``: train-free NAS on NATS-Bench with a score and a protocol (P-S, P-T, P-D)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from eigennas.commands._nats_common import add_common, opt_tag, setup, since_start, write_csv, write_json
from eigennas.commands._types import nonnegative_int, positive_int
from empirics.nas.benchmark import DATASETS
from empirics.nas.search import PROTOCOLS, run_protocol
from theory import files

HELP = "train-free NAS on NATS-Bench with a score (eigen, naswot, params, ...) and a protocol"

#: Reported by the paper and its peers (their NATS-Bench-201 tables), test accuracy C10 / C100 / IN16;
#: the optimum is the benchmark table's best cell.
REFERENCE = {
    "EigenNAS (paper)": (93.46, 71.42, 45.54),
    "NASWOT N=1000": (92.96, 69.98, 44.44),
    "TE-NAS": (93.9, 71.24, 42.38),
    "optimum of the space": (94.37, 73.51, 47.31),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--dataset", default="cifar10", help="search dataset for --protocol sample (default cifar10)")
    p.add_argument(
        "--protocol",
        default="sample",
        choices=sorted(PROTOCOLS),
        help="sample = P-S(N) on --dataset; transfer = P-T (search on CIFAR-10, report all three); "
        "per-dataset = P-D (search on each dataset, report each on its own)",
    )
    p.add_argument("--n", type=positive_int, default=100, help="cells sampled per repeat (default 100)")
    p.add_argument("--repeats", type=positive_int, default=5, help="independent repeats (default 5)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the architecture draws (default 0)")


def _fmt(x: float) -> str:
    return "   nan" if not math.isfinite(x) else f"{x:6.2f}"


def run(args: argparse.Namespace) -> int:
    files.check_output_dir(args.out)  # before any work: a long run must be able to save
    bench, score, cache = setup(args)
    res = run_protocol(
        args.protocol,
        score,
        bench,
        n=args.n,
        repeats=args.repeats,
        dataset=args.dataset,
        seed=args.seed,
        score_seed=args.score_seed,
        cache=cache,
        data_dir=args.data_dir,
        iso=args.iso,
        progress=not args.no_progress,
    )
    s = res.settings
    print(f"{s['protocol']} with score {score.name} {score.options}, {args.repeats} repeats, draw seed {args.seed}")
    print(f"{'rep':>3} {'search on':<15} {'index':>6} {'score':>12}  {'C10':>6} {'C100':>6} {'IN16':>6}  arch")
    for r in res.records:
        accs = " ".join(_fmt(r[f"test_{d}"]) for d in DATASETS)
        print(f"{r['repeat']:>3} {r['search_dataset']:<15} {r['index']:>6} {r['score']:>12.5g}  {accs}  {r['arch']}")
    print("summary (mean ± std over repeats of the reported test accuracy):")
    for ds, m in res.summary.items():
        oracle = m.get("oracle_in_sample_mean", math.nan)
        extra = f"   (best in sample, mean: {oracle:.2f})" if math.isfinite(oracle) else ""
        print(f"  {ds:<15} {m['mean']:6.2f} ± {m['std']:.2f}  [searched on {m['search_dataset']}]{extra}")
    for name, ref in REFERENCE.items():
        print(f"  reference {name:<22} " + " / ".join(f"{v:.2f}" for v in ref))
    print(
        f"search {res.wall_time_s:.1f} s ({since_start(args):.1f} s since start-up, loading included); "
        f"{res.computed} cells scored ({res.compute_time_s:.1f} s), "
        f"the rest from the cache ({cache.path or 'memory'})"
    )
    out = Path(args.out)
    ds_tag = f"_{args.dataset}" if args.protocol == "sample" else ""
    stem = f"search_{score.name}{opt_tag(score)}_{args.protocol}{ds_tag}_n{args.n}_r{args.repeats}_s{args.seed}"
    write_json(out / f"{stem}.json", res.to_json())
    write_csv(out / f"{stem}.csv", res.records)
    print(f"wrote {out / (stem + '.json')} and {out / (stem + '.csv')}")
    return 0

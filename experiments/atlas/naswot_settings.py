"""Does the NASWOT setting explain why the atlas's full-space Kendall τ of ``naswot`` (0.609 / 0.626 / 0.604)
is above the value AZ-NAS (Table 1) reports for NASWOT (0.557 / 0.579 / 0.573)?

Paired comparison on the same uniformly drawn cells (``default_rng(seed)``, without replacement): the committed
``naswot@cifar10`` column (batch 64 of CIFAR-10), the same score at batch 128 (NASWOT's own runs use 128),
and with each target dataset's own images (batch 64, CIFAR-100 / ImageNet16-120); ``params`` on the same cells
for scale. Kendall τ with the 200-epoch test accuracy of each dataset. Writes ``naswot_settings.json`` beside
this file (temporary file + rename).

    python experiments/atlas/naswot_settings.py [--cells 400] [--seed 11] [--cache DIR] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from empirics.nas.atlas import AtlasTable
from empirics.nas.benchmark import load_benchmark
from empirics.nas.cache import ScoreCache
from empirics.nas.scorer import Scorer
from empirics.nas.scores import get_score

HERE = Path(__file__).resolve().parent
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=400)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--cache", default=".eigennas_cache", help="score cache folder (reused on reruns)")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    bench = load_benchmark(data_dir=args.data_dir)
    table = AtlasTable.load(HERE / "atlas.csv", bench)
    if not table.done["naswot@cifar10"].all():
        raise SystemExit("naswot@cifar10 is not complete in the committed atlas")
    cells = [int(i) for i in np.sort(np.random.default_rng(args.seed).choice(len(bench), args.cells, replace=False))]
    cache = ScoreCache(args.cache)

    def naswot(dataset: str, **opts: int) -> np.ndarray:
        scorer = Scorer(get_score("naswot", **opts), bench, dataset, cache=cache, data_dir=args.data_dir)
        return scorer.score_indices(cells, seed=0, desc=f"naswot {opts or ''} {dataset}")

    committed = table.values["naswot@cifar10"][cells]
    columns = {
        "naswot, batch 64, CIFAR-10 images (committed atlas)": dict.fromkeys(DATASETS, committed),
        "naswot, batch 128, CIFAR-10 images": dict.fromkeys(DATASETS, naswot("cifar10", batch_size=128)),
        "naswot, batch 64, own images": {d: committed if d == "cifar10" else naswot(d) for d in DATASETS},
        "params": {d: table.values["params@cifar10"][cells] for d in DATASETS},
    }
    taus = {
        name: {d: float(stats.kendalltau(vals[d], bench.accuracies(d)[cells]).statistic) for d in DATASETS}
        for name, vals in columns.items()
    }
    out = {"cells": args.cells, "seed": args.seed, "kendall_tau": taus,
           "command": f"python experiments/atlas/naswot_settings.py --cells {args.cells} --seed {args.seed}"}
    for name, t in taus.items():
        print(f"{name:55s}" + "  ".join(f"{d} {t[d]:.3f}" for d in DATASETS))
    path = HERE / "naswot_settings.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Figure g (``nats_theory``): the BatchNorm-free NATS network, exact vs bound vs measured, and the paired skip test.

Top row, one panel per cell of :data:`CELLS` (every NATS op appears): on ``n_images`` CIFAR-10 images
(``image_batch``, seed 0) average-pooled to 8×8, 3 stages × 1 cell,

* exact λ_min(Θ) of ``theory.nats_ntk`` (line), the structural lower bound max(S0, S1, S2) and the 2×2
  interlacing upper bound of ``bounds.nats`` (lines);
* the measured λ_min of the finite BN-free twin (``build_model(..., family='nats', batchnorm=False)``,
  NTK parametrization, float64) at growing width C, mean ± std over ``seeds`` initializations (points).

Bottom row: the trace-normalized value N·λ_min/tr of the same three kernels' sources — exact, the twin
at each C — and of the BN-train ``eigen`` score (the kernel NATS-Bench's trained network has at
initialization, its own images and batch, a different network: only the scale-free value compares).

Right: the paired skip test. ``skip_cells`` cells with edge 0→3 = none (other five edges uniform over the
NATS ops, ``default_rng(0)``, as ``benchmarks/nats_skip_monotonicity.py``), each swapped to
skip_connect and to avg_pool_3x3; log(variant/base) of each score (``cntk`` raw and trace, ``eigen_free``
trace, BN-train ``eigen``) against the NATS-Bench 200-epoch ImageNet16-120 accuracy change; the
legend counts the pairs where the score's change has the accuracy change's sign, on C10 / C100 / IN16.
Pairs whose base cell has λ_min(Θ) = 0 (the none edge was the only input→output path) are dropped.

Every plotted number is in ``g_nats_theory.csv`` (and ``g_nats_theory_skip.csv``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from bounds.nats import nats_levels
from eigennas.figure_files import save_figure as _save
from empirics.models.build import build_model
from empirics.nas.benchmark import DATASETS, load_benchmark
from empirics.nas.images import image_batch
from empirics.nas.scores import _init_seed, get_score
from empirics.nas.scores_nats import kernel_value, pool_images
from empirics.ntk.empirical import empirical_ntk
from theory import files
from theory.nats import nats_ntk

__all__ = ["CELLS", "OPS", "skip_pairs", "comparator_rows", "skip_rows", "sign_agreement", "fig_nats_theory"]

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

#: a deep conv cell, a mixed cell with every op, a shortcut-free chain, a pool/skip-heavy cell
CELLS: tuple[str, ...] = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
)


def _cell(o: Sequence[str]) -> str:
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def skip_pairs(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(base, base with 0→3 = skip_connect, base with 0→3 = avg_pool_3x3) for ``n`` cells with 0→3 = none."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ops = [str(o) for o in rng.choice(OPS, 6)]
        trip = []
        for op3 in ("none", "skip_connect", "avg_pool_3x3"):
            ops[3] = op3
            trip.append(_cell(ops))
        out.append((trip[0], trip[1], trip[2]))
    return out


def _images(n: int, size: int = 8, data_dir=None) -> torch.Tensor:
    X, _ = image_batch("cifar10", n, seed=0, data_dir=data_dir, dtype=torch.float64)
    return pool_images(X, size)


def _twin(arch: str, x: torch.Tensor, C: int, k: int) -> np.ndarray:
    model = build_model(arch, width=C, seed=_init_seed(0, k), family="nats", batchnorm=False, N=1, stages=3,
                        dtype=torch.float64)
    return empirical_ntk(model, x).numpy()


def comparator_rows(cells: Sequence[str], widths: Sequence[int], seeds: int, n_images: int, eigen_opts: dict,
                    progress: Callable[[], None] = lambda: None, data_dir=None) -> list[dict[str, object]]:
    """One row per (cell, source): exact / bounds / twin at width C and seed k / BN-train eigen."""
    x = _images(n_images, data_dir=data_dir)
    eigen = get_score("eigen", **eigen_opts)
    Xe, _ = image_batch("cifar10", eigen.batch_size, seed=0, data_dir=data_dir)
    rows: list[dict[str, object]] = []
    for arch in cells:
        lv = nats_levels(arch, x)
        K = nats_ntk(arch, x, progress=False)
        base = {"arch": arch}
        rows.append({**base, "source": "exact", "C": "", "seed": "", "raw": lv.exact,
                     "trace": kernel_value(K, "trace")})
        for name, v in (("lower S0", lv.s0), ("lower S1", lv.s1), ("lower S2", lv.s2), ("upper 2x2", lv.u_2x2)):
            rows.append({**base, "source": name, "C": "", "seed": "", "raw": v, "trace": ""})
        for C in widths:
            for k in range(seeds):
                Kt = _twin(arch, x, C, k)
                rows.append({**base, "source": "twin", "C": C, "seed": k, "raw": kernel_value(Kt, "raw"),
                             "trace": kernel_value(Kt, "trace")})
        rows.append({**base, "source": "eigen BN-train", "C": int(eigen.options["C"]), "seed": "", "raw": "",
                     "trace": eigen.score(arch, Xe, seed=0, num_classes=10)})
        progress()
    return rows


def skip_rows(n_cells: int, eigen_opts: dict, free_C: int = 16, progress: Callable[[], None] = lambda: None,
              data_dir=None, bench=None) -> list[dict[str, object]]:
    """One row per (pair, swap): base and variant value of each score, and the accuracy changes."""
    bench = bench or load_benchmark(data_dir=data_dir)
    x = _images(16, data_dir=data_dir)
    eigen = get_score("eigen", **eigen_opts)
    Xe, _ = image_batch("cifar10", eigen.batch_size, seed=0, data_dir=data_dir)

    def scores(arch: str) -> dict[str, float]:
        K = nats_ntk(arch, x, progress=False)
        Kt = _twin(arch, x, free_C, 0)
        return {"cntk raw": kernel_value(K, "raw"), "cntk trace": kernel_value(K, "trace"),
                "eigen_free trace": kernel_value(Kt, "trace"),
                "eigen BN-train": eigen.score(arch, Xe, seed=0, num_classes=10)}

    rows: list[dict[str, object]] = []
    for i, trip in enumerate(skip_pairs(n_cells)):
        vals = [scores(a) for a in trip]
        accs = [{d: bench.test_accuracy(a, d) for d in DATASETS} for a in trip]
        for j, swap in ((1, "skip_connect"), (2, "avg_pool_3x3")):
            row: dict[str, object] = {"pair": i, "base": trip[0], "swap": swap}
            for name in vals[0]:
                row[f"{name} base"] = vals[0][name]
                row[f"{name} variant"] = vals[j][name]
            for d in DATASETS:
                row[f"dacc {d}"] = accs[j][d] - accs[0][d]
            rows.append(row)
        progress()
    return rows


SCORE_NAMES = ("cntk raw", "cntk trace", "eigen_free trace", "eigen BN-train")


def sign_agreement(rows: Sequence[dict[str, object]], swap: str, name: str) -> dict[str, object]:
    """Over the live pairs of one swap (base λ_min(Θ) > 0): how often the score rises, its median ratio
    (variant/base, for positive scores), and in how many pairs its change has the accuracy change's sign."""
    live = [r for r in rows if r["swap"] == swap and float(r["cntk raw base"]) > 0]  # type: ignore[arg-type]
    b = np.array([float(r[f"{name} base"]) for r in live])  # type: ignore[arg-type]
    v = np.array([float(r[f"{name} variant"]) for r in live])  # type: ignore[arg-type]
    out: dict[str, object] = {"pairs": len(live), "rises": int((v > b).sum())}
    pos = (b > 0) & (v > 0)
    out["median_ratio"] = float(np.median(v[pos] / b[pos])) if pos.any() else float("nan")
    for d in DATASETS:
        da = np.array([float(r[f"dacc {d}"]) for r in live])  # type: ignore[arg-type]
        out[f"agree {d}"] = int((np.sign(v - b) == np.sign(da)).sum())
    return out


def fig_nats_theory(s, out: Path, progress, data_dir=None) -> list[Path]:
    """Figure g; ``s`` a ``figures.Settings`` (nats_widths, nats_seeds, skip_cells, eigen_opts)."""
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when plotting

    rows = comparator_rows(CELLS, s.nats_widths, s.nats_seeds, 16, dict(s.eigen_opts), progress, data_dir)
    srows = skip_rows(s.skip_cells, dict(s.eigen_opts), progress=progress, data_dir=data_dir)
    fig = plt.figure(figsize=(4.0 * len(CELLS) + 5, 7.5))
    gs = fig.add_gridspec(2, len(CELLS) + 2)
    for c, arch in enumerate(CELLS):
        R = [r for r in rows if r["arch"] == arch]
        for row_i, key in ((0, "raw"), (1, "trace")):
            ax = fig.add_subplot(gs[row_i, c])
            ex = next(float(r[key]) for r in R if r["source"] == "exact")  # type: ignore[arg-type]
            ax.axhline(ex, color="k", label="exact Θ")
            if key == "raw":
                lo = max(float(r["raw"]) for r in R if str(r["source"]).startswith("lower"))  # type: ignore[arg-type]
                up = next(float(r["raw"]) for r in R if r["source"] == "upper 2x2")  # type: ignore[arg-type]
                ax.axhline(lo, color="tab:green", ls="--", label="lower max(S0,S1,S2)")
                ax.axhline(up, color="tab:red", ls="--", label="upper 2×2")
                ax.set_yscale("log")
            else:
                ev = next(float(r["trace"]) for r in R if r["source"] == "eigen BN-train")  # type: ignore[arg-type]
                ax.axhline(ev, color="tab:purple", ls=":", label="eigen (BN train)")
            tw = [r for r in R if r["source"] == "twin"]
            Cs = sorted({int(r["C"]) for r in tw})  # type: ignore[call-overload]
            m = [np.mean([float(r[key]) for r in tw if r["C"] == C]) for C in Cs]  # type: ignore[arg-type]
            sd = [np.std([float(r[key]) for r in tw if r["C"] == C]) for C in Cs]  # type: ignore[arg-type]
            ax.errorbar(Cs, m, yerr=sd, fmt="o-", color="tab:blue", label="BN-free twin (mean ± sd)")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("width C")
            if c == 0:
                ax.set_ylabel("λ_min" if key == "raw" else "N·λ_min / tr")
            if row_i == 0:
                ax.set_title(arch.replace("|+|", "|\n|"), fontsize=7)
            if c == 0:
                ax.legend(fontsize=6)
    for row_i, swap in enumerate(("skip_connect", "avg_pool_3x3")):
        ax = fig.add_subplot(gs[row_i, len(CELLS):])
        live = [r for r in srows if r["swap"] == swap and float(r["cntk raw base"]) > 0]  # type: ignore[arg-type]
        da = np.array([float(r["dacc ImageNet16-120"]) for r in live])  # type: ignore[arg-type]
        for name in SCORE_NAMES:
            b = np.array([float(r[f"{name} base"]) for r in live])  # type: ignore[arg-type]
            v = np.array([float(r[f"{name} variant"]) for r in live])  # type: ignore[arg-type]
            ok = (b > 0) & (v > 0)
            ag = sign_agreement(srows, swap, name)
            lab = f"{name}: sign agrees {ag['agree cifar10']}/{ag['agree cifar100']}/{ag['agree ImageNet16-120']}"
            ax.scatter(da[ok], np.log(v[ok] / b[ok]), s=10, label=lab)
        ax.axhline(0, color="0.5", lw=0.5)
        ax.axvline(0, color="0.5", lw=0.5)
        ax.set_xlabel("Δ test accuracy ImageNet16-120 (NATS-Bench, 200 ep)")
        ax.set_ylabel("log(score variant / base)")
        ax.set_title(f"none → {swap} on edge 0→3 ({len(live)} pairs; of C10/C100/IN16)", fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle("BN-free NATS network: exact NTK vs bounds vs finite twin vs BN-train eigen; paired skip test")
    fig.tight_layout()
    skip_path = out / "g_nats_theory_skip.csv"
    files.write_csv(skip_path, srows)
    return [*_save(fig, out, "g_nats_theory", rows), skip_path]

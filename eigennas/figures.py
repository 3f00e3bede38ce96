"""The paper's questions as figures: bound vs exact vs measured λ_min(NTK), in one command.

Each figure function computes its records with ``eigennas.compare`` (bounds/ + theory/ + empirics/),
writes ``<out>/<stem>.csv`` with the plotted numbers (floats with 10 significant digits, so a rerun
writes the same bytes), then ``<stem>.png`` and ``<stem>.pdf``. Files are written to a temporary name
and renamed (``theory.files``), so an interrupted run leaves no partial figure.

a. ``depth``: λ_min vs depth for each activation (relu, leaky_relu, tanh, sigmoid, swish, gelu);
b. ``skips``: λ_min vs number of skip connections at fixed depth;
c. ``resnet``: ResNet α ∈ {1, 1/√L, 1/L}, λ_min vs depth;
d. ``width``: ‖K̄_m − Θ‖₂ and |λ_min(K̄_m) − λ_min(Θ)| vs width m (log-log, fitted slope);
e. ``mixed``: heat map of exact λ_min for two-layer activation pairs;
f. ``nats``: train-free score vs NATS-Bench test accuracy (Spearman / Kendall in the title);
g. ``nats_theory``: the BatchNorm-free NATS network: exact NTK vs bounds vs finite twin at growing C vs the
   BN-train ``eigen`` score, and the paired none → skip / pool test (``eigennas.figure_nats_theory``).

Data for a–e (``data=``): ``"cifar10"`` real CIFAR-10 test images from the data folder, flattened,
projected to d dimensions by a fixed Gaussian matrix (seed 0), centred per row and put on the sphere
of radius √d; or ``"sphere"``: i.i.d. Gaussian rows, centred and put on the same sphere. Centring
makes every row's coordinate mean zero, the assumption (A2) under which the closed-form bounds are
stated (bounds/).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from tqdm import tqdm

import theory
from eigennas.compare import Comparison, compare
from eigennas.figure_files import save_figure as _save
from eigennas.figure_nats_theory import fig_nats_theory
from empirics.nas.benchmark import load_benchmark
from empirics.nas.scores import get_score
from theory import files, sphere_data
from theory.data_dir import find_data_dir
from theory.presets import fc_chain, fc_skip, resnet

__all__ = ["FIGURES", "FigureError", "Settings", "figure_data", "make_figures", "check_output_dir"]

ACTIVATIONS_A = ("relu", "leaky_relu(0.2)", "tanh", "sigmoid", "swish", "gelu")


class FigureError(ValueError):
    """Bad figure request (unknown name, unwritable output folder)."""


@dataclass(frozen=True)
class Settings:
    """Sizes of a figure run. ``quick``: the committed figures; ``full``: larger N, d, depths and widths."""

    n: int = 16
    d: int = 32
    depths: tuple[int, ...] = (1, 2, 3, 4)
    widths: tuple[int, ...] = (256, 1024)
    seeds: tuple[int, ...] = (0, 1)
    skip_depth: int = 5
    convergence_widths: tuple[int, ...] = (128, 256, 512, 1024, 2048)
    convergence_seeds: int = 6
    nats_cells: int = 200
    r: int = 4
    #: figure g: twin widths, twin initializations, paired-test cells, BN-train eigen options (quick: the
    #: reduced one-initialization batch-16 setting, 0.43 s/cell; full: the eigen default, 2.5 s/cell)
    nats_widths: tuple[int, ...] = (8, 16, 32, 64)
    nats_seeds: int = 2
    skip_cells: int = 30
    eigen_opts: tuple[tuple[str, object], ...] = (("batch_size", 16), ("seeds", 1))

    @classmethod
    def quick(cls) -> Settings:
        return cls()

    @classmethod
    def full(cls) -> Settings:
        return cls(n=32, d=64, depths=(1, 2, 3, 4, 5, 6), widths=(256, 1024, 4096), seeds=(0, 1, 2), skip_depth=6,
                   convergence_widths=(128, 256, 512, 1024, 2048, 4096, 8192), convergence_seeds=8, nats_cells=1000,
                   nats_widths=(8, 16, 32, 64, 128, 256), nats_seeds=4, skip_cells=60, eigen_opts=())


def figure_data(source: str, n: int, d: int, data_dir: str | os.PathLike | None = None) -> np.ndarray:
    """N×d inputs on the sphere of radius √d with zero coordinate mean per row (see module doc)."""
    rng = np.random.default_rng(0)
    if source == "sphere":
        X = rng.standard_normal((n, d))
    elif source == "cifar10":
        raw = sphere_data(n, source="cifar10", data_dir=data_dir)  # (n, 3072) on the sphere
        X = raw @ rng.standard_normal((raw.shape[1], d)) / math.sqrt(raw.shape[1])
    else:
        raise FigureError(f"unknown data source {source!r}; use 'cifar10' or 'sphere'")
    X = X - X.mean(axis=1, keepdims=True)
    return X * (math.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True))


# ------------------------------------------------------------------------------------------ output


def check_output_dir(out: str | os.PathLike) -> Path:
    """Create ``out`` if needed and make sure it is writable, before any work is done."""
    try:
        return files.check_output_dir(out)
    except files.OutputError as exc:
        raise FigureError(str(exc)) from None



def _plot_lines(ax, xs: Sequence[float], recs: Sequence[Comparison], widths: Sequence[int], xlabel: str) -> None:
    ax.plot(xs, [r.upper for r in recs], "v--", color="tab:red", label="upper bound")
    ax.plot(xs, [r.exact for r in recs], "o-", color="black", label="exact (∞ width)")
    for k, m in enumerate(widths):
        mean = [r.measured[m][0] for r in recs]
        std = [r.measured[m][1] for r in recs]
        ax.errorbar(xs, mean, yerr=std, fmt="s:", alpha=0.8, color=f"C{k}", capsize=2, label=f"measured m={m}")
    ax.plot(xs, [r.lower_structural for r in recs], "^-.", color="tab:green", label="lower S2 (structural)")
    lows = [r.lower if r.lower > 0 else np.nan for r in recs]
    ax.plot(xs, lows, "^--", color="tab:olive", label="lower LB_r (closed form)")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("λ_min(NTK)")


def _rows(recs: Sequence[Comparison], **extra_per_rec: Sequence[object]) -> list[dict[str, object]]:
    rows = []
    for i, rec in enumerate(recs):
        for row in rec.rows():
            rows.append({**{k: v[i] for k, v in extra_per_rec.items()}, **row})
    return rows


# ----------------------------------------------------------------------------------------- figures


def fig_depth(X: np.ndarray, s: Settings, out: Path, progress) -> list[Path]:
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when plotting

    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True)
    all_recs, acts, depths = [], [], []
    for ax, act in zip(axes.flat, ACTIVATIONS_A):
        recs = []
        for L in s.depths:
            recs.append(compare(fc_chain(act, depth=L), X, widths=s.widths, seeds=s.seeds, r=s.r))
            progress()
        _plot_lines(ax, s.depths, recs, s.widths, "depth L")
        ax.set_title(act)
        all_recs += recs
        acts += [act] * len(recs)
        depths += list(s.depths)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"λ_min of the NTK vs depth, FC chains (N={X.shape[0]}, d={X.shape[1]})")
    return _save(fig, out, "a_depth", _rows(all_recs, activation=acts, depth=depths))


def _skip_sequence(L: int) -> list[tuple[int, int]]:
    """Skips added in a fixed order: first the short ones (l−2 → l), then longer, ending at the input."""
    return [(l - k, l) for k in range(2, L + 1) for l in range(k, L + 1)]


def fig_skips(X: np.ndarray, s: Settings, out: Path, progress) -> list[Path]:
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when plotting

    L = s.skip_depth
    seq = _skip_sequence(L)
    counts = list(range(0, len(seq) + 1, max(1, len(seq) // 5)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    rows: list[dict[str, object]] = []
    for ax, act in zip(axes, ("relu", "tanh")):
        recs = []
        for k in counts:
            recs.append(compare(fc_skip(act, seq[:k], depth=L), X, widths=s.widths, seeds=s.seeds, r=s.r))
            progress()
        _plot_lines(ax, counts, recs, s.widths, "number of skip connections")
        ax.set_title(f"{act}, depth {L}")
        rows += _rows(recs, activation=[act] * len(recs), skips=counts, skip_edges=[str(seq[:k]) for k in counts])
    axes[0].legend(fontsize=7)
    fig.suptitle("λ_min of the NTK vs skip connections (added short-range first)")
    return _save(fig, out, "b_skips", rows)


def fig_resnet(X: np.ndarray, s: Settings, out: Path, progress) -> list[Path]:
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when plotting

    alphas = ("1", "1/sqrt(L)", "1/L")
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharey=True)
    rows: list[dict[str, object]] = []
    for ax, al in zip(axes, alphas):
        recs = []
        for L in s.depths:
            recs.append(compare(resnet("relu", L, al), X, widths=s.widths, seeds=s.seeds, r=s.r))
            progress()
        _plot_lines(ax, s.depths, recs, s.widths, "depth L")
        ax.set_title(f"ReLU ResNet, α = {al}")
        rows += _rows(recs, alpha=[al] * len(recs), depth=list(s.depths))
    axes[0].legend(fontsize=7)
    fig.suptitle("λ_min of the NTK of ResNets h_l = h_{l−1} + α σ(W h_{l−1})")
    return _save(fig, out, "c_resnet", rows)


def fig_width(X: np.ndarray, s: Settings, out: Path, progress) -> list[Path]:
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when plotting
    from matplotlib.ticker import NullLocator  # matplotlib: heavy, only when plotting

    archs = {"relu chain L=3": fc_chain("relu", depth=3), "tanh+skips L=3": fc_skip("tanh", [(0, 2), (1, 3)], depth=3)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    rows: list[dict[str, object]] = []
    seeds = tuple(range(s.convergence_seeds))
    for k, (name, arch) in enumerate(archs.items()):
        rec = compare(arch, X, widths=s.convergence_widths, seeds=seeds, r=s.r)
        progress()
        ms = np.array(sorted(rec.measured), dtype=float)
        dev = np.array([rec.deviation[int(m)][0] for m in ms])
        gap = np.array([abs(rec.measured[int(m)][0] - rec.exact) for m in ms])
        slope_dev = float(np.polyfit(np.log(ms), np.log(dev), 1)[0])
        slope_gap = float(np.polyfit(np.log(ms), np.log(np.maximum(gap, 1e-300)), 1)[0])
        axes[0].loglog(ms, dev, "o-", color=f"C{k}", label=f"{name}: slope {slope_dev:.2f}")
        axes[1].loglog(ms, gap, "s-", color=f"C{k}", label=f"{name}: slope {slope_gap:.2f}")
        for m, dv, gp in zip(ms, dev, gap):
            rows.append({"arch_name": name, "arch": rec.arch, "width": int(m), "spectral_deviation": dv,
                         "lambda_gap": gp, "exact": rec.exact, "slope_deviation": slope_dev, "slope_gap": slope_gap})
    ref = np.array(s.convergence_widths, dtype=float)
    for ax in axes:
        ax.loglog(ref, ref ** -0.5 * ref[0] ** 0.5 * ax.get_lines()[0].get_ydata()[0], "k:", label="∝ m^{-1/2}")
        ax.set_xticks(ref, [str(int(m)) for m in ref])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("width m")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("‖K̄_m − Θ‖₂ (mean over seeds)")
    axes[1].set_ylabel("|λ_min(K̄_m) − λ_min(Θ)|")
    fig.suptitle("Convergence of the empirical NTK to the exact infinite-width NTK")
    return _save(fig, out, "d_width", rows)


def fig_mixed(X: np.ndarray, s: Settings, out: Path, progress) -> list[Path]:
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when plotting

    acts = ACTIVATIONS_A
    M = np.zeros((len(acts), len(acts)))
    rows: list[dict[str, object]] = []
    for i, a1 in enumerate(acts):
        for j, a2 in enumerate(acts):
            arch = fc_chain([a1, a2])
            M[i, j] = theory.lambda_min(arch, X)
            rows.append({"layer1": a1, "layer2": a2, "arch": str(arch), "exact": M[i, j]})
        progress()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(np.log10(M), cmap="viridis")
    ax.set_xticks(range(len(acts)), acts, rotation=45, ha="right")
    ax.set_yticks(range(len(acts)), acts)
    ax.set_xlabel("layer 2 activation")
    ax.set_ylabel("layer 1 activation")
    for i in range(len(acts)):
        for j in range(len(acts)):
            ax.text(j, i, f"{M[i, j]:.2g}", ha="center", va="center", color="w", fontsize=7)
    fig.colorbar(im, label="log10 λ_min(Θ) (exact)")
    ax.set_title("Two-layer nets with mixed activations")
    return _save(fig, out, "e_mixed", rows)


def fig_nats(s: Settings, out: Path, progress, data_dir=None) -> list[Path]:
    """Score vs test accuracy on a random sample of NATS-Bench cells: the `theory` score (exact
    λ_min of the FC analogue, no images) and `params`."""
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when plotting
    bench = load_benchmark(data_dir=data_dir)
    rng = np.random.default_rng(0)
    idx = sorted(rng.choice(len(bench), size=min(s.nats_cells, len(bench)), replace=False).tolist())
    names = ("theory", "params")
    fig, axes = plt.subplots(1, len(names), figsize=(11, 4.2))
    acc = np.array([bench.test_accuracy(i, "cifar10") for i in idx])
    rows: list[dict[str, object]] = [{"index": i, "arch": bench.arch(i), "cifar10_test": a} for i, a in zip(idx, acc)]
    for ax, name in zip(axes, names):
        score = get_score(name)
        vals = np.array([score.score(bench.arch(i), seed=0) for i in idx])
        progress()
        rho = stats.spearmanr(vals, acc).statistic
        tau = stats.kendalltau(vals, acc).statistic
        ax.scatter(vals, acc, s=6, alpha=0.6)
        ax.set_xlabel(f"score: {name}")
        ax.set_ylabel("CIFAR-10 test accuracy (200 ep)")
        ax.set_title(f"{name}: Spearman {rho:.3f}, Kendall {tau:.3f} (n={len(idx)})")
        for row, v in zip(rows, vals):
            row[name] = v
    fig.suptitle("Train-free scores vs NATS-Bench accuracy")
    return _save(fig, out, "f_nats", rows)


#: letter -> (stem, description, needs X)
FIGURES: dict[str, tuple[str, str]] = {
    "a": ("depth", "λ_min vs depth for each activation"),
    "b": ("skips", "λ_min vs number of skip connections"),
    "c": ("resnet", "ResNet α ∈ {1, 1/√L, 1/L}, λ_min vs depth"),
    "d": ("width", "width convergence of the empirical NTK"),
    "e": ("mixed", "heat map of λ_min for two-layer activation pairs"),
    "f": ("nats", "score vs NATS-Bench test accuracy"),
    "g": ("nats_theory", "BN-free NATS network: exact vs bound vs twin vs eigen; paired skip test"),
}
_FUNCS = {"a": fig_depth, "b": fig_skips, "c": fig_resnet, "d": fig_width, "e": fig_mixed}
#: the figures on NATS-Bench cells: letter -> (function, what of the data folder it needs)
_NATS_FIGURES = {
    "f": (fig_nats, "the NATS-Bench table"),
    "g": (fig_nats_theory, "the NATS-Bench table and CIFAR-10 images"),
}


def _units(letter: str, s: Settings) -> int:
    n_skip = len(range(0, len(_skip_sequence(s.skip_depth)) + 1, max(1, len(_skip_sequence(s.skip_depth)) // 5)))
    return {"a": len(ACTIVATIONS_A) * len(s.depths), "b": 2 * n_skip, "c": 3 * len(s.depths), "d": 2,
            "e": len(ACTIVATIONS_A), "f": 2, "g": 4 + s.skip_cells}[letter]


def parse_only(only: str | Sequence[str] | None) -> list[str]:
    """Figure letters (or stems) from 'a,b' / ['depth', 'c']; unknown names are an error."""
    if only is None:
        return list(FIGURES)
    items = [t.strip() for t in (only.split(",") if isinstance(only, str) else only) if t.strip()]
    if not items:
        raise FigureError(f"no figure named in {only!r}; name some of {', '.join(FIGURES)} (or omit --only for all)")
    by_stem = {stem: k for k, (stem, _) in FIGURES.items()}
    out = []
    for t in items:
        k = t if t in FIGURES else by_stem.get(t)
        if k is None:
            known = ", ".join(f"{k} ({stem})" for k, (stem, _) in FIGURES.items())
            raise FigureError(f"unknown figure {t!r}; known: {known}")
        out.append(k)
    return out


def make_figures(
    out: str | os.PathLike = "figures",
    only: str | Sequence[str] | None = None,
    quick: bool = True,
    data: str = "cifar10",
    data_dir: str | os.PathLike | None = None,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Regenerate the requested figures; returns the written paths. Validation (figure names,
    output folder, data source) happens before any computation."""
    letters = parse_only(only)
    out_dir = check_output_dir(out)
    s = Settings.quick() if quick else Settings.full()
    if data not in ("cifar10", "sphere"):
        raise FigureError(f"unknown data source {data!r}; use 'cifar10' or 'sphere'")
    have_data = find_data_dir(data_dir, required=False) is not None
    if data == "cifar10" and not have_data and any(k in _FUNCS for k in letters):
        log("data folder not found: using synthetic sphere data for figures a-e")
        data = "sphere"
    X = figure_data(data, s.n, s.d, data_dir) if any(k in _FUNCS for k in letters) else None
    written: list[Path] = []
    bar = tqdm(total=sum(_units(k, s) for k in letters), disable=not show_progress, desc="figures", unit="step")
    try:
        for k in letters:
            bar.set_postfix_str(FIGURES[k][0])
            if k in _NATS_FIGURES:
                make, needs = _NATS_FIGURES[k]
                if not have_data:
                    log(f"figure {k} ({FIGURES[k][0]}) skipped: it needs {needs} of the data folder "
                        "(--data-dir, $EIGENNAS_DATA or ../shared/data)")
                    bar.update(_units(k, s))
                    continue
                written += make(s, out_dir, lambda: bar.update(1), data_dir)
            else:
                written += _FUNCS[k](X, s, out_dir, lambda: bar.update(1))
    finally:
        bar.close()
    return written

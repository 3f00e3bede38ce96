"""Benchmark: the exact NTK (``theory.ntk``) against neural-tangents, in one process.

Cases (float64 throughout, inputs on the sphere of radius √d, d = 32):

* ``closed``: a depth-10 FC chain cycling relu, erf, gelu, leaky_relu(0.2) (closed-form duals in
  both libraries) at each N of ``--n``;
* ``numeric``: a depth-``--numeric-depth`` chain alternating tanh and swish (no closed form: our
  Mehler series with a certified tail bound, neural-tangents' ``ElementwiseNumerical`` Gauss–Hermite
  layers of degree ``--nt-deg``);
* ``dag``: a skip-DAG and a ResNet with the same number of dense edges as the closed chain (the
  lean engine's cost relative to the chain).

For each engine: the first call (neural-tangents: tracing + XLA compilation + run), the median of
``--repeats`` further calls (the per-call time; the engines' calls are interleaved so that load
changes on a shared machine hit all of them), the ratio of the medians *ours / theirs* (below 1
means we are faster) and, beside it, the ratio of first calls (compilation counted). Peak memory is
the growth of the resident set during one warm call, measured in a child process per engine (the
high-water mark is reset through /proc/self/clear_refs before the call). Values: the largest
entrywise difference relative to max|Θ|. Accuracy of the numeric case: both engines against nested
adaptive quadrature of every layer (scipy ``quad``, the chain recursion is local in the pair (i, j)) on
``--pairs`` sampled pairs.

Without neural-tangents (it pins an old JAX and numpy < 2: see docs/benchmarks.md for the separate
environment) the script says so and compares against the package's own previous engine,
``theory.kernel_pieces`` (the backward-mode engine that builds every node's and every edge's kernels).

    taskset -c 1 python benchmarks/bench_theory.py [--n 1000 2000] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import statistics
import sys
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402
from scipy import integrate  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from theory import kernel_pieces, ntk, sphere_data  # noqa: E402
from theory.activations import default_weight_variance, parse_activation  # noqa: E402
from theory.presets import fc_chain, fc_skip, resnet  # noqa: E402

CLOSED = ["relu", "erf", "gelu", "leaky_relu(0.2)"]
NUMERIC = ["tanh", "swish"]


def _have_nt() -> bool:
    try:
        import neural_tangents  # noqa: F401, PLC0415 - optional dependency
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    return True


def _nt_kernel_fn(acts: list[str], deg: int):
    """The same network in neural-tangents: Dense(W_std = √c_w) before each σ, readout Dense(W_std = 1),
    no biases, NTK parametrization; jitted kernel_fn(x, x, 'ntk')."""
    import jax  # noqa: PLC0415 - optional dependency
    import jax.numpy as jnp  # noqa: PLC0415
    from neural_tangents import stax  # noqa: PLC0415

    jax.config.update("jax_enable_x64", True)
    layers = []
    for text in acts:
        act = parse_activation(text)
        layers.append(stax.Dense(1, W_std=math.sqrt(default_weight_variance(act)), b_std=None))
        name = act.name
        if name == "relu":
            layers.append(stax.Relu())
        elif name == "erf":
            layers.append(stax.Erf())
        elif name == "gelu":
            layers.append(stax.Gelu(approximate=False))
        elif name == "leaky_relu":
            layers.append(stax.LeakyRelu(act.slope))
        elif name == "tanh":
            layers.append(stax.ElementwiseNumerical(jnp.tanh, deg=deg))
        elif name == "swish":
            layers.append(stax.ElementwiseNumerical(lambda x: x * jax.nn.sigmoid(x), deg=deg))
        else:
            raise ValueError(f"no neural-tangents layer mapped for {text}")
    layers.append(stax.Dense(1, W_std=1.0, b_std=None))
    _, _, kfn = stax.serial(*layers)
    jk = jax.jit(kfn, static_argnames="get")

    def run(X: np.ndarray) -> np.ndarray:
        return np.asarray(jk(X, X, "ntk").block_until_ready())

    return run


def _engine(name: str, acts: list[str], deg: int, arch=None):
    if name == "ours":
        a = arch if arch is not None else fc_chain(acts)
        return lambda X: ntk(a, X)
    if name == "kernel_pieces":
        a = arch if arch is not None else fc_chain(acts)
        return lambda X: kernel_pieces(a, X).ntk
    if name == "nt":
        return _nt_kernel_fn(acts, deg)
    raise ValueError(name)


def _time(fn, X: np.ndarray, repeats: int) -> tuple[float, float, np.ndarray]:
    t0 = time.perf_counter()
    out = fn(X)
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(X)
        ts.append(time.perf_counter() - t0)
    return first, statistics.median(ts), out


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _peak_child(name: str, acts: list[str], deg: int, n: int, arch_text: str | None, q) -> None:
    arch = None if arch_text is None else arch_text
    fn = _engine(name, acts, deg, arch)
    X = sphere_data(n, 32, seed=0)
    fn(X)  # warm: imports, caches, compilation
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    base = _rss_kib("VmRSS")
    out = fn(X)
    peak = _rss_kib("VmHWM")
    del out
    q.put((peak - base) / 1024 if reset else float("nan"))


def peak_mib(name: str, acts: list[str], deg: int, n: int, arch_text: str | None = None) -> float:
    """Growth of the resident set (MiB) during one warm call, in a fresh process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_child, args=(name, acts, deg, n, arch_text, q))
    p.start()
    val = q.get()
    p.join()
    return float(val)


# ----------------------------------------------------------------------------- accuracy reference


def _quad2(f, g, q1: float, q2: float, c: float) -> float:
    """E[f(u) g(v)] by nested adaptive quadrature, u = √q1 z1, v = (c/√q1) z1 + √(q2 − c²/q1) z2,
    split where u = 0 (outer) and v = 0 (inner), the kinks of the relu family."""
    a = math.sqrt(q1)
    b = c / a
    s = math.sqrt(max(q2 - b * b, 0.0))
    phi = 1.0 / math.sqrt(2 * math.pi)
    opts = {"epsabs": 1e-13, "epsrel": 1e-12, "limit": 200}

    def inner(z1: float) -> float:
        if s <= 1e-12 * math.sqrt(q2):  # v = b z1: one Gaussian on both sides
            return float(g(np.array(b * z1)))
        k = -b * z1 / s

        def h(z2: float) -> float:
            return float(g(np.array(b * z1 + s * z2))) * phi * math.exp(-z2 * z2 / 2)

        if abs(k) > 40.0:  # the kink carries no Gaussian mass
            return integrate.quad(h, -np.inf, np.inf, **opts)[0]
        return integrate.quad(h, -np.inf, k, **opts)[0] + integrate.quad(h, k, np.inf, **opts)[0]

    def outer(z1: float) -> float:
        return float(f(np.array(a * z1))) * inner(z1) * phi * math.exp(-z1 * z1 / 2)

    return integrate.quad(outer, -np.inf, 0.0, **opts)[0] + integrate.quad(outer, 0.0, np.inf, **opts)[0]


def reference_pairs(acts: list[str], X: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Θ(x_i, x_j) of the chain on the given pairs, every layer by nested adaptive quadrature: the chain
    recursion needs only the (i, i), (j, j), (i, j) entries of the previous layer."""
    d = X.shape[1]
    out = []
    for i, j in pairs:
        s_ii, s_jj, s_ij = (float(X[i] @ X[i]) / d, float(X[j] @ X[j]) / d, float(X[i] @ X[j]) / d)
        th_ii = th_jj = th_ij = 0.0
        for text in acts:
            act = parse_activation(text)
            cw = default_weight_variance(act)
            pre = [cw * (s + t) for s, t in ((s_ii, th_ii), (s_jj, th_jj), (s_ij, th_ij))]
            q1, q2, c = cw * s_ii, cw * s_jj, cw * s_ij
            f, df = act.numpy, act.derivative_numpy
            v_ii, v_jj, v_ij = _quad2(f, f, q1, q1, q1), _quad2(f, f, q2, q2, q2), _quad2(f, f, q1, q2, c)
            d_ii, d_jj, d_ij = _quad2(df, df, q1, q1, q1), _quad2(df, df, q2, q2, q2), _quad2(df, df, q1, q2, c)
            th_ii, th_jj, th_ij = pre[0] * d_ii, pre[1] * d_jj, pre[2] * d_ij
            s_ii, s_jj, s_ij = v_ii, v_jj, v_ij
        out.append(s_ij + th_ij)
    return np.array(out)


# ----------------------------------------------------------------------------- report


def compare(title: str, acts: list[str], n: int, engines: list[str], repeats: int, deg: int,
            memory: bool, arch=None) -> dict:
    X = sphere_data(n, 32, seed=0)
    res = {}
    fns = {name: _engine(name, acts, deg, arch) for name in engines}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        out = fn(X)
        res[name] = {"first": time.perf_counter() - t0, "out": out, "times": []}
    for _ in range(repeats):  # interleaved, so that load changes on the shared machine hit every engine
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(X)
            res[name]["times"].append(time.perf_counter() - t0)
    for name in engines:
        res[name]["median"] = statistics.median(res[name]["times"])
        if memory:
            res[name]["peak"] = peak_mib(name, acts, deg, n, None if arch is None else str(arch))
    ref = res["ours"]["out"]
    scale = float(np.abs(ref).max())
    print(f"\n{title}, N = {n} ({repeats} timed calls after the first)")
    print(f"  {'engine':<16}{'first call s':>13}{'per call s':>12}{'ours/this':>11}{'first ours/this':>17}"
          f"{'peak MiB':>10}{'max|ΔΘ|/max|Θ|':>16}")
    for name, r in res.items():
        ratio = res["ours"]["median"] / r["median"]
        fratio = res["ours"]["first"] / r["first"]
        diff = float(np.abs(r["out"] - ref).max()) / scale
        peak = f"{r['peak']:10.0f}" if "peak" in r else f"{'-':>10}"
        print(f"  {name:<16}{r['first']:13.3f}{r['median']:12.3f}{ratio:11.3f}{fratio:17.3f}{peak}{diff:16.1e}")
    return res


def accuracy(res: dict, acts: list[str], n: int, n_pairs: int) -> None:
    """Every engine's Θ against the nested-quadrature chain on ``n_pairs`` sampled pairs (one diagonal)."""
    if n_pairs <= 0:
        return
    rng = np.random.default_rng(0)
    pairs = [(int(i), int(j)) for i, j in rng.choice(n, size=(n_pairs, 2), replace=False)]
    pairs[0] = (pairs[0][0], pairs[0][0])
    t0 = time.perf_counter()
    ref = reference_pairs(acts, sphere_data(n, 32, seed=0), pairs)
    t_ref = time.perf_counter() - t0
    print(f"  accuracy on {len(pairs)} pairs against nested adaptive quadrature ({t_ref:.0f} s):")
    for name, r in res.items():
        vals = np.array([r["out"][i, j] for i, j in pairs])
        print(f"    {name:<16} max |Θ − Θ_ref| / max|Θ_ref| = {np.abs(vals - ref).max() / np.abs(ref).max():.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 2000])
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--numeric-depth", type=int, default=4)
    ap.add_argument("--numeric-n", type=int, default=300)
    ap.add_argument("--numeric-repeats", type=int, default=3)
    ap.add_argument("--nt-deg", type=int, default=25, help="Gauss–Hermite degree of ElementwiseNumerical")
    ap.add_argument("--pairs", type=int, default=6, help="sampled pairs for the quadrature reference")
    ap.add_argument("--closed-pairs", type=int, default=3, help="the same for the closed-form chain (first N)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", default="closed,numeric,dag")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--quick", action="store_true", help="N = 200, 2 repeats, 3 pairs (smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.numeric_n, args.repeats, args.numeric_repeats = [200], 100, 2, 1
        args.pairs, args.closed_pairs = 2, 1
    have_nt = _have_nt()
    engines = ["ours", "nt", "kernel_pieces"] if have_nt else ["ours", "kernel_pieces"]
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, threads: "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, cpu affinity {sorted(os.sched_getaffinity(0))}")
    if have_nt:
        import jax  # noqa: PLC0415
        import neural_tangents  # noqa: PLC0415

        print(f"neural-tangents {getattr(neural_tangents, '__version__', '?')} with jax {jax.__version__} "
              f"(x64, jit; XLA_FLAGS={os.environ['XLA_FLAGS']})")
    else:
        print("neural-tangents is not installed in this environment: comparing against the package's previous "
              "engine theory.kernel_pieces only (see docs/benchmarks.md for the neural-tangents environment)")
    cases = set(args.cases.split(","))
    acts = (CLOSED * (args.depth // len(CLOSED) + 1))[: args.depth]
    if "closed" in cases:
        for n in args.n:
            res = compare(f"closed forms: chain of {args.depth} ({', '.join(CLOSED)} repeated)", acts, n, engines,
                          args.repeats, args.nt_deg, not args.no_memory)
            if n == args.n[0]:
                accuracy(res, acts, n, args.closed_pairs)
    if "numeric" in cases:
        nacts = (NUMERIC * args.numeric_depth)[: args.numeric_depth]
        n = args.numeric_n
        res = compare(f"no closed form: chain of {args.numeric_depth} ({', '.join(NUMERIC)} alternating; "
                      f"neural-tangents ElementwiseNumerical deg={args.nt_deg})", nacts, n, engines,
                      args.numeric_repeats, args.nt_deg, False)
        accuracy(res, nacts, n, args.pairs)
    if "dag" in cases:
        n = args.n[0]
        X = sphere_data(n, 32, seed=0)
        chain = fc_chain(["relu"] * args.depth)
        dags = {f"chain of {args.depth} relu": chain,
                f"ResNet, {args.depth} relu blocks, alpha = 1/sqrt(L)": resnet("relu", args.depth),
                f"skip-DAG: every node reads all earlier nodes ({args.depth} dense edges)":
                    fc_skip(["relu"] * args.depth, [(i, j) for j in range(2, args.depth + 1) for i in range(j - 1)])}
        print(f"\nlean engine on skip-DAGs and ResNets, N = {n} (cost relative to the chain)")
        base = None
        for title, a in dags.items():
            n_dense = sum(1 for e in a.edges if e.op.is_dense)
            _, med, _ = _time(lambda Y, a=a: ntk(a, Y), X, args.repeats)
            _, med_kp, _ = _time(lambda Y, a=a: kernel_pieces(a, Y).ntk, X, max(1, args.repeats // 2))
            peak = peak_mib("ours", [], args.nt_deg, n, str(a)) if not args.no_memory else float("nan")
            base = med if base is None else base
            print(f"  {title:<62} dense edges {n_dense:3d}  per call {med:7.3f} s  x{med / base:5.2f} of the chain"
                  f"  peak {peak:5.0f} MiB  (kernel_pieces {med_kp:7.3f} s, ours/kernel_pieces {med / med_kp:.3f})")


if __name__ == "__main__":
    main()

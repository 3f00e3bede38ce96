"""The empirical neural tangent kernel of a torch model, exact, chunked, float64-accumulated.

For a model f(·; θ) evaluated on a batch X = (x_1..x_N) and a readout giving m scalar outputs per
sample (m = 1 for ``output="sum"`` or ``"class:k"``, m = C otherwise), the Jacobian J has one row per
(sample n, output c), row index r = n·m + c, and P columns (the selected parameters):

    J[r, :] = ∂ f_{n,c}(X; θ) / ∂θ,           K = J Jᵀ      (accumulated in float64).

**Gradient definition (one for all methods).** f_{n,c}(X; θ) is output c of sample n of the *batched*
forward pass of the whole X, exactly as TE-NAS computes it (forward the batch, backward one row). For a
model whose samples do not interact (no BatchNorm using batch statistics) this is the ordinary
per-sample gradient ∂f_c(x_n)/∂θ. For a model with BatchNorm in train mode (or with
``track_running_stats=False``), the batch mean/variance make every row depend on every sample, and J
is the Jacobian of the batched function, including the paths through the batch statistics. The batch
is never split for the forward pass, so chunking never changes the statistics; a per-sample ``vmap``
(which would normalize each sample by its own statistics) is refused for such models
(``NTKMethod.VMAP`` raises; ``AUTO`` does not choose it).

Output readouts: ``"sum"`` (Σ_c f_c, the TE-NAS choice), ``"class:k"`` (f_k), ``"full"``
((N·C)×(N·C), index n·C + c), ``"per_class"`` ((C, N, N): the blocks K_c = J_c J_cᵀ), ``"trace"``
(N×N: (1/C) Σ_c K_c, the neural-tangents ``trace_axes`` convention).

Side effects: none. The model's training mode is kept (it defines the BN semantics) and its buffers
(BN running statistics, counters) are restored after the call; when the model must move to another
device, a copy is moved instead. TensorFloat-32 (on by default for cuDNN convolutions on recent GPUs) is
switched off during the computation and the caller's flags are restored (``_full_float32``).
"""

from __future__ import annotations

import contextlib
import copy
import enum
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from empirics.ntk._errors import NTKError, NTKInputError, NTKMemoryError
from empirics.ntk._layerwise import LayerwiseUnsupported, layerwise_ntk_full
from theory.validate import as_real_array

__all__ = [
    "NTKMethod",
    "NTKCost",
    "estimate_cost",
    "NTKError",
    "NTKInputError",
    "NTKMemoryError",
    "empirical_ntk",
    "is_batch_coupled",
    "select_parameters",
    "default_device",
]


class NTKMethod(str, enum.Enum):
    """How the Jacobian rows are computed. All compute the same J (module docstring) and
    K = J Jᵀ in float64; they differ in cost. Notation: N samples, m outputs per sample (R = N·m rows),
    P parameters, B = cost of one backward pass of the full batch, b = cost of one per-sample backward
    (≈ B/N when samples do not interact).

    * ``LOOP``: the TE-NAS reference. One batched forward, then R calls of ``torch.autograd.grad`` of
      one output row through the retained graph; grads flattened and concatenated into J. Cost R·B
      (O(N²·m) sample-backwards), memory R·P + one graph. Valid for every model.
    * ``BATCHED``: the same R backward passes vectorized: ``torch.autograd.grad(..., grad_outputs=I[chunk],
      is_grads_batched=True)`` over chunks of the output basis vectors (vmap of the backward). Cost R·B
      FLOPs with fewer, larger kernels; memory ≈ chunk × (activations of the batch) + R·P. Valid for
      every model (differentiates the batched forward).
    * ``JACREV``: ``torch.func.jacrev`` of the batched forward X ↦ f(X; θ) with respect to θ through
      ``functional_call`` (vmap over output basis vectors, ``chunk_size`` rows at a time). Cost R·B;
      memory like BATCHED. Valid for every model. An implementation independent of BATCHED/LOOP.
    * ``VMAP``: per-sample gradients with ``torch.func``: ``vmap(jacrev(f_single))`` over the samples
      (functional_call on one sample at a time). Cost N·m·b ≈ m·B, i.e. about N times cheaper than
      the others; memory ≈ chunk × m × P (the per-sample Jacobian, contracted one parameter tensor at
      a time as in the PyTorch NTK tutorial, never concatenated). **Only valid when samples do not
      interact**: raises ``NTKError`` for a model with BatchNorm using batch statistics.
    * ``LAYERWISE``: structured per-layer products (``empirics.ntk._layerwise``) for models whose samples do
      not interact: one forward recording each parameter's input, m batch backwards for the per-sample
      output cotangents, then K_W = (G Gᵀ) ⊙ (H Hᵀ) for matmul/linear weights and per-sample gradients
      g ⊗ unfold(x) for conv2d, x̂·g for BatchNorm (running statistics). Cost ≈ m·B + Σ_layers
      (N·m)²·(in + out) (linear) or (N·m)²·P_W (conv); no per-sample backward at all. Raises
      ``NTKError`` for coupled models and for parameters used outside matmul/linear/conv2d/batch_norm
      (verified: K[0,0] must equal the squared norm of an ordinary autograd gradient).
    * ``AUTO``: LAYERWISE when the samples do not interact (VMAP if the model is not covered by it);
      for coupled models LOOP on CPU (BATCHED measured no faster there, and it needs more memory) and
      BATCHED on CUDA (vectorized backward passes; not measured on a GPU in this project yet).

    Timings: docs/benchmarks.md, as printed by ``benchmarks/bench_empirical_ntk.py`` (no timing is
    quoted here, so none can go stale). None of these methods has run on a GPU in this project yet.
    """

    AUTO = "auto"
    LAYERWISE = "layerwise"
    LOOP = "loop"
    BATCHED = "batched"
    JACREV = "jacrev"
    VMAP = "vmap"


_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


def is_batch_coupled(model: nn.Module) -> bool:
    """True when the forward pass mixes samples: some BatchNorm normalizes with batch statistics
    (train mode, or ``track_running_stats=False``)."""
    for mod in model.modules():
        if isinstance(mod, _BN_TYPES):
            if mod.training or not mod.track_running_stats or mod.running_mean is None:
                return True
    return False


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def select_parameters(model: nn.Module, params: str | Sequence[str] = "all") -> list[tuple[str, nn.Parameter]]:
    """The parameters θ of the NTK: ``"all"`` trainable ones, ``"weights"`` those whose name contains
    'weight' (TE-NAS: conv/linear weights and BN scales, no biases), or an explicit list of names."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if isinstance(params, str):
        if params == "all":
            sel = named
        elif params == "weights":
            sel = [(n, p) for n, p in named if "weight" in n]
        else:
            raise NTKError(f"params must be 'all', 'weights' or a list of parameter names, got {params!r}")
    else:
        wanted = list(params)
        have = dict(named)
        missing = [n for n in wanted if n not in have]
        if missing:
            raise NTKError(f"unknown or frozen parameters {missing}; trainable ones: {list(have)[:8]}...")
        sel = [(n, have[n]) for n in wanted]
    if not sel:
        raise NTKError(
            f"the model has no trainable parameters matching params={params!r} "
            f"({sum(1 for _ in model.parameters())} parameter tensors, none with requires_grad selected): "
            "the NTK is the Gram of parameter gradients and would be empty"
        )
    return sel


# ---------------------------------------------------------------------------------------------- readout


class _Readout:
    """Maps the model output (N, C) to the R = N·m rows, and the accumulated Gram to the result."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.k: int | None = None
        if output.startswith("class:"):
            try:
                self.k = int(output.split(":", 1)[1])
            except ValueError:
                raise NTKError(f"output 'class:k' needs an integer k, got {output!r}") from None
        elif output not in ("sum", "full", "per_class", "trace"):
            raise NTKError(f"output must be 'sum', 'class:k', 'full', 'per_class' or 'trace', got {output!r}")

    def rows(self, y: torch.Tensor) -> torch.Tensor:
        """(N, C) → (N, m)."""
        if self.output == "sum":
            return y.sum(dim=1, keepdim=True)
        if self.k is not None:
            return y[:, self.k : self.k + 1]
        return y

    def check(self, C: int) -> int:
        if self.k is not None and not (0 <= self.k < C):
            raise NTKError(f"output 'class:{self.k}' but the model has {C} outputs (0..{C - 1})")
        return 1 if (self.output == "sum" or self.k is not None) else C


def _as_2d_output(out, n: int) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        out = out[-1]  # xautodl convention: (features, logits)
    if not isinstance(out, torch.Tensor):
        raise NTKError(f"the model returned {type(out).__name__}, expected a tensor of outputs")
    if out.ndim == 1:
        out = out.unsqueeze(1)
    if out.ndim != 2 or out.shape[0] != n:
        raise NTKError(f"the model output must have shape (N, C) or (N,) with N = {n}, got {tuple(out.shape)}")
    return out


# ---------------------------------------------------------------------------------------------- memory


def _default_memory_limit(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(0.6 * free)
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            avail = 8 << 30
    return int(min(0.5 * avail, 8 << 30))


def _fmt_bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(b) < 1024 or unit == "TiB":
            return f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} TiB"


class _Plan:
    """Chunk sizes from a simple memory model (bytes):

    fixed  = graph (≈ 2 × Σ bytes of all leaf-module outputs of the batched forward) + K (R²·8 or C·N²·8)
    group  = R × P_g × (itemsize + 8)        (J block of one parameter group, and its float64 copy)
    chunk  = rows_per_chunk × (graph/2 + P_g × itemsize)        [BATCHED / JACREV: one cotangent
                                                                  per saved activation and row]
           = samples_per_chunk × m × (graph/N + P_g × itemsize)  [VMAP]

    The parameter groups are consecutive parameter tensors (never split); the limit must hold
    fixed + group + one minimal chunk, else NTKMemoryError.
    """

    def __init__(self, limit: int, graph: int, k_bytes: int, R: int, N: int, m: int, itemsize: int) -> None:
        self.limit, self.graph, self.k_bytes, self.R, self.N, self.m, self.itemsize = (
            limit,
            graph,
            k_bytes,
            R,
            N,
            m,
            itemsize,
        )
        self.fixed = graph + k_bytes
        if self.fixed >= limit:
            raise NTKMemoryError(
                f"memory limit {_fmt_bytes(limit)} is too small for even one chunk: the batched forward graph "
                f"(~{_fmt_bytes(graph)}) and the kernel (~{_fmt_bytes(k_bytes)}) alone need "
                f"{_fmt_bytes(self.fixed)}; raise memory_limit_bytes or use a smaller batch"
            )

    def groups(self, sizes: list[tuple[str, int]], per_unit_chunk: int) -> list[list[int]]:
        """Split parameter tensors (name, numel) into consecutive groups that fit."""
        avail = self.limit - self.fixed
        groups: list[list[int]] = []
        cur: list[int] = []
        cur_p = 0
        for i, (name, p) in enumerate(sizes):
            need_alone = self.R * p * (self.itemsize + 8) + per_unit_chunk + p * self.itemsize * self.m
            if need_alone > avail:
                raise NTKMemoryError(
                    f"memory limit {_fmt_bytes(self.limit)} is too small for even one chunk: parameter "
                    f"'{name}' ({p} entries) needs ~{_fmt_bytes(need_alone + self.fixed)} for its {self.R} "
                    "Jacobian rows; raise memory_limit_bytes"
                )
            new_p = cur_p + p
            if cur and self.R * new_p * (self.itemsize + 8) + per_unit_chunk + new_p * self.itemsize * self.m > avail:
                groups.append(cur)
                cur, cur_p = [], 0
                new_p = p
            cur.append(i)
            cur_p = new_p
        if cur:
            groups.append(cur)
        return groups

    def chunk(self, p_group: int, per_unit: int, units: int) -> int:
        """How many units (rows or samples) to process at once for a group of p_group parameters."""
        avail = self.limit - self.fixed - self.R * p_group * (self.itemsize + 8)
        c = int(avail // max(per_unit, 1))
        return max(1, min(units, c))


def _graph_bytes(model: nn.Module, X: torch.Tensor, call: Callable[[], torch.Tensor]) -> tuple[int, torch.Tensor]:
    """Run the forward once, with autograd, and measure the graph: the bytes of every distinct tensor
    autograd saves for the backward (``saved_tensors_hooks``), plus X and the output; × 2 for the
    cotangents of the backward pass."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
            seen[key] = t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. wrapped)
            seen[(id(t), 0)] = t.numel() * t.element_size()
        # Return a detached alias, not t itself: a saved *output* packed as the tensor itself keeps a
        # reference to its own grad_fn, a C++ reference cycle that Python's gc cannot break, and every
        # call would leak the whole graph (the model's weights included). The graph is only measured
        # here, never differentiated.
        return t.detach()

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = call()
    y = y.detach()
    total = sum(seen.values()) + X.numel() * X.element_size() + y.numel() * y.element_size()
    return 2 * total, y


# ------------------------------------------------------------------------------------------ estimate


@dataclass(frozen=True)
class NTKCost:
    """Up-front estimate of one ``empirical_ntk`` call (``estimate_cost``)."""

    bytes: int  #: peak working memory: forward graph of the batch + N·R×N·R float64 kernel
    seconds: float  #: wall time, extrapolated from one timed forward+backward on a probe batch
    coupled: bool  #: the forward mixes samples (BatchNorm batch statistics)
    probe: int  #: samples of the timed probe batch


def estimate_cost(model: nn.Module, X: torch.Tensor, output: str = "sum", probe: int = 4) -> NTKCost:
    """Estimate memory and time of ``empirical_ntk(model, X, output)`` before running it.

    One forward+backward on the first b = min(N, probe) samples is timed (t_b) and its autograd graph
    measured (g_b, ``_graph_bytes``). Both scale linearly with the batch: the graph of N samples is
    g_b·N/b. The Jacobian needs R·N rows (R outputs per sample: 1 for 'sum'/'class:k'/'trace', C for
    'full'). Without batch coupling every row costs about one per-sample backward, t_b/b; with
    coupling (BatchNorm batch statistics) each of the R·N rows is a backward through the whole
    batch, t_b·N/b: the cost grows as N², which is what made large batches look hung. Memory adds
    the (R·N)² float64 kernel (×3 for the eigensolver's workspace). An order-of-magnitude estimate,
    meant for refusing hopeless requests up front, not for benchmarking.
    """
    n = int(X.shape[0])
    b = max(1, min(n, int(probe)))
    xb = X[:b]
    coupled = is_batch_coupled(model)
    params = [p for p in model.parameters() if p.requires_grad]
    work = copy.deepcopy(model)  # the probe's forward must not touch the caller's BatchNorm buffers
    t0 = time.perf_counter()
    graph, _ = _graph_bytes(work, xb, lambda: work(xb))
    out = work(xb)
    y = out.sum()
    torch.autograd.grad(y, [p for p in work.parameters() if p.requires_grad], allow_unused=True)
    t_b = time.perf_counter() - t0
    C = int(out.shape[1]) if out.ndim == 2 else 1
    R = C if output == "full" else 1
    rows = R * n
    per_row = t_b * n / b if coupled else t_b / b
    kernel = 8 * rows * rows * 3
    p_bytes = sum(p.numel() * p.element_size() for p in params)
    return NTKCost(int(graph * n / b + kernel + 2 * p_bytes), float(rows * per_row), coupled, b)


# ---------------------------------------------------------------------------------------------- main


def empirical_ntk(
    model: nn.Module,
    X: torch.Tensor | np.ndarray,
    *,
    output: str = "sum",
    method: NTKMethod | str = NTKMethod.AUTO,
    memory_limit_bytes: int | None = None,
    device: torch.device | str | None = None,
    params: str | Sequence[str] = "all",
) -> torch.Tensor:
    """Empirical NTK K = J Jᵀ of ``model`` on the batch ``X`` (see the module docstring for J).

    Args:
        model: a torch module mapping (N, ...) to (N, C) or (N,) (a tuple output uses its last item).
            Its training mode is respected (BatchNorm in train mode ⇒ batch statistics, coupled rows).
        X: the batch, (N, ...) with the model's input shape and the dtype of its parameters.
        output: ``"sum"`` | ``"class:k"`` | ``"full"`` | ``"per_class"`` | ``"trace"``.
        method: an ``NTKMethod`` (or its value); ``AUTO`` by default.
        memory_limit_bytes: bound on the working memory (see ``_Plan``); default 60% of free GPU
            memory, or min(50% of available RAM, 8 GiB) on CPU.
        device: where to compute; default CUDA if available else CPU. A model on another device is
            copied there (the caller's model is not moved).
        params: ``"all"``, ``"weights"`` or a list of parameter names.

    Returns:
        float64 tensor on the CPU: (N, N) for sum/class:k/trace, (N·C, N·C) for full, (C, N, N) for
        per_class.
    """
    try:
        method = NTKMethod(method)
    except ValueError:
        raise NTKError(f"unknown method {method!r}; choose one of {[m.value for m in NTKMethod]}") from None
    readout = _Readout(output)
    if not isinstance(model, nn.Module):
        raise NTKError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    dev = torch.device(device) if device is not None else default_device()
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise NTKError("device 'cuda' requested but CUDA is not available")

    selected = select_parameters(model, params)
    p_dtype = selected[0][1].dtype
    if isinstance(X, np.ndarray):
        as_real_array(X, "X", NTKInputError, ndim=None)  # strings, complex, NaN: named
        if not np.issubdtype(X.dtype, np.floating):
            raise NTKInputError(f"X has dtype {X.dtype}; expected floating point (normalize images first)")
        X = torch.from_numpy(np.ascontiguousarray(X))
    elif isinstance(X, (list, tuple)):  # no dtype of their own: the model's, as theory/bounds take lists
        X = torch.from_numpy(as_real_array(X, "X", NTKInputError, ndim=None)).to(p_dtype)
    if not isinstance(X, torch.Tensor):
        raise NTKInputError(f"X must be a torch tensor, numpy array or nested list, got {type(X).__name__}")
    if not X.is_floating_point():
        raise NTKInputError(f"X has dtype {X.dtype}; expected floating point {p_dtype} (normalize images first)")
    if X.dtype != p_dtype:
        raise NTKInputError(
            f"X has dtype {X.dtype} but the model's parameters are {p_dtype}; convert one of them "
            f"(e.g. X.to({p_dtype}) or model.to({X.dtype}))"
        )
    if X.ndim < 2 or X.shape[0] < 1:
        raise NTKInputError(f"X must be a batch (N, ...) with N ≥ 1 samples, got shape {tuple(X.shape)}")
    if not torch.isfinite(X).all():
        bad = int((~torch.isfinite(X)).sum())
        raise NTKInputError(f"X contains {bad} non-finite values (NaN or ±inf)")

    # device placement without moving the caller's model
    model_dev = selected[0][1].device
    work = model if model_dev == dev else copy.deepcopy(model).to(dev)
    if work is not model:
        selected = select_parameters(work, params)
    X = X.to(dev)
    coupled = is_batch_coupled(work)
    drop = [n for n, mod in work.named_modules() if isinstance(mod, nn.modules.dropout._DropoutNd) and mod.training
            and mod.p > 0]
    if drop:
        raise NTKError(
            f"dropout modules {drop[:3]} are in train mode: the network is random and its NTK undefined "
            "(each method would draw different masks); call model.eval() on them or set p = 0"
        )
    auto = method is NTKMethod.AUTO
    if auto:
        if coupled:
            method = NTKMethod.BATCHED if dev.type == "cuda" else NTKMethod.LOOP
        else:
            method = NTKMethod.LAYERWISE
    if method in (NTKMethod.VMAP, NTKMethod.LAYERWISE) and coupled:
        raise NTKError(
            f"NTKMethod.{method.name} computes per-sample gradients, which is invalid for this model: "
            "a BatchNorm layer "
            "uses batch statistics (train mode or track_running_stats=False), so every output depends on "
            "the whole batch. Use LOOP, BATCHED or JACREV (they differentiate the batched forward), or "
            "put the model in eval mode if you want per-sample semantics with running statistics"
        )

    saved = {k: b.detach().clone() for k, b in work.named_buffers()}
    # BatchNorm in train mode: same math (batch statistics) without the running-stat update, which
    # would be a side effect and is refused inside torch.func transforms.
    frozen = [
        mod
        for mod in work.modules()
        if isinstance(mod, _BN_TYPES) and mod.training and mod.track_running_stats
    ]
    for mod in frozen:
        mod.track_running_stats = False
    try:
        with _full_float32():
            try:
                return _compute(work, X, readout, method, selected, memory_limit_bytes, dev, coupled)
            except (LayerwiseUnsupported, NTKMemoryError):
                # AUTO only: LAYERWISE does not cover this model, or its per-layer per-sample gradients do
                # not fit; VMAP computes the same J with parameter groups and sample chunks
                if not (auto and method is NTKMethod.LAYERWISE):
                    raise
                return _compute(work, X, readout, NTKMethod.VMAP, selected, memory_limit_bytes, dev, coupled)
    finally:
        for mod in frozen:
            mod.track_running_stats = True
        with torch.no_grad():
            for k, b in work.named_buffers():
                if k in saved:
                    b.copy_(saved[k])


@contextlib.contextmanager
def _full_float32() -> Iterator[None]:
    """Disable TensorFloat-32 for the duration of a kernel computation, then restore the caller's flags.

    On Ampere and later GPUs PyTorch lets cuDNN convolutions use TF32 by default
    (``torch.backends.cudnn.allow_tf32 = True``): a 10-bit mantissa, relative error ≈ 1e-3 in every
    convolution of the forward and backward passes. The Jacobian's rows would then carry errors of that
    relative size, i.e. perturbations of K of order 1e-3·λ_max, the size of λ_min itself for ill-conditioned
    kernels (median λ_min/λ_max of the reduced NATS network over our cached cells: 2e-3 at batch 128,
    5e-4 at batch 256); the float64 accumulation of K = J Jᵀ cannot repair the rows. Inside this context
    convolutions and matmuls run in full float32, as on the CPU.
    """
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _forward(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    try:
        out = model(X)
    except (RuntimeError, ValueError) as exc:
        raise NTKInputError(f"the model's forward failed on X of shape {tuple(X.shape)}: {exc}") from exc
    return _as_2d_output(out, X.shape[0])


def _compute(
    model: nn.Module,
    X: torch.Tensor,
    readout: _Readout,
    method: NTKMethod,
    selected: list[tuple[str, nn.Parameter]],
    memory_limit_bytes: int | None,
    dev: torch.device,
    coupled: bool,
) -> torch.Tensor:
    N = X.shape[0]
    graph, y0 = _graph_bytes(model, X, lambda: _forward(model, X))
    if not torch.isfinite(y0).all():
        raise NTKError("the model's outputs on X are not finite (NaN/inf): the NTK is undefined")
    C = y0.shape[1]
    m = readout.check(C)
    R = N * m
    itemsize = selected[0][1].element_size()
    per_class = readout.output in ("per_class", "trace")
    k_bytes = (m * N * N if per_class else R * R) * 8
    limit = _default_memory_limit(dev) if memory_limit_bytes is None else int(memory_limit_bytes)
    if limit <= 0:
        raise NTKMemoryError(f"memory_limit_bytes must be positive, got {memory_limit_bytes!r}")
    plan = _Plan(limit, graph, k_bytes, R, N, m, itemsize)

    if method is NTKMethod.LAYERWISE:
        if readout.output in ("per_class", "trace") and R * R * 8 > k_bytes:
            plan = _Plan(limit, graph, R * R * 8, R, N, m, itemsize)
        Kf = layerwise_ntk_full(
            lambda x: _forward(model, x),
            X,
            readout.rows,
            [p for _, p in selected],
            [n for n, _ in selected],
            avail_bytes=limit - plan.fixed,
        )
        if not torch.isfinite(Kf).all():
            raise NTKError("non-finite gradients (NaN/inf): the NTK is undefined")
        Kf = Kf.cpu()
        if not per_class:
            return Kf
        K4 = Kf.view(N, m, N, m)
        blocks = torch.stack([K4[:, c, :, c] for c in range(m)])
        return blocks.mean(dim=0) if readout.output == "trace" else blocks

    sizes = [(n, p.numel()) for n, p in selected]
    if method is NTKMethod.VMAP:
        per_unit = m * (graph // max(N, 1) + 1)  # per sample, excluding the per-group gradient storage
    elif method is NTKMethod.LOOP:
        per_unit = 0
    else:
        per_unit = graph // 2
    groups = plan.groups(sizes, per_unit)

    K = torch.zeros((m, N, N) if per_class else (R, R), dtype=torch.float64, device=dev)

    def accumulate(Jg: torch.Tensor) -> None:  # Jg: (R, P_g) in the model dtype
        Jd = Jg.to(torch.float64)
        if per_class:
            J3 = Jd.view(N, m, -1)
            for c in range(m):
                Jc = J3[:, c, :]
                K[c] += Jc @ Jc.T
        else:
            K.add_(Jd @ Jd.T)

    for g in groups:
        names = [selected[i][0] for i in g]
        tensors = [selected[i][1] for i in g]
        p_g = sum(t.numel() for t in tensors)
        if method is NTKMethod.LOOP:
            Jg = _jac_loop(model, X, readout, tensors)
        elif method is NTKMethod.BATCHED:
            chunk = plan.chunk(p_g, graph // 2 + p_g * itemsize, R)
            Jg = _jac_batched(model, X, readout, tensors, chunk)
        elif method is NTKMethod.JACREV:
            chunk = plan.chunk(p_g, graph // 2 + p_g * itemsize, R)
            Jg = _jac_jacrev(model, X, readout, names, chunk)
        else:
            chunk = plan.chunk(p_g, per_unit + m * p_g * itemsize, N)
            # per-tensor contraction K += J_t J_tᵀ: the Jacobian is never concatenated
            # (finiteness is checked once on K below: a NaN/inf in J reaches K's diagonal)
            for Jt in _jac_vmap(model, X, readout, names, chunk):
                accumulate(Jt)
                del Jt
            continue
        if not torch.isfinite(Jg).all():
            raise NTKError("non-finite gradients (NaN/inf) in the Jacobian: the NTK is undefined")
        accumulate(Jg)
        del Jg

    if method is NTKMethod.VMAP and not torch.isfinite(K).all():
        raise NTKError("non-finite gradients (NaN/inf) in the Jacobian: the NTK is undefined")
    K = K.cpu()
    if readout.output == "trace":
        return K.mean(dim=0)
    if readout.output == "per_class":
        return K
    return K


# ---------------------------------------------------------------------------------------------- methods


def _flat_rows(grads: Sequence[torch.Tensor | None], tensors: Sequence[torch.Tensor], lead: int) -> torch.Tensor:
    parts = []
    for gr, t in zip(grads, tensors):
        if gr is None:
            parts.append(torch.zeros(lead, t.numel(), dtype=t.dtype, device=t.device))
        else:
            parts.append(gr.reshape(lead, -1))
    return torch.cat(parts, dim=1)


def _jac_loop(model: nn.Module, X: torch.Tensor, readout: _Readout, tensors: list[torch.Tensor]) -> torch.Tensor:
    """TE-NAS: forward the batch once, one backward per output row."""
    rows = readout.rows(_forward(model, X)).reshape(-1)
    J = torch.empty(rows.numel(), sum(t.numel() for t in tensors), dtype=tensors[0].dtype, device=X.device)
    for r in range(rows.numel()):
        grads = torch.autograd.grad(rows[r], tensors, retain_graph=True, allow_unused=True)
        J[r] = _flat_rows(grads, tensors, 1)[0]
    return J


def _jac_batched(
    model: nn.Module, X: torch.Tensor, readout: _Readout, tensors: list[torch.Tensor], chunk: int
) -> torch.Tensor:
    """Vectorized backward passes over chunks of output basis vectors (is_grads_batched)."""
    rows = readout.rows(_forward(model, X)).reshape(-1)
    R = rows.numel()
    out = []
    for r0 in range(0, R, chunk):
        r1 = min(R, r0 + chunk)
        basis = torch.zeros(r1 - r0, R, dtype=rows.dtype, device=rows.device)
        basis[torch.arange(r1 - r0), torch.arange(r0, r1)] = 1.0
        grads = torch.autograd.grad(
            rows, tensors, grad_outputs=basis, retain_graph=True, allow_unused=True, is_grads_batched=True
        )
        out.append(_flat_rows(grads, tensors, r1 - r0))
    return torch.cat(out, dim=0)


def _functional_parts(model: nn.Module, names: list[str]):
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    primals = {n: params[n] for n in names}
    rest = {n: p for n, p in params.items() if n not in primals}

    def call(pg: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**rest, **pg, **buffers}, (x,))

    return primals, call


def _jac_jacrev(model: nn.Module, X: torch.Tensor, readout: _Readout, names: list[str], chunk: int) -> torch.Tensor:
    """torch.func.jacrev of the batched forward with respect to the parameter group."""
    primals, call = _functional_parts(model, names)
    N = X.shape[0]

    def F(pg):
        return readout.rows(_as_2d_output(call(pg, X), N)).reshape(-1)

    jac = jacrev(F, chunk_size=chunk)(primals)
    R = next(iter(jac.values())).shape[0]
    return torch.cat([jac[n].reshape(R, -1) for n in names], dim=1)


def _jac_vmap(model: nn.Module, X: torch.Tensor, readout: _Readout, names: list[str],
              chunk: int) -> Iterator[torch.Tensor]:
    """Per-sample Jacobians, one parameter tensor at a time: vmap over samples of jacrev of the
    one-sample function, then yield each tensor's (N·m, P_t) block (and drop it) so that the caller
    contracts K += J_t J_tᵀ per tensor, as the PyTorch per-sample NTK tutorial does, without a
    concatenated copy of the Jacobian."""
    primals, call = _functional_parts(model, names)

    def f1(pg, x):
        y = _as_2d_output(call(pg, x.unsqueeze(0)), 1)
        return readout.rows(y).reshape(-1)  # (m,)

    N = X.shape[0]
    # chunk_size only when the samples do not fit at once: vmap concatenates chunked outputs (a copy)
    jac = vmap(jacrev(f1), in_dims=(None, 0), chunk_size=chunk if chunk < N else None)(primals, X)
    m = next(iter(jac.values())).shape[1]
    for n in names:
        yield jac.pop(n).reshape(N * m, -1)

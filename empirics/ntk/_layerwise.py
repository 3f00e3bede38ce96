"""LAYERWISE empirical NTK for models whose samples do not interact (structured per-layer products).

One batched forward under a ``TorchFunctionMode`` records every use of a selected parameter in a
supported op, then m backward passes (one per readout column c; valid because output n depends on
sample n only) give the per-sample cotangents G = ∂f_{n,c}/∂out_n at each op output. Per row
r = n·m + c:

* matmul / linear with a 2-D input h (N, in), out = h Wᵀ (or h W): ∂f_r/∂W = g_r h_nᵀ, so
  K_W[r, r'] = (g_r·g_r') (h_n·h_n')  — a structured product, never materializing per-sample grads;
  a bias b: K_b = G Gᵀ;
* conv2d (groups = 1): per-sample grads ∂f_r/∂W = g_r · unfold(x_n)ᵀ (Cout × Cin·k²), then J Jᵀ;
* batch_norm with running statistics (eval mode): ∂f_r/∂γ_c = Σ_s g_r,c,s x̂_n,c,s, ∂f_r/∂β_c = Σ_s g_r,c,s.

Cost: 1 forward + m batch backwards + Σ_layers (N·m)²·(in + out) (linear) or N·m·P_W·(1 + N·m)
(conv), i.e. about N times cheaper than one backward per row. Any selected parameter that is not
used exactly once in a supported op, or a mismatch of the diagonal entry K[0, 0] against an
ordinary autograd gradient, raises ``LayerwiseUnsupported`` (AUTO then falls back to VMAP).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from empirics.ntk._errors import NTKError, NTKMemoryError

__all__ = ["LayerwiseUnsupported", "layerwise_ntk_full"]


class LayerwiseUnsupported(NTKError):
    """The model uses a parameter in a way the structured products do not cover."""


_MATMUL = {"matmul", "__matmul__", "mm"}
# attribute reads and the plain transpose (recognized as a view in _param_of) do not use the values
_IGNORED = {"__get__", "t", "transpose", "size", "dim", "numel", "stride", "data_ptr", "element_size", "detach"}


def _param_of(t, ids: dict[int, int]):
    """Index of the selected parameter that t is (or whose plain 2-D transpose t is), else None."""
    if not isinstance(t, torch.Tensor):
        return None
    if id(t) in ids:
        return ids[id(t)], False
    base = getattr(t, "_base", None)
    if base is not None and id(base) in ids and t.ndim == 2 and base.ndim == 2 and t.shape == base.shape[::-1]:
        if t.stride() == base.stride()[::-1] and t.data_ptr() == base.data_ptr():
            return ids[id(base)], True
    return None


class _Recorder(TorchFunctionMode):
    def __init__(self, params: list[torch.Tensor]) -> None:
        super().__init__()
        self.ids = {id(p): i for i, p in enumerate(params)}
        self.uses: list[tuple] = []  # (kind, param index, role, input, output, extra)
        self.other: set[int] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        n_before = len(self.uses)
        self._record(name, args, kwargs, out)
        if len(self.uses) > n_before:
            # hand a copy downstream: a later in-place op (e.g. ReLU(inplace=True)) must not overwrite the
            # recorded output, whose gradient is the per-sample cotangent we need
            return out.clone()
        return out

    def _record(self, name, args, kwargs, out) -> None:
        if name in _MATMUL and len(args) >= 2:
            a, b = args[0], args[1]
            pa, pb = _param_of(a, self.ids), _param_of(b, self.ids)
            if pa is not None:
                raise LayerwiseUnsupported("a parameter is the left operand of a matmul")
            if pb is not None:
                self.uses.append(("linear", pb[0], "weight", a.detach(), out, None))
            return
        if name == "linear":
            x = args[0]
            w = args[1] if len(args) > 1 else kwargs.get("weight")
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            pw, pbias = _param_of(w, self.ids), _param_of(bias, self.ids)
            if pw is not None:
                self.uses.append(("linear", pw[0], "weight", x.detach(), out, None))
            if pbias is not None:
                self.uses.append(("bias", pbias[0], "bias", None, out, 1))
            return
        if name == "conv2d":
            names = ["input", "weight", "bias", "stride", "padding", "dilation", "groups"]
            vals = dict(zip(names, args))
            vals.update(kwargs)
            pw, pbias = _param_of(vals.get("weight"), self.ids), _param_of(vals.get("bias"), self.ids)
            if pw is None and pbias is None:
                return
            if int(vals.get("groups", 1)) != 1 or isinstance(vals.get("padding", 0), str):
                raise LayerwiseUnsupported("conv2d with groups != 1 or string padding")
            if pw is not None:
                w = vals["weight"]
                extra = dict(kernel_size=tuple(w.shape[2:]), dilation=vals.get("dilation", 1),
                             padding=vals.get("padding", 0), stride=vals.get("stride", 1))
                self.uses.append(("conv2d", pw[0], "weight", vals["input"].detach(), out, extra))
            if pbias is not None:
                self.uses.append(("bias", pbias[0], "bias", None, out, 1))
            return
        if name == "batch_norm":
            names = ["input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"]
            vals = dict(zip(names, args))
            vals.update(kwargs)
            pw, pbias = _param_of(vals.get("weight"), self.ids), _param_of(vals.get("bias"), self.ids)
            if pw is None and pbias is None:
                return
            if vals.get("training", False) or vals.get("running_mean") is None:
                raise LayerwiseUnsupported("batch_norm with batch statistics couples samples")
            if pw is not None:
                x = vals["input"].detach()
                shape = [1, -1] + [1] * (x.ndim - 2)
                rv = vals["running_var"].view(shape)
                xhat = (x - vals["running_mean"].view(shape)) / torch.sqrt(rv + vals["eps"])
                self.uses.append(("scale", pw[0], "weight", xhat, out, None))
            if pbias is not None:
                self.uses.append(("bias", pbias[0], "bias", None, out, 1))
            return
        if name in _IGNORED:
            return
        # any other op touching a selected parameter directly is not covered
        for t in list(args) + list(kwargs.values()):
            p = _param_of(t, self.ids)
            if p is not None:
                self.other.add(p[0])


def layerwise_ntk_full(
    forward, X: torch.Tensor, rows_fn, params: list[torch.Tensor], names: list[str], avail_bytes: float = float("inf")
) -> torch.Tensor:
    """Full (N·m)×(N·m) float64 kernel over rows r = n·m + c by structured per-layer products."""
    rec = _Recorder(params)
    with rec:
        y = forward(X)
    rows = rows_fn(y)  # (N, m)
    N, m = rows.shape
    if rec.other:
        bad = sorted(names[i] for i in rec.other)
        raise LayerwiseUnsupported(f"parameters {bad} are used in ops the layerwise method does not cover")
    counts = [0] * len(params)
    for u in rec.uses:
        counts[u[1]] += 1
    missing = [names[i] for i, c in enumerate(counts) if c != 1]
    if missing:
        raise LayerwiseUnsupported(
            f"parameters {missing} are not used exactly once in a matmul/linear/conv2d/batch_norm"
        )
    outs = [u[4] for u in rec.uses]
    cots: list[list[torch.Tensor]] = [[] for _ in outs]
    for c in range(m):
        gs = torch.autograd.grad(rows[:, c].sum(), outs, retain_graph=True, allow_unused=True)
        for k, g in enumerate(gs):
            cots[k].append(torch.zeros_like(outs[k]) if g is None else g)
    R = N * m
    K = torch.zeros(R, R, dtype=torch.float64, device=X.device)
    for (kind, _pi, _role, inp, out, extra), gl in zip(rec.uses, cots):
        G = torch.stack(gl, dim=1).reshape(R, *out.shape[1:])  # rows n*m+c, model dtype
        if kind == "linear" and inp.ndim == 2:
            G64 = G.to(torch.float64)
            H = inp.to(torch.float64).repeat_interleave(m, dim=0)
            K += (G64 @ G64.T) * (H @ H.T)
            continue
        # per-sample gradients in the model dtype (as autograd would give them), Gram in float64
        if kind == "linear":
            H = inp.repeat_interleave(m, dim=0)
            Jw = torch.einsum("r...o,r...i->roi", G, H).reshape(R, -1)
        elif kind == "bias":
            Jw = G.reshape(R, G.shape[1], -1).sum(-1) if G.ndim > 2 else G
        elif kind == "scale":
            H = inp.to(G.dtype).repeat_interleave(m, dim=0)
            Jw = (G * H).reshape(R, G.shape[1], -1).sum(-1)
        else:  # conv2d
            need = 2 * R * out.shape[1] * inp.shape[1] * extra["kernel_size"][0] * extra["kernel_size"][1] * 8
            if need > avail_bytes:
                raise NTKMemoryError(
                    f"memory limit too small for even one chunk: the per-sample gradients of a conv layer need "
                    f"~{need / 2**20:.1f} MiB beyond the fixed part"
                )
            U = F.unfold(inp, extra["kernel_size"], dilation=extra["dilation"],
                         padding=extra["padding"], stride=extra["stride"])  # (N, Cin*k*k, L)
            U = U.repeat_interleave(m, dim=0)
            Jw = torch.einsum("rol,rkl->rok", G.reshape(R, G.shape[1], -1), U).reshape(R, -1)
        Jw = Jw.to(torch.float64)
        K += Jw @ Jw.T
    # safety net: the diagonal entry of row 0 against an ordinary gradient
    g0 = torch.autograd.grad(rows.reshape(-1)[0], params, allow_unused=True)
    d0 = sum(float((g.double() ** 2).sum()) for g in g0 if g is not None)
    if abs(float(K[0, 0]) - d0) > 1e-5 * max(abs(d0), 1e-30):
        raise LayerwiseUnsupported(
            f"structured products give K[0,0] = {float(K[0, 0]):.6g} but the gradient norm² is {d0:.6g}: "
            "the model uses its parameters in a way this method does not see"
        )
    return K

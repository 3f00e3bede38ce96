"""empirics.ntk: the implementations agree (1e-6 relative), the BatchNorm semantics, chunking,
memory limits, no side effects, and clear errors on bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from empirics import NTKMethod, build_model, empirical_ntk, lambda_min
from empirics.models.nats_net import NATSNetwork
from empirics.ntk import NTKError, NTKInputError, NTKMemoryError, is_batch_coupled
from theory.presets import fc_chain, resnet

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
ALL = [m for m in NTKMethod if m is not NTKMethod.AUTO]
COUPLED_OK = [NTKMethod.LOOP, NTKMethod.BATCHED, NTKMethod.JACREV, NTKMethod.AUTO]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).double()


def tiny_nats(seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return NATSNetwork(ARCH, C=3, N=1, num_classes=4, **kw).double()


def models():
    """(name, model, X, coupled)"""
    g = torch.Generator().manual_seed(1)
    x_fc = torch.randn(6, 5, generator=g, dtype=torch.float64)
    x_img = torch.randn(5, 3, 8, 8, generator=g, dtype=torch.float64)
    fc = build_model(resnet("tanh", 3), width=24, in_dim=5, seed=3, num_outputs=3)
    fc2 = build_model(fc_chain(["relu", "gelu"]), width=16, in_dim=5, seed=4)
    return [
        ("mlp", mlp(), x_fc, False),
        ("fcnet_resnet", fc, x_fc, False),
        ("fcnet_chain", fc2, x_fc, False),
        ("nats_eval", tiny_nats().eval(), x_img, False),
        ("nats_train", tiny_nats().train(), x_img, True),
        ("nats_nostats_eval", tiny_nats(track_running_stats=False).eval(), x_img, True),
        ("nats_noaffine_train", tiny_nats(affine=False).train(), x_img, True),
    ]


@pytest.mark.parametrize("output", ["sum", "full", "class:1", "per_class", "trace"])
def test_methods_agree(output):
    for name, model, X, coupled in models():
        C = model(X).reshape(X.shape[0], -1).shape[1]
        if output == "class:1" and C < 2:
            continue
        ref = empirical_ntk(model, X, output=output, method="loop")
        assert ref.dtype == torch.float64
        for method in COUPLED_OK if coupled else ALL:
            K = empirical_ntk(model, X, output=output, method=method)
            assert K.shape == ref.shape
            assert rel(K, ref) < 1e-6, (name, output, method, rel(K, ref))


def test_shapes_and_symmetry():
    model = tiny_nats().train()
    X = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    assert empirical_ntk(model, X).shape == (5, 5)
    assert empirical_ntk(model, X, output="full").shape == (20, 20)
    assert empirical_ntk(model, X, output="per_class").shape == (4, 5, 5)
    full = empirical_ntk(model, X, output="full")
    assert torch.allclose(full, full.T, atol=1e-12 * float(full.abs().max()))
    assert lambda_min(full) > -1e-9 * float(full.abs().max())
    # the blocks of 'full' (index n*C + c) are 'per_class'; sum = Σ_{c,c'} blocks
    blocks = empirical_ntk(model, X, output="per_class")
    F4 = full.view(5, 4, 5, 4)
    for c in range(4):
        assert rel(F4[:, c, :, c], blocks[c]) < 1e-12
    assert rel(F4.sum(dim=(1, 3)), empirical_ntk(model, X, output="sum")) < 1e-10
    assert rel(blocks.mean(0), empirical_ntk(model, X, output="trace")) < 1e-12


def test_bn_train_is_the_batched_jacobian():
    """Row i of J is ∂(Σ_c f_c)(x_i)/∂θ of the *batched* forward (TE-NAS): checked by hand, and it
    differs from the per-sample Jacobian (each sample normalized by its own statistics)."""
    model = tiny_nats(2).train()
    X = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    params = [p for p in model.parameters()]
    y = model(X).sum(1)
    J = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(y[i], params, retain_graph=True)])
                     for i in range(4)])
    K = empirical_ntk(model, X, method="batched")
    assert rel(K, J @ J.T) < 1e-10
    assert is_batch_coupled(model)
    with pytest.raises(NTKError, match="per-sample"):
        empirical_ntk(model, X, method="vmap")
    with pytest.raises(NTKError, match="per-sample"):
        empirical_ntk(model, X, method="layerwise")


def test_no_side_effects():
    model = tiny_nats().train()
    X = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for method in COUPLED_OK:
        empirical_ntk(model, X, method=method)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, nn.BatchNorm2d))


class _FlagRecorder(nn.Module):
    """A linear model that records the TF32 flags seen by its forward pass."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(3, 2).double()
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return self.lin(x)


@pytest.mark.parametrize("method", ["loop", "batched", "layerwise"])
def test_tf32_is_off_during_the_computation_and_restored(method):
    """TF32 (cuDNN's default on recent GPUs) would put ≈1e-3 relative error into every Jacobian row;
    the kernel is computed with it switched off, and the caller's flags come back unchanged."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    model = _FlagRecorder()
    X = torch.randn(4, 3, dtype=torch.float64)
    try:
        for flags in ((True, True), (True, False)):
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
            model.seen.clear()
            empirical_ntk(model, X, method=method)
            assert model.seen and all(seen == (False, False) for seen in model.seen)
            assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == flags
        torch.backends.cudnn.allow_tf32 = True
        with pytest.raises(NTKInputError):
            empirical_ntk(model, torch.full((4, 3), math.nan, dtype=torch.float64), method=method)
        model.seen.clear()
        with pytest.raises(NTKError):
            empirical_ntk(model, X, method=method, memory_limit_bytes=-1)
        assert torch.backends.cudnn.allow_tf32  # restored after an error inside the computation
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_params_weights_selection():
    model = tiny_nats().train()
    X = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    w = [p for n, p in model.named_parameters() if "weight" in n]
    y = model(X).sum(1)
    J = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(y[i], w, retain_graph=True)])
                     for i in range(4)])
    assert rel(empirical_ntk(model, X, params="weights"), J @ J.T) < 1e-10
    names = ["classifier.weight", "classifier.bias"]
    Kc = empirical_ntk(model, X, params=names, method="loop")
    feats = model.forward_features(X).detach()
    # f = Σ_c (W_c·φ + b_c): ∂/∂W gives φ in each of C rows, ∂/∂b gives 1 → K = C (φφᵀ + 1)
    assert rel(Kc, 4 * (feats @ feats.T + 1)) < 1e-10


@pytest.mark.parametrize("method", [NTKMethod.BATCHED, NTKMethod.JACREV, NTKMethod.LOOP, NTKMethod.VMAP])
def test_chunking_does_not_change_the_result(method, monkeypatch):
    import empirics.ntk.empirical as ntk_mod

    model = tiny_nats().train() if method is not NTKMethod.VMAP else tiny_nats().eval()
    X = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    ref = empirical_ntk(model, X, output="full", method=method)
    calls: list[tuple[int, int]] = []
    name = {"batched": "_jac_batched", "jacrev": "_jac_jacrev", "loop": "_jac_loop", "vmap": "_jac_vmap"}[method.value]
    orig = getattr(ntk_mod, name)

    def spy(*args):
        J = orig(*args)
        if method is NTKMethod.VMAP:  # per-tensor blocks, never concatenated
            parts = list(J)
            calls.append((sum(p.shape[1] for p in parts), args[-1]))
            return iter(parts)
        calls.append((J.shape[1], args[-1] if isinstance(args[-1], int) else -1))
        return J

    monkeypatch.setattr(ntk_mod, name, spy)
    P = sum(p.numel() for p in model.parameters())
    R = 5 * 4
    graph, _ = ntk_mod._graph_bytes(model, X, lambda: model(X))
    biggest = max(p.numel() for p in model.parameters())
    limit = graph + R * R * 8 + R * biggest * 16 + 3 * graph + 50_000
    K = empirical_ntk(model, X, output="full", method=method, memory_limit_bytes=limit)
    assert rel(K, ref) < 1e-10
    assert len(calls) > 1 and sum(c[0] for c in calls) == P  # several parameter groups covering θ once
    if method is not NTKMethod.LOOP:
        assert min(c[1] for c in calls) < (R if method is not NTKMethod.VMAP else 5)  # rows/samples chunked


def test_vmap_chunks_and_fc_default_is_layerwise_fast_path():
    model = build_model(fc_chain("relu", 3), width=32, in_dim=5, seed=0)
    X = torch.randn(7, 5, dtype=torch.float64)
    ref = empirical_ntk(model, X, method="loop")
    assert rel(empirical_ntk(model, X), ref) < 1e-10
    assert rel(empirical_ntk(model, X, method="vmap", memory_limit_bytes=2_000_000), ref) < 1e-10


def test_auto_falls_back_when_layerwise_cannot_see_a_parameter():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
            self.v = nn.Parameter(torch.randn(1, 4, dtype=torch.float64))

        def forward(self, x):
            return torch.tanh(x @ (2.0 * self.w).T) @ self.v.T + self.w.sum()

    model = Scaled()
    X = torch.randn(5, 3, dtype=torch.float64)
    ref = empirical_ntk(model, X, method="loop")
    with pytest.raises(NTKError):
        empirical_ntk(model, X, method="layerwise")
    assert rel(empirical_ntk(model, X), ref) < 1e-10


def test_float32_model_float64_kernel():
    torch.manual_seed(0)
    model = NATSNetwork(ARCH, C=3, N=1).train()
    X = torch.randn(4, 3, 8, 8)
    K1 = empirical_ntk(model, X, method="loop")
    K2 = empirical_ntk(model, X, method="batched")
    assert K1.dtype == K2.dtype == torch.float64
    assert rel(K2, K1) < 1e-4  # float32 gradients, different summation order


# ------------------------------------------------------------------------------------------ errors


def test_bad_inputs():
    model = tiny_nats().train()
    X = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(NTKInputError, match="shape"):
        empirical_ntk(model, torch.randn(4, 8, 8, dtype=torch.float64))
    with pytest.raises(NTKInputError, match="shape"):
        empirical_ntk(model, torch.randn(4, 5, 8, 8, dtype=torch.float64))
    with pytest.raises(NTKInputError, match="dtype"):
        empirical_ntk(model, X.float())
    with pytest.raises(NTKInputError, match="floating"):
        empirical_ntk(model, torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    bad = X.clone()
    bad[1, 0, 2, 2] = math.nan
    with pytest.raises(NTKInputError, match="non-finite"):
        empirical_ntk(model, bad)
    bad[1, 0, 2, 2] = math.inf
    with pytest.raises(NTKInputError, match="non-finite"):
        empirical_ntk(model, bad)
    with pytest.raises(NTKInputError, match="batch"):
        empirical_ntk(model, torch.tensor(1.0, dtype=torch.float64))
    fc = mlp()
    with pytest.raises(NTKInputError, match="forward failed"):
        empirical_ntk(fc, torch.randn(3, 7, dtype=torch.float64))


def test_bad_options():
    model = mlp()
    X = torch.randn(3, 5, dtype=torch.float64)
    with pytest.raises(NTKError, match="output"):
        empirical_ntk(model, X, output="mean")
    with pytest.raises(NTKError, match="class:7"):
        empirical_ntk(model, X, output="class:7")
    with pytest.raises(NTKError, match="method"):
        empirical_ntk(model, X, method="magic")
    with pytest.raises(NTKError, match="params"):
        empirical_ntk(model, X, params="biases")
    with pytest.raises(NTKError, match="unknown"):
        empirical_ntk(model, X, params=["nope"])


def test_no_trainable_parameters():
    frozen = mlp()
    for p in frozen.parameters():
        p.requires_grad_(False)
    X = torch.randn(3, 5, dtype=torch.float64)
    with pytest.raises(NTKError, match="no trainable parameters"):
        empirical_ntk(frozen, X)
    with pytest.raises(NTKError, match="no trainable parameters"):
        empirical_ntk(nn.Sequential(nn.ReLU()), X)
    fc = build_model(fc_chain("relu", 2), width=8, in_dim=5)
    fc.requires_grad_(False)
    with pytest.raises(NTKError, match="no trainable parameters"):
        empirical_ntk(fc, X)
    only_bias = nn.Linear(5, 1, bias=True).double()
    only_bias.weight.requires_grad_(False)
    with pytest.raises(NTKError, match="no trainable parameters"):
        empirical_ntk(only_bias, X, params="weights")


def test_memory_limit_too_small():
    model = tiny_nats().train()
    X = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    for method in COUPLED_OK:
        with pytest.raises(NTKMemoryError, match="too small for even one chunk"):
            empirical_ntk(model, X, method=method, memory_limit_bytes=1000)
    assert issubclass(NTKMemoryError, MemoryError)
    with pytest.raises(NTKMemoryError):
        empirical_ntk(model, X, memory_limit_bytes=0)


def test_dropout_in_train_mode_is_refused():
    model = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.Linear(8, 1)).double()
    X = torch.randn(3, 5, dtype=torch.float64)
    with pytest.raises(NTKError, match="dropout"):
        empirical_ntk(model, X)
    model.eval()
    assert empirical_ntk(model, X).shape == (3, 3)


def test_nonfinite_outputs():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(2, 3, dtype=torch.float64))

        def forward(self, x):
            return torch.log(x @ self.w.T - 10.0)

    with pytest.raises(NTKError, match="not finite"):
        empirical_ntk(Bad(), torch.zeros(2, 3, dtype=torch.float64))


def test_explicit_cpu_device_and_copy_semantics():
    model = mlp()
    X = torch.randn(3, 5, dtype=torch.float64)
    K = empirical_ntk(model, X, device="cpu")
    assert K.device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(NTKError, match="CUDA"):
            empirical_ntk(model, X, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_agrees_with_cpu():
    model = tiny_nats().train()
    X = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    ref = empirical_ntk(model, X, device="cpu", method="loop")
    for method in COUPLED_OK:
        K = empirical_ntk(model, X, device="cuda", method=method)
        assert K.device.type == "cpu" and rel(K, ref) < 1e-6
    assert next(model.parameters()).device.type == "cpu"  # the caller's model was not moved


@pytest.mark.slow
def test_methods_agree_on_a_larger_nats_network():
    torch.manual_seed(0)
    model = NATSNetwork(ARCH, C=8, N=2, num_classes=10).double()
    X = torch.randn(8, 3, 16, 16, dtype=torch.float64)
    for mode, methods in (("train", COUPLED_OK), ("eval", ALL)):
        model.train(mode == "train")
        ref = empirical_ntk(model, X, method="loop", output="full")
        for method in methods:
            assert rel(empirical_ntk(model, X, method=method, output="full"), ref) < 1e-6, (mode, method)


@pytest.mark.parametrize("method", ["layerwise", "vmap", "loop", "batched", "jacrev"])
def test_no_reference_leak(method):
    """After the call, nothing keeps the model or its weights alive: the memory planner once packed saved outputs as
    themselves inside saved_tensors_hooks, a C++ reference cycle that leaked every graph (and the
    model's weights) per call."""
    import gc
    import weakref

    from empirics import build_model
    from empirics.ntk import empirical_ntk as ntk_fn

    model = build_model("|dense_tanh~0|+|skip_connect~0|dense_relu~1|", width=32, seed=0, in_dim=4)
    refs = [weakref.ref(model)] + [weakref.ref(p) for p in model.parameters()]
    X = torch.randn(5, 4, dtype=torch.float64)
    K = ntk_fn(model, X, method=method)
    assert K.shape == (5, 5)
    del model
    gc.collect()
    assert all(r() is None for r in refs), "empirical_ntk left a reference to the model or its weights behind"

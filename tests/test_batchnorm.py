"""BatchNorm modes of the empirical NTK (empirics.models.batchnorm): the decoupled mode keeps the training-mode
forward pass and removes the coupling through the batch statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import empirics.nas.scores as scores_mod
from empirics.models.batchnorm import BatchNormModeError, freeze_batch_statistics, set_bn_mode
from empirics.models.nats_net import NATSNetwork
from empirics.nas.scores import ScoreError, _init_seed, get_score
from empirics.ntk import empirical_ntk, is_batch_coupled

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _net(seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return NATSNetwork(ARCH, C=4, N=1, num_classes=10, **kw).to(torch.float64)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return 2.0 + 3.0 * torch.randn(6, 3, 8, 8, generator=g, dtype=torch.float64)  # far from N(0, 1)


def test_frozen_statistics_reproduce_the_training_forward(images: torch.Tensor) -> None:
    """Every BatchNorm holds the per-channel mean and *biased* variance of its training-mode input, and
    the eval-mode forward then equals the training-mode one (which the running statistics at init do not)."""
    net = _net()
    with torch.no_grad():
        ref = net.train()(images)
        at_init = net.eval()(images)
    assert not torch.allclose(at_init, ref, atol=1e-3)
    seen: list[tuple[nn.BatchNorm2d, torch.Tensor]] = []
    handles = [m.register_forward_pre_hook(lambda m, i: seen.append((m, i[0].detach())))
               for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        net.train()(images)
    for h in handles:
        h.remove()
    freeze_batch_statistics(net, images)
    assert not net.training
    for m, x in seen:
        torch.testing.assert_close(m.running_mean, x.mean(dim=(0, 2, 3)), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(m.running_var, x.var(dim=(0, 2, 3), unbiased=False), rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(net(images), ref, rtol=1e-10, atol=1e-10)
    net32 = _net().to(torch.float32)  # float64 images for a float32 model are converted to its dtype
    x32 = images.to(torch.float32)
    with torch.no_grad():
        ref32 = net32.train()(x32)
    freeze_batch_statistics(net32, images)
    with torch.no_grad():
        torch.testing.assert_close(net32(x32), ref32, rtol=1e-4, atol=1e-4)


def test_decoupled_kernel_is_the_per_sample_gradient_kernel(images: torch.Tensor) -> None:
    """K_ij = ⟨∇_w f(x_i), ∇_w f(x_j)⟩ with f(x) = Σ_c f_c(x) of the frozen network, each gradient from a
    forward pass of sample i alone (independent of the batched NTK code). It differs from the coupled
    (train) kernel: the statistics terms are gone."""
    score = get_score("eigen", C=4, N=1, batch_size=6, seeds=1, bn="decoupled", normalize="none",
                      model_factory=lambda a, k, C, N: NATSNetwork(a, C=C, N=N, num_classes=k).to(torch.float64))
    K = score.kernel(ARCH, images, seed=0, num_classes=10).to(torch.float64)
    net = score.build(ARCH, 10, _init_seed(0, 0))  # the score's first initialization
    freeze_batch_statistics(net, images)
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    rows = []
    for x in images:
        g = torch.autograd.grad(net(x[None]).sum(), weights)
        rows.append(torch.cat([t.reshape(-1) for t in g]))
    J = torch.stack(rows)
    torch.testing.assert_close(K, J @ J.T, rtol=1e-9, atol=1e-9 * float(K.abs().max()))
    coupled = get_score("eigen", C=4, N=1, batch_size=6, seeds=1, bn="train", normalize="none",
                        model_factory=score.model_factory).kernel(ARCH, images, seed=0, num_classes=10)
    assert not torch.allclose(coupled.to(torch.float64), K, rtol=1e-3)


def test_bad_modes_and_untracked_layers_are_refused(images: torch.Tensor) -> None:
    with pytest.raises(BatchNormModeError, match="needs the batch"):
        set_bn_mode(_net(), "decoupled")
    with pytest.raises(BatchNormModeError, match="must be one of train, eval, decoupled"):
        set_bn_mode(_net(), "frozen", images)
    with pytest.raises(BatchNormModeError, match="track_running_stats=False"):
        freeze_batch_statistics(_net(track_running_stats=False), images)
    with pytest.raises(ScoreError, match="bn must be one of"):
        get_score("eigen", bn="none")


def test_decoupled_kernel_layerwise_equals_the_per_output_loop(images: torch.Tensor) -> None:
    """With the statistics frozen the samples are independent, so the score uses the LAYERWISE
    structured products; in float64 they give the per-output loop's kernel to 1e-10, and so does VMAP
    (per-tensor contraction, no concatenated Jacobian)."""
    net = freeze_batch_statistics(_net(), images)
    assert not is_batch_coupled(net)
    loop = empirical_ntk(net, images, method="loop", params="weights")
    scale = float(loop.abs().max())
    for method in ("layerwise", "vmap"):
        K = empirical_ntk(net, images, method=method, params="weights")
        torch.testing.assert_close(K, loop, rtol=1e-10, atol=1e-10 * scale)
    score = get_score("eigen", C=4, N=1, batch_size=6, seeds=1, bn="decoupled", normalize="none",
                      model_factory=lambda a, k, C, N: NATSNetwork(a, C=C, N=N, num_classes=k).to(torch.float64))
    K = score.kernel(ARCH, images, seed=0, num_classes=10)
    net = freeze_batch_statistics(score.build(ARCH, 10, _init_seed(0, 0)), images)
    torch.testing.assert_close(K, empirical_ntk(net, images, method="loop", params="weights"),
                               rtol=1e-10, atol=1e-10 * float(K.abs().max()))


@pytest.mark.parametrize(("bn", "cuda", "method"), [("train", False, "loop"), ("train", True, "auto"),
                                                    ("decoupled", False, "auto"), ("eval", False, "auto")])
def test_score_method_choice_by_device_and_coupling(images, monkeypatch, bn, cuda, method) -> None:
    """The device logic of the scores, tested without a GPU: batch-coupled models use the per-output
    loop on CPU and AUTO (BATCHED) on CUDA; models whose samples do not interact use AUTO (LAYERWISE)."""
    seen = []
    monkeypatch.setattr(scores_mod.torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(scores_mod, "empirical_ntk", lambda model, x, **kw: seen.append(kw["method"]) or
                        torch.eye(len(x), dtype=torch.float64))
    net = set_bn_mode(_net(), bn, images)
    scores_mod._ntk(net, images, "sum")
    assert seen == [method]

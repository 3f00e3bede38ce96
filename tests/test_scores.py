"""The score registry, on a tiny stand-in network (tests/toy_cells.py) and, where it exists, the NATS net."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _ntk_helpers import weight_ntk
from scipy.spatial.distance import cdist
from torch import nn
from toy_cells import toy_factory

from empirics.nas import scores as S
from empirics.nas.scores import SCORES, ScoreError, get_score, parse_options

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
ZERO = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
SMALL = {"C": 4, "N": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)


def test_registry_and_options():
    assert {"eigen", "naswot", "tenas_cond", "synflow", "grad_norm", "params", "theory"} <= set(SCORES)
    with pytest.raises(ScoreError, match="unknown score"):
        get_score("nope")
    with pytest.raises(ScoreError, match="no option"):
        get_score("eigen", batchsize=3)
    with pytest.raises(ScoreError, match="output"):
        get_score("eigen", output="mean")
    with pytest.raises(ScoreError, match="output"):
        get_score("eigen", output="class:x")
    opts = parse_options(["batch_size=32", "bn=eval", "seeds=1"], "eigen")
    assert opts == {"batch_size": 32, "bn": "eval", "seeds": 1}
    s = get_score("eigen", **opts)
    assert s.options["output"] == "sum" and s.options["batch_size"] == 32 and s.batch_size == 32
    # the defaults are the best configuration of the ablation (docs/eigennas.md)
    assert get_score("eigen").options == {
        "batch_size": 32,
        "output": "sum",
        "bn": "train",
        "seeds": 3,
        "C": 8,
        "N": 1,
        "normalize": "trace",
    }
    # tenas_cond keeps the NATS-size TE-NAS settings
    assert get_score("tenas_cond").options["C"] == 16 and get_score("tenas_cond").options["batch_size"] == 64
    with pytest.raises(ScoreError, match="key=value"):
        parse_options(["seeds"], "eigen")


def test_options_are_frozen_dataclasses_validated_in_one_place():
    """Each score's options are one frozen dataclass; the registry and the ablation's variants both
    construct it, so they refuse the same values with the same message."""
    import dataclasses

    from experiments.ablation import AblationError, Variant

    s = get_score("eigen", bn="eval")
    assert isinstance(s.opts, S.EigenOptions) and s.opts.as_dict() == s.options
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.opts.bn = "train"  # type: ignore[misc]
    for bad in ({"bn": "maybe"}, {"normalize": "zscore"}, {"output": "mean"}, {"seeds": 0}, {"C": 0}):
        with pytest.raises(ScoreError) as from_score:
            get_score("eigen", **bad)
        with pytest.raises(AblationError) as from_variant:
            Variant(**bad)
        assert str(from_score.value) == str(from_variant.value)
    # the defaults each score class advertises are its options dataclass's defaults
    for name, cls in SCORES.items():
        if cls.Options is not None:
            assert cls.defaults == cls.Options().as_dict(), name
    with pytest.raises(ScoreError, match="bn"):
        get_score("naswot", bn="sometimes")
    with pytest.raises(ScoreError, match="source"):
        get_score("theory", source="mnist")
    assert Variant(output="class:rand").options().output == "class:rand"


def test_class_rand_reads_the_class_drawn_from_the_score_seed(batch):
    x, _ = batch
    for seed in (0, 1, 2):
        k = S.random_class(seed, 10)
        rand = get_score("eigen", model_factory=toy_factory, batch_size=8, seeds=1, output="class:rand", **SMALL)
        fixed = get_score("eigen", model_factory=toy_factory, batch_size=8, seeds=1, output=f"class:{k}", **SMALL)
        assert rand.score(ARCH, x, seed=seed) == fixed.score(ARCH, x, seed=seed)


def test_eigen_is_lambda_min_of_the_weight_ntk(batch):
    x, y = batch
    s = get_score("eigen", model_factory=toy_factory, batch_size=8, seeds=1, normalize="none", **SMALL)
    v = s.score(ARCH, x, y, seed=3)
    assert v == s.score(ARCH, x, y, seed=3)  # deterministic
    model = s.build(ARCH, 10, S._init_seed(3, 0))
    model.train()
    K = weight_ntk(model, x, "sum")
    assert K.shape == (8, 8) and K.dtype == torch.float64
    assert torch.allclose(K, K.T)
    assert v == pytest.approx(float(np.linalg.eigvalsh(K.numpy())[0]), rel=1e-10)
    assert v > 0
    # the averaged score is the mean of the per-seed values
    s3 = get_score("eigen", model_factory=toy_factory, batch_size=8, seeds=3, normalize="none", **SMALL)
    per = [float(s3.spectrum(ARCH, x, 3, 10, k)[0]) for k in range(3)]
    assert s3.score(ARCH, x, y, seed=3) == pytest.approx(np.mean(per))
    assert len(set(per)) == 3


def test_eigen_full_kernel_and_tenas(batch):
    x, y = batch
    xs = x[:3]
    opts = dict(model_factory=toy_factory, seeds=1, normalize="none", output="full", **SMALL)
    full = get_score("eigen", batch_size=3, **opts)
    model = full.build(ARCH, 4, 0)
    K = weight_ntk(model.train(), xs, "full")
    assert K.shape == (12, 12)
    # the sum-of-logits kernel is the class-summed block of the full kernel
    Ksum = weight_ntk(full.build(ARCH, 4, 0).train(), xs, "sum")
    assert torch.allclose(K.reshape(3, 4, 3, 4).sum(dim=(1, 3)), Ksum, rtol=1e-5, atol=1e-8)
    ev = full.spectrum(ARCH, x[:3], 1, 4)
    cond = get_score("tenas_cond", model_factory=toy_factory, batch_size=3, seeds=1, output="full", **SMALL)
    assert cond.score(ARCH, x[:3], y[:3], seed=1, num_classes=4) == pytest.approx(-ev[-1] / ev[0])
    assert full.score(ARCH, x[:3], y[:3], seed=1, num_classes=4) == pytest.approx(ev[0])


def test_eigen_normalizations_match_the_spectrum(batch):
    """Every ``normalize`` option of the eigen score is the stated function of one spectrum."""
    x, y = batch
    opts = dict(model_factory=toy_factory, batch_size=8, seeds=1, **SMALL)
    ev = get_score("eigen", **opts).spectrum(ARCH, x, 2, 10)
    model = get_score("eigen", **opts).build(ARCH, 10, S._init_seed(2, 0))
    P = sum(p.numel() for p in model.parameters() if p.requires_grad)
    want = {
        "none": ev[0],
        "raw": ev[0],
        "trace": len(ev) * ev[0] / ev.sum(),
        "lmax": ev[0] / ev[-1],
        "params": ev[0] / P,
        "log": np.log(ev[0]),
        "cond": -ev[-1] / ev[0],
    }
    for norm, w in want.items():
        assert get_score("eigen", normalize=norm, **opts).score(ARCH, x, y, seed=2) == pytest.approx(w, rel=1e-12)
    cond = get_score("tenas_cond", **opts).score(ARCH, x, y, seed=2)
    assert cond == pytest.approx(-1.0 / want["lmax"], rel=1e-12)
    with pytest.raises(ScoreError, match="normalize"):
        get_score("eigen", normalize="max")


def test_engine_kernel_equals_the_reference_loop(batch):
    from empirics.ntk import empirical_ntk

    x, _ = batch
    for out in ("sum", "full"):
        torch.manual_seed(1)
        m1 = toy_factory(ARCH, 5, 4, 1).train()
        torch.manual_seed(1)
        m2 = toy_factory(ARCH, 5, 4, 1).train()
        K1 = weight_ntk(m1, x[:4], out)
        K2 = empirical_ntk(m2, x[:4], output=out, method="loop", params="weights")
        assert torch.allclose(K1, K2, rtol=1e-10, atol=0)
    opts = dict(model_factory=toy_factory, batch_size=4, seeds=1, normalize="none", **SMALL)
    s = get_score("eigen", output="class:3", **opts)
    assert s.score(ARCH, x[:4], None) > 0


def test_zero_cell_scores_are_degenerate(batch):
    x, y = batch
    s = get_score("eigen", model_factory=toy_factory, batch_size=8, seeds=1, normalize="none", **SMALL)
    assert s.score(ZERO, x, y) < 1e-6 * s.score(ARCH, x, y)
    assert get_score("tenas_cond", model_factory=toy_factory, batch_size=8, seeds=1, **SMALL).score(ZERO, x, y) < -1e3


def _relu_codes(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    codes = []
    hs = [
        m.register_forward_pre_hook(lambda _m, inp: codes.append((inp[0].reshape(len(x), -1) > 0).numpy()))
        for m in model.modules()
        if isinstance(m, nn.ReLU)
    ]
    with torch.no_grad():
        model.train()(x)
    for h in hs:
        h.remove()
    return np.concatenate(codes, axis=1)


def test_naswot_is_log_det_of_the_hamming_kernel(batch):
    x, y = batch
    s = get_score("naswot", model_factory=toy_factory, batch_size=8, **SMALL)
    v = s.score(ARCH, x, y, seed=2)
    c = _relu_codes(s.build(ARCH, 10, S._init_seed(2, 0)), x)
    NA = c.shape[1]
    KH = NA - cdist(c, c, metric="hamming") * NA  # N_A minus the Hamming distance
    assert np.allclose(np.diag(KH), NA)
    assert v == pytest.approx(np.linalg.slogdet(KH)[1], rel=1e-9)


def _two_product_counts(x: torch.Tensor) -> torch.Tensor:
    c = (x > 0).to(torch.float64)
    return c @ c.T + (1.0 - c) @ (1.0 - c).T


def test_agreement_counts_equal_the_two_product_form_bit_for_bit(monkeypatch):
    """One ±1 Gram matrix (float32, and the float64 fallback for long codes) gives exactly the integer
    matrix C Cᵀ + (1−C)(1−C)ᵀ, with exact zeros read as "not positive" as x > 0 does."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 5000, generator=g)
    x[:, ::7] = 0.0  # exact zeros (a node fed only by 'none' edges)
    x[3] = -0.0
    ref = _two_product_counts(x)
    assert torch.equal(S.agreement_counts(x), ref)
    assert torch.equal(S.agreement_counts(x.double()), ref)
    monkeypatch.setattr(S, "_EXACT_FLOAT32_INTS", 100)  # force the float64 path
    assert torch.equal(S.agreement_counts(x), ref)
    assert torch.equal(torch.diagonal(ref), torch.full((9,), 5000.0, dtype=torch.float64))


def test_agreement_counts_read_special_values_as_x_gt_0_and_refuse_codes():
    x = torch.tensor([[float("nan"), -0.0, 0.0, 1e-45, -1e-45, float("inf"), -float("inf"), 2.0],
                      [1.0, 1.0, -1.0, 1.0, -1.0, -3.0, -1.0, 0.5]])
    assert torch.equal(S.agreement_counts(x), _two_product_counts(x))
    tiny = torch.tensor([[1e-300, -1e-300, 5e-324], [1.0, 1.0, -1.0]], dtype=torch.float64)  # 0 in float32
    assert torch.equal(S.agreement_counts(tiny), _two_product_counts(tiny))
    with pytest.raises(ScoreError, match="2-D floating"):
        S.agreement_counts(torch.ones(4, 3, dtype=torch.bool))


def test_naswot_refuses_a_network_with_non_finite_outputs(batch):
    x, y = batch
    s = get_score("naswot", model_factory=toy_factory, batch_size=8, **SMALL)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ScoreError, match="non-finite outputs"):
        s.score(ARCH, bad, y, seed=2)


def test_naswot_on_a_nats_network_equals_the_two_product_kernel(data_dir):
    """The full score on the real NATS network (C=16, N=5, batch 64 of CIFAR-10) equals log det of the
    two-product kernel accumulated over the same ReLU inputs, exactly."""
    from empirics.nas.images import image_batch

    x, y = image_batch("cifar10", 64, seed=0, data_dir=data_dir)
    arch = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"
    s = get_score("naswot")
    model = s.build(arch, 10, S._init_seed(3, 0))
    model.train()
    K = torch.zeros(64, 64, dtype=torch.float64)
    def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
        K.add_(_two_product_counts(inp[0].reshape(64, -1)))

    hs = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    assert s.score(arch, x, y, seed=3) == float(torch.linalg.slogdet(K)[1])


class _TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 4, bias=False)
        self.b = nn.Linear(4, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def test_synflow_conservation_law():
    """Tanaka et al. 2020: for a linear chain with |θ|, Σ_layer θ⊙∂R/∂θ = R for every layer."""
    s = get_score("synflow", model_factory=lambda a, k, C, N: _TwoLayer())
    v = s.score(ARCH, torch.zeros(5, 3), None, seed=0)
    m = s.build(ARCH, 10, S._init_seed(0, 0))
    with torch.no_grad():
        R = float((m.b.weight.double().abs() @ m.a.weight.double().abs() @ torch.ones(3, dtype=torch.float64)).sum())
    assert v == pytest.approx(2 * R, rel=1e-9)


def test_grad_norm_and_params(batch):
    x, y = batch
    s = get_score("grad_norm", model_factory=toy_factory, batch_size=8, **SMALL)
    v = s.score(ARCH, x, y, seed=0)
    m = s.build(ARCH, 10, S._init_seed(0, 0)).train()
    nn.functional.cross_entropy(m(x), y).backward()
    ref = sum(float(mod.weight.grad.norm()) for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear)))
    assert v == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ScoreError, match="labels"):
        s.score(ARCH, x, None)
    p = get_score("params", model_factory=toy_factory, **SMALL)
    n = sum(q.numel() for q in toy_factory(ARCH, 10, 4, 1).parameters())
    assert p.score(ARCH) == pytest.approx(n / 1e6)
    assert p.score(ARCH, num_classes=100) > p.score(ARCH, num_classes=10)


def test_scores_need_their_inputs():
    with pytest.raises(ScoreError, match="needs a batch"):
        get_score("eigen", model_factory=toy_factory, **SMALL).score(ARCH)
    with pytest.raises(ScoreError, match="wants 32 images"):
        get_score("eigen", model_factory=toy_factory, **SMALL).score(ARCH, torch.zeros(4, 3, 8, 8))


def test_theory_score():
    pytest.importorskip("theory", reason="theory package not available")
    import theory

    if not hasattr(theory, "lambda_min"):
        pytest.skip("theory.lambda_min not available yet")
    s = get_score("theory", n_points=8, dim=16)
    v = s.score(ARCH)
    fc = "|dense_relu~0|+|dense_relu~0|skip_connect~1|+|skip_connect~0|dense_relu~1|skip_connect~2|"
    assert v == pytest.approx(theory.lambda_min(fc, theory.sphere_data(8, 16, seed=0)), rel=1e-12)
    assert v > 0
    assert s.score(ZERO) == 0.0
    assert math.isfinite(get_score("theory").score(ARCH))


# ------------------------------------------------------------------ the real NATS cell network


def test_scores_on_the_nats_network_smoke(data_dir):
    from empirics.nas.images import image_batch

    x, y = image_batch("cifar10", 4, seed=0, data_dir=data_dir)
    for name in ("eigen", "tenas_cond", "naswot", "grad_norm", "synflow"):
        opts = {"C": 8, "N": 1}
        if "batch_size" in SCORES[name].defaults:
            opts["batch_size"] = 4
        if "seeds" in SCORES[name].defaults:
            opts["seeds"] = 1
        v = get_score(name, **opts).score(ARCH, x, y, seed=0)
        assert math.isfinite(v), name


def test_params_score_equals_the_benchmark(data_dir):
    from empirics.nas.benchmark import CsvBenchmark

    b = CsvBenchmark(data_dir=data_dir)
    p = get_score("params")
    for i in [0, 1, 6111, 857, 15624]:
        assert p.score(b.arch(i)) == pytest.approx(b.params(i), abs=1e-6)
    # the closed form agrees with the network it describes
    built = get_score("params", model_factory=lambda a, k, C, N: S.default_model_factory(a, k, C, N), C=8, N=1)
    closed = get_score("params", C=8, N=1)
    assert built.score(b.arch(1), num_classes=100) == pytest.approx(closed.score(b.arch(1), num_classes=100))

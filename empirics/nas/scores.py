"""Train-free architecture scores behind one registry (docs/nats.md).

Every score is a small object with a ``name``, its ``options`` (a dict, part of the cache key) and

    score(arch, images=None, labels=None, seed=0, num_classes=10) -> float      (larger is better)

Scores that need a network build ``empirics.models.nats_net.NATSNetwork`` (the NATS-Bench cell network; the
options ``C`` and ``N`` set its width and cells per stage, 16 and 5 in NATS-Bench), unless a
``model_factory(arch_str, num_classes, C, N) -> nn.Module`` is given. The network is initialized
under ``torch.manual_seed`` of a value derived from ``seed`` (the global RNG state is restored).

Registry (``get_score(name, **options)``, ``SCORES``):

* ``eigen``: EigenNAS (Zhu et al. 2022), λ_min of the empirical NTK at initialization,
  K_ij = ⟨∂f(x_i)/∂θ, ∂f(x_j)/∂θ⟩ over the ``weight`` tensors, on a batch of real images; with
  ``output='sum'`` f(x) = Σ_c f_c(x) (an N×N kernel, the TE-NAS convention), with ``output='full'``
  the (N·C)×(N·C) kernel of all logits, ``'trace'`` (1/C)Σ_c K_c, ``'class:k'`` logit k only
  (kernel by ``empirics.ntk.empirical_ntk``, parameters = the ``weight`` tensors). ``bn='train'``
  forwards the whole batch with BatchNorm in training mode (batch statistics couple the samples, as
  TE-NAS does), ``bn='eval'`` uses the running statistics (identity at init), ``bn='decoupled'`` the
  batch statistics held constant (same forward pass as train, per-sample Jacobian rows;
  ``empirics.models.batchnorm``). ``seeds``
  initializations are averaged (mean of the per-initialization values); the eigensolve is in float64.
  ``normalize`` (``empirics.ntk.spectrum.normalized_value``): 'none'/'raw' λ_min | 'trace' N·λ_min/tr K
  | 'lmax' λ_min/λ_max | 'params' λ_min/P | 'log' log λ_min | 'cond' −λ_max/λ_min.
  **Defaults** (the best configuration of the ablation in docs/eigennas.md, measured on 1,000 NATS
  cells): reduced network C=8, N=1, batch 32, BN train, sum of logits, 3 initializations,
  trace-normalized λ_min. The paper's plain score at NATS size is
  ``get_score('eigen', C=16, N=5, batch_size=64, seeds=1, normalize='none')``.
* ``tenas_cond``: the NTK condition number κ = λ_max/λ_min of Chen, Gong & Wang, *Neural
  Architecture Search on ImageNet in Four GPU Hours: A Theoretically Inspired Perspective*, ICLR 2021
  (TE-NAS); smaller is better, so score = −κ.
* ``naswot``: Mellor, Turner, Storkey & Crowley, *Neural Architecture Search without Training*,
  ICML 2021: for each sample the binary code c_i ∈ {0,1}^{N_A} of which ReLU inputs are positive;
  K_H[i,j] = N_A − d_H(c_i, c_j) = c_i·c_j + (1−c_i)·(1−c_j); score = log|det K_H|.
* ``synflow``: Tanaka, Kunin, Yamins & Ganguli, *Pruning neural networks without any data by
  iteratively conserving synaptic flow*, NeurIPS 2020, as the zero-cost proxy of Abdelfattah,
  Mehrotra, Dudziak & Lane, *Zero-Cost Proxies for Lightweight NAS*, ICLR 2021: weights replaced by
  |θ|, float64, one all-ones input, R = Σ f(1); score = Σ_{conv, linear weights} |θ ⊙ ∂R/∂θ|.
  BatchNorm in eval mode (at init its running statistics make it the identity up to ε, i.e. "no BN").
* ``grad_norm`` (Abdelfattah et al. 2021): Σ_layers ‖∂L_CE/∂W‖₂ over conv and linear weights, one
  batch with its labels, BN in train mode.
* ``params``: number of trainable parameters of the network, in millions (no images; for the NATS
  network from ``nats_net.count_parameters`` without building it).
* ``theory``: λ_min of the exact infinite-width NTK of the cell's FC analogue
  (``Arch.to_fc_analogue``) on ``n_points`` fixed unit-norm Gaussian inputs in dimension ``dim``,
  computed by ``theory.lambda_min`` (no images, no training, deterministic).
* ``cntk`` / ``eigen_free`` (``empirics.nas.scores_nats``): λ_min of the exact infinite-channel NTK of
  the BatchNorm-free NATS network (``theory.nats_ntk``) on the images average-pooled to 8×8, and of the
  empirical NTK of its finite twin at C = 16; trace-normalized by default, ``normalize='raw'`` too.
  ``cntk_bn`` / ``eigen_free_bn``: the same on the BatchNorm-limit kernel
  (``theory.nats_ntk(..., batchnorm=True)``) and on the BN twin (train-mode BatchNorm).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from empirics.models.batchnorm import BN_MODES, BatchNormModeError, set_bn_mode
from empirics.models.nats_net import NATSNetwork, count_parameters
from empirics.ntk.empirical import empirical_ntk, is_batch_coupled
from empirics.ntk.spectrum import NORMALIZATIONS, eigenvalues, normalized_value, spectrum_stats
from theory import lambda_min, sphere_data
from theory.space import Arch
from theory.validate import as_float, as_int

__all__ = [
    "Score",
    "ScoreError",
    "SCORES",
    "get_score",
    "register_score",
    "EigenScore",
    "TenasCondScore",
    "NaswotScore",
    "SynflowScore",
    "GradNormScore",
    "ParamsScore",
    "TheoryScore",
    "ModelFactory",
    "ScoreOptions",
    "EigenOptions",
    "TenasCondOptions",
    "BatchOptions",
    "NetworkOptions",
    "TheoryOptions",
    "random_class",
]

ModelFactory = Callable[[str, int, int, int], nn.Module]


class ScoreError(ValueError):
    """A bad score name or option, or a score that cannot be computed here."""


def default_model_factory(arch: str, num_classes: int, C: int, N: int) -> nn.Module:
    """The NATS-Bench cell network ``empirics.models.nats_net.NATSNetwork(arch, C, N, num_classes)``."""
    return NATSNetwork(arch, C=C, N=N, num_classes=num_classes)


@contextmanager
def _seeded(seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) & 0x7FFFFFFF)
        yield


def _init_seed(seed: int, k: int) -> int:
    """Seed of the k-th initialization for the user seed ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([int(seed), int(k), 7919]).generate_state(1)[0])


# ---------------------------------------------------------------------------------- options


def _check_network(C: int, N: int) -> None:
    if int(C) < 1 or int(N) < 1:
        raise ScoreError(f"the network needs C >= 1 channels and N >= 1 cells per stage, got C={C}, N={N}")


def _check_bn(score: str, bn: str) -> None:
    if bn not in BN_MODES:
        raise ScoreError(f"{score}: bn must be one of {', '.join(BN_MODES)}, got {bn!r}")


@dataclass(frozen=True)
class ScoreOptions:
    """The options of one score: a frozen dataclass whose ``__post_init__`` is the only place they are
    validated (the registry, the command line and the ablation variants all construct one)."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse invalid values with a ``ScoreError`` naming the option (subclasses)."""

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain dict (the form stored in the cache key and in result files)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class EigenOptions(ScoreOptions):
    """Options of ``eigen`` (see the module docstring). ``output``: 'sum', 'full', 'trace', 'class:k' or
    'class:rand' (one class drawn from the score seed, the same for every cell); ``normalize``: one of
    ``NORMALIZATIONS`` or 'none' (= 'raw')."""

    batch_size: int = 32
    output: str = "sum"
    bn: str = "train"
    seeds: int = 3
    C: int = 8
    N: int = 1
    normalize: str = "trace"

    def check(self) -> None:
        out = str(self.output)
        if not (out in ("sum", "full", "trace", "class:rand") or (out.startswith("class:") and out[6:].isdigit())):
            raise ScoreError(f"eigen: output must be 'sum', 'full', 'trace', 'class:k' or 'class:rand', got {out!r}")
        _check_bn("eigen", self.bn)
        if self.normalize not in ("none", *NORMALIZATIONS):
            raise ScoreError(
                f"eigen: normalize must be one of {', '.join(NORMALIZATIONS)} ('none' = 'raw'), got {self.normalize!r}"
            )
        if int(self.seeds) < 1 or int(self.batch_size) < 2:
            raise ScoreError("eigen: seeds >= 1 and batch_size >= 2 required")
        _check_network(self.C, self.N)

    @property
    def reduction(self) -> str:
        """The ``normalized_value`` reduction of the spectrum ('none' read as 'raw')."""
        return "raw" if self.normalize == "none" else str(self.normalize)


@dataclass(frozen=True)
class TenasCondOptions(EigenOptions):
    """Options of ``tenas_cond``: the eigen options (same kernel) with the defaults of TE-NAS-style runs
    at NATS size; ``normalize`` is not used (the reduction is always 'cond')."""

    batch_size: int = 64
    C: int = 16
    N: int = 5
    normalize: str = "none"

    @property
    def reduction(self) -> str:
        return "cond"


@dataclass(frozen=True)
class BatchOptions(ScoreOptions):
    """Options of the scores that forward one batch through the NATS network (naswot, grad_norm)."""

    batch_size: int = 64
    bn: str = "train"
    C: int = 16
    N: int = 5

    def check(self) -> None:
        if int(self.batch_size) < 1:
            raise ScoreError(f"batch_size must be >= 1, got {self.batch_size}")
        _check_bn("score", self.bn)
        _check_network(self.C, self.N)


@dataclass(frozen=True)
class NetworkOptions(ScoreOptions):
    """Options of the scores that only need the network's size (synflow, params)."""

    C: int = 16
    N: int = 5

    def check(self) -> None:
        _check_network(self.C, self.N)


@dataclass(frozen=True)
class TheoryOptions(ScoreOptions):
    """Options of ``theory``: the fixed points (``theory.sphere_data``) and the FC analogue's activation."""

    n_points: int = 16
    dim: int = 32
    data_seed: int = 0
    source: str = "gaussian"
    conv_activation: str = "relu"

    def check(self) -> None:
        if int(self.n_points) < 1 or int(self.dim) < 1:
            raise ScoreError(f"theory: n_points and dim must be >= 1, got {self.n_points}, {self.dim}")
        if self.source not in ("gaussian", "cifar10"):
            raise ScoreError(f"theory: source must be 'gaussian' or 'cifar10', got {self.source!r}")


def random_class(seed: int, num_classes: int) -> int:
    """The class read by ``output='class:rand'`` for score seed ``seed`` (the same for every cell)."""
    return int(np.random.default_rng([int(seed), 0xC1A55]).integers(num_classes))


# ---------------------------------------------------------------------------------- scores


class Score:
    """Base class: subclasses set ``name`` and ``Options`` (a ``ScoreOptions`` dataclass; ``defaults`` is
    derived from it) and implement ``_score``. A score without ``Options`` may set ``defaults``, a dict
    of option names and default values, itself."""

    name: ClassVar[str] = ""
    needs_images: ClassVar[bool] = True
    needs_model: ClassVar[bool] = True
    #: True when cells with equal ``Arch.canonical()`` give the same value (or the same distribution
    #: over seeds), so the search may score one representative per class.
    iso_invariant: ClassVar[bool] = True
    #: False when the value does not depend on the dataset (no images, no number of classes): the
    #: cache then stores one value for all datasets.
    dataset_dependent: ClassVar[bool] = True
    Options: ClassVar[type[ScoreOptions] | None] = None
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_check" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: validate options in an Options dataclass (ScoreOptions.check)")
        if cls.__dict__.get("Options") is not None:
            cls.defaults = cls.Options().as_dict()

    def __init__(self, model_factory: ModelFactory | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ScoreError(f"score {self.name!r} has no option(s) {unknown}; options: {sorted(self.defaults)}")
        self.opts: ScoreOptions | None = None
        if self.Options is not None:
            self.opts = self.Options(**{**self.defaults, **options})
            self.options: dict[str, Any] = self.opts.as_dict()
        else:
            self.options = {**self.defaults, **options}
        self.model_factory = model_factory or default_model_factory

    @property
    def batch_size(self) -> int:
        return int(self.options.get("batch_size", 0))

    def build(self, arch: str, num_classes: int, seed: int) -> nn.Module:
        C, N = int(self.options.get("C", 16)), int(self.options.get("N", 5))
        with _seeded(seed):
            model = self.model_factory(str(arch), int(num_classes), C, N)
        return model

    def score(
        self,
        arch: str | Arch,
        images: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        seed: int = 0,
        num_classes: int = 10,
    ) -> float:
        """The score of ``arch`` (larger is better)."""
        text = str(arch)
        if self.needs_images and images is None:
            raise ScoreError(f"score {self.name!r} needs a batch of images")
        if images is not None and self.batch_size and len(images) < self.batch_size:
            raise ScoreError(f"score {self.name!r} wants {self.batch_size} images, got {len(images)}")
        if images is not None and self.batch_size:
            images = images[: self.batch_size]
            labels = None if labels is None else labels[: self.batch_size]
        return float(self._score(text, images, labels, int(seed), int(num_classes)))

    def _score(
        self, arch: str, images: torch.Tensor | None, labels: torch.Tensor | None, seed: int, num_classes: int
    ) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(self.options.items()))
        return f"{type(self).__name__}({opts})"


SCORES: dict[str, type[Score]] = {}


def register_score(cls: type[Score]) -> type[Score]:
    """Class decorator adding a score to the registry under ``cls.name``."""
    if not cls.name:
        raise ScoreError("a score class needs a name")
    SCORES[cls.name] = cls
    return cls


def get_score(name: str, model_factory: ModelFactory | None = None, **options: Any) -> Score:
    """Instantiate a registered score by name with options."""
    if name not in SCORES:
        raise ScoreError(f"unknown score {name!r}; known: {', '.join(sorted(SCORES))}")
    return SCORES[name](model_factory=model_factory, **options)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_options(pairs: list[str] | None, name: str) -> dict[str, Any]:
    """``['batch_size=32', 'bn=eval']`` → typed options (types from the score's defaults)."""
    if name not in SCORES:
        raise ScoreError(f"unknown score {name!r}; known: {', '.join(sorted(SCORES))}")
    defaults = SCORES[name].defaults
    out: dict[str, Any] = {}
    for p in pairs or []:
        if "=" not in p:
            raise ScoreError(f"option {p!r} must look like key=value")
        k, v = p.split("=", 1)
        k = k.strip()
        if k not in defaults:
            raise ScoreError(f"score {name!r} has no option {k!r}; options: {sorted(defaults)}")
        d = defaults[k]
        what = f"option {k}={v!r}"
        if isinstance(d, bool):
            word = v.strip().lower()
            if word not in _TRUE + _FALSE:
                raise ScoreError(f"{what}: expected a boolean ({'/'.join(_TRUE)} or {'/'.join(_FALSE)})")
            out[k] = word in _TRUE
        elif isinstance(d, int):  # ASCII digits only: int('٣') would be 3
            out[k] = as_int(v, what, error=ScoreError)
        elif isinstance(d, float):
            out[k] = as_float(v, what, error=ScoreError)
        else:
            out[k] = v.strip()
    return out


# ---------------------------------------------------------------------------------- NTK


def _ntk(model: nn.Module, x: torch.Tensor, output: str) -> torch.Tensor:
    """The NTK of the ``weight`` tensors through the project's engine ``empirics.ntk.empirical_ntk``:
    for batch-coupled models (BatchNorm with batch statistics, ``bn='train'``) the LOOP method on CPU
    (one backward per output of the batched forward, as TE-NAS computes it), and AUTO on CUDA; for
    models whose samples do not interact (``bn='eval'``, ``bn='decoupled'``) AUTO, i.e. the LAYERWISE
    structured products, which compute the same kernel without a backward pass per output. The tests
    check both against an independent TE-NAS-style loop over the ``weight`` tensors."""
    method = "auto" if torch.cuda.is_available() or not is_batch_coupled(model) else "loop"
    return empirical_ntk(model, x, output=output, method=method, params="weights")


def _set_bn_mode(model: nn.Module, bn: str, images: torch.Tensor | None) -> None:
    """``empirics.models.batchnorm.set_bn_mode`` with its errors as ``ScoreError``."""
    try:
        set_bn_mode(model, bn, images)
    except BatchNormModeError as e:
        raise ScoreError(str(e)) from None


@register_score
class EigenScore(Score):
    """EigenNAS: λ_min of the empirical NTK at initialization (larger is better); see the module docstring."""

    name = "eigen"
    #: Defaults: the best configuration of the ablation (docs/eigennas.md): highest mean Spearman ρ over
    #: CIFAR-10 / CIFAR-100 / ImageNet16-120 among all λ_min variants measured on the same 1,000 NATS
    #: cells (0.768 / 0.759 / 0.709). ``normalize='none'`` with C=16, N=5, batch 64 is the paper's plain
    #: λ_min at NATS size.
    Options = EigenOptions
    opts: EigenOptions

    def kernel(self, arch: str, images: torch.Tensor, seed: int, num_classes: int, k: int = 0) -> torch.Tensor:
        """The empirical NTK (float64) of the k-th initialization for ``seed``."""
        return self._kernel_and_params(arch, images, seed, num_classes, k)[0]

    def _kernel_and_params(
        self, arch: str, images: torch.Tensor, seed: int, num_classes: int, k: int, output: str | None = None
    ) -> tuple[torch.Tensor, int]:
        """The kernel of the k-th initialization (of ``output``, default the score's) and the number P of
        trainable parameters of the network it was computed on."""
        model = self.build(arch, num_classes, _init_seed(seed, k))
        _set_bn_mode(model, self.opts.bn, images)
        P = sum(p.numel() for p in model.parameters() if p.requires_grad)
        out = self.opts.output if output is None else output
        if out == "class:rand":
            out = f"class:{random_class(seed, num_classes)}"
        return _ntk(model, images, out), P

    def spectrum(self, arch: str, images: torch.Tensor, seed: int, num_classes: int, k: int = 0) -> np.ndarray:
        """Eigenvalues (ascending, float64) of the NTK of the k-th initialization for ``seed``."""
        return eigenvalues(self.kernel(arch, images, seed, num_classes, k))

    def spectrum_options(self) -> dict[str, Any]:
        """The options one spectrum depends on: all but ``seeds`` (how many spectra are averaged) and
        ``normalize`` (how each is reduced). The key of a cached spectrum (``empirics.nas.scorer``)."""
        return {k: v for k, v in self.options.items() if k not in ("seeds", "normalize")}

    def init_stats(self, arch: str, images: torch.Tensor, seed: int, num_classes: int, k: int = 0) -> dict[str, float]:
        """``spectrum_stats`` of the k-th initialization's NTK (P = the network's trainable parameters): every
        normalization of the score derives from it (``normalized_value``)."""
        K, P = self._kernel_and_params(arch, images, seed, num_classes, k)
        return spectrum_stats(eigenvalues(K), P)

    def init_stats_by_output(
        self, arch: str, images: torch.Tensor, seed: int, num_classes: int, k: int = 0
    ) -> dict[str, dict[str, float]]:
        """``spectrum_stats`` of the k-th initialization keyed by output readout.

        For ``output='full'`` or ``'trace'`` one Jacobian of all logits gives both: with the full kernel
        K_full[(n, c), (m, c')] = ⟨∂f_c(x_n)/∂θ, ∂f_c'(x_m)/∂θ⟩ (row index n·C + c), the per-class blocks
        are K_c = K_full[c::C, c::C] and the ``trace`` kernel is (1/C) Σ_c K_c, so both spectra are
        returned (a caching caller stores both). Other outputs return their own entry only.
        """
        if self.opts.output not in ("full", "trace"):
            return {self.opts.output: self.init_stats(arch, images, seed, num_classes, k)}
        K, P = self._kernel_and_params(arch, images, seed, num_classes, k, output="full")
        C = num_classes
        if K.shape != (len(images) * C, len(images) * C):
            raise ScoreError(f"full kernel of shape {tuple(K.shape)}, expected {len(images) * C} rows")
        K_trace = torch.stack([K[c::C, c::C] for c in range(C)]).mean(dim=0)
        return {"full": spectrum_stats(eigenvalues(K), P), "trace": spectrum_stats(eigenvalues(K_trace), P)}

    def _score(self, arch, images, labels, seed, num_classes):  # type: ignore[override]
        vals = [
            normalized_value(self.init_stats(arch, images, seed, num_classes, k), self.opts.reduction)
            for k in range(self.opts.seeds)
        ]
        return float(np.mean(vals))


@register_score
class TenasCondScore(EigenScore):
    """TE-NAS (Chen et al. 2021): −κ, κ = λ_max/λ_min of the empirical NTK (smaller κ is better)."""

    name = "tenas_cond"
    # the same kernel and spectrum as ``eigen``, reduced by the 'cond' normalization (−λ_max/λ_min)
    Options = TenasCondOptions


@register_score
class NaswotScore(Score):
    """NASWOT (Mellor et al. 2021): log|det K_H| of the ReLU activation-pattern kernel."""

    name = "naswot"
    iso_invariant = False  # ReLUs on dead branches add constant codes (they change N_A)
    Options = BatchOptions

    def _score(self, arch, images, labels, seed, num_classes):  # type: ignore[override]
        model = self.build(arch, num_classes, _init_seed(seed, 0))
        _set_bn_mode(model, self.options["bn"], images)
        n = len(images)
        K = torch.zeros(n, n, dtype=torch.float64)

        def hook(_mod: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
            K.add_(agreement_counts(inp[0].detach().reshape(n, -1)))

        handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
        if not handles:
            raise ScoreError("naswot: the model has no nn.ReLU modules")
        try:
            with torch.no_grad():
                out = model(images)
        finally:
            for h in handles:
                h.remove()
        if not torch.isfinite(_logits(out)).all():
            raise ScoreError(f"naswot: the network of {arch} has non-finite outputs (NaN/inf) on the batch")
        sign, logdet = torch.linalg.slogdet(K)
        return float(logdet) if float(sign) > 0 else -math.inf


#: Largest code length for which the float32 Gram matrix of ±1 codes is exact: every partial sum of
#: products ±1 is an integer of magnitude ≤ N_A, and float32 represents all integers up to 2**24.
_EXACT_FLOAT32_INTS = 2**24


def agreement_counts(pre_activations: torch.Tensor) -> torch.Tensor:
    """K_H[i, j] = c_i·c_j + (1−c_i)·(1−c_j) for the binary codes c_i = [x_i > 0] of the rows of the
    (n, N_A) ``pre_activations``: the number of positions where rows i and j agree (NASWOT's
    N_A − d_H), as an exact float64 (n, n) tensor.

    With s = 2c − 1 ∈ {−1, +1}^{N_A}, s_i·s_j = agreements − disagreements, so
    K_H = (S Sᵀ + N_A)/2: one Gram matrix instead of two. s is sign(sign(x) − ½), which maps x > 0 to
    +1 and x ≤ 0 to −1 (as c does; ±0 and subnormals included) in two cheap elementwise passes
    (torch.sign(NaN) is 0, so a NaN reads as "not positive", as x > 0 reads it; ``naswot`` refuses
    non-finite network outputs). S Sᵀ is computed in float32 when N_A ≤ 2**24 (every partial sum is an
    integer of magnitude ≤ N_A, hence exact in any summation order), else in float64 (exact up to
    2**53); the signs are taken in the input's dtype first. The result is the same integer matrix as the
    two-product form, bit for bit (``tests/test_scores.py``; ``benchmarks/bench_naswot.py`` times it).
    """
    if pre_activations.ndim != 2 or not pre_activations.is_floating_point():
        raise ScoreError(
            f"agreement_counts needs a 2-D floating tensor, got {pre_activations.dtype} {tuple(pre_activations.shape)}"
        )
    n_a = pre_activations.shape[1]
    dtype = torch.float32 if n_a <= _EXACT_FLOAT32_INTS else torch.float64
    # +1 where x > 0, −1 where x ≤ 0, decided in the input's dtype (a float64 1e-300 is positive)
    signs = torch.sign(pre_activations).sub_(0.5).sign_().to(dtype)
    return ((signs @ signs.T).to(torch.float64) + n_a) * 0.5


def _logits(out: torch.Tensor | tuple | list) -> torch.Tensor:
    """The logits of a model's output: the tensor itself, or the last item of a tuple/list output (the
    NATS-Bench networks return (features, logits))."""
    return out[-1] if isinstance(out, (tuple, list)) else out


def _conv_linear(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@register_score
class SynflowScore(Score):
    """SynFlow (Tanaka et al. 2020) as a zero-cost proxy (Abdelfattah et al. 2021); no images needed
    beyond their shape."""

    name = "synflow"
    needs_images = True  # for the input shape only
    Options = NetworkOptions

    def _score(self, arch, images, labels, seed, num_classes):  # type: ignore[override]
        model = self.build(arch, num_classes, _init_seed(seed, 0)).to(torch.float64)
        model.eval()
        with torch.no_grad():
            for p in model.parameters():
                p.abs_()
        x = torch.ones((1, *images.shape[1:]), dtype=torch.float64)
        model.zero_grad()
        out = _logits(model(x))
        out.sum().backward()
        total = 0.0
        with torch.no_grad():
            for m in _conv_linear(model):
                if m.weight.grad is not None:
                    total += float((m.weight * m.weight.grad).abs().sum())
        return total


@register_score
class GradNormScore(Score):
    """grad_norm (Abdelfattah et al. 2021): Σ_layers ‖∂L_CE/∂W‖₂ at initialization."""

    name = "grad_norm"
    Options = BatchOptions

    def _score(self, arch, images, labels, seed, num_classes):  # type: ignore[override]
        if labels is None:
            raise ScoreError("grad_norm needs labels")
        model = self.build(arch, num_classes, _init_seed(seed, 0))
        _set_bn_mode(model, self.options["bn"], images)
        model.zero_grad()
        out = _logits(model(images))
        nn.functional.cross_entropy(out, labels.long()).backward()
        return float(sum(float(m.weight.grad.norm()) for m in _conv_linear(model) if m.weight.grad is not None))


@register_score
class ParamsScore(Score):
    """Number of trainable parameters (millions) of the network built for ``num_classes``."""

    name = "params"
    needs_images = False
    iso_invariant = False  # dead-branch convolutions still have parameters
    Options = NetworkOptions

    def _score(self, arch, images, labels, seed, num_classes):  # type: ignore[override]
        C, N = int(self.options["C"]), int(self.options["N"])
        if self.model_factory is default_model_factory:
            return count_parameters(arch, C=C, N=N, num_classes=num_classes) / 1e6  # closed form, no network
        model = self.build(arch, num_classes, 0)
        return sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6


@register_score
class TheoryScore(Score):
    """λ_min of the exact infinite-width NTK of the FC analogue on fixed points (``theory.lambda_min``).

    Points: ``theory.sphere_data(n_points, dim, seed=data_seed, source=source)``, i.e. Gaussian rows
    rescaled to norm √dim (``source='gaussian'``) or the first ``n_points`` CIFAR-10 test images
    flattened to the sphere (``source='cifar10'``, dim = 3072). A cell whose output is identically
    zero scores 0.
    """

    name = "theory"
    needs_images = False
    needs_model = False
    dataset_dependent = False
    Options = TheoryOptions

    def points(self) -> np.ndarray:
        """The fixed inputs (float64, n_points × dim)."""
        o = self.options
        return sphere_data(int(o["n_points"]), int(o["dim"]), seed=int(o["data_seed"]), source=str(o["source"]))

    def _score(self, arch, images, labels, seed, num_classes):  # type: ignore[override]
        fc = Arch.parse(arch).to_fc_analogue(self.options["conv_activation"])
        if fc.is_zero:
            return 0.0
        if not hasattr(self, "_X"):
            self._X = self.points()
        return float(lambda_min(fc, self._X))


def describe(score: Score) -> Mapping[str, Any]:
    """JSON-ready description of a score (name and options)."""
    return {"name": score.name, "options": dict(score.options)}


# the BN-free NATS scores (cntk, eigen_free) register themselves on import
from empirics.nas import scores_nats as _scores_nats  # noqa: E402,F401

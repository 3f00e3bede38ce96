"""Activation functions of the search space and their Hermite coefficients.

Every activation σ comes with numpy and torch forms, its derivative, the Gaussian second moment
``E[σ(√q z)²]`` and the normalized probabilists' Hermite coefficients

    μ_r(σ_q) = E[σ(√q z) h_r(z)],   h_r = He_r / √(r!),   z ~ N(0, 1),

so that ``σ(√q z) = Σ_r μ_r h_r(z)`` in L²(N(0,1)) and (Mehler's formula) for a centred Gaussian
pair (u, v) of variances q, q and correlation ρ

    E[σ(u) σ(v)] = Σ_r μ_r(σ_q)² ρ^r,        E[σ(u)²] = Σ_r μ_r(σ_q)²   (Parseval).

How the coefficients are obtained (``hermite_coefficients``):

* **exact** (sympy closed forms, then evaluated in float64) for relu, leaky_relu, identity and erf:
  relu: μ0 = 1/√(2π), μ1 = 1/2, odd r ≥ 3 vanish, even r ≥ 2: μ_r = (−1)^{r/2+1}(r−3)!!/√(2π r!)
  (Nguyen, Mondelli & Montúfar 2021), scaled by √q by homogeneity; leaky(a) = (1−a)·relu + a·x;
  erf(a z), a = √q: by Stein's lemma E[σ He_r] = E[σ^{(r)}], which for odd r is
  2a/√π · (1+2a²)^{−1/2} (r−2)!! (−2a²/(1+2a²))^{(r−1)/2}, and 0 for even r.
* **quadrature** for the smooth activations tanh, sigmoid, swish and gelu (``smooth_rule``):
  Gauss–Hermite (``GH_NODES`` nodes) for q ≤ ``GH_MAX_Q``; above it a composite Gauss–Legendre rule
  whose panels follow both t and x = √q t, because σ(√q t) then changes on the scale 1/√q around 0
  (tanh → sign, sigmoid → step, swish/gelu → relu), narrower than the Gauss–Hermite node spacing near
  0 (≈ 0.2): fixed Gauss–Hermite gave 2.5 % error in E[tanh(√q z)²] at q = 200. Both are asserted in
  the tests against adaptive quadrature up to q = 1e6.
* **exact** for elu too: relu part plus α·E[(e^{√q z} − 1)1{z<0} h_r(z)], obtained by integration by
  parts (He_r φ = (−1)^r φ^{(r)}): I_r(c) = c I_{r−1} − He_{r−1}(0)φ(0), I_0 = e^{c²/2}Φ(−c).
  Gauss–Hermite would converge only algebraically at its kink.

Mixtures Σ β_k σ_k are convex combinations (β_k ≥ 0, Σ β_k = 1) and their coefficients are the
same mixture of the components' coefficients, since μ_r is linear in σ.

Each activation carries its own closed forms as optional methods (``None`` = not available, and
the callers fall back to quadrature): ``second_moment_closed``, ``derivative_second_moment_closed``,
``hermite_closed_form``/``hermite_exact``, ``relu_identity_parts`` (σ = a·relu + b·x) and
``dual_closed_form(other)``, the pair's dual kernels E[σ(u)τ(v)], E[σ'(u)τ'(v)] (arc-cosine for the
relu family, Williams' arcsine for erf, the closed form of ``_gelu_kernel`` for gelu). ``theory.dual``
dispatches on these methods only, so an activation with a closed form is added here and nowhere else.
Mixtures derive theirs by linearity (``terms``, ``hermite_coefficients_float``, ``hermite_symbolic``;
their duals bilinearly over ``terms`` in ``theory.dual``). ``bounds.reference`` keeps its own,
independent formulas on purpose (it is the tests' second opinion).

Derivative coefficients follow from Stein's lemma ``E[σ_q'(z) h_r(z)] = √(r+1) μ_{r+1}(σ_q)``,
which holds in the weak sense for relu as well (``derivative_hermite_coefficients``).
"""

from __future__ import annotations

import functools
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from scipy import special

from theory.gaussian import (
    GH_MAX_ORDER,
    check_variance,
    gaussian_expectation,
    normalized_hermite,
    smooth_rule,
)
from theory.validate import NUMBER, ascii_text

__all__ = [
    "Activation",
    "ActivationError",
    "Regularity",
    "ACTIVATION_NAMES",
    "Mixture",
    "parse_activation",
    "get_activation",
    "hermite_coefficients",
    "hermite_coefficient_symbolic",
    "derivative_hermite_coefficients",
    "second_moment",
    "default_weight_variance",
]


INF = math.inf


class ActivationError(ValueError):
    """An activation name, parameter or Hermite request that the package does not support."""


def _fmt(x: float) -> str:
    """Shortest float text that round-trips (``repr``), without a trailing ``.0`` for integers."""
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


@dataclass(frozen=True)
class Regularity:
    """Regularity constants of σ, for the error propagation of ``theory.errors`` (``theory.regularity``).

    With σ' = J·1{x>0} + s(x) (J: the jump of σ' at 0, s continuous): ``lip`` L = sup|σ'| (σ is
    L-Lipschitz); ``at0`` |σ(0)|; ``sup`` sup|σ| (inf when unbounded); ``jump`` J; ``lip_s`` the Lipschitz
    constant L_s of s; ``s_at0`` |s(0)|; ``s_sup`` sup|s|. Values are the exact suprema rounded up."""

    lip: float
    at0: float
    sup: float
    jump: float
    lip_s: float
    s_at0: float
    s_sup: float

    def root_second_moment(self, q):
        """An upper bound on √E[σ(√q z)²] (Minkowski: ‖σ(0) + (σ(x) − σ(0))‖ ≤ |σ(0)| + L√q)."""
        return np.minimum(self.at0 + self.lip * np.sqrt(q), self.sup)

    def root_s_second_moment(self, q):
        """An upper bound on √E[s(√q z)²] for the continuous part s of σ'."""
        return np.minimum(self.s_at0 + self.lip_s * np.sqrt(q), self.s_sup)


class Activation(ABC):
    """An activation σ: ℝ → ℝ with its forms, derivative and Gaussian statistics.

    Subclasses are frozen dataclasses so that activations compare and hash by value.
    """

    name: str = ""
    #: points x where σ or σ' is not smooth; numeric quadrature splits there
    kinks: tuple[float, ...] = ()

    @property
    def token(self) -> str:
        """The text form used in architecture strings, e.g. ``leaky_relu(0.2)``."""
        return self.name

    def __str__(self) -> str:
        return self.token

    @abstractmethod
    def numpy(self, x: np.ndarray) -> np.ndarray:
        """σ(x) in numpy (float64 in, float64 out)."""

    @abstractmethod
    def derivative_numpy(self, x: np.ndarray) -> np.ndarray:
        """σ'(x) in numpy (the right derivative at kinks)."""

    @abstractmethod
    def torch(self, x):  # noqa: ANN001, ANN201 - torch is imported lazily
        """σ(x) on a torch tensor (autograd-compatible)."""

    def hermite_exact(self, r: int, q: sp.Expr) -> sp.Expr | None:
        """Exact μ_r(σ_q) as a sympy expression, or None when no closed form is implemented."""
        return None

    def hermite_closed_form(self, r_max: int, q: float) -> np.ndarray | None:
        """The same closed form as ``hermite_exact`` evaluated in float64 for r = 0..r_max (fast,
        valid for r in the thousands), or None when there is none."""
        return None

    @property
    def is_odd(self) -> bool:
        """True when σ(−x) = −σ(x), so every even Hermite coefficient (and the mean) vanishes."""
        return False

    @property
    def is_exact(self) -> bool:
        """True when closed forms (``hermite_exact``/``hermite_closed_form``) are implemented."""
        return self.hermite_closed_form(0, 1.0) is not None

    # Optional closed forms. Each returns None when the activation has none; ``theory.dual`` and the
    # functions below then fall back to quadrature. A new activation with a closed form overrides
    # the method here and nothing else changes.

    def second_moment_closed(self, q: float) -> float | None:
        """E[σ(√q z)²] in closed form, or None."""
        return None

    def derivative_second_moment_closed(self, q: float) -> float | None:
        """E[σ'(√q z)²] in closed form, or None."""
        parts = self.relu_identity_parts()
        if parts is None:
            return None
        a, b = parts  # σ' = a·1{x>0} + b: E[σ'²] = (a + b)²/2 + b²/2
        return (a + b) ** 2 / 2.0 + b * b / 2.0

    def relu_identity_parts(self) -> tuple[float, float] | None:
        """(a, b) with σ = a·relu + b·identity, or None when σ is not in that family."""
        return None

    def regularity(self) -> Regularity | None:
        """The regularity constants of σ (``Regularity``; derivations in the comments of each class, the
        tests check each against a dense grid), or None (then the kernel error cannot be propagated)."""
        return None

    def dual_closed_form(self, other: Activation) -> DualKernel | None:
        """A closed form of the pair's dual kernels, or None (then ``theory.dual`` uses Mehler's series).

        The returned function maps (q1, q2, c, value, derivative) to (E[σ(u)τ(v)], E[σ'(u)τ'(v)])
        (None for the one not asked for), with q1, q2 the variances broadcastable against the
        covariance array c. Default: the arc-cosine kernels when both sides are in the relu/identity
        family (``relu_identity_parts``)."""
        f1, f2 = self.relu_identity_parts(), other.relu_identity_parts()
        if f1 is None or f2 is None:
            return None
        return functools.partial(_family_kernel, f1, f2)

    @property
    def terms(self) -> tuple[tuple[float, Activation], ...]:
        """The activation as Σ_k w_k σ_k over non-mixture activations (itself with weight 1)."""
        return ((1.0, self),)

    @property
    def is_mixture(self) -> bool:
        return False

    def hermite_coefficients_float(self, r_max: int, q: float) -> np.ndarray:
        """μ_0..μ_{r_max} of σ_q in float64: the closed form, else quadrature (``smooth_rule``; even
        orders of an odd σ set to 0). Mixtures override it by linearity."""
        closed = self.hermite_closed_form(r_max, q)
        if closed is not None:
            return np.asarray(closed, dtype=np.float64)
        vals = _numeric_coefficients(self, r_max, q)
        if self.is_odd:
            vals[0::2] = 0.0
        return vals

    def hermite_symbolic(self, r: int, q: sp.Expr) -> sp.Expr:
        """μ_r(σ_q) as a sympy expression: exact where a closed form exists, else a Float."""
        exact = self.hermite_exact(r, q)
        if exact is not None:
            return sp.simplify(exact)
        return sp.Float(hermite_coefficients(self, r, float(q))[r], 15)


#: (q1, q2, c, value, derivative) -> (E[σ(u)τ(v)] or None, E[σ'(u)τ'(v)] or None)
DualKernel = Callable[..., tuple[np.ndarray | None, np.ndarray | None]]


def _family_kernel(ab1: tuple[float, float], ab2: tuple[float, float], q1, q2, c, value: bool = True,
                   derivative: bool = True, rho=None, s=None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Arc-cosine kernels (Cho & Saul 2009) of σ = a1 relu + b1 x and τ = a2 relu + b2 x, θ = arccos ρ:

        E[relu(u) relu(v)] = √(q1 q2)/(2π)·(sin θ + (π − θ) cos θ),  E[1{u>0} 1{v>0}] = (π − θ)/(2π),

    and by Stein's lemma E[relu(u) v] = c/2, E[u v] = c. ``rho`` (= c/√(q1 q2) clipped to [−1, 1]) and
    ``s`` (= √(q1 q2)) may be passed when the caller has them; one arccos serves both kernels."""
    a1, b1 = ab1
    a2, b2 = ab2
    if rho is None:
        s = np.sqrt(q1 * q2)
        rho = np.clip(c / s, -1.0, 1.0)
    aa = a1 * a2 / (2 * np.pi)
    lin = (a1 * b2 + b1 * a2) / 2.0
    t = np.pi - np.arccos(rho) if aa != 0.0 else None
    val = der = None
    if derivative:
        der = (aa * t + (lin + b1 * b2)) if t is not None else np.full(np.shape(rho), lin + b1 * b2)
    if value:
        val = (lin + b1 * b2) * c
        if t is not None:
            root = 1.0 - rho * rho
            np.clip(root, 0.0, None, out=root)
            np.sqrt(root, out=root)
            root += t * rho
            root *= s * aa
            val = val + root
    return val, der


# ---------------------------------------------------------------------------------------------
# The activations


@dataclass(frozen=True)
class ReLU(Activation):
    name = "relu"
    kinks = (0.0,)

    def numpy(self, x):
        return np.maximum(x, 0.0)

    def derivative_numpy(self, x):
        return (np.asarray(x) > 0).astype(np.float64)

    def torch(self, x):
        import torch  # torch only for the torch form: theory does not need torch

        return torch.relu(x)

    def hermite_exact(self, r, q):
        return sp.sqrt(q) * _relu_mu(r)

    def hermite_closed_form(self, r_max, q):
        return math.sqrt(q) * _relu_mu_float(r_max)

    def relu_identity_parts(self):
        return 1.0, 0.0

    def second_moment_closed(self, q):
        return q / 2.0

    def regularity(self) -> Regularity:
        return Regularity(1.0, 0.0, INF, 1.0, 0.0, 0.0, 0.0)  # σ' = 1{x>0}: J = 1, s = 0


def _relu_mu(r: int) -> sp.Expr:
    """μ_r of relu at q = 1 (closed form; Nguyen, Mondelli & Montúfar 2021, Lemma D.3)."""
    if r == 0:
        return 1 / sp.sqrt(2 * sp.pi)
    if r == 1:
        return sp.Rational(1, 2)
    if r % 2 == 1:
        return sp.Integer(0)
    sign = (-1) ** (r // 2 + 1)
    return sign * sp.factorial2(r - 3) / sp.sqrt(2 * sp.pi * sp.factorial(r))


def _relu_mu_float(r_max: int) -> np.ndarray:
    """float64 μ_0..μ_{r_max} of relu at q = 1 via log-gamma: (2k−1)!! = (2k)!/(2^k k!)."""
    out = np.zeros(r_max + 1)
    out[0] = 1.0 / math.sqrt(2 * math.pi)
    if r_max >= 1:
        out[1] = 0.5
    for r in range(2, r_max + 1, 2):
        k = (r - 2) // 2  # (r−3)!! = (2k−1)!!
        log_df = math.lgamma(2 * k + 1) - k * math.log(2.0) - math.lgamma(k + 1)
        mag = math.exp(log_df - 0.5 * (math.log(2 * math.pi) + math.lgamma(r + 1)))
        out[r] = mag if (r // 2) % 2 == 1 else -mag
    return out


@dataclass(frozen=True)
class LeakyReLU(Activation):
    slope: float = 0.01
    name = "leaky_relu"
    kinks = (0.0,)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slope) and 0.0 <= self.slope < 1.0):
            raise ActivationError(f"leaky_relu slope must lie in [0, 1), got {self.slope!r}")

    @property
    def token(self) -> str:
        return f"leaky_relu({_fmt(self.slope)})"

    def numpy(self, x):
        return np.where(x > 0, x, self.slope * x)

    def derivative_numpy(self, x):
        return np.where(np.asarray(x) > 0, 1.0, self.slope)

    def torch(self, x):
        import torch.nn.functional as F  # torch only for the torch form: theory does not need torch

        return F.leaky_relu(x, self.slope)

    def hermite_exact(self, r, q):
        a = sp.nsimplify(self.slope)
        lin = sp.sqrt(q) if r == 1 else sp.Integer(0)
        return (1 - a) * sp.sqrt(q) * _relu_mu(r) + a * lin

    def hermite_closed_form(self, r_max, q):
        out = (1.0 - self.slope) * math.sqrt(q) * _relu_mu_float(r_max)
        if r_max >= 1:
            out[1] += self.slope * math.sqrt(q)
        return out

    def relu_identity_parts(self):
        return 1.0 - self.slope, self.slope

    def second_moment_closed(self, q):
        return q * (1.0 + self.slope**2) / 2.0

    def regularity(self) -> Regularity:
        a = self.slope  # σ' = (1−a)1{x>0} + a
        return Regularity(max(1.0, abs(a)), 0.0, INF, 1.0 - a, 0.0, abs(a), abs(a))


@dataclass(frozen=True)
class Identity(Activation):
    name = "identity"

    @property
    def is_odd(self) -> bool:
        return True

    def numpy(self, x):
        return np.asarray(x, dtype=np.float64) * 1.0

    def derivative_numpy(self, x):
        return np.ones_like(np.asarray(x, dtype=np.float64))

    def torch(self, x):
        return x

    def hermite_exact(self, r, q):
        return sp.sqrt(q) if r == 1 else sp.Integer(0)

    def hermite_closed_form(self, r_max, q):
        out = np.zeros(r_max + 1)
        if r_max >= 1:
            out[1] = math.sqrt(q)
        return out

    def relu_identity_parts(self):
        return 0.0, 1.0

    def second_moment_closed(self, q):
        return q

    def regularity(self) -> Regularity:
        return Regularity(1.0, 0.0, INF, 0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True)
class Erf(Activation):
    name = "erf"

    @property
    def is_odd(self) -> bool:
        return True

    def numpy(self, x):
        return special.erf(x)

    def derivative_numpy(self, x):
        return 2.0 / math.sqrt(math.pi) * np.exp(-np.asarray(x, dtype=np.float64) ** 2)

    def torch(self, x):
        import torch  # torch only for the torch form: theory does not need torch

        return torch.erf(x)

    def hermite_exact(self, r, q):
        if r % 2 == 0:
            return sp.Integer(0)
        a2 = q  # a = √q, a² = q
        k = r - 1
        s = 1 + 2 * a2
        val = 2 * sp.sqrt(a2) / sp.sqrt(sp.pi) / sp.sqrt(s) * sp.factorial2(k - 1) * (-2 * a2 / s) ** (k // 2)
        return val / sp.sqrt(sp.factorial(r))

    def hermite_closed_form(self, r_max, q):
        out = np.zeros(r_max + 1)
        s = 1.0 + 2.0 * q
        for r in range(1, r_max + 1, 2):
            j = (r - 1) // 2  # (r−2)!! = (2j−1)!! = (2j)!/(2^j j!)
            log_df = math.lgamma(2 * j + 1) - j * math.log(2.0) - math.lgamma(j + 1)
            log_mag = (math.log(2.0) + 0.5 * math.log(q) - 0.5 * math.log(math.pi) - 0.5 * math.log(s)
                       + log_df + j * math.log(2 * q / s) - 0.5 * math.lgamma(r + 1))
            out[r] = math.exp(log_mag) * (-1.0) ** j
        return out

    def second_moment_closed(self, q):
        return 2.0 / math.pi * math.asin(2 * q / (1 + 2 * q))

    def derivative_second_moment_closed(self, q):
        return 4.0 / math.pi / math.sqrt(1.0 + 4.0 * q)

    def dual_closed_form(self, other):
        return _erf_kernel if type(other) is Erf else None

    def regularity(self) -> Regularity:
        # σ' = (2/√π)e^{−x²}; sup|σ''| = (4/√π)(1/√2)e^{−1/2} at x = 1/√2
        return Regularity(2 / math.sqrt(math.pi) * (1 + 1e-12), 0.0, 1.0, 0.0, 0.9678830,
                          2 / math.sqrt(math.pi), 2 / math.sqrt(math.pi) * (1 + 1e-12))


def _erf_kernel(q1, q2, c, value: bool = True, derivative: bool = True, rho=None, s=None):
    """Williams' (1997) arcsine kernel E[erf(u) erf(v)] = (2/π) arcsin(2c/√((1 + 2q1)(1 + 2q2))) and
    E[erf'(u) erf'(v)] = (4/π)/√((1 + 2q1)(1 + 2q2) − 4c²)."""
    ab = (1.0 + 2.0 * q1) * (1.0 + 2.0 * q2)
    val = der = None
    if derivative:
        der = 4.0 / np.pi / np.sqrt(np.clip(ab - 4.0 * c * c, 1e-300, None))
    if value:
        val = 2.0 / np.pi * np.arcsin(np.clip(2.0 * c / np.sqrt(ab), -1.0, 1.0))
    return val, der


@dataclass(frozen=True)
class Tanh(Activation):
    name = "tanh"

    @property
    def is_odd(self) -> bool:
        return True

    def numpy(self, x):
        return np.tanh(x)

    def derivative_numpy(self, x):
        return 1.0 - np.tanh(x) ** 2

    def torch(self, x):
        import torch  # torch only for the torch form: theory does not need torch

        return torch.tanh(x)

    def regularity(self) -> Regularity:
        return Regularity(1.0, 0.0, 1.0, 0.0, 0.7698004, 1.0, 1.0)  # sup|tanh''| = 4/(3√3) at tanh x = 1/√3


@dataclass(frozen=True)
class Sigmoid(Activation):
    name = "sigmoid"

    def numpy(self, x):
        return special.expit(x)

    def derivative_numpy(self, x):
        s = special.expit(x)
        return s * (1.0 - s)

    def torch(self, x):
        import torch  # torch only for the torch form: theory does not need torch

        return torch.sigmoid(x)

    def regularity(self) -> Regularity:
        return Regularity(0.25, 0.5, 1.0, 0.0, 0.0962251, 0.25, 0.25)  # σ' = s(1−s) ≤ 1/4; sup|σ''| = 1/(6√3)


@dataclass(frozen=True)
class Swish(Activation):
    """swish / SiLU: x·sigmoid(x)."""

    name = "swish"

    def numpy(self, x):
        return x * special.expit(x)

    def derivative_numpy(self, x):
        s = special.expit(x)
        return s + x * s * (1.0 - s)

    def torch(self, x):
        import torch.nn.functional as F  # torch only for the torch form: theory does not need torch

        return F.silu(x)

    def regularity(self) -> Regularity:
        # σ' max 1.09984 at x ≈ 2.3994 (min −0.09984); sup|σ''| = 1/2 at 0
        return Regularity(1.0998500, 0.0, INF, 0.0, 0.5000001, 0.5, 1.0998500)


@dataclass(frozen=True)
class GELU(Activation):
    """GELU in its exact (erf) form: x·Φ(x)."""

    name = "gelu"

    def numpy(self, x):
        return x * special.ndtr(x)

    def derivative_numpy(self, x):
        x = np.asarray(x, dtype=np.float64)
        return special.ndtr(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def torch(self, x):
        import torch.nn.functional as F  # torch only for the torch form: theory does not need torch

        return F.gelu(x)

    def dual_closed_form(self, other):
        return _gelu_kernel if type(other) is GELU else None

    def regularity(self) -> Regularity:
        # σ' = Φ + xφ, extrema at x = ±√2 (1.128904, −0.128904); σ'' = φ(2 − x²) ≤ 2φ(0)
        return Regularity(1.1289042, 0.0, INF, 0.0, 0.7978846, 0.5, 1.1289042)


def _gelu_kernel(q1, q2, c, value: bool = True, derivative: bool = True, rho=None, s=None):
    """E[σ(u)σ(v)] and E[σ'(u)σ'(v)] for σ(x) = xΦ(x) (GELU, erf form), exactly.

    With s_i = 1 + q_i, D = s1 s2 − c², r = c/√(s1 s2) and κ = 1/s1 + 1/s2 − 1:

        E[σ(u)σ(v)]   = c/4 + c·arcsin(r)/(2π) + (q1 q2 + κ c²) / (2π √D),
        E[σ'(u)σ'(v)] = 1/4 + arcsin(r)/(2π) + c/(2π √D) + c (2κD + q1 q2 + κ c²) / (2π D^{3/2}).

    Derivation: Φ(u) = P(ξ ≤ u) with ξ ~ N(0, 1) independent, so σ(u)σ(v) = u v 1{w1 > 0} 1{w2 > 0}
    with w_i = u_i − ξ_i (Var w_i = s_i, Cov(w1, w2) = c). Gaussian integration by parts twice,
    E[u v g(w)] = Cov(u, v) E[g] + Σ_kl Cov(u, w_k) Cov(v, w_l) E[∂_k ∂_l g], with E[g] = 1/4 +
    arcsin(r)/(2π) (orthant probability), E[∂_1∂_2 g] = 1/(2π√D) and E[∂_1² g] = −c/(2π s1 √D),
    gives the first line; the second is its derivative in c (Price's theorem). Tested against nested
    adaptive quadrature."""
    s1 = 1.0 + q1
    s2 = 1.0 + q2
    prod = s1 * s2
    kappa = 1.0 / s1 + 1.0 / s2 - 1.0
    qq = q1 * q2
    c2 = c * c
    D = np.clip(prod - c2, 1e-300, None)
    rootD = np.sqrt(D)
    asin = np.arcsin(np.clip(c / np.sqrt(prod), -1.0, 1.0)) / (2 * np.pi)
    num = qq + kappa * c2
    val = der = None
    if value:
        val = c * (0.25 + asin) + num / (2 * np.pi) / rootD
    if derivative:
        der = 0.25 + asin + c / (2 * np.pi) / rootD * (1.0 + (2.0 * kappa * D + num) / D)
    return val, der


@dataclass(frozen=True)
class ELU(Activation):
    alpha: float = 1.0
    name = "elu"
    kinks = (0.0,)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ActivationError(f"elu alpha must be a positive finite number, got {self.alpha!r}")

    @property
    def token(self) -> str:
        return f"elu({_fmt(self.alpha)})"

    def numpy(self, x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0.0)))

    def derivative_numpy(self, x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(x > 0, 1.0, self.alpha * np.exp(np.minimum(x, 0.0)))

    def torch(self, x):
        import torch.nn.functional as F  # torch only for the torch form: theory does not need torch

        return F.elu(x, self.alpha)

    def hermite_exact(self, r, q):
        a = sp.nsimplify(self.alpha)
        return sp.sqrt(q) * _relu_mu(r) + a * _neg_exp_part(r, sp.sqrt(q), symbolic=True)

    def hermite_closed_form(self, r_max, q):
        c = math.sqrt(q)
        return c * _relu_mu_float(r_max) + self.alpha * np.array(
            [float(v) for v in _neg_exp_parts_float(r_max, c)]
        )

    def second_moment_closed(self, q):
        # q/2 + α²(e^{2q}Φ(−2√q) − 2e^{q/2}Φ(−√q) + 1/2), with e^{2q}Φ(−2√q) = erfcx(√(2q))/2 and
        # e^{q/2}Φ(−√q) = erfcx(√(q/2))/2 (no overflow for large q)
        neg = 0.5 * special.erfcx(math.sqrt(2 * q)) - special.erfcx(math.sqrt(q / 2)) + 0.5
        return q / 2.0 + self.alpha**2 * neg

    def regularity(self) -> Regularity:
        a = self.alpha  # σ' = (1−α)1{x>0} + α e^{min(x,0)}; s is α-Lipschitz, |s| ≤ α
        return Regularity(max(1.0, a), 0.0, INF, 1.0 - a, a, a, a)


def _neg_exp_parts_float(r_max: int, c: float) -> list[float]:
    """E[(e^{c z} − 1)·1{z<0}·h_r(z)] for r = 0..r_max, in float64 (see ``_neg_exp_part``)."""
    phi0 = 1.0 / math.sqrt(2 * math.pi)
    h0 = normalized_hermite(max(r_max - 1, 0), np.array(0.0))
    j = 0.5 * special.erfcx(c / math.sqrt(2))  # J_0 = E[e^{cz} 1{z<0}] = e^{c²/2}Φ(−c), overflow-free
    out = [j - 0.5]
    for r in range(1, r_max + 1):
        # J_r = c/√r J_{r−1} − h_{r−1}(0) φ(0)/√r ;  K_r = −h_{r−1}(0) φ(0)/√r  (c = 0)
        k = -float(h0[r - 1]) * phi0 / math.sqrt(r)
        j = c / math.sqrt(r) * j + k
        out.append(j - k)
    return out


def _neg_exp_part(r: int, c: sp.Expr, symbolic: bool = True) -> sp.Expr:
    """E[(e^{c z} − 1)·1{z<0}·h_r(z)] exactly, by integration by parts with He_rφ = (−1)^r φ^{(r)}:

    I_r(c) = ∫_{−∞}^0 e^{cz} He_r φ dz = c I_{r−1} − He_{r−1}(0) φ(0),  I_0 = e^{c²/2} Φ(−c).
    """
    phi0 = 1 / sp.sqrt(2 * sp.pi)
    i_c = sp.exp(c**2 / 2) * sp.erfc(c / sp.sqrt(2)) / 2
    i_0 = sp.Rational(1, 2)
    for k in range(1, r + 1):
        he = sp.hermite_prob(k - 1, 0)
        i_c = c * i_c - he * phi0
        i_0 = -he * phi0
    return (i_c - i_0) / sp.sqrt(sp.factorial(r))


@dataclass(frozen=True)
class Mixture(Activation):
    """Convex mixture Σ_k β_k σ_k (β_k ≥ 0, Σ β_k = 1). Hermite coefficients mix linearly."""

    components: tuple[tuple[float, Activation], ...] = ()
    name = "mix"

    def __post_init__(self) -> None:
        if len(self.components) < 1:
            raise ActivationError("a mixture needs at least one component")
        weights = [w for w, _ in self.components]
        if any((not math.isfinite(w)) or w < 0 for w in weights):
            raise ActivationError(f"mixture weights must be finite and non-negative, got {weights}")
        if abs(sum(weights) - 1.0) > 1e-9:
            raise ActivationError(f"mixture weights must sum to 1 (convex mixture), got sum {sum(weights)!r}")
        for _, act in self.components:
            if not isinstance(act, Activation):
                raise ActivationError(f"mixture component {act!r} is not an Activation")

    @property
    def token(self) -> str:
        return "mix(" + ",".join(f"{_fmt(w)}*{a.token}" for w, a in self.components) + ")"

    @property
    def kinks(self) -> tuple[float, ...]:  # type: ignore[override]
        return tuple(sorted({k for _, a in self.components for k in a.kinks}))

    @property
    def is_odd(self) -> bool:
        return all(a.is_odd for _, a in self.components)

    @property
    def terms(self) -> tuple[tuple[float, Activation], ...]:
        return tuple((w * w2, a2) for w, a in self.components for w2, a2 in a.terms)

    @property
    def is_mixture(self) -> bool:
        return True

    def hermite_coefficients_float(self, r_max, q):
        """By linearity: μ_r(Σ β_k σ_k) = Σ β_k μ_r(σ_k)."""
        total = np.zeros(r_max + 1)
        for w, a in self.components:
            total += w * np.asarray(_coefficients_cached(a, r_max, q))
        return total

    def hermite_symbolic(self, r, q):
        """By linearity, the same convex combination of the components' expressions."""
        return sp.Add(*[sp.nsimplify(w) * a.hermite_symbolic(r, q) for w, a in self.components])

    def numpy(self, x):
        return sum(w * a.numpy(x) for w, a in self.components)

    def derivative_numpy(self, x):
        return sum(w * a.derivative_numpy(x) for w, a in self.components)

    def torch(self, x):
        return sum(w * a.torch(x) for w, a in self.components)

    def regularity(self) -> Regularity | None:
        """By the triangle inequality over the components (the jump J linearly); None when a component
        has no constants."""
        regs = [a.regularity() for _, a in self.components]
        if any(r is None for r in regs):
            return None
        parts = [(abs(w), r, w) for (w, _), r in zip(self.components, regs)]
        return Regularity(
            lip=sum(w * r.lip for w, r, _ in parts),
            at0=sum(w * r.at0 for w, r, _ in parts),
            sup=sum(w * r.sup for w, r, _ in parts) if all(r.sup < INF for _, r, _ in parts) else INF,
            jump=sum(sw * r.jump for _, r, sw in parts),
            lip_s=sum(w * r.lip_s for w, r, _ in parts),
            s_at0=sum(w * r.s_at0 for w, r, _ in parts),
            s_sup=sum(w * r.s_sup for w, r, _ in parts),
        )


_SIMPLE: dict[str, type[Activation]] = {
    "relu": ReLU,
    "identity": Identity,
    "linear": Identity,
    "erf": Erf,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "swish": Swish,
    "silu": Swish,
    "gelu": GELU,
}
_PARAM: dict[str, type[Activation]] = {"leaky_relu": LeakyReLU, "elu": ELU}

#: Canonical activation names accepted by ``parse_activation`` (plus ``mix(...)``).
ACTIVATION_NAMES: tuple[str, ...] = (
    "relu", "leaky_relu", "tanh", "sigmoid", "swish", "gelu", "elu", "erf", "identity",
)

_NUM = NUMBER  # ASCII digits only (\d and float() also read Arabic-Indic or full-width digits)


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_activation(token: str) -> Activation:
    """Parse an activation token: ``relu``, ``leaky_relu(0.2)``, ``elu(1)``, ``mix(0.5*relu,0.5*tanh)``.

    Raises ActivationError naming the unknown or malformed part.
    """
    if isinstance(token, Activation):
        return token
    if not isinstance(token, str):
        raise ActivationError(f"activation must be a string or Activation, got {type(token).__name__}")
    t = ascii_text(token, "activation", ActivationError)
    if t in _SIMPLE:
        return _SIMPLE[t]()
    if t in _PARAM:
        return _PARAM[t]()
    m = re.fullmatch(r"([a-z_]+)\((.*)\)", t)
    if m is None:
        raise ActivationError(
            f"unknown activation {token!r}; known: {', '.join(ACTIVATION_NAMES)} and mix(w*act,...)"
        )
    name, inner = m.group(1), m.group(2)
    if name == "mix":
        comps = []
        for part in _split_top_level(inner):
            mm = re.fullmatch(rf"\s*({_NUM})\s*\*\s*(.+?)\s*", part)
            if mm is None:
                raise ActivationError(f"malformed mixture component {part!r} in {token!r}; expected w*activation")
            comps.append((float(mm.group(1)), parse_activation(mm.group(2))))
        return Mixture(tuple(comps))
    if name in _PARAM:
        if re.fullmatch(rf"\s*{_NUM}\s*", inner) is None:
            raise ActivationError(f"parameter {inner!r} of {name} in {token!r} is not a number")
        return _PARAM[name](float(inner))
    if name in _SIMPLE:
        raise ActivationError(f"activation {name!r} takes no parameter (got {token!r})")
    raise ActivationError(
        f"unknown activation {name!r} in {token!r}; known: {', '.join(ACTIVATION_NAMES)} and mix(w*act,...)"
    )


def get_activation(spec: str | Activation) -> Activation:
    """Return an Activation for a token or an Activation (identity)."""
    return parse_activation(spec)


# ---------------------------------------------------------------------------------------------
# Hermite machinery


def _check_r(r_max: int) -> int:
    if isinstance(r_max, bool) or not isinstance(r_max, (int, np.integer)):
        raise ActivationError(f"Hermite order must be an integer, got {r_max!r}")
    if r_max < 0:
        raise ActivationError(f"Hermite order r must be >= 0, got {r_max}")
    return int(r_max)


def _check_q(q: float) -> float:
    try:
        return check_variance(q)
    except ValueError as exc:
        raise ActivationError(str(exc)) from None


def _numeric_coefficients(act: Activation, r_max: int, q: float) -> np.ndarray:
    """Quadrature (``smooth_rule``) of μ_r for smooth activations."""
    if act.kinks:
        raise ActivationError(
            f"{act.token} is not smooth and has no closed-form Hermite coefficients; "
            "Gauss–Hermite quadrature would be inaccurate"
        )
    sq = math.sqrt(q)
    z, w = smooth_rule(q)
    r_eff = min(r_max, GH_MAX_ORDER)
    out = np.zeros(r_max + 1)
    out[: r_eff + 1] = normalized_hermite(r_eff, z) @ (w * act.numpy(sq * z))
    return out


@lru_cache(maxsize=4096)
def _coefficients_cached(act: Activation, r_max: int, q: float) -> tuple[float, ...]:
    return tuple(act.hermite_coefficients_float(r_max, q))


def hermite_coefficients(act: str | Activation, r_max: int, q: float = 1.0) -> np.ndarray:
    """μ_0..μ_{r_max} of σ_q(z) = σ(√q z), float64, shape (r_max+1,).

    Exact closed forms where implemented, else quadrature (see module docstring).
    """
    act = parse_activation(act)
    r_max = _check_r(r_max)
    q = _check_q(q)
    return np.array(_coefficients_cached(act, r_max, q))


def hermite_coefficient_symbolic(act: str | Activation, r: int, q: sp.Expr | float = 1) -> sp.Expr:
    """μ_r(σ_q) as a sympy expression: exact where a closed form exists, else a Float.

    For a mixture the result is the same convex combination of the components' expressions.
    """
    act = parse_activation(act)
    r = _check_r(r)
    q_expr = sp.sympify(q) if not isinstance(q, float) else sp.nsimplify(q)
    return act.hermite_symbolic(r, q_expr)


def derivative_hermite_coefficients(act: str | Activation, r_max: int, q: float = 1.0) -> np.ndarray:
    """Hermite coefficients of z ↦ σ'(√q z), from Stein's lemma:

    E[σ'(√q z) h_r(z)] = √(r+1)/√q · μ_{r+1}(σ_q).
    """
    r_max = _check_r(r_max)
    q = _check_q(q)
    mu = hermite_coefficients(act, r_max + 1, q)
    r = np.arange(r_max + 1)
    return np.sqrt(r + 1.0) * mu[1:] / math.sqrt(q)


@lru_cache(maxsize=1024)
def _second_moment_cached(act: Activation, q: float) -> float:
    """The activation's closed form (``Activation.second_moment_closed``: relu q/2, leaky q(1+a²)/2,
    identity q, erf (2/π)asin(2q/(1+2q)), elu), else adaptive quadrature of σ² directly
    (``gaussian_expectation``, split at 0 and at the kinks; not via the Hermite series)."""
    closed = act.second_moment_closed(q)
    if closed is not None:
        return float(closed)
    sq = math.sqrt(q)
    return gaussian_expectation(lambda t: float(act.numpy(np.array(sq * t))) ** 2, [k / sq for k in act.kinks])


def second_moment(act: str | Activation, q: float = 1.0) -> float:
    """E[σ(√q z)²] for z ~ N(0,1), computed directly (not from the Hermite series)."""
    act = parse_activation(act)
    return _second_moment_cached(act, _check_q(q))


def default_weight_variance(act: str | Activation) -> float:
    """c_w = 1 / E[σ(z)²] : keeps the second moment of unit-variance features at 1."""
    m = second_moment(act, 1.0)
    if m <= 0:
        raise ActivationError(f"activation {act} has zero second moment; no weight variance normalizes it")
    return 1.0 / m


def mixture(weights: Sequence[float], acts: Sequence[str | Activation]) -> Mixture:
    """Convenience constructor of a convex mixture."""
    if len(weights) != len(acts):
        raise ActivationError("mixture needs as many weights as activations")
    return Mixture(tuple((float(w), parse_activation(a)) for w, a in zip(weights, acts)))

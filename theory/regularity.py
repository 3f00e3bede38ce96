"""Regularity constants of the activations, for the error propagation of ``theory.errors``.

For σ and its derivative written as σ' = J·1{x>0} + s(x) (J: the jump of σ' at 0, s continuous):

* ``lip``    L = sup|σ'|                       (σ is L-Lipschitz)
* ``at0``    |σ(0)|;   ``sup``  sup|σ| (inf when unbounded), so √E[σ(√q z)²] ≤ min(|σ(0)| + L√q, sup|σ|)
* ``jump``   J
* ``lip_s``  L_s = Lipschitz constant of s;  ``s_at0`` |s(0)|;  ``s_sup`` sup|s|

Values are the exact suprema rounded up (derivations in the comments; the tests check each against a
dense grid). Mixtures Σ β_k σ_k combine them by the triangle inequality (J linearly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theory.activations import (
    ELU,
    GELU,
    Activation,
    ActivationError,
    Erf,
    Identity,
    LeakyReLU,
    Mixture,
    ReLU,
    Sigmoid,
    Swish,
    Tanh,
)

__all__ = ["Regularity", "regularity"]

INF = math.inf


@dataclass(frozen=True)
class Regularity:
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


def regularity(act: Activation) -> Regularity:
    """The constants above for ``act`` (raises ActivationError for an activation without them)."""
    if isinstance(act, Mixture):
        parts = [(abs(w), regularity(a), w) for w, a in act.components]
        return Regularity(
            lip=sum(w * r.lip for w, r, _ in parts),
            at0=sum(w * r.at0 for w, r, _ in parts),
            sup=sum(w * r.sup for w, r, _ in parts) if all(r.sup < INF for _, r, _ in parts) else INF,
            jump=sum(sw * r.jump for _, r, sw in parts),
            lip_s=sum(w * r.lip_s for w, r, _ in parts),
            s_at0=sum(w * r.s_at0 for w, r, _ in parts),
            s_sup=sum(w * r.s_sup for w, r, _ in parts),
        )
    if isinstance(act, ReLU):  # σ' = 1{x>0}: J = 1, s = 0
        return Regularity(1.0, 0.0, INF, 1.0, 0.0, 0.0, 0.0)
    if isinstance(act, LeakyReLU):  # σ' = (1−a)1{x>0} + a
        a = act.slope
        return Regularity(max(1.0, abs(a)), 0.0, INF, 1.0 - a, 0.0, abs(a), abs(a))
    if isinstance(act, Identity):
        return Regularity(1.0, 0.0, INF, 0.0, 0.0, 1.0, 1.0)
    if isinstance(act, ELU):  # σ' = (1−α)1{x>0} + α e^{min(x,0)}; s is α-Lipschitz, |s| ≤ α
        a = act.alpha
        return Regularity(max(1.0, a), 0.0, INF, 1.0 - a, a, a, a)
    if isinstance(act, Tanh):  # sup|tanh''| = 4/(3√3) at tanh x = 1/√3
        return Regularity(1.0, 0.0, 1.0, 0.0, 0.7698004, 1.0, 1.0)
    if isinstance(act, Sigmoid):  # σ' = s(1−s) ≤ 1/4; sup|σ''| = 1/(6√3)
        return Regularity(0.25, 0.5, 1.0, 0.0, 0.0962251, 0.25, 0.25)
    if isinstance(act, Erf):  # σ' = (2/√π)e^{−x²}; sup|σ''| = (4/√π)(1/√2)e^{−1/2} at x = 1/√2
        return Regularity(2 / math.sqrt(math.pi) * (1 + 1e-12), 0.0, 1.0, 0.0, 0.9678830,
                          2 / math.sqrt(math.pi), 2 / math.sqrt(math.pi) * (1 + 1e-12))
    if isinstance(act, GELU):  # σ' = Φ + xφ, extrema at x = ±√2 (1.128904, −0.128904); σ'' = φ(2 − x²) ≤ 2φ(0)
        return Regularity(1.1289042, 0.0, INF, 0.0, 0.7978846, 0.5, 1.1289042)
    if isinstance(act, Swish):  # σ' max 1.09984 at x ≈ 2.3994 (min −0.09984); sup|σ''| = 1/2 at 0
        return Regularity(1.0998500, 0.0, INF, 0.0, 0.5000001, 0.5, 1.0998500)
    raise ActivationError(f"no regularity constants for {act.token}; the kernel error cannot be propagated")


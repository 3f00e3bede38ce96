"""Regularity constants of the activations, for the error propagation of ``theory.errors``.

For σ and its derivative written as σ' = J·1{x>0} + s(x) (J: the jump of σ' at 0, s continuous):

* ``lip``    L = sup|σ'|                       (σ is L-Lipschitz)
* ``at0``    |σ(0)|;   ``sup``  sup|σ| (inf when unbounded), so √E[σ(√q z)²] ≤ min(|σ(0)| + L√q, sup|σ|)
* ``jump``   J
* ``lip_s``  L_s = Lipschitz constant of s;  ``s_at0`` |s(0)|;  ``s_sup`` sup|s|

Each activation carries its constants (``Activation.regularity``, in ``theory.activations``: the exact
suprema rounded up, derivations in the comments; the tests check each against a dense grid); mixtures
Σ β_k σ_k combine the components' by the triangle inequality (J linearly). ``regularity`` dispatches
on that method only, so an activation with constants is added there and nowhere else.
"""

from __future__ import annotations

from theory.activations import Activation, ActivationError, Regularity

__all__ = ["Regularity", "regularity"]


def regularity(act: Activation) -> Regularity:
    """The constants above for ``act`` (raises ActivationError for an activation without them)."""
    reg = act.regularity()
    if reg is None:
        raise ActivationError(f"no regularity constants for {act.token}; the kernel error cannot be propagated")
    return reg

"""Bounds on λ_min of the exact infinite-width NTK Θ, and the generalization bound (docs/theory.md, Part III).

Public API
----------
* ``lower(arch, r=8)``  → ``Bound``: the closed-form lower bound LB_r (Theorem 2 below);
* ``upper(arch)``       → ``Bound``: min(Θ at one sample, λ_min of one 2×2 principal submatrix);
* ``generalization(arch)`` → ``Bound``: Cao & Gu (2019, Cor. 3.10) form with symbolic constants;
* ``paper_form(arch, r=2)`` → (lower, upper) reconstructions of the paper's asymptotic statements,
  hidden constants as the symbols C_lower, C_upper (**reconstructions of the form, not quotations**);
* ``certify(arch, X, r=8)`` → ``Certificate``: every level of the hierarchy as numbers,
  closed form ≤ S2 ≤ S1 ≤ λ_min(Θ) ≤ U_2x2 ≤ min(U_pair, U_diag);
* ``finite_width(lmin_exact, K_m, Theta)``: Weyl's finite-width statement.

A ``Bound`` has ``.expr`` (sympy), ``.symbols`` (name → (Symbol, meaning)), ``.latex()``,
``.evaluate(arch, X, y, *, kp, strict, constants)`` (one signature for every bound; compiled to numpy;
returns a ``BoundValue`` with flags) and ``.table()``.

Modules: ``bound`` (Bound, BoundValue), ``lower_upper`` (lower, upper, paper_form), ``generalization``,
``certify`` (certify, finite_width), ``exact`` (levels from the exact kernel), ``closed`` (the
expressions), ``plan``, ``data``, ``moments``, ``reference`` (an independent kernel). This file only
states the theorems and re-exports.

The theorems (full proofs in docs/theory.md (Part III); the lemmas are)
--------------------------------------------------------------
* **Schur product theorem**: A, B ⪰ 0 ⇒ A ⊙ B ⪰ 0, and λ_min(A ⊙ B) ≥ λ_min(A)·min_i B_ii
  (A − λ_min(A) I ⪰ 0 ⇒ (A − λ_min(A) I) ⊙ B ⪰ 0 ⇒ A ⊙ B ⪰ λ_min(A) diag(B)).
* **Weyl**: λ_min(A + B) ≥ λ_min(A) + λ_min(B) for symmetric A, B; with B ⪰ 0, A + B ⪰ A.
* **Mehler / Hermite**: for g ~ N(0, C) with C_ii = q_i and correlation ρ = D^{-1/2} C D^{-1/2},
  E[σ(g_i) σ(g_j)] = Σ_{s≥0} μ_s(σ_{q_i}) μ_s(σ_{q_j}) ρ_ij^s, so the centred feature kernel is
  Σ_{s≥1} D_s ρ^{⊙s} D_s, D_s = diag(μ_s(σ_{q_i})), a sum of PSD terms; with Stein's lemma,
  c Σ_uu ⊙ E[σ'(g)σ'(g)ᵀ] = Σ_{s≥1} D'_s ρ^{⊙s} D'_s, D'_s = diag(√s μ_s(σ_{q_i})), q_i = c Σ_uu,ii.
* **Gershgorin**: a symmetric matrix with unit diagonal has λ_min ≥ 1 − max_i Σ_{j≠i} |a_ij|; applied
  to ρ^{⊙s}: λ_min(ρ^{⊙s}) ≥ 1 − γ_s ≥ 1 − (N−1) ρ̂^s, γ_s = max_i Σ_{j≠i}|ρ_ij|^s (any s ≥ 1, odd included).
  Also λ_min(ρ^{⊙s}) ≥ λ_min(ρ) (Schur, unit diagonal).

**Theorem 1 (structural, S1 ≥ S2)**: see ``bounds.exact``.

**Theorem 2 (closed form LB_r)**: for every r ≥ 0, with g_s(0) = max(λ_0, 1 − γ_s) (or the weaker
max(λ_0, 1 − (N−1)ρ̂^s)),
g_s(u) = λ_u = ℓ_u / Q_u (u ≥ 1), the node bounds
    ℓ_u = S_{0→u}² ℓ_c + Σ_k P_{k→u}² κ_k,      κ_k = Σ_{s=1}^r μ_{s,k}² g_s(src k) + τ_k g_{r+1}(src k),
    π_v = S_{v→out}² + Σ_k S_{v→src k}² α_k² c_k ν_k π_{dst k},
    B_k = Σ_{s=1}^r s μ_{s,k}² g_s(src k) + τ'_k g_{r+1}(src k),
satisfy λ_min(Σ_uu) ≥ ℓ_u, min_i Π_vv,ii ≥ π_v, λ_min(c_k Σ_uu ⊙ V'_k) ≥ B_k, and
    λ_min(Θ) ≥ LB_r = ℓ_out + Σ_k α_k² π_{dst k} B_k ≥ 0.
Proof: the orthogonal decomposition of ``bounds.plan`` gives Σ_uu = (rank-one mean part) +
S_{0→u}²(XXᵀ/d − m mᵀ) + Σ_k P_{k→u}² K̃_k with every summand PSD (Weyl ⇒ ℓ_u); Mehler gives
K̃_k ⪰ Σ_{s≤r} D_s ρ_u^{⊙s} D_s + Σ_{s>r} D_s ρ_u^{⊙s} D_s ⪰ [Σ_{s≤r} μ_{s,k}² g_s + τ_k g_{r+1}] I
(each ρ_u^{⊙s} ⪰ g_s I with g_s ≥ 0, D_s² ⪰ min_i μ_s² I; tail: g_s ≥ g_{r+1} for s > r since ρ̂ ≤ 1);
ρ_u = D^{-1/2}Σ_uu D^{-1/2} ⪰ (ℓ_u / max_i q_u) I; the same for c Σ ⊙ V' with √s μ_s (⇒ B_k);
Schur with B = Π_vv (⇒ α² π_v B_k); Weyl over the readout and the edges. □

**Theorem 3 (tightness)**: for a depth-1 net on orthonormal data (XXᵀ/d = I after scaling), and
generally whenever every dense edge reads node 0 and ρ_0 = I, g_s = 1 for all s and the tails make
LB_r = λ_min(Θ) exactly, for every r.

**Theorem 4 (upper)**: λ_min(Θ) ≤ Θ_{i*i*} (Rayleigh, w = e_{i*}) and ≤ λ_min([[Θ_aa, Θ_ab],
[Θ_ab, Θ_bb]]) (Cauchy interlacing); the closed form writes Θ_{i*i*} by the exact diagonal recursion.

**Monotonicity (skip edges)**: for positively homogeneous activations (relu, leaky_relu, identity)
and data with constant diagonals (sphere, equal coordinate means), adding an identity edge never
decreases LB_r: every P, S, π grows (α > 0), q_u grows, and each κ_k, B_k from a node u ≥ 1 equals
(Σ_{s≥1} μ_s(σ_1)² or Σ s μ_s(σ_1)²)·c_k·ℓ_u, monotone in ℓ_u. For saturating activations
(tanh, sigmoid, …) μ_s(σ_q)²/q decreases in q, and the statement can fail (docs/theory.md §III.5).
"""

from __future__ import annotations

from bounds.bound import Bound, BoundValue
from bounds.certify import Certificate, certify, finite_width
from bounds.closed import R_MAX
from bounds.generalization import generalization
from bounds.lower_upper import lower, paper_form, upper
from bounds.plan import BoundError, depth

__all__ = [
    "Bound",
    "BoundValue",
    "BoundError",
    "Certificate",
    "lower",
    "upper",
    "generalization",
    "paper_form",
    "certify",
    "finite_width",
    "depth",
    "R_MAX",
]

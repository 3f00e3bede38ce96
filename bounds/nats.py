"""Structural bounds on λ_min of the exact NTK Θ of the BN-free NATS network (``theory.nats``).

Θ = Σ_g Θ_g over the parameter groups (stem, every cell, every reduction block, head), each the limit of
J_g J_gᵀ, hence PSD; the head group is the NNGP, Θ_head = Σ_f = σ_v² ⟨V(Σ_h)⟩. The rest is the backward
term at the head, B = σ_v² Gᵀ (Θ_h ⊙ V'(Σ_h)) G, with Θ_h, Σ_h the last stage's pixel-level kernels
(M = N·h·w rows) and G (M × N) the GAP matrix, G[(n, p), m] = δ_nm/(hw). Levels (docs/theory.md, Part IV):

* **S0 (NNGP).** Θ ⪰ Σ_f (Weyl, every other summand PSD):  λ_min(Θ) ≥ λ_min(Σ_f).
* **S1 (Weyl over the groups).**  λ_min(Θ) ≥ Σ_g λ_min(Θ_g)  (Weyl's λ_min(A + B) ≥ λ_min(A) + λ_min(B)).
* **S2 (Weyl + Schur at the head).** Schur: for A, B ⪰ 0, A ⊙ B ⪰ λ_min(A)·Diag(B_ii). With
  (A, B) = (Θ_h, V') or (V', Θ_h), and Gᵀ Diag(b) G = Diag_n((1/(hw)²) Σ_p b_(n,p)):
  λ_min(B) ≥ σ_v² · max(λ_min(Θ_h) · min_n d(V')_n, λ_min(V') · min_n d(Θ_h)_n), d(T)_n = (1/(hw)²) Σ_p T_(n,p),(n,p);
  S2 = λ_min(Σ_f) + that. (V' = E[1{u>0}1{v>0}] is a Gram matrix of indicator features, PSD.)
  S1 and S2 bound the same remainder Θ − Σ_f in two ways; neither dominates the other.
* **Upper (Rayleigh, Cauchy interlacing)** from ``bounds.exact.upper_from_kernel``: U_diag = min_i Θ_ii,
  U_pair, U_2x2 = min over pairs of λ_min of the 2×2 principal submatrix. Without BatchNorm, Θ(x_i, x_j)
  depends on the two images only, so a principal submatrix is the kernel of a subset of the images:
  ``nats_upper`` gets U_diag and U_2x2 on chosen pairs from N one-image and k two-image runs, at
  N·(hw)² and 4k·(hw)² per-tensor cost instead of (N·hw)².

Every eigenvalue is lowered by the rounding allowance 8·n·eps·max|A| (as in ``bounds.exact``), so a lower
bound stays a bound after rounding. What does not carry over from the FC bounds (the closed form LB_r,
the skip monotonicity, tightness on orthonormal data) and why: docs/theory.md, Part IV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bounds.exact import upper_from_kernel
from theory.nats import check_images, nats_kernels, nats_ntk

__all__ = ["NATSLevels", "nats_levels", "nats_upper", "levels_from_kernels"]

SIGMA_V2 = 2.0  # the head's weight variance (theory.nats.SIGMA_V2)


def _lmin(A: np.ndarray) -> float:
    A = (A + A.T) / 2
    return float(np.linalg.eigvalsh(A)[0] - 8.0 * A.shape[0] * np.finfo(np.float64).eps * np.abs(A).max())


def _relu_derivative_kernel(S: np.ndarray) -> np.ndarray:
    """V'(Σ) = (π − θ)/(2π) on a (pixel-level) covariance matrix; 0 on zero-variance rows."""
    sd = np.sqrt(np.clip(np.diag(S), 0.0, None))
    live = sd > 0
    inv = np.where(live, 1.0 / np.where(live, sd, 1.0), 0.0)
    cos = np.clip(S * inv[:, None] * inv[None, :], -1.0, 1.0)
    np.fill_diagonal(cos, live.astype(float))
    return (np.pi - np.arccos(cos)) / (2 * np.pi) * np.outer(live, live)


@dataclass(frozen=True)
class NATSLevels:
    """λ_min(Θ) and the bounds around it: max(s0, s1, s2) ≤ exact ≤ u_2x2 ≤ min(u_pair, u_diag)."""

    exact: float
    s0: float
    s1: float
    s2: float
    u_diag: float
    u_pair: float
    u_2x2: float

    @property
    def lower(self) -> float:
        return max(self.s0, self.s1, self.s2)

    @property
    def upper(self) -> float:
        return self.u_2x2

    def lines(self) -> list[str]:
        return [
            f"structural lower S2 (Weyl + Schur at the head) {self.s2: .8g}",
            f"structural lower S1 (Weyl over the groups)     {self.s1: .8g}",
            f"NNGP lower S0                                  {self.s0: .8g}",
            f"exact lambda_min(Theta)                        {self.exact: .8g}",
            f"upper 2x2 interlacing                          {self.u_2x2: .8g}",
            f"upper pair Rayleigh                            {self.u_pair: .8g}",
            f"upper diagonal                                 {self.u_diag: .8g}",
        ]


def levels_from_kernels(k) -> NATSLevels:
    """The levels from a ``theory.nats.NATSKernels`` computed with ``groups=True``."""
    if "head" not in k.parts:
        raise ValueError("levels_from_kernels needs theory.nats_kernels(..., groups=True)")
    exact = _lmin(k.ntk)
    s0 = max(0.0, _lmin(k.nngp))
    s1 = s0 + sum(max(0.0, _lmin(t)) for g, t in k.parts.items() if g != "head")
    h, w = k.last_shape
    n = k.ntk.shape[0]
    Th, Vd = k.last_theta, _relu_derivative_kernel(k.last_sigma)

    def d(T: np.ndarray) -> float:
        return float(np.diag(T).reshape(n, h * w).sum(1).min()) / (h * w) ** 2

    schur = max(max(0.0, _lmin(Th)) * d(Vd), max(0.0, _lmin(Vd)) * d(Th))
    s2 = s0 + SIGMA_V2 * schur
    ud, up, u2, _ = upper_from_kernel(k.ntk)
    return NATSLevels(exact, s0, s1, s2, ud, up, u2)


def nats_levels(arch, images, stages: int = 3, cells_per_stage: int = 1, **kw) -> NATSLevels:
    """Exact λ_min(Θ) of ``theory.nats_ntk`` with the lower bounds S0, S1, S2 and the upper bounds."""
    return levels_from_kernels(nats_kernels(arch, images, stages, cells_per_stage, groups=True, **kw))


def nats_upper(arch, images, stages: int = 3, cells_per_stage: int = 1, pairs: int = 4, **kw
               ) -> tuple[float, float, list[tuple[int, int]]]:
    """Upper bounds on λ_min(Θ) without the full kernel: (U_diag, U_2x2 over ``pairs`` pairs, the pairs).

    U_diag = min_i Θ(x_i, x_i) from N one-image runs; U_2x2 = min over the chosen pairs of λ_min of the
    2×2 kernel of the pair (Cauchy interlacing: a principal submatrix). The pairs are those of largest
    input cosine ⟨x_i, x_j⟩/(‖x_i‖‖x_j‖) (nearly parallel images make the smallest 2×2 eigenvalues);
    any choice gives a valid bound.
    """
    x = check_images(images, stages).cpu().numpy()
    n = x.shape[0]
    diag = np.array([nats_ntk(arch, x[i:i + 1], stages, cells_per_stage, **kw)[0, 0] for i in range(n)])
    u_diag = float(diag.min())
    if n < 2 or pairs < 1:
        return u_diag, u_diag, []
    F = x.reshape(n, -1)
    nrm = np.linalg.norm(F, axis=1)
    cos = (F @ F.T) / np.outer(np.where(nrm > 0, nrm, 1.0), np.where(nrm > 0, nrm, 1.0))
    iu = np.triu_indices(n, 1)
    order = np.argsort(-np.abs(cos[iu]))[:pairs]
    chosen = [(int(iu[0][t]), int(iu[1][t])) for t in order]
    u2 = u_diag
    for i, j in chosen:
        K = nats_ntk(arch, x[[i, j]], stages, cells_per_stage, **kw)
        a, b, c = K[0, 0], K[1, 1], K[0, 1]
        u2 = min(u2, float((a + b) / 2 - np.sqrt(((a - b) / 2) ** 2 + c**2)))
    return u_diag, u2, chosen

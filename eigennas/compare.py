"""The comparator: bound vs exact vs measured λ_min of the NTK for one architecture and data set.

One record (``Comparison``) holds, for an FC architecture of the search space and inputs X on the
sphere (theory's convention, ‖x‖ = √d):

* the lower bounds of ``bounds.certify`` (closed form LB_r, structural S2 ≤ S1), the exact
  infinite-width λ_min(Θ) of ``theory``, and the upper bounds (2×2 interlacing, pair Rayleigh,
  diagonal, closed form);
* the measured λ_min(K̄_m) of the empirical NTK of ``empirics.models.fc_model.FCNet`` at each width m,
  mean ± std over seeds, together with ‖K̄_m − Θ‖₂, so that the finite-width statement
  λ_min(K̄_m) ≥ λ_min(Θ) − ‖K̄_m − Θ‖₂ (Weyl) can be read off;
* the generalization terms of ``bounds.generalization`` (Cao & Gu 2019, Cor. 3.10 form): the exact
  yᵀΘ⁻¹y and its relaxations ‖y‖²/λ_min(Θ) and ‖y‖²/LB_r.

The figures (``eigennas.figures``) and the ``theory`` score of the NATS-Bench search use these
same pieces; nothing here recomputes a kernel that theory/ or bounds/ already provide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

import bounds
import theory
from empirics import build_model, empirical_ntk
from theory.space import Arch

__all__ = ["Comparison", "compare", "measure_lambda_min"]


@dataclass
class Comparison:
    """Bound vs exact vs measured for one architecture on one data set (all float64)."""

    arch: str
    n: int
    d: int
    r: int
    lower: float  # closed-form LB_r
    lower_structural: float  # S2 (Weyl + Schur on the exact per-edge pieces)
    exact: float  # λ_min(Θ), infinite width
    upper: float  # the smallest of the upper bounds
    upper_diag: float  # min_i Θ_ii
    measured: dict[int, tuple[float, float]] = field(default_factory=dict)  # width -> (mean, std)
    deviation: dict[int, tuple[float, float]] = field(default_factory=dict)  # width -> ‖K̄_m − Θ‖₂ mean, std
    y_theta_inv_y: float = math.nan
    relaxed_lambda_min: float = math.nan  # ‖y‖² / λ_min(Θ)
    relaxed_closed_form: float = math.nan  # ‖y‖² / LB_r
    flags: tuple[str, ...] = ()

    @property
    def tightness(self) -> float:
        """LB_r / λ_min(Θ) (nan when λ_min(Θ) ≤ 0)."""
        return self.lower / self.exact if self.exact > 0 else math.nan

    def rows(self) -> list[dict[str, object]]:
        """Flat rows for a CSV: one per measured width (or one row when nothing was measured)."""
        base = {k: v for k, v in asdict(self).items() if k not in ("measured", "deviation", "flags")}
        base["flags"] = "; ".join(self.flags)
        if not self.measured:
            return [dict(base, width="", measured_mean="", measured_std="", deviation_mean="", deviation_std="")]
        out = []
        for m in sorted(self.measured):
            mean, std = self.measured[m]
            dmean, dstd = self.deviation.get(m, (math.nan, math.nan))
            out.append(dict(base, width=m, measured_mean=mean, measured_std=std, deviation_mean=dmean,
                            deviation_std=dstd))
        return out


def measure_lambda_min(
    arch: Arch | str, X: np.ndarray, width: int, seeds: Sequence[int], theta: np.ndarray | None = None
) -> tuple[list[float], list[float]]:
    """λ_min of the empirical NTK of ``empirics.build_model(arch, width, seed, in_dim=d)`` (the FCNet
    of the theory's parametrization) for each seed, and (when the
    exact Θ is given) the spectral deviation ‖K̄_m − Θ‖₂."""
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float64))
    lams, devs = [], []
    for s in seeds:
        model = build_model(arch, width=width, seed=int(s), in_dim=X.shape[1], family="fc")
        K = np.asarray(empirical_ntk(model, Xt), dtype=np.float64)
        K = (K + K.T) / 2
        lams.append(float(np.linalg.eigvalsh(K)[0]))
        if theta is not None:
            devs.append(float(np.linalg.norm(K - theta, 2)))
    return lams, devs


def compare(
    arch: Arch | str,
    X: np.ndarray,
    widths: Sequence[int] = (),
    seeds: Sequence[int] = (0, 1, 2),
    r: int = 4,
    y: np.ndarray | None = None,
) -> Comparison:
    """Build the ``Comparison`` record of ``arch`` on X (N×d on the sphere of radius √d).

    ``widths`` empty: bounds and exact only (no torch work). ``y`` (±1 labels) defaults to the sign of
    the first coordinate, a fixed labelling that only serves to evaluate yᵀΘ⁻¹y.
    """
    a = Arch.parse(arch)
    X = np.asarray(X, dtype=np.float64)
    kp = theory.kernel_pieces(a, X)
    cert = bounds.certify(a, X, r=r, kp=kp)
    theta = kp.ntk
    uppers = [v for v in (cert.u_2x2, cert.u_pair, cert.u_diag, cert.closed_upper) if np.isfinite(v)]
    rec = Comparison(
        arch=str(a), n=X.shape[0], d=X.shape[1], r=r, lower=cert.closed_lower, lower_structural=cert.s2,
        exact=cert.exact, upper=min(uppers) if uppers else math.nan, upper_diag=cert.u_diag,
        flags=tuple(cert.flags),
    )
    if y is None:
        y = np.where(X[:, 0] >= 0, 1.0, -1.0)
    y = np.asarray(y, dtype=np.float64)
    if cert.exact > 0:
        rec.y_theta_inv_y = float(y @ np.linalg.solve(theta, y))
        rec.relaxed_lambda_min = float(y @ y / cert.exact)
    if cert.closed_lower > 0:
        rec.relaxed_closed_form = float(y @ y / cert.closed_lower)
    for m in widths:
        lams, devs = measure_lambda_min(a, X, int(m), seeds, theta)
        rec.measured[int(m)] = (float(np.mean(lams)), float(np.std(lams)))
        rec.deviation[int(m)] = (float(np.mean(devs)), float(np.std(devs)))
    return rec

"""Input data for the kernels: validation, the sphere convention, and two small loaders.

Convention (used by every kernel in ``theory``): samples are the rows of X (N×d) and lie on the
sphere of radius √d, ‖x‖² = d, so that the input kernel Σ_00 = XXᵀ/d has unit diagonal (the
coordinates have unit second moment). ``check_inputs`` accepts any common radius (the kernels are
exact for it) but rejects samples of unequal norm unless ``normalize=True``, which rescales every
row to radius √d. The coordinate mean of a sample, m_0(x) = (1/d) Σ_i x_i, is kept as it is (real
images have non-zero means; the kernels track it exactly).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from theory.data_dir import find_data_dir

__all__ = [
    "InputError",
    "KernelTooLargeError",
    "check_inputs",
    "check_memory",
    "sphere_data",
    "available_memory_bytes",
    "CIFAR10_SAMPLES",
]

#: Relative tolerance on ‖x_i‖² for "equal norm".
NORM_RTOL = 1e-8
#: Relative path (inside the data folder) of the CIFAR-10 test sample used by ``sphere_data``.
CIFAR10_SAMPLES = "cifar10_samples/cifar10_test_1000_jpeg_yoongikim.npz"


class InputError(ValueError):
    """Input data that the kernels cannot use (non-finite, wrong shape, unequal norms, zero rows)."""


class KernelTooLargeError(MemoryError):
    """The N×N matrices of a kernel computation would not fit in memory."""


def check_inputs(X, normalize: bool = False) -> np.ndarray:
    """Validate X (N×d) and return it as float64; with ``normalize`` rescale rows to norm √d.

    Raises InputError for a non-2-D array, no samples, non-finite entries, a zero row, or rows of
    unequal norm (relative tolerance ``NORM_RTOL``) when ``normalize`` is False.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"X must be a 2-D array (N samples × d features), got shape {X.shape}")
    n, d = X.shape
    if n == 0 or d == 0:
        raise InputError(f"X must have at least one sample and one feature, got shape {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise InputError(f"X has non-finite entries (NaN or inf) in rows {rows[:10].tolist()}"
                         + (" ..." if rows.size > 10 else ""))
    sq = np.einsum("ij,ij->i", X, X)
    if np.any(sq == 0):
        raise InputError(f"X has zero rows {np.nonzero(sq == 0)[0][:10].tolist()}; they cannot be put on the sphere")
    if normalize:
        return X * np.sqrt(d / sq)[:, None]
    if sq.max() - sq.min() > NORM_RTOL * sq.max():
        raise InputError(
            f"samples must lie on a sphere (equal norms); squared norms range over [{sq.min():.6g}, {sq.max():.6g}]. "
            "Pass normalize=True to rescale every row to norm sqrt(d)"
        )
    return X


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux), else physical memory, else 8 GiB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_memory(n: int, n_matrices: int, max_bytes: int | None = None) -> int:
    """Raise KernelTooLargeError before allocating when ``n_matrices`` float64 N×N arrays (plus
    workspace) would exceed ``max_bytes`` (default: half the available memory). Returns the estimate."""
    need = 8 * n * n * (n_matrices + 4)
    limit = available_memory_bytes() // 2 if max_bytes is None else int(max_bytes)
    if need > limit:
        raise KernelTooLargeError(
            f"N = {n} samples needs about {need / 2**30:.2f} GiB for {n_matrices} N×N float64 kernel matrices, "
            f"more than the {limit / 2**30:.2f} GiB allowed; use fewer samples"
        )
    return need


def sphere_data(n: int = 50, d: int = 10, seed: int = 0, source: str = "gaussian",
                data_dir: str | os.PathLike | None = None, center: bool = False) -> np.ndarray:
    """N points on the sphere of radius √d (float64, N×d).

    * ``source="gaussian"``: rows i.i.d. N(0, I_d), rescaled to norm √d (uniform on the sphere;
      coordinate means ≈ 0).
    * ``source="cifar10"``: the first n images of the CIFAR-10 test sample in the data folder
      (``theory.data_dir.find_data_dir``; file ``CIFAR10_SAMPLES``, key 'images', (N, 32, 32, 3) uint8),
      scaled to [0, 1], flattened (d = 3072, the argument ``d`` is ignored), optionally centred per
      image (``center``), then rescaled to norm √3072. Uncentred images keep their positive coordinate
      mean, which the kernels track.
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    if source == "gaussian":
        if d < 1:
            raise InputError(f"d must be >= 1, got {d}")
        X = np.random.default_rng(seed).standard_normal((n, d))
    elif source == "cifar10":
        path = Path(find_data_dir(data_dir)) / CIFAR10_SAMPLES
        if not path.is_file():
            raise FileNotFoundError(f"CIFAR-10 samples not found at {path}")
        with np.load(path) as f:
            imgs = f["images"]
        if n > imgs.shape[0]:
            raise InputError(f"asked for {n} CIFAR-10 images, the sample has {imgs.shape[0]}")
        X = imgs[:n].reshape(n, -1).astype(np.float64) / 255.0
        if center:
            X = X - X.mean(1, keepdims=True)
    else:
        raise InputError(f"unknown data source {source!r}; use 'gaussian' or 'cifar10'")
    return check_inputs(X, normalize=True)

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

from .validate import NORM_RTOL, as_int, as_real_array, sphere_rows, unit_roundoff

__all__ = [
    "InputError",
    "KernelTooLargeError",
    "check_inputs",
    "check_memory",
    "sphere_data",
    "available_memory_bytes",
    "CIFAR10_SAMPLES",
    "NORM_RTOL",
]

#: Relative path (inside the data folder) of the CIFAR-10 test sample used by ``sphere_data``.
CIFAR10_SAMPLES = "cifar10_samples/cifar10_test_1000_jpeg_yoongikim.npz"


class InputError(ValueError):
    """Input data that the kernels cannot use (non-finite, wrong shape, unequal norms, zero rows)."""


class KernelTooLargeError(MemoryError):
    """The N×N matrices of a kernel computation would not fit in memory."""


def check_inputs(X, normalize: bool = False) -> np.ndarray:
    """Validate X (N×d) and return it as float64; with ``normalize`` rescale rows to norm √d.

    X may be a numpy array, a torch tensor or nested lists (``theory.validate.as_real_array``).
    Raises InputError for a non-2-D or ragged array, strings, complex or boolean values, no samples,
    non-finite entries, a zero row, or (when ``normalize`` is False) rows of unequal norm: relative
    tolerance ``NORM_RTOL`` for float64 data, one that fits the rounding of the dtype X arrives in
    otherwise (``theory.validate.norm_tolerance``; float32 rows that pass are projected onto their
    common sphere in float64). Norms are computed scale-safely, so 1e-200-scaled data is not taken
    for zero rows.
    """
    u = unit_roundoff(X)
    A = as_real_array(X, "X", InputError)
    return sphere_rows(A, normalize=normalize, u=u, what="X", error=InputError)


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
    n = as_int(n, "n", minimum=1, error=InputError)
    seed = as_int(seed, "seed", minimum=0, error=InputError)
    if source == "gaussian":
        d = as_int(d, "d", minimum=1, error=InputError)
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

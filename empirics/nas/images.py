"""Real image batches for the train-free scores, with the NATS-Bench (NB201 / xautodl) normalization.

Pools (read from the data folder, see its PROVENANCE.md files; nothing is downloaded):

* ``cifar10``: 100 lossless training images + 1,000 JPEG copies of test images (100 per class);
  ``split='train'`` / ``'test'`` select one of them (default ``'all'``: 1,100 images).
* ``cifar100``: 100 lossless training + 20 lossless test images (120).
* ``ImageNet16-120``: 120 real ImageNet photos, one per class, box-resized to 16×16 (a rebuilt
  stand-in for the official ImageNet16 files, which are not available here).

Each image x ∈ {0..255}^{H×W×3} becomes (x/255 − mean)/std channel-wise, with the xautodl values:

=============== ============================== ==============================
dataset         mean (×255)                    std (×255)
=============== ============================== ==============================
cifar10         125.3, 123.0, 113.9            63.0, 62.1, 66.7
cifar100        129.3, 124.1, 112.4            68.2, 65.4, 70.4
ImageNet16-120  122.68, 116.66, 104.01         63.22, 61.26, 65.09
=============== ============================== ==============================

Sampling is deterministic in ``seed`` (numpy ``default_rng``). A batch no larger than the pool is a
sample without replacement. A larger batch takes the whole pool (shuffled) and fills the rest with
augmented copies (random horizontal flip + random crop after zero padding of 4 px for 32×32, 2 px
for 16×16, the NB201 training augmentation) of pool images, and warns that it did so.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from empirics.nas.benchmark import canonical_dataset
from theory.data import available_memory_bytes
from theory.data_dir import DataNotFoundError, find_data_dir
from theory.validate import as_int

__all__ = [
    "NB201_MEAN",
    "NB201_STD",
    "NUM_CLASSES",
    "INPUT_SIZE",
    "ImagePool",
    "load_pool",
    "image_batch",
    "normalize",
    "AugmentationWarning",
]

NB201_MEAN: dict[str, tuple[float, float, float]] = {
    "cifar10": (125.3 / 255, 123.0 / 255, 113.9 / 255),
    "cifar100": (129.3 / 255, 124.1 / 255, 112.4 / 255),
    "ImageNet16-120": (122.68 / 255, 116.66 / 255, 104.01 / 255),
}
NB201_STD: dict[str, tuple[float, float, float]] = {
    "cifar10": (63.0 / 255, 62.1 / 255, 66.7 / 255),
    "cifar100": (68.2 / 255, 65.4 / 255, 70.4 / 255),
    "ImageNet16-120": (63.22 / 255, 61.26 / 255, 65.09 / 255),
}
NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
INPUT_SIZE: dict[str, int] = {"cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}

_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "cifar10": {
        "train": ("cifar10_samples/cifar10_train_first100_neuralnetvis.npz",),
        "test": ("cifar10_samples/cifar10_test_1000_jpeg_yoongikim.npz",),
    },
    "cifar100": {
        "train": ("cifar100_samples/cifar100_train_first100_neuralnetvis.npz",),
        "test": ("cifar100_samples/cifar100_test_first20_foolbox.npz",),
    },
    "ImageNet16-120": {
        "train": (),
        "test": ("imagenet16_120_samples/imagenet16_120_one_per_class_box16.npz",),
    },
}


class AugmentationWarning(UserWarning):
    """A batch larger than the image pool was filled with flip+crop augmented copies."""


@dataclass(frozen=True)
class ImagePool:
    """The raw images of one dataset: ``images`` (n, H, W, 3) uint8, ``labels`` (n,) int64."""

    dataset: str
    images: np.ndarray
    labels: np.ndarray
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@lru_cache(maxsize=16)
def _load_pool_cached(dataset: str, split: str, root: str) -> ImagePool:
    splits = ("train", "test") if split == "all" else (split,)
    imgs, labs, srcs = [], [], []
    for sp in splits:
        for rel in _FILES[dataset][sp]:
            path = Path(root) / rel
            if not path.is_file():
                raise DataNotFoundError(f"image sample file {path} is missing (see the data folder's README.md)")
            with np.load(path, allow_pickle=False) as z:
                imgs.append(np.asarray(z["images"], dtype=np.uint8))
                labs.append(np.asarray(z["labels"], dtype=np.int64))
            srcs.append(rel)
    if not imgs:
        raise DataNotFoundError(f"no {split!r} images for {dataset} (ImageNet16-120 has only the 'test'/'all' pool)")
    return ImagePool(dataset, np.concatenate(imgs), np.concatenate(labs), tuple(srcs))


def load_pool(dataset: str, data_dir: str | os.PathLike | None = None, split: str = "all") -> ImagePool:
    """All sample images of ``dataset`` from the data folder (``split`` 'all' | 'train' | 'test')."""
    ds = canonical_dataset(dataset)
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    root = find_data_dir(data_dir)
    assert root is not None
    return _load_pool_cached(ds, split, str(root))


def normalize(images: np.ndarray, dataset: str) -> torch.Tensor:
    """uint8 (n, H, W, 3) → float32 (n, 3, H, W) tensor, (x/255 − mean)/std per channel (NB201 values)."""
    ds = canonical_dataset(dataset)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0).permute(0, 3, 1, 2)
    mean = torch.tensor(NB201_MEAN[ds]).view(1, 3, 1, 1)
    std = torch.tensor(NB201_STD[ds]).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def _augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random horizontal flip, then random crop of the original size after zero padding (4 px, 2 px at 16×16)."""
    h, w, _ = img.shape
    pad = 4 if h >= 32 else 2
    out = img[:, ::-1] if rng.random() < 0.5 else img
    padded = np.zeros((h + 2 * pad, w + 2 * pad, 3), dtype=img.dtype)
    padded[pad : pad + h, pad : pad + w] = out
    dy, dx = rng.integers(0, 2 * pad + 1, size=2)
    return padded[dy : dy + h, dx : dx + w]


def _check_batch_memory(pool: ImagePool, batch_size: int, dtype: torch.dtype) -> None:
    """Refuse, before allocating, a batch whose images (uint8 copy + the normalized tensor, twice for
    the normalization's temporaries) would take more than half the available memory."""
    pixels = int(np.prod(pool.images.shape[1:]))
    itemsize = torch.empty((), dtype=dtype).element_size()
    need = batch_size * pixels * (1 + 3 * max(4, itemsize))
    limit = available_memory_bytes() // 2
    if need > limit:
        raise MemoryError(
            f"a batch of {batch_size} {pool.dataset} images needs about {need / 2**30:.2f} GiB, more than the "
            f"{limit / 2**30:.2f} GiB allowed (half the available memory); the pool has {len(pool)} real images"
        )


def image_batch(
    dataset: str,
    batch_size: int = 64,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    split: str = "all",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A normalized batch ``(X, y)``: X (batch, 3, H, W), y (batch,) int64; deterministic in ``seed``.

    Batches larger than the pool are completed with flip+crop augmented copies (AugmentationWarning).
    """
    batch_size = as_int(batch_size, "batch_size", minimum=1)
    seed = as_int(seed, "seed", minimum=0)
    pool = load_pool(dataset, data_dir, split)
    _check_batch_memory(pool, batch_size, dtype)
    rng = np.random.default_rng([int(seed), 20221, batch_size])
    n = len(pool)
    if batch_size <= n:
        idx = rng.choice(n, size=batch_size, replace=False)
        imgs = pool.images[idx]
        labels = pool.labels[idx]
    else:
        warnings.warn(
            f"{pool.dataset}: batch of {batch_size} from a pool of only {n} real images; the other "
            f"{batch_size - n} are flip+crop augmented copies",
            AugmentationWarning,
            stacklevel=2,
        )
        first = rng.permutation(n)
        extra = rng.integers(0, n, size=batch_size - n)
        aug = np.stack([_augment(pool.images[i], rng) for i in extra])
        imgs = np.concatenate([pool.images[first], aug])
        labels = np.concatenate([pool.labels[first], pool.labels[extra]])
    x = normalize(imgs, pool.dataset).to(dtype)
    return x, torch.from_numpy(np.asarray(labels, dtype=np.int64))

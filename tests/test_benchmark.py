"""Benchmark access (CSV backend vs the file, a fake nats_bench API) and the image batches."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest
import torch

from empirics.nas.benchmark import (
    CSV_RELPATH,
    DATASETS,
    BenchmarkError,
    CsvBenchmark,
    NatsApiBenchmark,
    canonical_dataset,
    nats_unique_str,
)
from empirics.nas.images import NB201_MEAN, NB201_STD, AugmentationWarning, image_batch, load_pool, normalize
from theory.data_dir import DataNotFoundError
from theory.space import Arch


@pytest.fixture(scope="module")
def bench(data_dir):
    return CsvBenchmark(data_dir=data_dir)


@pytest.fixture(scope="module")
def raw_rows(data_dir):
    with open(data_dir / CSV_RELPATH, newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------------------ CSV backend


def test_csv_backend_matches_file(bench, raw_rows):
    assert len(bench) == 15625 == len(raw_rows)
    rng = np.random.default_rng(0)
    for i in [0, 1, 6111, 9930, 857, 15624, *rng.integers(0, 15625, 40).tolist()]:
        row = raw_rows[i]
        assert int(row["index"]) == i
        assert bench.arch(i) == row["arch_str"]
        assert bench.index(row["arch_str"]) == i
        assert bench.index(Arch.parse(row["arch_str"])) == i
        assert bench.test_accuracy(i, "cifar10") == pytest.approx(float(row["cifar10_test_200ep"]))
        assert bench.test_accuracy(row["arch_str"], "cifar100") == pytest.approx(float(row["cifar100_test_200ep"]))
        assert bench.test_accuracy(i, "ImageNet16-120") == pytest.approx(float(row["imagenet16_120_test_200ep"]))
        assert bench.valid_accuracy(i, "cifar10") == pytest.approx(float(row["cifar10valid_valid_200ep_nb201v10"]))
        v100 = row["cifar100_valid_200ep_naslib"]
        assert (math.isnan(bench.valid_accuracy(i, "c100")) and v100 == "") or bench.valid_accuracy(
            i, "c100"
        ) == pytest.approx(float(v100))
        assert bench.params(i) == pytest.approx(float(row["params_M_cifar10"]))
        assert bench.unique_str(i) == row["unique_str"]


def test_csv_vectorized_and_optimum(bench, raw_rows):
    acc = bench.accuracies("cifar100")
    assert acc.shape == (15625,)
    assert acc[123] == pytest.approx(float(raw_rows[123]["cifar100_test_200ep"]))
    # the optimum of the space: 94.37 / 73.51 / 47.31
    assert bench.best("cifar10") == (6111, pytest.approx(94.373333))
    assert bench.best("cifar100")[0] == 9930
    assert bench.best("ImageNet16-120") == (857, pytest.approx(47.311111))
    valid = bench.accuracies("cifar100", split="valid")
    assert 500 < np.isfinite(valid).sum() < 1000  # ~725 rows from NASLib
    assert np.isfinite(bench.accuracies("cifar10", split="valid")).all()
    assert bench.accuracy(5, "cifar10", "valid") == bench.valid_accuracy(5, "cifar10")


def test_unique_str_reimplementation_matches_all_rows(bench):
    assert all(nats_unique_str(bench.arch(i)) == bench.unique_str(i) for i in range(len(bench)))
    assert len({bench.unique_str(i) for i in range(len(bench))}) == 6466


def test_errors_and_aliases(bench):
    names = [canonical_dataset(x) for x in ("C10", "cifar-100", "imagenet16_120", "in16")]
    assert names == ["cifar10", "cifar100", "ImageNet16-120", "ImageNet16-120"]
    with pytest.raises(BenchmarkError, match="unknown dataset"):
        bench.test_accuracy(0, "mnist")
    with pytest.raises(BenchmarkError, match="not a cell"):
        bench.index("|dense_relu~0|")
    with pytest.raises(BenchmarkError, match="out of range"):
        bench.test_accuracy(15625)
    with pytest.raises(BenchmarkError, match="not an architecture"):
        bench.index("garbage")
    s = bench.sample(10, 3)
    assert len(set(s)) == 10 and s == bench.sample(10, np.random.default_rng(3))


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        CsvBenchmark(data_dir=tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match="expected"):
        CsvBenchmark(path=tmp_path / "missing.csv")


# ------------------------------------------------------------------------------------------ fake NATS API


class FakeNatsAPI:
    """The few methods of nats_bench's TopologyAPI that NatsApiBenchmark uses; no files, no network."""

    ARCHS = [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ]

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __len__(self) -> int:
        return len(self.ARCHS)

    def arch(self, i: int) -> str:
        return self.ARCHS[i]

    def query_index_by_arch(self, arch: str) -> int:
        return self.ARCHS.index(arch) if arch in self.ARCHS else -1

    def get_more_info(self, i: int, dataset: str, hp: str = "12", is_random: bool = True) -> dict:
        self.calls.append((i, dataset, hp, is_random))
        assert hp == "200" and is_random is False
        base = {"cifar10": 90.0, "cifar10-valid": 80.0, "cifar100": 70.0, "ImageNet16-120": 40.0}[dataset]
        info = {"test-accuracy": base + i}
        if dataset != "cifar10":
            info["valid-accuracy"] = base + i + 0.5
        return info

    def get_cost_info(self, i: int, dataset: str, hp: str = "12") -> dict:
        return {"params": 0.1 * (i + 1), "flops": 1.0}


def test_fake_nats_api_backend():
    api = FakeNatsAPI()
    b = NatsApiBenchmark(api)
    assert len(b) == 3
    assert b.index(FakeNatsAPI.ARCHS[1]) == 1
    assert b.test_accuracy(1, "cifar10") == 91.0
    assert b.test_accuracy(FakeNatsAPI.ARCHS[2], "cifar100") == 72.0
    assert b.test_accuracy(0, "in16") == 40.0
    assert b.valid_accuracy(1, "cifar10") == 81.5  # cifar10 valid comes from cifar10-valid
    assert b.valid_accuracy(0, "ImageNet16-120") == 40.5
    assert b.params(2) == pytest.approx(0.3)
    assert b.unique_str(1) == "(0)@avg_pool_3x3+(0)@avg_pool_3x3+(0)@nor_conv_1x1+(0)@nor_conv_1x1"
    assert b.unique_str(2) == "#+#+#"
    assert list(b.accuracies("cifar10")) == [90.0, 91.0, 92.0]
    with pytest.raises(BenchmarkError, match="not a cell"):
        b.index("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    b.test_accuracy(0, "cifar10")
    assert sum(1 for c in api.calls if c[:2] == (0, "cifar10")) == 1  # memoized


def test_nats_backend_without_package_is_a_clear_error():
    try:
        import nats_bench  # noqa: F401

        pytest.skip("nats_bench is installed here")
    except ImportError:
        pass
    with pytest.raises(BenchmarkError, match="nats_bench"):
        NatsApiBenchmark.from_path("/nonexistent")


# ------------------------------------------------------------------------------------------ images


def test_normalization_constants_and_stats(data_dir):
    for ds in DATASETS:
        mean = np.array(NB201_MEAN[ds]) * 255
        img = np.broadcast_to(np.round(mean).astype(np.uint8), (1, 4, 4, 3))
        x = normalize(img, ds)
        assert x.shape == (1, 3, 4, 4)
        assert torch.allclose(x, torch.zeros_like(x), atol=0.5 / 255 / min(NB201_STD[ds]) + 1e-6)
    assert NB201_MEAN["cifar10"][0] == pytest.approx(125.3 / 255)
    assert NB201_STD["ImageNet16-120"][2] == pytest.approx(65.09 / 255)
    # the NB201 constants are the CIFAR-10 training statistics: a real batch is roughly standardized
    x, y = image_batch("cifar10", 100, seed=0, data_dir=data_dir, split="train")
    m, s = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    assert torch.all(m.abs() < 0.2) and torch.all((s - 1).abs() < 0.2)
    assert x.dtype == torch.float32 and y.dtype == torch.int64


def test_batches_deterministic_by_seed(data_dir):
    x1, y1 = image_batch("cifar10", 32, seed=5, data_dir=data_dir)
    x2, y2 = image_batch("cifar10", 32, seed=5, data_dir=data_dir)
    x3, _ = image_batch("cifar10", 32, seed=6, data_dir=data_dir)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    assert y1.max() < 10
    xi, yi = image_batch("ImageNet16-120", 16, seed=0, data_dir=data_dir)
    assert xi.shape == (16, 3, 16, 16) and yi.max() < 120
    assert len(load_pool("cifar100", data_dir)) == 120 and len(load_pool("cifar10", data_dir)) == 1100


def test_large_batches_are_augmented_with_a_warning(data_dir):
    with pytest.warns(AugmentationWarning, match="augmented"):
        x, y = image_batch("cifar100", 200, seed=1, data_dir=data_dir)
    assert x.shape == (200, 3, 32, 32) and y.shape == (200,)
    pool = load_pool("cifar100", data_dir)
    # every real image appears once, the rest are copies
    assert sorted(y[:120].tolist()) == sorted(pool.labels.tolist())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image_batch("cifar100", 120, seed=1, data_dir=data_dir)  # no warning at the pool size

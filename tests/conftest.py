"""Shared test configuration: hypothesis profiles and the data folder."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from theory.data_dir import find_data_dir

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def data_dir():
    """The real-data folder (../shared/data or $EIGENNAS_DATA); skips loudly when it is missing."""
    d = find_data_dir(required=False)
    if d is None:
        pytest.skip("DATA MISSING: ../shared/data not found and $EIGENNAS_DATA not set; this test needs the real data")
    return d


@pytest.fixture()
def one_torch_thread():
    """Run a test with one torch thread (torch tests share 2 cores with pytest itself), then restore."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def bench(data_dir):
    """The NATS-Bench table of the data folder (CSV backend)."""
    from empirics.nas.benchmark import CsvBenchmark

    return CsvBenchmark(data_dir=data_dir)

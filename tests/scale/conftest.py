"""Scale tests: zarr warnings about string dtypes without a v3 spec are expected and noisy."""

import warnings

import pytest


@pytest.fixture(autouse=True)
def _quiet_zarr_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        warnings.filterwarnings("ignore", message=".*separate the stored chunks.*")
        yield


@pytest.fixture(scope="session")
def dask_client():
    """A real LocalCluster: 2 worker processes, 1 thread each (started once for the area)."""
    from brainbridge.parallel import get_client

    client = get_client(workers=2, threads_per_worker=1, memory_limit="2GiB")
    client.wait_for_workers(2, timeout=240)  # a restarted worker is slow on a loaded 2-core machine
    yield client
    client.close()

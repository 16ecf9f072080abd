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

"""conftest.py for BrainIO 1.1.0's own tests (its sdist ships the tests without their conftest).

Written for brainbridge's conformance gate: it provides the helpers and fixtures BrainIO's
tests import from ``tests.conftest``, with brainbridge's cache root (``BRAINBRIDGE_HOME``)
standing in for BrainIO's ``brainio.fetch._local_data_path``. The data files are BrainIO's own
(``tests/files``, ``tests/images``; identical to ``../shared/fixtures/brainio``).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainbridge import catalogs
from brainbridge.assemblies import DataAssembly, MetadataAssembly, SpikeTimesAssembly

HERE = Path(__file__).parent
BUCKET_NAME = "brainio-temp"


def get_nc_path(check: bool = True) -> Path:
    path = HERE / "files" / "assy_test_TestMe.nc"
    assert not check or path.exists()
    return path


def get_nc_extras_path(check: bool = True) -> Path:
    path = HERE / "files" / "assy_test_package_assembly_extras.nc"
    assert not check or path.exists()
    return path


def get_csv_path(check: bool = True) -> Path:
    path = HERE / "images" / "image_test_ten_images.csv"
    assert not check or path.exists()
    return path


def get_dir_path(check: bool = True) -> Path:
    path = HERE / "images"
    assert not check or (path.is_dir() and any(path.iterdir()))
    return path


def make_proto_assembly() -> DataAssembly:
    """6 presentations x 3 neuroids, as in BrainIO's ``assy_test_TestMe.nc``."""
    return DataAssembly(
        np.arange(1, 19).reshape(6, 3),
        coords={
            "neuroid_id": ("neuroid", ["alpha", "beta", "gamma"]),
            "foo": ("neuroid", [1, 2, 5]),
            "stimulus_id": ("presentation", ["n0", "n1", "n1", "n0", "n4", "n9"]),
            "repetition": ("presentation", [1, 1, 2, 1, 1, 1]),
        },
        dims=["presentation", "neuroid"],
    )


def _spread(lo: float, hi: float, num: int) -> list[float]:
    """Deterministic values that look scattered over ``[lo, hi]``."""
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    return [mid + math.sin(2 + 8 * i) * half for i in range(num)]


def make_meta_assembly(num_events: int = 40) -> MetadataAssembly:
    """Per-event metadata (one row per stimulus presentation event)."""
    ids = [f"n{i % 5}" for i in range(num_events)]
    coords = {
        "stimulus_id": ("event", ids),
        "stimulus_order_in_trial": ("event", [1 + i % 5 for i in range(num_events)]),
        "fixation_correct": ("event", [0 if i == 14 else 1 for i in range(num_events)]),
        "stim_on_time_ms": ("event", [100] * num_events),
        "samp_on_us": ("event", _spread(2.0e6, 1.9e7, num_events)),
    }
    return MetadataAssembly(_spread(2.1e6, 1.9e7, num_events), coords=coords, dims=["event"])


def make_spk_assembly(num_events: int = 1000) -> SpikeTimesAssembly:
    """Spike times of two units on two arrays (one dim, ``event``), with their electrode metadata."""

    def alternate(a, b):
        return ("event", [a if i % 2 == 0 else b for i in range(num_events)])

    coords = {
        "neuroid_id": alternate("A-019", "D-009"),
        "project": ("event", ["test"] * num_events),
        "datetime": ("event", np.repeat(np.datetime64("2021-02-16T11:41:55.000000000"), num_events)),
        "animal": ("event", ["testo"] * num_events),
        "hemisphere": alternate("L", "R"),
        "region": alternate("V4", "IT"),
        "subregion": alternate("V4", "aIT"),
        "array": alternate("6250-002416", "4865-233455"),
        "bank": alternate("A", "D"),
        "electrode": alternate("019", "009"),
        "column": alternate(5, 2),
        "row": alternate(4, 8),
        "label": alternate("elec46", "elec123"),
    }
    return SpikeTimesAssembly(sorted(_spread(67.7, 21116.2, num_events)), coords=coords, dims=["event"])


def make_stimulus_set_df() -> pd.DataFrame:
    return pd.DataFrame(
        {"stimulus_id": f"n{i}", "filename": f"n{i}.png", "thing": f"foo{i}"} for i in range(10)
    )


@pytest.fixture
def test_catalog_identifier() -> str:
    return "brainio_test"


@pytest.fixture
def test_stimulus_set_identifier() -> str:
    return "test.TenImages"


@pytest.fixture
def test_write_netcdf_path(tmp_path) -> Path:
    return tmp_path / "test.nc"


@pytest.fixture
def restore_this_file():
    """``f(path)`` backs a file up; it is put back after the test."""
    saved: dict[Path, Path] = {}

    def backup(path):
        path = Path(path)
        assert path.is_file()
        copy = path.with_name(path.name + ".bak")
        shutil.copy2(path, copy)
        saved[path] = copy

    yield backup
    for path, copy in saved.items():
        shutil.move(copy, path)
    catalogs.reload_catalogs()


@pytest.fixture
def restore_catalog(restore_this_file):
    """``f(catalog_identifier)`` backs the catalog's lookup CSV up; it is restored after the test."""

    def backup(identifier):
        restore_this_file(catalogs.get_catalog(identifier).source_path)

    return backup


@pytest.fixture
def brainio_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def _session_home(tmp_path_factory):
    return tmp_path_factory.mktemp("brainio_home")


@pytest.fixture
def brainio_home_session(_session_home, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(_session_home))
    return _session_home

"""Generated NWB projects shared by the ecephys tests (written once per test session)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pynwb")

from brainbridge.ecephys.synthetic import write_synthetic_project

SESSIONS = (101, 102, 103)


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory) -> Path:
    """A 3-session project with CSV tables and a ``project.json`` index (read-only: copy to modify)."""
    return write_synthetic_project(tmp_path_factory.mktemp("project-csv"), SESSIONS)


@pytest.fixture(scope="session")
def parquet_project_dir(tmp_path_factory, project_dir) -> Path:
    """The same project with Parquet tables and no index (default layout)."""
    import pandas as pd

    folder = tmp_path_factory.mktemp("project-parquet")
    for name in ("sessions", "probes", "channels", "units"):
        pd.read_csv(project_dir / f"{name}.csv").to_parquet(folder / f"{name}.parquet", index=False)
    for session_id in SESSIONS:
        shutil.copytree(project_dir / f"session_{session_id}", folder / f"session_{session_id}")
    return folder


@pytest.fixture
def project_copy(tmp_path, project_dir) -> Path:
    """A writable copy of the CSV project."""
    return Path(shutil.copytree(project_dir, tmp_path / "project"))


@pytest.fixture(scope="session")
def session_path(project_dir) -> Path:
    return project_dir / "session_101" / "session_101.nwb"

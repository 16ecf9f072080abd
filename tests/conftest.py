"""Fixtures shared by every test module.

Each test runs with its own cache root (``BRAINBRIDGE_HOME``) and no user catalogs, so the
suite never reads or writes the real user cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("brainbridge-home")
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(home))
    monkeypatch.delenv("BRAINIO_HOME", raising=False)
    monkeypatch.delenv("BRAINBRIDGE_OFFLINE", raising=False)
    monkeypatch.setenv("BRAINBRIDGE_CATALOGS", str(home / "user-catalogs"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return home


@pytest.fixture
def fixtures_dir() -> Path:
    """``../shared/fixtures`` (tests that need it skip with a reason when it is absent)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return FIXTURES

"""Fixtures of the core tests: the bundled example, built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from brainbridge.catalogs import reload_catalogs
from brainbridge.examples import ensure_examples, examples_dir


@pytest.fixture(scope="session")
def prebuilt(tmp_path_factory) -> Path:
    """One build per test session, copied into each test's isolated home by ``examples``."""
    return ensure_examples(tmp_path_factory.getbasetemp() / "examples-prebuilt")


@pytest.fixture
def examples(prebuilt) -> Path:
    """The example catalog's files in this test's home, catalogs reloaded around the test."""
    target = examples_dir()
    shutil.copytree(prebuilt, target)
    reload_catalogs()
    yield target
    reload_catalogs()

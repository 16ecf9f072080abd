"""Fixtures shared by every test module.

Each test runs with its own cache root (``BRAINBRIDGE_HOME``) and no user catalogs, so the
suite never reads or writes the real user cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed set of examples (derandomized), so a landing never
# depends on the draw; locally they explore new examples on each run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")

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


# In CI (CI=true) a skip is a failure: a missing peer venv, reference package or fixture must not
# turn a promise into an untested one. A test whose skip depends on hardware or an optional
# install this project does not make (a GPU, the `dandi` package) says so with
# ``@pytest.mark.may_skip("why")``. Locally, skips stay skips and ``-ra`` prints their reasons.
def _skips_fail() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and _skips_fail()
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("may_skip") is None
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true), which counts as a failure: {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _skips_fail():
        report.outcome = "failed"
        report.longrepr = f"module skipped in CI (CI=true), which counts as a failure: {_skip_reason(report)}"

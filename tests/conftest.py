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


def _module_state() -> list[tuple[object, str]]:
    """The module-level registries and once-flags a test can change: ``(module, attribute)``.

    Pure caches of deterministic work (built extractors, the example data's ground truth) are
    left alone: they hold the same values whatever a test does.
    """
    import importlib

    state = [
        ("brainbridge.catalogs", "_registered"),
        ("brainbridge.catalogs", "_loaded"),
        ("brainbridge.encoding.registry", "_REGISTRY"),
        ("brainbridge.data.datasets", "_warned_pinning"),
    ]
    found = []
    for module_name, attribute in state:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # an extra that is not installed: nothing of it to reset
            continue
        found.append((module, attribute))
    return found


_PRISTINE: list[tuple[object, str, object]] = []


def _restore_pristine() -> None:
    if not _PRISTINE:  # first use: the state as the package defines it, before any test ran
        import copy

        _PRISTINE.extend((m, a, copy.copy(getattr(m, a))) for m, a in _module_state())
    for module, attribute, value in _PRISTINE:
        current = getattr(module, attribute)
        if isinstance(current, dict):
            current.clear()  # the same object: modules that imported it keep seeing the live one
            current.update(value)  # type: ignore[arg-type]
        else:
            setattr(module, attribute, value)


@pytest.fixture(autouse=True)
def _reset_module_state():
    """Every test starts with the registries as the package defines them, and leaves no trace.

    Registered catalogs and models, loaded catalogs (each test has its own home) and warn-once
    flags are reset before and after each test, so tests never unregister by hand and a failing
    test cannot leak into the next.
    """
    _restore_pristine()
    yield
    _restore_pristine()


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

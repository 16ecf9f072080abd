"""Shows the conformance gates' counts in the terminal summary (pytest hides a passing test's output)."""

from __future__ import annotations

import pytest


@pytest.fixture
def conformance_summary(pytestconfig):
    """A list the gates append their count lines to (shown at the end of the run)."""
    if not hasattr(pytestconfig, "_brainbridge_conformance"):
        pytestconfig._brainbridge_conformance = []
    return pytestconfig._brainbridge_conformance


def pytest_terminal_summary(terminalreporter, config):
    lines = getattr(config, "_brainbridge_conformance", [])
    if lines:
        terminalreporter.section("peer test suites on brainbridge (tests/conformance)")
        for line in lines:
            terminalreporter.write_line(line)

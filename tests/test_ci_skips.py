"""In CI a skipped test fails the run (issue 17): shown on a planted skip in a child pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLANTED = """
import pytest

def test_needs_a_peer():
    pytest.skip("peer venv missing")

@pytest.mark.may_skip("needs a GPU")
def test_needs_a_gpu():
    pytest.skip("no GPU here")

def test_runs():
    assert True
"""


def _run_planted(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tests / "test_planted.py").write_text(PLANTED)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    may_skip(reason): may skip in CI too\n")
    env = {**os.environ, "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tests)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_skipped_peer_test_fails_in_ci(tmp_path):
    result = _run_planted(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed, 1 skipped" in result.stdout
    assert "skipped in CI (CI=true), which counts as a failure: Skipped: peer venv missing" in result.stdout


def test_skips_stay_skips_locally(tmp_path):
    result = _run_planted(tmp_path, "")
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 skipped" in result.stdout
    assert "peer venv missing" in result.stdout  # the reason is printed

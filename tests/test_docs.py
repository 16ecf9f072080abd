"""The documentation site builds with ``mkdocs build --strict``: no warning anywhere.

Strict mode turns every warning into a failure: a docstring mkdocstrings cannot parse, a
reference to a page that does not exist, a nav entry without a file, a snippet whose file is
missing. The tutorials are rendered without being executed here (tests/test_tutorials.py runs
them); ``make docs`` executes them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the documentation needs the docs extra (pip install -e '.[docs]')")
pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra's mkdocstrings[python]")
pytest.importorskip("mkdocs_jupyter", reason="the docs extra's mkdocs-jupyter")

ROOT = Path(__file__).resolve().parents[1]


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BRAINBRIDGE_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(config),
            "--site-dir",
            str(site),
        ],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = _build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return site


@pytest.mark.slow
def test_the_site_has_the_readme_the_guides_and_the_tutorials(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "A tour of the Python API" in home  # the README, included
    for page in ("example", "scale", "security", "CONTRIBUTING"):
        assert (site / page / "index.html").is_file()
    tutorials = sorted(p.name for p in (ROOT / "docs" / "tutorials").glob("[0-9][0-9]_*.py"))
    assert len(tutorials) == 5
    for name in tutorials:
        page = (site / "tutorials" / name.removesuffix(".py") / "index.html").read_text(encoding="utf-8")
        assert "jp-Notebook" in page or "jupyter-wrapper" in page  # rendered as a notebook


@pytest.mark.slow
def test_the_api_reference_is_generated_from_the_docstrings(site):
    assemblies = (site / "api" / "assemblies" / "index.html").read_text(encoding="utf-8")
    # a function's signature and its numpy-style sections, rendered
    assert "average_repetitions" in assemblies and "NeuronRecordingAssembly" in assemblies
    scoring = (site / "api" / "encoding" / "index.html").read_text(encoding="utf-8")
    assert "ceiling_formula" in scoring and "Parameters" in scoring
    display = (site / "api" / "display" / "index.html").read_text(encoding="utf-8")
    assert "plot_assembly" in display


@pytest.mark.slow
def test_strict_mode_fails_on_a_broken_reference(tmp_path):
    """The guarantee itself: a warning (here a link to a page that does not exist) fails the build."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\nSee [a page that is not there](missing.md).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: x\ndocs_dir: docs\nstrict: true\nnav:\n  - index.md\n")
    result = _build(config, tmp_path / "site")
    assert result.returncode != 0 and "missing.md" in result.stderr

"""Every tutorial in docs/tutorials runs, top to bottom, in a real Jupyter kernel.

The tutorials are jupytext percent scripts (``# %%`` cells); each is read with jupytext and
executed with nbclient in the folder it lives in, as a reader would run it. A cell that
raises fails the test with the cell and the traceback. The per-cell timeout only stops a
hung kernel; how long the tutorials take is measured by ``benchmarks``-style runs, not here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="the tutorials need the test extra (jupytext)")
nbclient = pytest.importorskip("nbclient", reason="the tutorials need the test extra (nbclient)")

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
NAMES = sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py"))
#: what each tutorial must show (a MIME type among its outputs), besides running
SHOWS = {
    "01_packaging.py": ["text/html", "image/png"],
    "02_ecephys.py": ["text/html", "image/png"],
    "03_scoring.py": ["text/html", "image/png"],
    "04_encoding_models.py": ["text/html", "image/png"],
    "05_contrastive_embedding.py": ["image/png"],
}
#: a hung kernel is stopped after this long in one cell
CELL_TIMEOUT_S = 400


def test_the_five_tutorials_are_there():
    assert sorted(SHOWS) == NAMES


@pytest.fixture(scope="module")
def tutorial_home(tmp_path_factory) -> Path:
    """One BRAINBRIDGE_HOME for all tutorials, so the example catalog is built once."""
    return tmp_path_factory.mktemp("tutorial-home")


def _execute(path: Path):
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", NAMES)
def test_tutorial_runs(name, tutorial_home, fixtures_dir, monkeypatch):
    # fixtures_dir: tutorial 2 reads the real NWB files in ../shared/fixtures (skips when absent)
    assert (fixtures_dir / "nwb").is_dir()
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(tutorial_home))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # the kernel imports this checkout's brainbridge (as the tests do), installed or not
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    notebook = _execute(TUTORIALS / name)

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    shown = {mime for o in outputs for mime in o.get("data", {})}
    for mime in SHOWS[name]:
        assert mime in shown, f"{name} shows no {mime} output"

"""Issue 12 item 9 and issue 10 item 14: ``ecephys package`` is all or nothing, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from brainbridge import config
from brainbridge.cli import main


def _run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def _catalog_csv(name: str) -> Path:
    return config.user_catalog_dirs()[0] / f"{name}.csv"


def _files_under(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and ".brainbridge-locks" not in p.parts and not p.name.endswith(".lock")
    )


@pytest.mark.parametrize(
    "edges", ["0:1:0", "0:1:-0.1", "1:0:0.1", "a:b:c", "0:1:1e-9", "0.1,0.05", "0.1", "0:nan:0.1"]
)
def test_bad_bin_edges_are_one_line_errors(session_path, edges):
    result = _run("ecephys", "package", session_path, "--catalog", "lab-edges", "--bin-edges", edges)
    assert result.exit_code == 2, result.output
    assert "--bin-edges" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, ZeroDivisionError)
    assert not _catalog_csv("lab-edges").exists()


def test_a_failed_run_leaves_every_catalog_as_it_was(project_dir):
    """Packaging session 101 into a second catalog with other bins: before, the stimulus rows
    were written anyway (absolute paths, an otherwise empty new catalog), the message said
    'not in any catalog: package it first', and the first catalog's assembly stopped loading."""
    from brainbridge.catalogs import get_assembly, reload_catalogs

    nwb = project_dir / "session_101" / "session_101.nwb"
    result = _run("ecephys", "package", nwb, "--catalog", "lab-a", "--bin-edges", "0:0.25:0.05")
    assert result.exit_code == 0, result.output
    lab_a = _catalog_csv("lab-a")
    before = lab_a.read_text()
    # locations are relative to the catalog's folder, never absolute
    rows = pd.read_csv(lab_a, dtype=str)
    assert len(rows) == 3 and not any(Path(loc).is_absolute() for loc in rows["location"])
    assert all(loc.startswith("lab-a/") for loc in rows["location"])
    store_files = _files_under(lab_a.parent)

    result = _run("ecephys", "package", nwb, "--catalog", "lab-b", "--bin-edges", "0:0.2:0.05")
    assert result.exit_code == 1, result.output
    assert "package it first" not in result.output and "Traceback" not in result.output
    assert "'lab-a'" in result.output and "ecephys.101" in result.output and "other content" in result.output
    assert not _catalog_csv("lab-b").exists()  # no empty catalog left behind
    assert lab_a.read_text() == before
    assert _files_under(lab_a.parent) == store_files  # nothing new in any store
    reload_catalogs()
    assert get_assembly("ecephys.101").sizes["time_bin"] == 5  # the existing assembly still loads


def test_several_files_are_one_transaction(project_dir, tmp_path):
    from brainbridge.catalogs import list_assemblies, reload_catalogs

    good = project_dir / "session_102" / "session_102.nwb"
    bad = tmp_path / "broken.nwb"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    result = _run("ecephys", "package", good, bad, "--catalog", "lab-c")
    assert result.exit_code == 1 and "Traceback" not in result.output and "cannot read" in result.output
    assert not _catalog_csv("lab-c").exists()
    folder = config.user_catalog_dirs()[0]
    assert not folder.exists() or _files_under(folder) == []
    reload_catalogs()
    assert "ecephys.102" not in list_assemblies()
    # the same good file alone goes through, and again is a no-op
    assert _run("ecephys", "package", good, "--catalog", "lab-c").exit_code == 0
    text = _catalog_csv("lab-c").read_text()
    again = _run("ecephys", "package", good, "--catalog", "lab-c")
    assert again.exit_code == 0, again.output
    assert _catalog_csv("lab-c").read_text() == text


def test_same_files_in_another_catalog_are_reused_not_duplicated(project_dir):
    from brainbridge.catalogs import get_assembly, reload_catalogs

    nwb = project_dir / "session_103" / "session_103.nwb"
    assert _run("ecephys", "package", nwb, "--catalog", "lab-d").exit_code == 0
    result = _run("ecephys", "package", nwb, "--catalog", "lab-e")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 and all(line.endswith("\tlab-d") for line in lines)  # the catalog that has it
    assert not _catalog_csv("lab-e").exists()
    reload_catalogs()
    assert get_assembly("ecephys.103").sizes["time_bin"] == 5

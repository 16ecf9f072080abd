"""The real ``brainbridge`` process on hostile or broken inputs: one-line reasons, never tracebacks.

Each case runs the command in a fresh Python process (as a user would), on real files: damaged
and ambiguous ZIPs, a third-party catalog package whose entry point raises, catalog CSVs with a
byte-order mark or in UTF-16, a stimulus file named ``NA``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import brainbridge
from brainbridge.catalogs import LOOKUP_COLUMNS


def run_cli(*args, env: dict | None = None, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    paths = [str(extra_path)] if extra_path else []
    paths += [str(Path(brainbridge.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    environment = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from brainbridge.cli import main; sys.exit(main())",
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def _csv(path: Path, ids, names) -> Path:
    pd.DataFrame({"stimulus_id": ids, "filename": names}).to_csv(path, index=False)
    return path


def test_show_and_validate_a_file_that_is_not_a_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really an archive")
    assert "is not a readable ZIP archive" in error_line(run_cli("describe", bad))
    csv = _csv(tmp_path / "x.csv", ["a"], ["a.png"])
    assert "is not a readable ZIP archive" in error_line(run_cli("validate", csv, "--stimuli", bad))
    assert "is not a readable ZIP archive" in error_line(run_cli("validate", bad))


def test_a_truncated_zip_is_reported(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.png", os.urandom(50_000))
    data = good.read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    assert "ZIP" in error_line(run_cli("describe", tmp_path / "cut.zip"))
    flipped = bytearray(data)
    flipped[100] ^= 0xFF  # inside the compressed data: the archive opens, the CRC fails
    (tmp_path / "flip.zip").write_bytes(bytes(flipped))
    csv = _csv(tmp_path / "x.csv", ["a"], ["a.png"])
    assert "damaged" in error_line(run_cli("validate", csv, "--stimuli", tmp_path / "flip.zip"))


def test_duplicate_names_in_a_zip_are_refused_by_validate_and_on_load(tmp_path):
    dup = tmp_path / "dup.zip"
    with zipfile.ZipFile(dup, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):  # noqa: PT031
        z.writestr("a.png", b"first")
        z.writestr("a.png", b"second")
    assert "two entries named 'a.png'" in error_line(run_cli("validate", dup))
    csv = _csv(tmp_path / "x.csv", ["a"], ["a.png"])
    assert "two entries named 'a.png'" in error_line(run_cli("validate", csv, "--stimuli", dup))
    from brainbridge.errors import UnsafeArchiveError
    from brainbridge.stimuli import extract_zip

    with pytest.raises(UnsafeArchiveError, match="two entries"):
        extract_zip(dup, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    normalised = tmp_path / "norm.zip"  # the same file spelled two ways
    with zipfile.ZipFile(normalised, "w") as z:
        z.writestr("img/a.png", b"first")
        z.writestr("img\\a.png", b"second")
    assert "two entries named 'img/a.png'" in error_line(run_cli("validate", normalised))


def test_a_stimulus_file_named_NA_validates(tmp_path):
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("NA", b"image")
        z.writestr("null", b"image")
    csv = _csv(tmp_path / "s.csv", ["NA", "007"], ["NA", "null"])
    done = run_cli("validate", csv, "--stimuli", archive)
    assert done.returncode == 0 and "all 2 files present" in done.stdout, done.stderr
    shown = run_cli("describe", csv)
    assert shown.returncode == 0 and "NA, 007" in shown.stdout, shown.stderr
    escaping = _csv(tmp_path / "e.csv", ["a"], ["../s.zip"])
    assert "not a relative path" in error_line(run_cli("validate", escaping, "--stimuli", tmp_path))


def _raising_catalog_package(root: Path) -> None:
    (root / "bbtest_broken_catalog").mkdir(parents=True)
    (root / "bbtest_broken_catalog" / "__init__.py").write_text(
        "def catalog():\n    raise RuntimeError('the catalog server is down')\n"
    )
    dist = root / "bbtest_broken_catalog-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bbtest-broken-catalog\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[brainio_lookups]\nbroken-lab = bbtest_broken_catalog:catalog\n")


def _lookup(folder: Path, name: str, encoding: str = "utf-8", bom: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nc = folder / f"{name}.nc"
    nc.write_bytes(b"not used")
    rows = [
        [
            f"{name}.assy",
            "assembly",
            "NeuronRecordingAssembly",
            "local",
            nc.name,
            hashlib.sha1(b"not used").hexdigest(),
            "",
        ]
    ]
    text = pd.DataFrame(rows, columns=LOOKUP_COLUMNS).to_csv(index=False)
    path = folder / f"{name}.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


def test_catalogs_skips_a_raising_entry_point_with_a_warning(tmp_path):
    _raising_catalog_package(tmp_path / "site")
    user = tmp_path / "user"
    _lookup(user, "mine")
    done = run_cli("catalogs", env={"BRAINBRIDGE_CATALOGS": str(user)}, extra_path=tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert "mine" in done.stdout and "broken-lab" not in done.stdout
    warning = [line for line in done.stderr.splitlines() if "broken-lab" in line]
    assert len(warning) == 1 and "bbtest_broken_catalog:catalog" in warning[0]
    assert "RuntimeError: the catalog server is down" in warning[0]
    listed = run_cli("list", env={"BRAINBRIDGE_CATALOGS": str(user)}, extra_path=tmp_path / "site")
    assert listed.returncode == 0 and "mine.assy" in listed.stdout


def test_catalog_csvs_with_a_bom_are_read_and_utf16_ones_refused(tmp_path):
    user = tmp_path / "user"
    _lookup(user, "excel", bom=True)
    _lookup(user, "wide", encoding="utf-16")
    env = {"BRAINBRIDGE_CATALOGS": str(user)}
    done = run_cli("catalogs", env=env)
    assert done.returncode == 0, done.stderr
    assert "excel" in done.stdout and "wide" not in done.stdout
    assert "UTF-16" in done.stderr and "wide.csv" in done.stderr
    listed = run_cli("list", env=env)
    assert "excel.assy" in listed.stdout
    assert "UTF-16" in error_line(run_cli("validate", user / "wide.csv"))
    validated = run_cli("validate", user / "excel.csv")
    assert validated.returncode == 0, validated.stderr


def test_catalog_files_in_utf16_are_refused_by_the_library(tmp_path):
    from brainbridge.catalogs import Catalog
    from brainbridge.errors import CatalogError

    path = _lookup(tmp_path, "wide", encoding="utf-16")
    with pytest.raises(CatalogError, match="encoded as UTF-16"):
        Catalog.from_files("wide", path)
    bom = _lookup(tmp_path, "bom", bom=True)
    assert Catalog.from_files("bom", bom)["identifier"].tolist() == ["bom.assy"]


@pytest.mark.parametrize("script", ["raise ImportError('no module named labdata')", "return 42"])
def test_entry_point_failures_are_catalog_errors(tmp_path, monkeypatch, script):
    from brainbridge import catalogs
    from brainbridge.errors import CatalogError

    root = tmp_path / "site"
    _raising_catalog_package(root)
    (root / "bbtest_broken_catalog" / "__init__.py").write_text(
        textwrap.dedent(f"def catalog():\n    {script}\n")
    )
    monkeypatch.syspath_prepend(str(root))
    sys.modules.pop("bbtest_broken_catalog", None)
    catalogs.reload_catalogs()
    with pytest.raises(CatalogError, match="broken-lab"):
        catalogs.get_catalog("broken-lab")
    assert "bbtest_broken_catalog:catalog" in catalogs.catalog_origin("broken-lab")
    catalogs.reload_catalogs()

"""Catalog scope (issue 12 item 8): where user catalogs live, what counts as a conflict, removal."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from filelock import FileLock
from PIL import Image

import brainbridge
from brainbridge import catalogs, config
from brainbridge.catalogs import LOOKUP_COLUMNS, Catalog
from brainbridge.cli import main
from brainbridge.errors import CatalogError, LookupFailedError
from brainbridge.fetch import sha1_hash


def invoke(*args, ok: bool = True):
    result = CliRunner().invoke(main, list(map(str, args)))
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def _stimuli(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    for i in range(2):
        Image.new("RGB", (4, 4), (i * 90, 0, 0)).save(folder / f"img{i}.png")
    csv = tmp_path / "stimuli.csv"
    pd.DataFrame({"stimulus_id": ["a", "b"], "filename": ["img0.png", "img1.png"]}).to_csv(csv, index=False)
    return csv, folder


def test_with_brainbridge_home_set_user_catalogs_live_under_it(tmp_path, monkeypatch):
    monkeypatch.delenv("BRAINBRIDGE_CATALOGS")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(tmp_path / "env-a"))
    other_env = tmp_path / "config" / "brainbridge" / "catalogs"  # what an environment without a home uses
    other_env.mkdir(parents=True)
    pd.DataFrame(
        [["x.assy", "assembly", "NeuronRecordingAssembly", "local", "x.nc", "a" * 40, ""]],
        columns=LOOKUP_COLUMNS,
    ).to_csv(other_env / "elsewhere.csv", index=False)
    assert config.user_catalog_dirs() == [tmp_path / "env-a" / "catalogs"]
    assert "elsewhere" not in brainbridge.list_catalogs()

    csv, folder = _stimuli(tmp_path)
    out = invoke(
        "package",
        "stimulus-set",
        "--catalog",
        "mylab",
        "--create",
        "--identifier",
        "lab.stimuli",
        "--csv",
        csv,
        "--dir",
        folder,
    ).output
    assert f"created catalog mylab at {tmp_path / 'env-a' / 'catalogs' / 'mylab.csv'}" in out
    assert sorted(p.name for p in other_env.iterdir()) == [
        "elsewhere.csv"
    ]  # nothing written outside the home
    assert brainbridge.get_stimulus_set("lab.stimuli").get_stimulus("b").is_file()

    monkeypatch.setenv("BRAINBRIDGE_HOME", str(tmp_path / "env-b"))  # another environment does not see it
    catalogs._registered.clear()
    catalogs.reload_catalogs()
    assert "mylab" not in brainbridge.list_catalogs()
    monkeypatch.delenv("BRAINBRIDGE_HOME")  # without a home: the user config folder
    assert config.user_catalog_dirs() == [other_env]


def _catalog(folder: Path, name: str, rows: list[list[str]]) -> Catalog:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    pd.DataFrame(rows, columns=LOOKUP_COLUMNS).to_csv(path, index=False)
    return brainbridge.register(Catalog.from_files(name, path))


def _assembly_row(location: str, sha1: str, identifier: str = "lab.assy", stimuli: str = "") -> list[str]:
    return [identifier, "assembly", "NeuronRecordingAssembly", "local", location, sha1, stimuli]


def test_identical_rows_are_not_a_conflict_and_real_conflicts_name_files_and_fields(tmp_path):
    data = tmp_path / "data.nc"
    data.write_bytes(b"bytes")
    digest = sha1_hash(data)
    _catalog(tmp_path / "a", "first", [_assembly_row(str(data), digest)])
    _catalog(tmp_path / "b", "second", [_assembly_row(str(data), digest)])  # byte-identical
    assert catalogs.lookup_assembly("lab.assy")["source_catalog"] == "first"
    _catalog(tmp_path / "c", "mirror", [_assembly_row("elsewhere/data.nc", digest)])  # same bytes elsewhere
    assert catalogs.lookup_assembly("lab.assy")["location"] == str(data)
    _catalog(tmp_path / "d", "rival", [_assembly_row(str(data), "f" * 40)])
    with pytest.raises(LookupFailedError) as info:
        catalogs.lookup_assembly("lab.assy")
    message = str(info.value)
    assert str(tmp_path / "a" / "first.csv") in message and str(tmp_path / "d" / "rival.csv") in message
    assert (
        f"sha1 {digest!r} vs {'f' * 40!r}" in message
        and "location" not in message.split(":", 2)[-1].split(";")[0]
    )
    assert "brainbridge catalogs remove rival lab.assy" in message


def test_catalogs_remove_rows_and_whole_catalogs(tmp_path, monkeypatch):
    user = Path(os.environ["BRAINBRIDGE_CATALOGS"])
    user.mkdir(parents=True, exist_ok=True)
    rows = [
        ["lab.set", "stimulus_set", "StimulusSet", "local", "s.csv", "1" * 40, ""],
        ["lab.set", "stimulus_set", "", "local", "s.zip", "2" * 40, ""],
        _assembly_row("a.nc", "3" * 40, "lab.one", "lab.set"),
        _assembly_row("b.nc", "4" * 40, "lab.two"),
    ]
    pd.DataFrame(rows, columns=LOOKUP_COLUMNS).to_csv(user / "mine.csv", index=False)
    before = os.stat(user / "mine.csv").st_ino

    result = invoke("catalogs", "remove", "mine", "lab.set", ok=False)
    assert result.exit_code == 1 and "'lab.one' uses 'lab.set'" in result.output
    result = invoke("catalogs", "remove", "mine", "lab.nope", ok=False)
    assert result.exit_code == 1 and "lists no 'lab.nope'" in result.output
    assert len(Catalog.from_files("mine", user / "mine.csv")) == 4  # refused: nothing changed

    invoke("catalogs", "remove", "mine", "lab.one", "lab.set")
    left = Catalog.from_files("mine", user / "mine.csv")
    assert left["identifier"].tolist() == ["lab.two"]
    assert os.stat(user / "mine.csv").st_ino != before  # replaced by a rename, never rewritten in place
    assert "lab.two" in brainbridge.list_assemblies() and "lab.one" not in brainbridge.list_assemblies()

    invoke("catalogs", "remove", "mine", "--all")
    assert not (user / "mine.csv").exists() and "mine" not in brainbridge.list_catalogs()
    assert invoke("catalogs", "remove", "mine", "--all", ok=False).exit_code == 1
    assert invoke("catalogs", "remove", "mine", ok=False).exit_code == 2  # neither rows nor --all


def test_removal_waits_for_the_append_lock(tmp_path):
    catalog = _catalog(
        tmp_path,
        "locked",
        [_assembly_row("a.nc", "3" * 40, "lab.one"), _assembly_row("b.nc", "4" * 40, "lab.two")],
    )
    lock = FileLock(str(catalog.source_path) + ".lock")
    lock.acquire()
    worker = threading.Thread(target=catalog.remove_rows, args=(["lab.one"],))
    try:
        worker.start()
        worker.join(1.0)
        assert worker.is_alive()  # blocked on the lock packaging's appends hold
        assert len(Catalog.from_files("locked", catalog.source_path)) == 2
    finally:
        lock.release()
    worker.join(30)
    assert Catalog.from_files("locked", catalog.source_path)["identifier"].tolist() == ["lab.two"]


def test_an_installed_catalog_cannot_be_removed():
    with pytest.raises(CatalogError, match="installed package"):
        catalogs.remove_catalog("brainbridge-examples")
    with pytest.raises(LookupFailedError, match="no catalog named"):
        catalogs.remove_catalog("brainbridge-exampels")

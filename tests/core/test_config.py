"""Where brainbridge keeps things: BRAINBRIDGE_HOME, then BRAINIO_HOME, then platformdirs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import platformdirs
import pytest

from brainbridge import config
from brainbridge.fetch import fetch_file


def test_home_prefers_brainbridge_home_then_brainio_home_then_platformdirs(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(tmp_path / "bb"))
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "brainio"))
    assert config.home() == tmp_path / "bb"
    assert config.cache_dir() == tmp_path / "bb" / "cache"
    monkeypatch.delenv("BRAINBRIDGE_HOME")
    assert config.home() == tmp_path / "brainio"  # an existing BrainIO cache location is honoured
    monkeypatch.setenv("BRAINBRIDGE_HOME", "")  # empty counts as unset
    assert config.home() == tmp_path / "brainio"
    monkeypatch.delenv("BRAINIO_HOME")
    assert config.home() == Path(platformdirs.user_cache_dir("brainbridge"))


def test_fetch_lands_in_the_brainio_home_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("BRAINBRIDGE_HOME")
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "brainio"))
    source = tmp_path / "assy.nc"
    source.write_bytes(b"some bytes")
    sha1 = hashlib.sha1(b"some bytes").hexdigest()
    path = fetch_file("local", str(source), sha1)
    assert path.is_relative_to(tmp_path / "brainio" / "cache")
    assert path.parent.name == sha1 and path.read_bytes() == b"some bytes"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("0", False), ("", False), ("no", False)],
)
def test_offline_flag(monkeypatch, value, expected):
    monkeypatch.setenv("BRAINBRIDGE_OFFLINE", value)
    assert config.offline() is expected


def test_user_catalog_dirs_from_the_environment_then_the_home_or_config_folder(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv(
        "BRAINBRIDGE_CATALOGS", os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")])
    )
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(tmp_path / "home"))
    dirs = config.user_catalog_dirs()
    assert dirs == [tmp_path / "a", tmp_path / "b", tmp_path / "home" / "catalogs"]
    monkeypatch.delenv("BRAINBRIDGE_HOME")
    assert config.user_catalog_dirs()[2] == Path(platformdirs.user_config_dir("brainbridge")) / "catalogs"

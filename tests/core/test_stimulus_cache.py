"""Extracted stimulus folders are cache entries (issue 10 item 13).

A stimulus set is packaged into a real catalog, loaded (fetched, extracted), then damaged on
disk the ways a user or a failing disk would: a deleted image, an overwritten one, a planted
link, bit rot that keeps size and time stamp. Each load, ``cache verify`` and ``cache clean``
must notice and recover.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import brainbridge
from brainbridge import config
from brainbridge.catalogs import Catalog
from brainbridge.cli import main
from brainbridge.fetch import sha1_hash, tree_entries
from brainbridge.packaging import package_stimulus_set
from brainbridge.stimuli import EXTRACTED_MTIME_NS, StimulusSet, extract_stimuli

IDS = ["a", "b", "c"]


@pytest.fixture
def stimulus_set(tmp_path) -> str:
    catalog = brainbridge.register(Catalog.create("cached", tmp_path / "catalog" / "lookup.csv"))
    folder = tmp_path / "raw"
    folder.mkdir()
    proto = StimulusSet({"stimulus_id": IDS})
    proto.stimulus_paths = {}
    for sid in IDS:
        (folder / f"{sid}.png").write_bytes(f"image {sid} ".encode() * 100)
        proto.stimulus_paths[sid] = folder / f"{sid}.png"
    package_stimulus_set(catalog.identifier, proto, "test.cached")
    return "test.cached"


def original(sid: str) -> bytes:
    return f"image {sid} ".encode() * 100


def quarantined() -> list[Path]:
    folder = config.cache_dir() / ".quarantine"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_extraction_is_recorded_with_sizes_and_hashes(stimulus_set):
    s = brainbridge.get_stimulus_set(stimulus_set)
    folder = s.get_stimulus("a").parent
    (entry,) = [t for t in tree_entries() if t.kind == "stimuli"]
    assert config.cache_dir() / entry.relpath == folder
    assert entry.files == {
        f"{sid}.png": (len(original(sid)), sha1_hash(folder / f"{sid}.png")) for sid in IDS
    }
    assert all((folder / f"{sid}.png").stat().st_mtime_ns == EXTRACTED_MTIME_NS for sid in IDS)
    code, out = cli("cache", "list")
    assert code == 0 and "stimuli" in out and entry.relpath in out


def test_a_deleted_image_is_extracted_again(stimulus_set, caplog):
    path = brainbridge.get_stimulus_set(stimulus_set).get_stimulus("b")
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="brainbridge.stimuli"):
        again = brainbridge.get_stimulus_set(stimulus_set)
    assert again.get_stimulus("b").read_bytes() == original("b")
    assert "missing file b.png" in caplog.text
    (aside,) = quarantined()
    assert sorted(p.name for p in aside.iterdir()) == ["a.png", "c.png"]  # the damaged copy, kept aside


@pytest.mark.parametrize("damage", ["overwrite", "truncate", "extra file", "link"])
def test_an_overwritten_or_planted_file_is_never_served(stimulus_set, damage, tmp_path):
    path = brainbridge.get_stimulus_set(stimulus_set).get_stimulus("a")
    if damage == "overwrite":  # same size, other bytes
        path.write_bytes(b"X" * len(original("a")))
    elif damage == "truncate":
        path.write_bytes(original("a")[:10])
    elif damage == "extra file":
        (path.parent / "intruder.png").write_bytes(b"?")
    else:
        path.unlink()
        os.symlink("/etc/passwd", path)
    again = brainbridge.get_stimulus_set(stimulus_set)
    assert again.get_stimulus("a") == path and not path.is_symlink()
    assert path.read_bytes() == original("a")
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.png", "b.png", "c.png"]
    assert len(quarantined()) == 1


def test_a_touched_but_unchanged_file_is_kept(stimulus_set):
    path = brainbridge.get_stimulus_set(stimulus_set).get_stimulus("c")
    os.utime(path, None)  # new time stamp, same bytes
    assert brainbridge.get_stimulus_set(stimulus_set).get_stimulus("c").read_bytes() == original("c")
    assert quarantined() == [] and path.stat().st_mtime_ns == EXTRACTED_MTIME_NS


def test_bit_rot_is_found_by_cache_verify_and_repaired_on_the_next_load(stimulus_set):
    path = brainbridge.get_stimulus_set(stimulus_set).get_stimulus("b")
    data = bytearray(path.read_bytes())
    data[5] ^= 0x01  # one flipped bit, size and time stamp kept
    path.write_bytes(bytes(data))
    os.utime(path, ns=(EXTRACTED_MTIME_NS, EXTRACTED_MTIME_NS))
    code, out = cli("cache", "verify", "-q")
    assert code == 1 and "b.png (sha1 differs)" in out and "moved aside" in out
    assert not path.parent.exists()  # never left in service
    assert brainbridge.get_stimulus_set(stimulus_set).get_stimulus("b").read_bytes() == original("b")
    code, out = cli("cache", "verify", "-q")
    assert code == 0, out


def test_cache_clean_removes_extracted_folders(stimulus_set):
    folder = brainbridge.get_stimulus_set(stimulus_set).get_stimulus("a").parent
    code, out = cli("cache", "clean", "--all")
    assert code == 0 and str(folder) in out
    assert not folder.exists() and [t for t in tree_entries() if t.kind == "stimuli"] == []
    assert brainbridge.get_stimulus_set(stimulus_set).get_stimulus("a").read_bytes() == original("a")


def test_a_folder_from_before_registration_is_extracted_again(stimulus_set):
    from brainbridge.fetch.cache import DownloadCache

    folder = brainbridge.get_stimulus_set(stimulus_set).get_stimulus("a").parent
    cache = DownloadCache()
    cache.manifest.remove_tree(cache.relpath(folder))  # as an older brainbridge left it: unmanaged
    (folder / "a.png").write_bytes(b"stale")
    assert brainbridge.get_stimulus_set(stimulus_set).get_stimulus("a").read_bytes() == original("a")
    assert cache.tree(folder) is not None  # registered now


def test_a_link_planted_as_the_whole_folder_is_removed_not_followed(stimulus_set, tmp_path):
    folder = brainbridge.get_stimulus_set(stimulus_set).get_stimulus("a").parent
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    shutil.rmtree(folder)
    os.symlink(victim, folder)
    assert brainbridge.get_stimulus_set(stimulus_set).get_stimulus("a").read_bytes() == original("a")
    assert (victim / "keep.txt").read_text() == "mine" and sorted(p.name for p in victim.iterdir()) == [
        "keep.txt"
    ]
    assert not folder.is_symlink()


def test_extract_stimuli_refuses_keys_that_are_not_cache_keys(tmp_path):
    from brainbridge.errors import StimulusSetError

    for key in ("../../x", "A" * 40, "", "a/b"):
        with pytest.raises(StimulusSetError, match="cache key"):
            extract_stimuli(tmp_path / "none.zip", key)


def test_a_cache_root_reached_through_a_link_works(stimulus_set, tmp_path, monkeypatch):
    real = tmp_path / "real-home"
    real.mkdir()
    os.symlink(real, tmp_path / "home-link")
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(tmp_path / "home-link"))
    s = brainbridge.get_stimulus_set(stimulus_set)
    assert s.get_stimulus("a").read_bytes() == original("a")
    assert (real / "cache" / "stimuli").is_dir()
    s.get_stimulus("a").unlink()
    assert brainbridge.get_stimulus_set(stimulus_set).get_stimulus("a").read_bytes() == original("a")

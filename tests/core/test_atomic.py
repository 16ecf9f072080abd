"""Atomic writes: a failure leaves the destination as it was and no temporary files behind."""

from __future__ import annotations

import os

import pytest

from brainbridge.atomic import atomic_dir, atomic_path, atomic_write_text


def test_atomic_path_replaces_on_success_and_keeps_old_on_failure(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    atomic_write_text(target, "one")
    assert target.read_text() == "one"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:  # noqa: PT012 - the crash is the body
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "one"
    assert os.listdir(target.parent) == ["file.txt"]


def test_atomic_path_gives_the_usual_mode_and_can_append(tmp_path):
    target = tmp_path / "log.txt"
    atomic_write_text(target, "a")
    with atomic_path(target, copy_existing=True) as tmp:
        with open(tmp, "a") as f:
            f.write("b")
        assert target.read_text() == "a"  # not visible before the block ends
    assert target.read_text() == "ab"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_dir_replaces_whole_folder_or_nothing(tmp_path):
    target = tmp_path / "folder"
    with atomic_dir(target) as staging:
        (staging / "a").write_text("1")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as staging:
        (staging / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]  # replaced, not merged
    with pytest.raises(ValueError), atomic_dir(target) as staging:  # noqa: PT012 - the crash is the body
        (staging / "c").write_text("3")
        raise ValueError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]

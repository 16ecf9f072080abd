"""Zip bombs, archives that lie about their sizes, and full disks while extracting stimuli.

The archives are real ZIP files written by :mod:`zipfile` (and, for the lying one, patched the
way an attacker would); the full disks are real: a tmpfs with few bytes or few inodes in a
private mount namespace, or a process with a file-size limit.
"""

from __future__ import annotations

import os
import resource
import shutil
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import brainbridge
from brainbridge.errors import StimulusSetError, UnsafeArchiveError
from brainbridge.stimuli import extract_zip

MiB = 1 << 20


def bomb(path: Path, size: int = 64 * MiB, name: str = "zeros.png") -> Path:
    """A small archive that inflates to ``size`` bytes of zeros."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("ok.png", b"fine")
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            block = bytes(MiB)
            for _ in range(size // MiB):
                f.write(block)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    archive = bomb(tmp_path / "bomb.zip")
    assert archive.stat().st_size < MiB  # 64 MiB of zeros in well under 1 MiB
    out = tmp_path / "out" / "stimuli"
    with pytest.raises(UnsafeArchiveError, match="zip bomb") as info:
        extract_zip(archive, out)
    assert "BRAINBRIDGE_MAX_EXTRACT_RATIO" in str(info.value) and "\n" not in str(info.value)
    assert leftovers(tmp_path / "out") == []  # not even a staging folder


def test_the_limits_are_configurable(tmp_path, monkeypatch):
    archive = bomb(tmp_path / "bomb.zip", size=4 * MiB)
    monkeypatch.setenv("BRAINBRIDGE_MAX_EXTRACT_RATIO", "100000")
    extracted = extract_zip(archive, tmp_path / "a")
    assert (extracted / "zeros.png").stat().st_size == 4 * MiB
    monkeypatch.setenv("BRAINBRIDGE_MAX_EXTRACT_BYTES", "2M")
    with pytest.raises(UnsafeArchiveError, match="more than the limit of 2.0 MiB"):
        extract_zip(archive, tmp_path / "b")
    assert extract_zip(archive, tmp_path / "c", max_bytes=8 * MiB).is_dir()  # a parameter wins
    monkeypatch.setenv("BRAINBRIDGE_MAX_EXTRACT_FILES", "1")
    with pytest.raises(UnsafeArchiveError, match="2 entries, more than the limit of 1"):
        extract_zip(archive, tmp_path / "d", max_bytes=8 * MiB)
    monkeypatch.setenv("BRAINBRIDGE_MAX_EXTRACT_FILES", "lots")
    with pytest.raises(ValueError, match="BRAINBRIDGE_MAX_EXTRACT_FILES"):
        extract_zip(archive, tmp_path / "e")


def test_many_small_well_compressed_files_are_fine(tmp_path):
    # text-like stimuli compress far beyond the ratio, but small files cannot be bombs
    with zipfile.ZipFile(tmp_path / "s.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i in range(20):
            z.writestr(f"{i}.txt", b"a" * 50_000)
    assert len(list(extract_zip(tmp_path / "s.zip", tmp_path / "out").iterdir())) == 20


def _patch_declared_size(path: Path, member: str, size: int) -> None:
    """Make the local and central headers of ``member`` claim ``size`` bytes (an attacker's edit)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    local = info.header_offset
    assert data[local : local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", data, local + 22, size)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, central + 24, size)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def test_an_archive_that_lies_about_its_sizes_stops_at_the_declared_size(tmp_path):
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.png", bytes(16 * MiB))  # 16 MiB of zeros: about 16 KiB deflated
    _patch_declared_size(archive, "big.png", 1000)
    with zipfile.ZipFile(archive) as z:
        assert z.getinfo("big.png").file_size == 1000
    out = tmp_path / "out"
    with pytest.raises(StimulusSetError, match="damaged"):
        extract_zip(archive, out)
    assert leftovers(tmp_path) == ["liar.zip"]


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


def _extract_in_process(
    archive: Path, target: Path, prefix: list[str], setup=None
) -> subprocess.CompletedProcess:
    script = textwrap.dedent(
        f"""
        import sys
        from brainbridge.errors import BrainbridgeError
        from brainbridge.stimuli import extract_zip
        try:
            extract_zip({str(archive)!r}, {str(target)!r})
        except BrainbridgeError as e:
            print(type(e).__name__ + ": " + str(e))
            sys.exit(3)
        print("extracted")
        """
    )
    return subprocess.run(
        [*prefix, sys.executable, "-c", script],
        capture_output=True,
        text=True,
        preexec_fn=setup,
        env={**os.environ, "PYTHONPATH": str(Path(brainbridge.__file__).parents[1])},
    )


needs_tmpfs = pytest.mark.skipif(
    not _can_mount_tmpfs(), reason="cannot mount a tmpfs in a user namespace here"
)


def _in_tmpfs(mount: Path, options: str, then: str) -> list[str]:
    return [
        "unshare",
        "--mount",
        "--map-root-user",
        "sh",
        "-c",
        f'mount -t tmpfs -o {options} tmpfs {mount} && {then} "$@"; code=$?; ls -A {mount}; exit $code',
        "sh",
    ]


@needs_tmpfs
def test_a_disk_too_small_is_refused_up_front(tmp_path):
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        z.writestr("a.png", os.urandom(2 * MiB))
    mount = tmp_path / "disk"
    mount.mkdir()
    done = _extract_in_process(tmp_path / "s.zip", mount / "out", _in_tmpfs(mount, "size=1m", "exec 2>&1;"))
    assert done.returncode != 0
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("StimulusSetError: not enough disk space") and "Traceback" not in done.stdout
    assert lines[1:] == []  # `ls -A` of the disk: nothing was written


@needs_tmpfs
def test_a_full_disk_during_extraction_is_one_line_and_leaves_nothing(tmp_path):
    # few inodes: plenty of bytes free, but creating the 40 files runs out of space midway
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        for i in range(40):
            z.writestr(f"img{i}.png", b"x" * 100)
    mount = tmp_path / "disk"
    mount.mkdir()
    done = _extract_in_process(
        tmp_path / "s.zip", mount / "out", _in_tmpfs(mount, "size=8m,nr_inodes=16", "")
    )
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("StimulusSetError: no space left while extracting"), done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert lines[1:] == []  # the partial copy was removed


def test_a_file_size_limit_during_extraction_is_one_line_and_leaves_nothing(tmp_path):
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        z.writestr("a.png", b"a" * 1000)
        z.writestr("b.png", os.urandom(3 * MiB))
    out = tmp_path / "out"

    def limit():  # a real process limit: writes past 1 MiB fail with EFBIG
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (MiB, MiB))

    done = _extract_in_process(tmp_path / "s.zip", out, [], setup=limit)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("StimulusSetError: no space left while extracting")
    assert len(done.stdout.strip().splitlines()) == 1 and not done.stderr
    assert leftovers(tmp_path) == ["s.zip"]

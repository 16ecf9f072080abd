"""One owner per cross-cutting utility: progress, atomic writes, hashing, BLAS threads, formatting."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import brainbridge
from brainbridge.errors import InvalidParameterError
from brainbridge.formatting import format_bytes, format_table
from brainbridge.hashing import arrays_digest, json_digest, sha1_hash, text_digest
from brainbridge.progress import LOGGER_NAME, progress_bar, resolve_progress

SRC = Path(brainbridge.__file__).resolve().parent


def _calls(path: Path) -> list[tuple[str, int]]:
    """``(dotted callee, line)`` of every call in a file (``os.replace``, ``tqdm``...)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
            found.append((".".join(reversed(parts)), node.lineno))
    return found


def _sites(predicate, allowed: dict[str, str]) -> list[str]:
    sites = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in allowed:
            continue
        sites += [f"{rel}:{line} {name}" for name, line in _calls(path) if predicate(name)]
    return sites


# --------------------------------------------------------------------------------------
# one owner each (the modules that may call the underlying library directly, and why)
# --------------------------------------------------------------------------------------


def test_only_the_progress_module_makes_tqdm_bars():
    assert _sites(lambda n: n.split(".")[-1] == "tqdm", {"progress.py": "the owner"}) == []


def test_only_the_atomic_module_renames_files_into_place():
    allowed = {
        "atomic.py": "the owner",
        # the resumable download keeps its .part across attempts (it must survive a crash to
        # resume), then renames it into the cache entry under the entry lock
        "fetch/core.py": "download loop",
        # the cache moves a corrupt manifest aside (a rename of an existing file, not a write)
        "fetch/cache.py": "manifest aside",
        # the fit cache moves a damaged entry aside (a rename of an existing folder, not a write)
        "encoding/cache.py": "damaged entry aside",
        # moves a complete, verified download from its staging cache into the project folder
        # (a rename of a finished file; new in bb25402, to move under fetch with issue 11 item 2)
        "ecephys/dandi.py": "fetched file into place",
    }
    sites = _sites(
        lambda n: n in ("os.replace", "os.rename", "shutil.move") or n.endswith("tmp.replace"), allowed
    )
    assert sites == []


def test_only_the_hashing_module_builds_digests():
    allowed = {
        "hashing.py": "the owner",
        # protocol checks against what a store reports: S3's MD5 ETags, the streaming tail hasher
        "fetch/core.py": "protocol checksums",
        # the stimulus files' bytes, streamed in id order (a file hash per stimulus would be slower)
        "encoding/cache.py": "stimulus checksum",
    }
    sites = _sites(lambda n: n.startswith("hashlib."), allowed)
    assert sites == []


def test_only_the_threads_module_uses_threadpoolctl():
    users = [
        path.relative_to(SRC).as_posix() for path in SRC.rglob("*.py") if "threadpoolctl" in path.read_text()
    ]
    assert users == ["threads.py"] or sorted(users) == ["parallel.py", "threads.py"]
    # parallel.py may only mention it in prose
    if "parallel.py" in users:
        assert not any(n.startswith("threadpoolctl") for n, _ in _calls(SRC / "parallel.py"))


# --------------------------------------------------------------------------------------
# progress: one parameter, one rule
# --------------------------------------------------------------------------------------


class _FakeStderr(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_rule_bar_on_a_terminal_log_lines_elsewhere(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", _FakeStderr(tty=True))
    assert (
        resolve_progress(None) == "bar"
        and resolve_progress(False) == "off"
        and resolve_progress(True) == "bar"
    )

    fake = _FakeStderr(tty=False)
    monkeypatch.setattr(sys, "stderr", fake)
    assert resolve_progress(None) == "log"
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        assert list(progress_bar(range(40), desc="items", unit="img")) == list(range(40))
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert len(lines) == 10  # one per tenth
    assert lines[0].startswith("items: 10% (4/40 img)") and lines[-1].startswith("items: 100% (40/40 img)")
    assert fake.getvalue() == ""  # no bar drawn off a terminal

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME), progress_bar(desc="bytes", total=None) as bar:
        bar.update(7)
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == ["bytes: done (7 it)"]


def test_progress_true_draws_a_bar_and_false_nothing(monkeypatch, caplog):
    fake = _FakeStderr(tty=False)
    monkeypatch.setattr(sys, "stderr", fake)
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        for _ in progress_bar(range(3), progress=False, desc="quiet"):
            pass
        for _ in progress_bar(range(3), progress=True, desc="loud", file=fake):
            pass
    assert "quiet" not in fake.getvalue() and "loud" in fake.getvalue()
    assert caplog.records == []


def test_a_long_job_off_a_terminal_logs_its_progress(monkeypatch, caplog, tmp_path):
    """A real site: verifying the cache off a terminal logs lines instead of drawing a bar."""
    from brainbridge.fetch import fetch_file, verify_cache

    monkeypatch.setattr(sys, "stderr", _FakeStderr(tty=False))
    for i in range(3):
        source = tmp_path / f"f{i}.bin"
        source.write_bytes(bytes([i]) * 100)
        fetch_file("local", str(source), sha1_hash(source))
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        assert verify_cache() == []
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert any(m.startswith("verifying cache: 100% (3/3 file)") for m in messages), messages


# --------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------


def test_the_ecephys_project_index_is_written_atomically(tmp_path, monkeypatch):
    pytest.importorskip("pynwb")
    from brainbridge.ecephys.project import INDEX_NAME, write_project_index

    (tmp_path / "sessions.csv").write_text("id\n1\n")
    index = tmp_path / INDEX_NAME
    index.write_text("old")
    real_write = Path.write_text

    def half_then_crash(self, text, *args, **kwargs):
        real_write(self, text[:3], *args, **kwargs)
        raise OSError("crash mid-write")

    monkeypatch.setattr(Path, "write_text", half_then_crash)
    with pytest.raises(OSError, match="crash mid-write"):
        write_project_index(tmp_path)
    monkeypatch.undo()
    assert index.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([INDEX_NAME, "sessions.csv"])
    written = json.loads(write_project_index(tmp_path).read_text())
    assert written["format"]


def test_durable_atomic_writes_and_bytes(tmp_path):
    from brainbridge.atomic import atomic_write_bytes, atomic_write_text

    assert atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01", durable=True).read_bytes() == b"\x00\x01"
    assert atomic_write_text(tmp_path / "b.txt", "é", durable=True).read_text(encoding="utf-8") == "é"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.txt"]


# --------------------------------------------------------------------------------------
# hashing
# --------------------------------------------------------------------------------------


def test_hashes_match_independent_hashlib_computations(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 << 20))
    assert sha1_hash(path, buffer_size=4096) == hashlib.sha1(path.read_bytes()).hexdigest()
    assert text_digest("abc", length=8) == hashlib.sha256(b"abc").hexdigest()[:8]
    assert json_digest({"b": 1, "a": [1, 2]}) == hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    manual = hashlib.sha256()
    manual.update(f"w|{x.dtype.str}|{x.shape}|".encode())
    manual.update(x.tobytes())
    assert arrays_digest([("w", x)]) == manual.hexdigest()
    # equal text hashes the same whatever the string dtype
    assert arrays_digest([("s", np.array(["a", "bc"], dtype=object))]) == arrays_digest(
        [("s", np.array(["a", "bc"]))]
    )
    assert arrays_digest([("s", np.array(["a", "bc"]))]) != arrays_digest([("s", np.array(["ab", "c"]))])


def test_fit_keys_and_feature_checksums_use_the_one_hashing_module():
    pytest.importorskip("sklearn")
    from brainbridge.encoding.cache import fit_key
    from brainbridge.encoding.features import array_checksum

    x = np.ones((2, 2))
    assert array_checksum([("x", x)]) == arrays_digest([("x", x)])
    key = fit_key(model="m", layer="l")
    assert len(key) == 64 and key == fit_key(layer="l", model="m")


# --------------------------------------------------------------------------------------
# BLAS threads
# --------------------------------------------------------------------------------------


def test_blas_thread_limit_holds_inside_the_block_only():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from brainbridge.threads import blas_thread_env, blas_thread_limit

    def blas_threads():
        return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}

    before = blas_threads()
    with blas_thread_limit(1):
        assert blas_threads() <= {1}
    assert blas_threads() == before
    assert blas_thread_env(2)["OPENBLAS_NUM_THREADS"] == "2"
    with pytest.raises(InvalidParameterError):
        blas_thread_env(0)
    with pytest.raises(ValueError):  # still a ValueError for callers
        blas_thread_limit(0)


# --------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------


def test_format_bytes_and_table():
    assert [format_bytes(n) for n in (0, 1023, 1024, 1536, 5 * 1024**3, 3 * 1024**5)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 KiB",
        "5.0 GiB",
        "3072.0 TiB",
    ]
    table = format_table([{"name": "a", "n": 1, "x": 0.5}, {"name": "bcd", "n": 10, "x": float("nan")}])
    assert table.splitlines() == ["name   n    x", "----  --  ---", "a      1  0.5", "bcd   10"]
    assert format_table([]) == "(none)"


def test_a_resumed_bar_logs_from_where_it_starts(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", _FakeStderr(tty=False))
    with (
        caplog.at_level(logging.INFO, logger=LOGGER_NAME),
        progress_bar(desc="resume", total=100, initial=45, unit="B") as bar,
    ):
        bar.update(55)
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == ["resume: 100% (100/100 B)"]

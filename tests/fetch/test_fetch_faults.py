"""Faults an adversarial review found: complete partial files, leaked secrets, bit rot, endless
retries and waits, unreachable hosts and full disks. Real servers, files and processes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings

import pytest
from tests.support.servers import free_port

from brainbridge.errors import FetchError
from brainbridge.fetch import (
    DiskFullError,
    FetchTimeoutError,
    HostUnreachableError,
    RemoteNotFoundError,
    fetch_file,
    fetch_files,
    sha1_hash,
)
from brainbridge.fetch.cache import DownloadCache

FAST = {"backoff": 0.01, "read_timeout": 2.0}


def payload(n: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (n // 32 + 1))[:n]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def hidden(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.exists() else []


# ------------------------------------------------------------------------------------------
# a complete .part (killed after the last byte, before the rename)
# ------------------------------------------------------------------------------------------

KILL_AT_RENAME = """
import os, signal, sys
from brainbridge.fetch import core
real = core.os.replace
def replace(src, dst):
    if str(src).endswith(".part"):  # the last byte is on disk: die before the rename
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
core.os.replace = replace
sha1 = sys.argv[2] if sys.argv[2] != "-" else None
core.fetch_file("http", sys.argv[1], sha1, progress=False, backoff=0.01)
"""


def killed_after_last_byte(url: str, digest: str | None) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT_RENAME, url, digest or "-"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_complete_part_left_by_a_killed_process_is_verified_and_promoted(http_server):
    data = payload(1_500_000)
    url = http_server.add("/done.nc", data)
    killed_after_last_byte(url, sha1(data))
    target = DownloadCache().entry_path(sha1(data), "done.nc")
    part = DownloadCache.part_path(target)
    assert part.stat().st_size == len(data) and not target.exists()
    path = fetch_file("http", url, sha1(data), **FAST)
    assert path.read_bytes() == data and hidden(path.parent) == []
    assert http_server.count("/done.nc") == 1  # verified from disk: no request at all


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_complete_part_without_checksum_restarts_from_zero(http_server):
    data = payload(700_000, seed=1)
    url = http_server.add("/nosum.nc", data)
    killed_after_last_byte(url, None)
    assert fetch_file("http", url, None, **FAST).read_bytes() == data
    last = http_server.records("/nosum.nc")[-1]
    assert last.range is None and last.status == 200  # not a resume past the end


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_416_on_a_resume_restarts_from_zero(http_server):
    data = payload(600_000, seed=2)
    url = http_server.add("/grow.nc", data)
    killed_after_last_byte(url, sha1(data))
    target = DownloadCache().entry_path(sha1(data), "grow.nc")
    part = DownloadCache.part_path(target)
    meta = part.with_name(part.name + ".json")
    saved = json.loads(meta.read_text())
    saved["total"] = None  # as if the size had not been announced: we can only ask the server
    meta.write_text(json.dumps(saved))
    with open(part, "ab") as f:
        f.write(b"extra")  # longer than the object: the resume gets a 416
    path = fetch_file("http", url, sha1(data), **FAST)
    assert path.read_bytes() == data
    statuses = [(r.range, r.status) for r in http_server.records("/grow.nc")]
    assert statuses[-2:] == [(f"bytes={len(data) + 5}-", 416), (None, 200)]


# ------------------------------------------------------------------------------------------
# secrets
# ------------------------------------------------------------------------------------------

SECRETS = ["AKIASECRETKEYID", "s1gnatur3value", "sess10ntoken", "tok3nvalue", "sigvalue9", "hunter2pass"]


def signed(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return (
        f"{scheme}://alice:hunter2pass@{rest}?X-Amz-Credential=AKIASECRETKEYID&X-Amz-Signature=s1gnatur3value"
        "&X-Amz-Security-Token=sess10ntoken&token=tok3nvalue&sig=sigvalue9&plain=visible"
    )


def exception_texts(error: BaseException) -> str:
    texts, seen, current = [], set(), error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(f"{type(current).__name__}: {current} {current.args!r}")
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def assert_clean(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    where = [text[max(text.index(s) - 300, 0) : text.index(s) + 50] for s in leaked[:1]]
    assert not leaked, f"secrets leaked: {leaked}: {where}"


def test_secrets_never_reach_logs_warnings_errors_or_resume_files(http_server, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # every logger, the HTTP libraries' DEBUG lines included
    seen: list[str] = []
    data = payload(900_000, seed=3)
    url = signed(http_server.add("/s.bin", data))
    # retried failures (logged), then a partial file left by a timeout
    http_server.add_fault("/s.bin", status=503)
    http_server.add_fault("/s.bin", drop_after=100_000)
    http_server.add_fault("/s.bin", stall=3.0, stall_after=100_000, times=100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FetchTimeoutError) as info:
            fetch_file("http", url, sha1(data), timeout=1.5, read_timeout=0.3, backoff=0.01, retries=100)
        seen.append(exception_texts(info.value))
        target = DownloadCache().entry_path(sha1(data), "s.bin")
        meta = DownloadCache.part_path(target).with_name(".s.bin.part.json")
        assert meta.exists()
        seen.append(meta.read_text())
        assert stat.S_IMODE(meta.stat().st_mode) == 0o600
        # not found, connection refused, a redirect to file://, a redirect loop
        with pytest.raises(RemoteNotFoundError) as info:
            fetch_file("http", signed(http_server.url("/none")), **FAST)
        seen.append(exception_texts(info.value))
        with pytest.raises(HostUnreachableError) as info:
            fetch_file("http", signed(f"http://127.0.0.1:{free_port()}/x"), **FAST)
        seen.append(exception_texts(info.value))
        http_server.add("/r.bin", b"r")
        http_server.add_fault("/r.bin", redirect="file:///etc/passwd?token=tok3nvalue")
        with pytest.raises(FetchError) as info:
            fetch_file("http", signed(http_server.url("/r.bin")), **FAST)
        seen.append(exception_texts(info.value))
        # and a success, with its manifest record
        http_server.clear_faults()
        path = fetch_file("http", url, sha1(data), **FAST)
        cache = DownloadCache()
        seen.append(repr(cache.manifest.get(cache.relpath(path))))
    seen.extend(str(w.message) for w in caught)
    seen.append(caplog.text)
    assert "plain=visible" in caplog.text or "plain=visible" in "".join(
        seen
    )  # redaction is not blanket removal
    assert "Max retries" in caplog.text or "GET" in caplog.text  # the libraries' lines were captured
    assert_clean("\n".join(seen))


# ------------------------------------------------------------------------------------------
# bit rot
# ------------------------------------------------------------------------------------------


def flip_bit_keep_times(path, offset: int) -> None:
    st = path.stat()
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_flipped_bit_with_size_and_mtime_kept_is_never_served(http_server):
    data = payload(400_000, seed=4)
    url = http_server.add("/rot.nc", data)
    path = fetch_file("http", url, sha1(data), **FAST)
    flip_bit_keep_times(path, 200_000)
    again = fetch_file("http", url, sha1(data), **FAST)
    assert again == path and again.read_bytes() == data
    assert http_server.count("/rot.nc") == 2  # fetched again
    quarantined = list((DownloadCache().root / ".quarantine").iterdir())
    assert len(quarantined) == 1 and sha1_hash(quarantined[0]) != sha1(data)  # kept aside, out of service


def test_load_verified_reads_while_hashing_and_rereads_a_damaged_copy(http_server):
    from brainbridge.fetch import load_verified

    data = payload(300_000, seed=5)
    url = http_server.add("/lv.nc", data)
    assert load_verified("http", url, sha1(data), lambda p: p.read_bytes(), **FAST) == data
    path = DownloadCache().entry_path(sha1(data), "lv.nc")
    flip_bit_keep_times(path, 10)
    reads = []

    def reader(p):
        reads.append(p.read_bytes())
        return reads[-1]

    assert load_verified("http", url, sha1(data), reader, **FAST) == data
    assert len(reads) == 2 and reads[0] != data  # the damaged read was thrown away
    assert http_server.count("/lv.nc") == 2


# ------------------------------------------------------------------------------------------
# retries, deadlines, locks, redirects
# ------------------------------------------------------------------------------------------


def test_one_byte_per_connection_does_not_reset_the_retry_count(http_server):
    data = payload(50_000, seed=6)
    url = http_server.add("/drip.bin", data)
    http_server.add_fault("/drip.bin", drop_after=1, times=1000)
    with pytest.raises(FetchError, match="after 3 failed attempts"):
        fetch_file("http", url, sha1(data), retries=2, backoff=0.01)
    assert http_server.count("/drip.bin") == 3


def test_total_deadline_bounds_a_slow_trickle(http_server):
    data = payload(2_000_000, seed=7)
    url = http_server.add("/slow.bin", data)
    http_server.chunk_size = 16 << 10
    http_server.throttle = 0.2  # each chunk well inside the read timeout: only the deadline stops it
    started = time.monotonic()
    with pytest.raises(FetchTimeoutError, match="timed out"):
        fetch_file("http", url, sha1(data), timeout=1.0, read_timeout=30, backoff=0.01)
    assert time.monotonic() - started < 20  # generous: the point is that it ends


HOLD_LOCK = """
import sys, time
from brainbridge.fetch import core
from brainbridge.fetch.cache import DownloadCache
from brainbridge.fetch.locations import parse_location
lock = DownloadCache().lock(sys.argv[1])
core._acquire(lock, parse_location("http", "http://example.invalid/f"), None, None)
print("held", flush=True)
time.sleep(60)
"""


def test_waiting_for_another_process_gives_up_and_names_it(http_server):
    data = payload(10_000, seed=8)
    url = http_server.add("/locked.bin", data)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, sha1(data)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FetchTimeoutError) as info:
            fetch_file("http", url, sha1(data), lock_timeout=0.5, **FAST)
        message = str(info.value)
        assert f"process {proc.pid} on {socket.gethostname()}" in message and "locked.bin" in message
        assert http_server.count("/locked.bin") == 0
    finally:
        proc.kill()
        proc.wait()
    # the holder died: its lock is free again
    assert fetch_file("http", url, sha1(data), lock_timeout=5, **FAST).read_bytes() == data


def test_redirects_to_files_and_redirect_loops_are_final(http_server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    http_server.add("/to-file", b"x")
    http_server.add_fault("/to-file", redirect=secret.as_uri(), times=10)
    with pytest.raises(FetchError, match="refused"):
        fetch_file("http", http_server.url("/to-file"), **FAST)
    assert http_server.count("/to-file") == 1
    http_server.add("/loop", b"x")
    http_server.add_fault("/loop", redirect="/loop", times=1000)
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_file("http", http_server.url("/loop"), **FAST)
    assert http_server.count("/loop") <= 31  # one request chain, not retried


# ------------------------------------------------------------------------------------------
# unreachable hosts fail fast; progress has a total
# ------------------------------------------------------------------------------------------


def test_unresolvable_and_refusing_hosts_fail_at_once(caplog):
    caplog.set_level(logging.WARNING, logger="brainbridge.fetch")
    with pytest.raises(HostUnreachableError, match="cannot reach nothing-here.invalid.*offline"):
        fetch_file("http", "http://nothing-here.invalid/data.nc", retries=5, backoff=1.0)
    with pytest.raises(HostUnreachableError, match="cannot reach 127.0.0.1"):
        fetch_file("http", f"http://127.0.0.1:{free_port()}/data.nc", retries=5, backoff=1.0)
    assert "retrying" not in caplog.text


def test_progress_bar_of_many_files_has_a_total(http_server, capsys):
    a, b = payload(300_000, seed=9), payload(200_000, seed=10)
    requests = [
        ("http", http_server.add("/a.bin", a), sha1(a)),
        ("http", http_server.add("/b.bin", b), sha1(b)),
    ]
    fetch_files(requests, progress=True, workers=1, **FAST)
    err = capsys.readouterr().err
    assert "488k/488k" in err.replace(" ", "").lower() or "488k/488kb" in err.replace(" ", "").lower(), err[
        -500:
    ]


# ------------------------------------------------------------------------------------------
# full disk
# ------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs when this process may mount one (root); else a patched write raising ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
        )
        mounted = done.returncode == 0 and not os.environ.get("BRAINBRIDGE_TEST_NO_TMPFS")
    except OSError:  # no mount command
        mounted = False
    if mounted is False and os.path.ismount(mount):
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    if not mounted:
        yield mount, False
        return
    try:
        yield mount, True
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _patch_enospc(monkeypatch, limit: int) -> None:
    import builtins
    import errno
    import io

    real_open = builtins.open

    class Limited(io.FileIO):
        written = 0

        def write(self, b):
            Limited.written += len(b)
            if Limited.written > limit:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(b)

    def fake_open(file, mode="r", buffering=-1, *args, **kwargs):
        if str(file).endswith(".part") and "b" in mode and buffering == 0:
            return Limited(file, mode.replace("b", "").replace("+", "") + ("+" if "+" in mode else ""))
        return real_open(file, mode, buffering, *args, **kwargs)

    from brainbridge.fetch import core

    monkeypatch.setattr(core, "open", fake_open, raising=False)


def test_full_disk_during_a_download_is_one_clear_error_and_leaves_nothing(
    http_server, tiny_disk, monkeypatch
):
    mount, real = tiny_disk
    if not real:
        _patch_enospc(monkeypatch, 1 << 20)
    data = payload(3_000_000, seed=11)
    url = http_server.add("/big.nc", data)
    with pytest.raises(DiskFullError) as info:
        fetch_file("http", url, sha1(data), cache_dir=mount / "cache", **FAST)
    assert "\n" not in str(info.value) and "no space left" in str(info.value)
    folder = DownloadCache(mount / "cache").entry_path(sha1(data), "big.nc").parent
    assert list(folder.iterdir()) == []  # no partial file, no resume metadata
    assert http_server.count("/big.nc") == 1  # not retried


def test_cli_fetch_on_a_full_disk_prints_one_line(http_server, tiny_disk, monkeypatch, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from brainbridge import catalogs
    from brainbridge.catalogs import LOOKUP_COLUMNS
    from brainbridge.cli import main

    mount, real = tiny_disk
    if not real:
        _patch_enospc(monkeypatch, 1 << 20)
    data = payload(3_000_000, seed=12)
    url = http_server.add("/assy_big.nc", data)
    folder = tmp_path / "user-catalogs"
    folder.mkdir()
    pd.DataFrame(
        [
            dict(
                identifier="big.assembly",
                lookup_type="assembly",
                **{"class": "NeuronRecordingAssembly"},
                location_type="http",
                location=url,
                sha1=sha1(data),
                stimulus_set_identifier="",
            )
        ],
        columns=LOOKUP_COLUMNS,
    ).to_csv(folder / "big.csv", index=False)
    monkeypatch.setenv("BRAINBRIDGE_CATALOGS", str(folder))
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(mount))
    catalogs.reload_catalogs()
    try:
        result = CliRunner().invoke(main, ["fetch", "big.assembly", "--timeout", "60"])
    finally:
        catalogs.reload_catalogs()
    assert result.exit_code != 0
    assert (
        "no space left" in result.output
        and "while fetching" in result.output
        and "Traceback" not in result.output
    )
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not list(mount.rglob("*.part*"))

"""HTTP(S) fetches against a real loopback server: resume, retries, checksum errors, timeouts."""

from __future__ import annotations

import hashlib
import os

import pytest

from brainbridge.errors import ChecksumMismatchError, FetchError
from brainbridge.fetch import (
    AccessDeniedError,
    FetchTimeoutError,
    RemoteNotFoundError,
    fetch_file,
)
from brainbridge.fetch.cache import DownloadCache

FAST = {"backoff": 0.01, "read_timeout": 2.0}


def payload(n: int, seed: int = 0) -> bytes:
    return os.urandom(0) + bytes((i * 31 + seed) % 251 for i in range(256)) * (n // 256) + b"z" * (n % 256)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def leftovers(path):
    """Hidden partial files next to a cache entry."""
    return (
        sorted(p.name for p in path.parent.iterdir() if p.name.startswith("."))
        if path.parent.exists()
        else []
    )


def test_download_then_cache_hit_without_network(http_server):
    data = payload(3_000_000)
    url = http_server.add("/data/assy.nc", data)
    path = fetch_file("https" if url.startswith("https") else "http", url, sha1(data), **FAST)
    assert path.read_bytes() == data
    assert path.name == "assy.nc" and path.parent.name == sha1(data)  # content-addressed key
    assert leftovers(path) == []
    again = fetch_file("http", url, sha1(data), **FAST)
    assert again == path
    assert http_server.count("/data/assy.nc") == 1  # the second call never touched the server


def test_dropped_connection_resumes_with_range(http_server):
    data = payload(2_500_000)
    url = http_server.add("/f.bin", data)
    http_server.add_fault("/f.bin", drop_after=1_000_000)
    path = fetch_file("http", url, sha1(data), **FAST)
    assert path.read_bytes() == data
    gets = http_server.records("/f.bin")
    assert len(gets) == 2
    assert gets[0].range is None and gets[0].status == 200
    assert gets[1].range == "bytes=1000000-" and gets[1].status == 206
    assert gets[1].headers.get("if-range")  # resumed only if the file is unchanged


def test_server_error_statuses_are_retried(http_server):
    data = payload(10_000)
    url = http_server.add("/x.bin", data)
    http_server.add_fault("/x.bin", status=500)
    http_server.add_fault("/x.bin", status=503, times=2)
    assert fetch_file("http", url, sha1(data), **FAST).read_bytes() == data
    assert [r.status for r in http_server.records("/x.bin")] == [500, 503, 503, 200]


def test_not_found_is_not_retried(http_server):
    url = http_server.url("/missing.nc")
    with pytest.raises(RemoteNotFoundError, match="404"):
        fetch_file("http", url, None, **FAST)
    assert http_server.count("/missing.nc") == 1
    with pytest.raises(FileNotFoundError):  # the builtin a user would catch
        fetch_file("http", url, None, **FAST)


def test_forbidden_is_final(http_server):
    url = http_server.add("/secret.bin", b"abc")
    http_server.add_fault("/secret.bin", status=403)
    with pytest.raises(AccessDeniedError):
        fetch_file("http", url, None, **FAST)
    assert http_server.count("/secret.bin") == 1


def test_retries_give_up_with_a_clear_error(http_server):
    url = http_server.add("/flaky.bin", b"abc")
    http_server.add_fault("/flaky.bin", status=502, times=10)
    with pytest.raises(FetchError, match="giving up .* after 3 failed attempts.*502"):
        fetch_file("http", url, None, retries=2, backoff=0.01)
    assert http_server.count("/flaky.bin") == 3


def test_wrong_bytes_once_are_downloaded_again(http_server):
    data = payload(300_000)
    url = http_server.add("/w.bin", data)
    http_server.add_fault("/w.bin", corrupt=True)
    path = fetch_file("http", url, sha1(data), **FAST)
    assert path.read_bytes() == data
    assert http_server.count("/w.bin") == 2


def test_persistently_wrong_bytes_raise_with_both_checksums(http_server):
    data = payload(300_000)
    url = http_server.add("/w.bin", data)
    expected = sha1(b"something else")
    with pytest.raises(ChecksumMismatchError) as info:
        fetch_file("http", url, expected, **FAST)
    assert info.value.expected == expected and info.value.actual == sha1(data)
    assert expected in str(info.value) and sha1(data) in str(info.value)
    target = DownloadCache().entry_path(expected, "w.bin")
    assert not target.exists() and leftovers(target) == []  # nothing kept that could pass for the file
    assert http_server.count("/w.bin") == 2  # one retry, then the error


def test_stall_past_read_timeout_then_success(http_server):
    data = payload(400_000)
    url = http_server.add("/s.bin", data)
    http_server.add_fault("/s.bin", stall=5.0, stall_after=100_000)
    path = fetch_file("http", url, sha1(data), read_timeout=0.5, backoff=0.01)
    assert path.read_bytes() == data
    gets = http_server.records("/s.bin")
    assert len(gets) == 2 and gets[1].range == "bytes=100000-"


def test_total_timeout_keeps_the_partial_file(http_server):
    data = payload(600_000)
    url = http_server.add("/t.bin", data)
    http_server.add_fault("/t.bin", stall=5.0, stall_after=200_000, times=5)
    with pytest.raises(FetchTimeoutError) as info:
        fetch_file("http", url, sha1(data), timeout=1.0, read_timeout=0.3, backoff=0.3)
    assert isinstance(info.value, TimeoutError)
    target = DownloadCache().entry_path(sha1(data), "t.bin")
    assert not target.exists()
    kept = DownloadCache.part_path(target).stat().st_size
    assert kept >= 200_000 and kept % 200_000 == 0 and kept < len(data)  # every stall came after 200 kB
    # later, with a healthy server, the download continues from the partial file
    http_server.clear_faults()
    assert fetch_file("http", url, sha1(data), **FAST).read_bytes() == data
    assert http_server.records("/t.bin")[-1].range == f"bytes={kept}-"


def test_server_without_range_support_restarts_cleanly(http_server):
    data = payload(2_000_000)
    url = http_server.add("/r.bin", data)
    http_server.support_ranges = False
    http_server.add_fault("/r.bin", drop_after=700_000)
    assert fetch_file("http", url, sha1(data), **FAST).read_bytes() == data
    assert [r.status for r in http_server.records("/r.bin")] == [200, 200]


def test_changed_file_on_server_is_not_spliced(http_server):
    old, new = payload(1_500_000, seed=1), payload(1_500_000, seed=2)
    url = http_server.add("/c.bin", old)
    http_server.add_fault("/c.bin", drop_after=500_000)
    with pytest.raises(FetchError):
        fetch_file("http", url, sha1(new), retries=0, backoff=0.01)
    http_server.add("/c.bin", new)  # new content, new ETag: If-Range makes the server send it all
    path = fetch_file("http", url, sha1(new), **FAST)
    assert path.read_bytes() == new
    last = http_server.records("/c.bin")[-1]
    assert last.range == "bytes=500000-" and last.status == 200


def test_without_checksum_cache_is_keyed_by_url(http_server):
    a = http_server.add("/one/data.nc", b"first")
    b = http_server.add("/two/data.nc", b"second")
    pa, pb = fetch_file("http", a), fetch_file("http", b)
    assert pa != pb and pa.name == pb.name == "data.nc"
    assert pa.read_bytes() == b"first" and pb.read_bytes() == b"second"


def test_uppercase_checksum_and_empty_file(http_server):
    url = http_server.add("/empty.txt", b"")
    path = fetch_file("http", url, sha1(b"").upper(), **FAST)
    assert path.read_bytes() == b""


def test_background_writeback_during_download_and_after_a_drop(http_server, monkeypatch):
    import threading

    from brainbridge.fetch import core

    synced = []
    real_fdatasync = os.fdatasync

    def counting_fdatasync(fd):
        synced.append(fd)
        real_fdatasync(fd)

    monkeypatch.setattr(core._Writeback, "STEP", 200_000)  # several flushes for a 2.5 MB file
    monkeypatch.setattr(core.os, "fdatasync", counting_fdatasync)
    data = payload(2_500_000, seed=5)
    url = http_server.add("/w.bin", data)
    http_server.add_fault("/w.bin", drop_after=1_200_000)  # the first attempt breaks mid-body
    path = fetch_file("http", url, sha1(data), **FAST)
    assert path.read_bytes() == data and leftovers(path) == []
    assert synced  # flushed while downloading, not only by the final fsync
    assert not [
        t for t in threading.enumerate() if t.name == "brainbridge-fetch-writeback"
    ]  # helpers stopped

"""Large files in parallel ranged parts: servers that honour Range, ignore it, change the file
mid-download, S3, and a download in parts killed with SIGKILL then resumed part by part."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from tests.support.servers import HTTPFileServer

from brainbridge.fetch import core, fetch_file, sha1_hash, stores
from brainbridge.fetch.cache import DownloadCache

FAST = {"backoff": 0.01, "read_timeout": 5.0}
PART = 64 << 10


@pytest.fixture(autouse=True)
def small_parts(monkeypatch):
    """Parts of 64 KiB, so small files are fetched in parts as big ones are."""
    monkeypatch.setattr(core, "PART_MIN_BYTES", PART)
    monkeypatch.setattr(core, "PARTS_SAVE_STEP", PART)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def ranged(records) -> list[str]:
    return sorted(r.range for r in records if r.range)


def test_a_server_that_honours_range_serves_the_file_in_parallel_parts(http_server):
    data = os.urandom(5 * PART + 7)
    url = http_server.add("/big.bin", data)
    path = fetch_file("http", url, sha1(data), progress=False, **FAST)
    assert path.read_bytes() == data
    records = http_server.records("/big.bin")
    assert records[0].range is None and records[0].status == 200  # the first part streams from byte 0
    parts = records[1:]
    assert len(parts) == core.PARALLEL_PARTS - 1 and {r.status for r in parts} == {206}
    # the parts tile the file: each bounded range starts where the previous one ends
    bounds = sorted(tuple(int(v) for v in r.range.split("=")[1].split("-")) for r in parts)
    assert bounds[-1][1] == len(data) - 1
    assert all(a[1] + 1 == b[0] for a, b in zip(bounds, bounds[1:]))
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_a_server_without_range_support_gets_one_plain_get():
    data = os.urandom(5 * PART)
    with HTTPFileServer(support_ranges=False) as server:
        url = server.add("/big.bin", data)
        path = fetch_file("http", url, sha1(data), progress=False, **FAST)
        assert path.read_bytes() == data
        assert [(r.range, r.status) for r in server.records("/big.bin")] == [(None, 200)]


def test_a_part_answered_with_the_whole_file_falls_back_to_one_stream(http_server):
    data = os.urandom(5 * PART)
    url = http_server.add("/big.bin", data)
    # the first GET (no Range) and the next one, a part, get the whole file with 200
    http_server.add_fault("/big.bin", ignore_range=True, times=2)
    path = fetch_file("http", url, sha1(data), progress=False, **FAST)
    assert path.read_bytes() == data
    records = http_server.records("/big.bin")
    refused = [i for i, r in enumerate(records) if r.range and r.status == 200]
    assert refused  # the part that was answered with the whole file
    # then no new parts: the last GET continues the contiguous prefix to the end (an open range),
    # or starts again from byte 0 (no range) when no prefix had been written yet (parts already
    # in flight when the refusal came may still be recorded after it)
    last = records[-1]
    assert last.range is None or last.range.endswith("-")
    assert last.status == (200 if last.range is None else 206)


def test_a_file_changed_between_parts_is_never_spliced(http_server, monkeypatch):
    old, new = os.urandom(5 * PART), os.urandom(5 * PART)
    url = http_server.add("/big.bin", old)
    real = stores.HTTPStore.open_range
    replaced = []

    def replace_then_open(self, start, stop, validator, timeouts):
        if not replaced:  # the file changes on the server after the first part started
            http_server.add("/big.bin", new)
            replaced.append(start)
        return real(self, start, stop, validator, timeouts)

    monkeypatch.setattr(stores.HTTPStore, "open_range", replace_then_open)
    path = fetch_file("http", url, sha1(new), progress=False, **FAST)
    assert path.read_bytes() == new
    statuses = [(r.range, r.status) for r in http_server.records("/big.bin")]
    assert any(rng and status == 200 for rng, status in statuses)  # If-Range refused the old validator


def test_s3_object_in_parallel_ranged_parts(bucket, s3_env, monkeypatch):
    data = os.urandom(5 * PART + 11)
    s3_env.put_object(bucket, "big.bin", data)
    monkeypatch.setattr(stores, "S3_CHUNK", 16 << 10)
    calls = []
    real = stores.S3Store.open_range

    def spy(self, start, stop, validator, timeouts):
        calls.append((start, stop, validator))
        return real(self, start, stop, validator, timeouts)

    monkeypatch.setattr(stores.S3Store, "open_range", spy)
    path = fetch_file("S3", f"s3://{bucket}/big.bin", sha1(data), progress=False, **FAST)
    assert path.read_bytes() == data
    assert len(calls) == core.PARALLEL_PARTS - 1
    assert calls[-1][1] == len(data) if calls else False
    assert all(validator for _, _, validator in calls)  # every part pinned to the object's ETag


def test_s3_object_replaced_during_parts_is_not_spliced(bucket, s3_env, monkeypatch):
    old, new = os.urandom(5 * PART), os.urandom(5 * PART)
    s3_env.put_object(bucket, "big.bin", old)
    real = stores.S3Store.open_range
    replaced = []

    def replace_then_open(self, start, stop, validator, timeouts):
        if not replaced:
            s3_env.put_object(bucket, "big.bin", new)
            replaced.append(start)
        return real(self, start, stop, validator, timeouts)

    monkeypatch.setattr(stores.S3Store, "open_range", replace_then_open)
    path = fetch_file("S3", f"s3://{bucket}/big.bin", sha1(new), progress=False, **FAST)
    assert path.read_bytes() == new


SCRIPT = """
import sys
from brainbridge.fetch import core, fetch_file
core.PART_MIN_BYTES = core.PARTS_SAVE_STEP = int(sys.argv[3])
fetch_file("http", sys.argv[1], sys.argv[2], read_timeout=20, backoff=0.05, progress=False)
"""


def test_sigkill_mid_download_in_parts_then_each_part_resumes(http_server):
    data = hashlib.sha256(b"seed").digest() * ((4 << 20) // 32)
    digest = sha1(data)
    url = http_server.add("/killed.nc", data)
    http_server.chunk_size = 32 << 10
    http_server.throttle = 0.03
    target = DownloadCache().entry_path(digest, "killed.nc")
    part = DownloadCache.part_path(target)
    meta = part.with_name(part.name + ".json")
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url, digest, str(PART)],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )

    def kept() -> int:
        try:
            saved = json.loads(meta.read_text())
        except (OSError, ValueError):
            return 0
        return sum(done - first for first, _end, done in saved.get("parts") or [])

    deadline = time.monotonic() + 60
    while kept() < 1 << 20:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the download never got going"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    saved = json.loads(meta.read_text())
    parts = saved["parts"]
    assert len(parts) == core.PARALLEL_PARTS and sum(d - a for a, _, d in parts) < len(data)
    before = len(http_server.records("/killed.nc"))

    http_server.throttle = None
    path = fetch_file("http", url, digest, progress=False, **FAST)
    assert path == target and sha1_hash(path) == digest
    resumed = ranged(http_server.records("/killed.nc")[before:])
    frontier = core._frontier(parts)
    # the first unfinished part continues the contiguous prefix; every other unfinished part
    # continues from the byte its saved progress reached (kept bytes are not fetched again)
    expected = [f"bytes={frontier}-"] + [
        f"bytes={done}-{end - 1}" for first, end, done in parts if done < end and done != frontier
    ]
    assert resumed == sorted(expected)
    assert not part.exists() and not meta.exists()


def test_resume_file_with_inconsistent_parts_is_not_trusted(http_server):
    data = os.urandom(5 * PART)
    digest = sha1(data)
    url = http_server.add("/big.bin", data)
    target = DownloadCache().entry_path(digest, "big.bin")
    part = DownloadCache.part_path(target)
    meta = part.with_name(part.name + ".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data[:PART])
    # claims a part done past the end of what the file holds: ignored, the file's length counts
    bogus = [[0, 2 * PART, 2 * PART], [2 * PART, 5 * PART, 5 * PART]]
    meta.write_text(
        json.dumps(
            {
                "source": core._source_id(core.parse_location("http", url)),
                "validator": None,
                "total": len(data),
                "parts": bogus,
            }
        )
    )
    path = fetch_file("http", url, digest, progress=False, **FAST)
    assert path.read_bytes() == data
    asked = ranged(http_server.records("/big.bin"))
    assert f"bytes={PART}-" in asked  # resumed from the file's length, the bytes it really holds
    assert min(int(r.split("=")[1].split("-")[0]) for r in asked) == PART

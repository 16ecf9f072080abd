"""Real processes: concurrent fetches of one file, and a download killed with SIGKILL."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from brainbridge.fetch import fetch_file, sha1_hash
from brainbridge.fetch.cache import DownloadCache

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SCRIPT = """
import os, sys, time
from brainbridge.fetch import fetch_file
if len(sys.argv) > 3:  # start line: wait until every process has imported brainbridge
    print("ready", flush=True)
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.005)
path = fetch_file("http", sys.argv[1], sys.argv[2], read_timeout=20, backoff=0.05, progress=False)
print(path, flush=True)
"""


def payload(n: int) -> bytes:
    return hashlib.sha256(b"seed").digest() * (n // 32)


def start(url: str, sha1: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url, sha1, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


@pytest.mark.slow
def test_two_processes_one_download(http_server, tmp_path):
    data = payload(2 << 20)
    digest = hashlib.sha1(data).hexdigest()
    url = http_server.add("/race.nc", data)
    http_server.chunk_size = 64 << 10
    http_server.throttle = 0.02  # ~0.7 s of transfer, and both processes start it together
    go = tmp_path / "go"
    procs = [start(url, digest, str(go)) for _ in range(2)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.communicate()
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1
    assert sha1_hash(paths.pop()) == digest
    assert http_server.count("/race.nc") == 1  # the loser waited on the lock and found the file


def test_sigkill_mid_download_leaves_nothing_complete_then_resumes(http_server):
    data = payload(4 << 20)
    digest = hashlib.sha1(data).hexdigest()
    url = http_server.add("/killed.nc", data)
    http_server.chunk_size = 64 << 10
    http_server.throttle = 0.03
    target = DownloadCache().entry_path(digest, "killed.nc")
    part = DownloadCache.part_path(target)
    proc = start(url, digest)
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size >= 512 << 10):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    kept = part.stat().st_size
    assert 0 < kept < len(data)
    assert not target.exists()  # nothing under the final name
    assert [p.name for p in target.parent.iterdir() if not p.name.startswith(".")] == []
    # the next fetch takes the (released) lock, resumes the partial file and verifies it
    http_server.throttle = None
    path = fetch_file("http", url, digest, read_timeout=5, backoff=0.01)
    assert path == target and sha1_hash(path) == digest
    last = http_server.records("/killed.nc")[-1]
    assert last.range == f"bytes={kept}-" and last.status == 206
    assert not part.exists()

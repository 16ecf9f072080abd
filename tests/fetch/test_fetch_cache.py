"""The cache: content addressing, manifest, offline mode, parallel fetches, verify/clean and the CLI."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from brainbridge.cli import main
from brainbridge.errors import OfflineError
from brainbridge.fetch import (
    FetchFilesError,
    RemoteNotFoundError,
    cache_info,
    cached_path,
    clean_cache,
    fetch_file,
    fetch_files,
    verify_cache,
)
from brainbridge.fetch.cache import DownloadCache

FAST = {"backoff": 0.01, "read_timeout": 2.0}


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_same_basename_different_content_never_collide(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "data.nc").write_bytes(b"first file")
    (tmp_path / "b" / "data.nc").write_bytes(b"second file")
    pa = fetch_file("local", "a/data.nc", sha1(b"first file"), base_dir=tmp_path)
    pb = fetch_file("local", "b/data.nc", sha1(b"second file"), base_dir=tmp_path)
    assert pa != pb
    assert pa.read_bytes() == b"first file" and pb.read_bytes() == b"second file"


def test_manifest_records_size_checksum_source_and_time(http_server):
    data = b"manifest me" * 1000
    url = http_server.add("/m/data.nc", data)
    path = fetch_file("http", url, sha1(data), **FAST)
    cache = DownloadCache()
    entry = cache.manifest.get(cache.relpath(path))
    assert entry.sha1 == sha1(data) and entry.size == len(data)
    assert entry.source == url and entry.location_type == "http"
    assert entry.fetched_at.endswith("+00:00")
    with sqlite3.connect(cache.manifest.path) as conn:  # a plain SQLite file others can query
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 1


def test_presigned_secrets_never_reach_the_manifest_or_errors(http_server):
    url = http_server.add("/p.bin", b"presigned")
    signed = url + "?X-Amz-Credential=AKIASECRET&X-Amz-Signature=deadbeef&plain=1"
    path = fetch_file("http", signed, **FAST)
    cache = DownloadCache()
    source = cache.manifest.get(cache.relpath(path)).source
    assert "AKIASECRET" not in source and "deadbeef" not in source and "plain=1" in source
    with pytest.raises(RemoteNotFoundError) as info:
        fetch_file("http", http_server.url("/none") + "?token=s3cr3t", **FAST)
    assert "s3cr3t" not in str(info.value)


def test_corrupted_cache_entry_is_fetched_again(http_server):
    data = b"precious bytes" * 1000
    url = http_server.add("/c.nc", data)
    path = fetch_file("http", url, sha1(data), **FAST)
    path.write_bytes(b"bit rot" + data[7:])  # same size, new mtime: the manifest no longer vouches
    again = fetch_file("http", url, sha1(data), **FAST)
    assert again == path and again.read_bytes() == data
    assert http_server.count("/c.nc") == 2


def test_damaged_manifest_is_rebuilt(http_server):
    data = b"abc" * 100
    url = http_server.add("/d.nc", data)
    path = fetch_file("http", url, sha1(data), **FAST)
    manifest = DownloadCache().manifest.path
    manifest.write_bytes(b"this is not a database")
    assert fetch_file("http", url, sha1(data), **FAST) == path  # verified by hashing instead
    assert http_server.count("/d.nc") == 1
    assert any(p.name.startswith("manifest.sqlite3.damaged") for p in manifest.parent.iterdir())


def test_offline_uses_the_cache_and_names_what_is_missing(http_server, monkeypatch):
    data = b"cached"
    cached_url = http_server.add("/cached.nc", data)
    fetch_file("http", cached_url, sha1(data), **FAST)
    missing_url = http_server.add("/missing.nc", b"never fetched")
    before = len(http_server.requests)
    assert fetch_file("http", cached_url, sha1(data), offline=True).read_bytes() == data
    with pytest.raises(OfflineError) as info:
        fetch_file("http", missing_url, sha1(b"never fetched"), offline=True)
    assert missing_url in str(info.value) and sha1(b"never fetched") in str(info.value)
    monkeypatch.setenv("BRAINBRIDGE_OFFLINE", "1")
    with pytest.raises(OfflineError):
        fetch_file("http", missing_url, None)
    assert len(http_server.requests) == before  # offline never touched the network


def test_offline_fetch_files_lists_every_missing_file(http_server):
    a = http_server.add("/a.nc", b"a")
    b = http_server.add("/b.nc", b"b")
    c = http_server.add("/c.nc", b"c")
    fetch_file("http", a, sha1(b"a"))
    with pytest.raises(OfflineError) as info:
        fetch_files([("http", a, sha1(b"a")), ("http", b, sha1(b"b")), ("http", c, sha1(b"c"))], offline=True)
    message = str(info.value)
    assert "2 of 3" in message and b in message and c in message and a not in message


def test_fetch_files_in_parallel_keeps_order_and_reports_failures(http_server):
    blobs = {f"/f{i}.bin": bytes([i]) * (100_000 + i) for i in range(6)}
    requests = [
        {"location_type": "http", "location": http_server.add(p, d), "sha1": sha1(d)}
        for p, d in blobs.items()
    ]
    paths = fetch_files(requests, workers=3, **FAST)
    assert [p.read_bytes() for p in paths] == list(blobs.values())
    bad = [*requests[:2], ("http", http_server.url("/gone.bin"))]
    with pytest.raises(FetchFilesError) as info:
        fetch_files(bad, workers=2, **FAST)
    assert list(info.value.failures) == [2]
    assert isinstance(info.value.failures[2], RemoteNotFoundError)
    assert info.value.results[:2] == paths[:2]


def test_threads_asking_for_the_same_file_download_it_once(http_server):
    data = b"t" * 2_000_000
    url = http_server.add("/same.bin", data)
    http_server.throttle = 0.02
    results, errors = [], []

    def worker():
        try:
            results.append(fetch_file("http", url, sha1(data), **FAST))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1 and results[0].read_bytes() == data
    assert http_server.count("/same.bin") == 1


def test_same_bytes_under_another_name_are_not_downloaded_again(http_server):
    data = b"shared" * 1000
    first = fetch_file("http", http_server.add("/x/one.nc", data), sha1(data))
    second = fetch_file("http", http_server.add("/y/two.nc", data), sha1(data))
    assert second.read_bytes() == data and second.parent == first.parent
    assert http_server.count("/y/two.nc") == 0


def test_verify_and_clean(http_server, tmp_path):
    good, bad = b"good" * 100, b"bad!" * 100
    pg = fetch_file("http", http_server.add("/good.nc", good), sha1(good))
    pb = fetch_file("http", http_server.add("/bad.nc", bad), sha1(bad))
    pb.write_bytes(b"BAD!" * 100)
    problems = verify_cache()
    assert [(p.kind, p.path) for p in problems] == [("corrupt", str(pb))]
    assert problems[0].expected == sha1(bad) and problems[0].actual == sha1(b"BAD!" * 100)
    # without --delete the bad copy is moved out of service, never left in place
    assert not pb.exists() and problems[0].moved_to
    assert Path(problems[0].moved_to).read_bytes() == b"BAD!" * 100
    assert cache_info().quarantined == 1 and verify_cache() == []
    assert fetch_file("http", http_server.url("/bad.nc"), sha1(bad)).read_bytes() == bad  # fetched again
    pb.write_bytes(b"BAD!" * 100)
    verify_cache(delete=True)
    assert not pb.exists() and pg.exists() and verify_cache() == []
    # an interrupted download is cleaned, complete files are kept unless asked
    part = DownloadCache.part_path(pg.with_name("other.nc"))
    part.write_bytes(b"partial")
    assert cache_info().partial_files == 1
    report = clean_cache(dry_run=True)
    assert (
        report.removed[0] == str(part) and len(report.removed) == 2 and part.exists()
    )  # + the quarantined copy
    clean_cache()
    assert not part.exists() and pg.exists() and cache_info().quarantined == 0
    assert cached_path(sha1(good)) == pg and cached_path(sha1(b"nope")) is None
    clean_cache(everything=True)
    assert cache_info().files == 0 and cache_info().recorded == 0


def test_clean_leaves_entries_that_are_being_downloaded(http_server):
    data = b"busy"
    path = fetch_file("http", http_server.add("/busy.nc", data), sha1(data))
    cache = DownloadCache()
    with cache.lock(sha1(data)):
        report = clean_cache(everything=True)
    assert report.busy and path.exists()


def test_cli_cache_commands(http_server):
    data = b"cli" * 1000
    path = fetch_file("http", http_server.add("/cli.nc", data), sha1(data))
    runner = CliRunner()
    result = runner.invoke(main, ["cache", "path"])
    assert result.exit_code == 0 and result.output.strip() == str(DownloadCache().root)
    result = runner.invoke(main, ["cache", "path", sha1(data)])
    assert result.exit_code == 0 and result.output.strip() == str(path)
    assert runner.invoke(main, ["cache", "path", sha1(b"x")]).exit_code == 1
    result = runner.invoke(main, ["cache", "describe", "--json"])
    info = json.loads(result.output)
    assert info["files"] == 1 and info["bytes"] == len(data)
    assert "files:    1" in runner.invoke(main, ["cache", "describe"]).output
    result = runner.invoke(main, ["cache", "verify", "--no-progress"])
    assert result.exit_code == 0 and "intact" in result.output
    path.write_bytes(b"x")
    result = runner.invoke(main, ["cache", "verify", "--no-progress", "--delete"])
    assert result.exit_code == 1 and "corrupt" in result.output and "deleted" in result.output
    fetch_file("http", http_server.url("/cli.nc"), sha1(data))
    result = runner.invoke(main, ["cache", "clean", "--all", "--dry-run"])
    assert result.exit_code == 0 and "would remove 1 files" in result.output and path.exists()
    result = runner.invoke(main, ["cache", "clean", "--all"])
    assert "removed 1 files" in result.output and not path.exists()


def test_crash_between_rename_and_manifest_is_recovered(http_server):
    data = b"renamed but not recorded"
    url = http_server.add("/r.nc", data)
    path = fetch_file("http", url, sha1(data))
    cache = DownloadCache()
    cache.manifest.remove(cache.relpath(path))  # as if killed right after the atomic rename
    assert fetch_file("http", url, sha1(data)) == path
    assert http_server.count("/r.nc") == 1  # verified by hashing, not downloaded again
    entry = cache.manifest.get(cache.relpath(path))
    assert entry.sha1 == sha1(data) and entry.source == url


def make_tree(root, files):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_registered_folders_are_listed_verified_and_cleaned():
    """The API other parts use for folders they make in the cache (e.g. extracted stimuli)."""
    from brainbridge.errors import ValidationError
    from brainbridge.fetch import register_tree, tree_entries, tree_lock, verify_tree

    cache = DownloadCache()
    folder = make_tree(cache.root / "stimuli" / "abc", {"a.png": b"A" * 100, "sub/b.png": b"B" * 50})
    with tree_lock(folder):
        entry = register_tree(folder, kind="stimuli", source="sha1 abc")
    assert entry.files["sub/b.png"] == (50, sha1(b"B" * 50)) and entry.size == 150
    assert [t.relpath for t in tree_entries()] == ["stimuli/abc"]
    assert verify_tree(folder) == [] and verify_cache() == []
    info = cache_info()
    assert info.folders == 1 and info.folder_bytes == 150
    listing = json.loads(CliRunner().invoke(main, ["cache", "list", "--json"]).output)
    assert listing == [
        {
            "kind": "stimuli",
            "path": "stimuli/abc/",
            "bytes": 150,
            "source": "sha1 abc",
            "last_used": listing[0]["last_used"],
        }
    ]
    # an overwritten file (same size), a deleted one and an added one are all found
    (folder / "a.png").write_bytes(b"X" * 100)
    (folder / "sub" / "b.png").unlink()
    (folder / "extra.png").write_bytes(b"?")
    assert verify_tree(folder) == [
        "changed file a.png (sha1 differs)",
        "missing file sub/b.png",
        "unexpected file extra.png",
    ]
    assert verify_tree(folder, deep=False) == ["missing file sub/b.png", "unexpected file extra.png"]
    problems = verify_cache()
    assert [(p.kind, p.path) for p in problems] == [("corrupt", str(folder))]
    assert not folder.exists() and "missing file sub/b.png" in str(problems[0])  # moved out of service
    assert tree_entries() == []
    # clean --all removes registered folders; a folder outside the cache is refused
    make_tree(folder, {"a.png": b"A"})
    register_tree("stimuli/abc", kind="stimuli", source="sha1 abc")
    result = CliRunner().invoke(main, ["cache", "clean", "--all"])
    assert result.exit_code == 0 and str(folder) in result.output and not folder.exists()
    assert tree_entries() == [] and cache_info().quarantined == 0
    with pytest.raises(ValidationError, match="not inside the cache"):
        register_tree(cache.root / ".." / "elsewhere", kind="stimuli", source="x")

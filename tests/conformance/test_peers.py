"""The sdist fetcher of the conformance gates: a local PEP 503 index, checksum pinning, caching."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest
from tests.conformance import _peers
from tests.support.servers import HTTPFileServer, free_port


def _tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in {
            "pkg-1.0/tests/test_a.py": "def test_a(): pass\n",
            "pkg-1.0/pkg/x.py": "x = 1\n",
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_fetch_from_a_simple_index_verifies_caches_and_unpacks(tmp_path, monkeypatch):
    blob = _tarball()
    sdist = _peers.Sdist("pkg", "1.0", "pkg-1.0.tar.gz", hashlib.sha256(blob).hexdigest())
    with HTTPFileServer() as server:
        file_url = server.add("/files/pkg-1.0.tar.gz", blob)
        page = f'<html><body><a href="{file_url}#sha256={sdist.sha256}">pkg-1.0.tar.gz</a></body></html>'
        index = server.add("/simple/pkg/", page.encode()).rsplit("/pkg/", 1)[0]
        monkeypatch.setenv("PIP_INDEX_URL", index)
        archive = _peers.fetch(sdist, tmp_path / "cache")
        downloads = len(server.requests)
    assert archive.read_bytes() == blob
    # the server is gone: the verified copy in the cache is used
    assert _peers.fetch(sdist, tmp_path / "cache") == archive and downloads == 2
    work = _peers.unpack(archive, ["tests"], sdist, tmp_path / "work")
    assert (work / "tests" / "test_a.py").exists() and not (work / "pkg").exists()


def test_a_changed_file_is_refused_and_an_unreachable_index_says_so(tmp_path, monkeypatch):
    blob = _tarball()
    sdist = _peers.Sdist("pkg", "1.0", "pkg-1.0.tar.gz", "0" * 64)
    with HTTPFileServer() as server:
        file_url = server.add("/files/pkg-1.0.tar.gz", blob)
        index = server.add("/simple/pkg/", f'<a href="{file_url}">pkg-1.0.tar.gz</a>'.encode()).rsplit(
            "/pkg/", 1
        )[0]
        monkeypatch.setenv("PIP_INDEX_URL", index)
        with pytest.raises(RuntimeError, match="SHA-256"):
            _peers.fetch(sdist, tmp_path / "cache")
    assert not (tmp_path / "cache" / "sdists" / "pkg-1.0.tar.gz").exists()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{free_port()}/simple")
    with pytest.raises(_peers.IndexUnreachable):
        _peers.fetch(sdist, tmp_path / "other-cache")


def test_gate_skips_without_the_index_locally_and_fails_in_ci(monkeypatch):
    from tests.conformance import test_conformance as gate

    def unreachable(sdist):
        raise _peers.IndexUnreachable("https://pypi.org/simple/cebra/: connection refused")

    monkeypatch.setattr(_peers, "fetch", unreachable)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="unreachable"):
        gate._sdist(_peers.CEBRA)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="unreachable"):
        gate._sdist(_peers.CEBRA)

"""Real servers on loopback for tests: an S3-compatible endpoint (moto) and an HTTP file server.

Both are context managers that start on ``127.0.0.1`` with a free port and stop cleanly, so a
pytest fixture is three lines::

    @pytest.fixture(scope="session")
    def s3_server():
        with S3Server() as server:
            yield server

    @pytest.fixture
    def http_server():
        with HTTPFileServer() as server:
            yield server

:class:`HTTPFileServer` serves bytes or files with ``Range``/``If-Range`` support (``206``,
``416``), ``ETag`` and ``Last-Modified`` validators, optional throttling and queued fault
injection (:class:`Fault`): an error status, a connection dropped mid-body, wrong bytes, a
stall past the client's read timeout, or a response that ignores ``Range``. Every request is
recorded (:attr:`HTTPFileServer.requests`) so tests can count downloads.

:class:`S3Server` runs moto's ``ThreadedMotoServer``; talk to it through boto3 or s3fs with
``endpoint_url=server.endpoint_url`` exactly as to a real bucket. Objects uploaded with
``public=True`` (the default) get the ``public-read`` ACL, so anonymous (unsigned) clients can
read them, as they can read a public bucket on AWS.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Fault", "HTTPFileServer", "RequestRecord", "S3Server", "free_port"]

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-access-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One misbehaviour of :class:`HTTPFileServer`, applied to the next ``times`` GETs of a path.

    Parameters
    ----------
    status
        Answer with this status code (and a short text body) instead of the file.
    drop_after
        Announce the full ``Content-Length``, send this many body bytes, then close the socket.
    corrupt
        Send bytes of the right length but the wrong content (the first chunk is inverted).
    stall
        After ``stall_after`` body bytes, stop sending for this many seconds, then close.
    stall_after
        Body bytes sent before a stall.
    ignore_range
        Answer ``200`` with the whole file even when a ``Range`` was asked for.
    redirect
        Answer ``302 Found`` with this ``Location`` (any URL, e.g. ``file:///etc/passwd`` or
        the same path again for a loop).
    times
        How many GET requests this fault applies to.
    """

    status: int | None = None
    drop_after: int | None = None
    corrupt: bool = False
    stall: float | None = None
    stall_after: int = 0
    ignore_range: bool = False
    redirect: str | None = None
    times: int = 1


@dataclass(frozen=True)
class RequestRecord:
    """A request the server received."""

    method: str
    path: str
    range: str | None
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Entry:
    content: bytes | Path
    size: int
    etag: str
    last_modified: str


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests
        pass

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def do_GET(self) -> None:
        self._respond(head=False)

    # -- helpers -------------------------------------------------------------------------------

    def _record(self, status: int) -> None:
        owner = self.server.owner
        with owner._lock:
            owner.requests.append(
                RequestRecord(
                    self.command,
                    self.path.split("?", 1)[0],
                    self.headers.get("Range"),
                    status,
                    {k.lower(): v for k, v in self.headers.items()},
                )
            )

    def _simple(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _respond(self, head: bool) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        entry = owner._files.get(path)
        fault = None if head else owner._take_fault(path)
        if fault is not None and fault.redirect is not None:
            self._record(302)
            self._simple(302, "moved", {"Location": fault.redirect})
            return
        if fault is not None and fault.status is not None:
            self._record(fault.status)
            self._simple(fault.status, f"injected error {fault.status}")
            return
        if entry is None:
            self._record(404)
            self._simple(404, "not found")
            return
        start, end, status = 0, entry.size - 1, 200
        requested = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        honour = (
            requested is not None
            and owner.support_ranges
            and not (fault and fault.ignore_range)
            and (if_range is None or if_range in (entry.etag, entry.last_modified))
        )
        if honour:
            match = _RANGE.match(requested.strip())
            first, last = (match.group(1), match.group(2)) if match else ("", "")
            if match is None or (first == "" and last == ""):
                self._record(416)
                self._simple(416, "bad range", {"Content-Range": f"bytes */{entry.size}"})
                return
            if first == "":  # suffix range: the last N bytes
                start, end = max(entry.size - int(last), 0), entry.size - 1
            else:
                start = int(first)
                end = min(int(last), entry.size - 1) if last else entry.size - 1
            if start >= entry.size or start > end:
                self._record(416)
                self._simple(416, "range not satisfiable", {"Content-Range": f"bytes */{entry.size}"})
                return
            status = 206
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("ETag", entry.etag)
        self.send_header("Last-Modified", entry.last_modified)
        if owner.support_ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{entry.size}")
        self.end_headers()
        if head:
            return
        self._send_body(entry, start, end + 1, fault)

    def _send_body(self, entry: _Entry, start: int, stop: int, fault: Fault | None) -> None:
        owner = self.server.owner
        chunk = owner.chunk_size
        limit = stop - start
        cut = None  # body bytes after which the fault strikes
        if fault is not None and fault.drop_after is not None:
            cut = fault.drop_after
        elif fault is not None and fault.stall is not None:
            cut = fault.stall_after
        sent = 0
        source = open(entry.content, "rb") if isinstance(entry.content, Path) else None  # noqa: SIM115 - closed below
        view = memoryview(entry.content) if source is None else None
        try:
            if source is not None:
                source.seek(start)
            while sent < limit:
                size = min(chunk, limit - sent)
                if cut is not None:
                    size = min(size, cut - sent)
                    if size <= 0:
                        break
                data = source.read(size) if source is not None else view[start + sent : start + sent + size]
                if fault is not None and fault.corrupt and sent == 0:
                    data = bytes(255 - b for b in bytes(data[: 64 * 1024])) + bytes(data[64 * 1024 :])
                self.wfile.write(data)
                sent += size
                if owner.throttle and owner._stopping.wait(owner.throttle):
                    break
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        finally:
            if source is not None:
                source.close()
        if sent < limit:
            # a fault (or shutdown) cut the body short: the client must see a broken transfer
            self.wfile.flush()
            if fault is not None and fault.stall is not None:
                owner._stopping.wait(fault.stall)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: HTTPFileServer

    def handle_error(self, request, client_address) -> None:
        # a client that hung up mid-body (as fault tests make them do) is not worth a traceback
        # on stderr, where it would mix with the output of the command under test
        pass


class HTTPFileServer:
    """A threaded HTTP/1.1 file server on loopback with ``Range`` support and fault injection.

    Parameters
    ----------
    files
        ``{url_path: bytes | Path}`` to serve (more with :meth:`add`).
    support_ranges
        Honour ``Range`` requests (``False`` models a server that always sends the whole file).
    chunk_size
        Bytes per write.
    throttle
        Seconds to sleep after each chunk (slow server for race and kill tests).
    host
        Interface to bind (loopback by default).
    """

    def __init__(
        self,
        files: dict[str, bytes | Path] | None = None,
        *,
        support_ranges: bool = True,
        chunk_size: int = 1 << 20,
        throttle: float | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.support_ranges = support_ranges
        self.chunk_size = chunk_size
        self.throttle = throttle
        self.host = host
        self.requests: list[RequestRecord] = []
        self._files: dict[str, _Entry] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for path, content in (files or {}).items():
            self.add(path, content)

    # -- content ---------------------------------------------------------------------------

    def add(self, path: str, content: bytes | str | os.PathLike) -> str:
        """Serve ``content`` (bytes or a file on disk) at ``path``; return its URL."""
        path = "/" + path.lstrip("/")
        if isinstance(content, (bytes, bytearray, memoryview)):
            data = bytes(content)
            entry = _Entry(data, len(data), f'"{hashlib.sha1(data).hexdigest()}"', _http_date(time.time()))
        else:
            file = Path(content)
            stat = file.stat()
            entry = _Entry(
                file, stat.st_size, f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"', _http_date(stat.st_mtime)
            )
        with self._lock:
            self._files[path] = entry
        return self.url(path)

    def remove(self, path: str) -> None:
        """Stop serving ``path`` (it answers 404)."""
        with self._lock:
            self._files.pop("/" + path.lstrip("/"), None)

    def add_fault(self, path: str, fault: Fault | None = None, **kwargs: Any) -> None:
        """Queue a :class:`Fault` (or build one from ``kwargs``) for the next GETs of ``path``."""
        fault = fault if fault is not None else Fault(**kwargs)
        with self._lock:
            self._faults.setdefault("/" + path.lstrip("/"), deque()).append(fault)

    def clear_faults(self) -> None:
        """Drop every queued fault: the server behaves from now on."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.popleft()
            return fault

    # -- inspection ------------------------------------------------------------------------

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server."""
        if self._server is None:
            raise RuntimeError("the server is not running (use it as a context manager or call start())")
        return f"http://{self.host}:{self._server.server_address[1]}/{path.lstrip('/')}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.url("/").rstrip("/")

    def count(self, path: str, method: str = "GET") -> int:
        """How many ``method`` requests ``path`` received."""
        path = "/" + path.lstrip("/")
        with self._lock:
            return sum(1 for r in self.requests if r.path == path and r.method == method)

    def records(self, path: str | None = None, method: str | None = "GET") -> list[RequestRecord]:
        """Recorded requests, optionally only those of ``path``/``method``."""
        with self._lock:
            items = list(self.requests)
        if path is not None:
            items = [r for r in items if r.path == "/" + path.lstrip("/")]
        if method is not None:
            items = [r for r in items if r.method == method]
        return items

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> HTTPFileServer:
        """Bind a free port and serve in a background thread."""
        self._stopping.clear()
        self._server = _Server((self.host, 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="HTTPFileServer",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; stalled and throttled responses are released."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> HTTPFileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------


class S3Server:
    """moto's S3-compatible server on ``127.0.0.1`` with a free port.

    Attributes
    ----------
    endpoint_url : str
        ``http://127.0.0.1:<port>``; give it to boto3/s3fs (or set ``AWS_ENDPOINT_URL``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port
        self._server = None
        self._client = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None or self._server is None:
            raise RuntimeError("the S3 server is not running (use it as a context manager or call start())")
        return f"http://{self.host}:{self.port}"

    def start(self) -> S3Server:
        """Start moto in a background thread."""
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = self.port or free_port(self.host)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop the server."""
        if self._server is not None:
            self._server.stop()
        self._server = self._client = None

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API), e.g. between tests."""
        import requests

        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def credentials(self) -> dict[str, str]:
        """Fake credentials (environment-variable names) that moto accepts."""
        return dict(FAKE_CREDENTIALS)

    def env(self, with_credentials: bool = False) -> dict[str, str]:
        """Environment variables that point AWS clients at this server."""
        env = {"AWS_ENDPOINT_URL": self.endpoint_url}
        if with_credentials:
            env.update(FAKE_CREDENTIALS)
        return env

    def client(self):
        """A boto3 S3 client (fake credentials) for this server (created once; clients are thread-safe)."""
        if self._client is not None:
            return self._client
        import boto3

        self._client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        )
        return self._client

    def filesystem(self, anon: bool = False, **kwargs: Any):
        """An ``s3fs.S3FileSystem`` for this server (signed with fake credentials unless ``anon``)."""
        import s3fs

        creds = (
            {}
            if anon
            else {
                "key": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "secret": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            }
        )
        return s3fs.S3FileSystem(
            anon=anon, endpoint_url=self.endpoint_url, skip_instance_cache=True, **creds, **kwargs
        )

    def create_bucket(self, bucket: str, public: bool = True, versioned: bool = False) -> str:
        """Create ``bucket`` (``public-read`` unless ``public=False``); return its name."""
        client = self.client()
        kwargs = {"ACL": "public-read"} if public else {}
        client.create_bucket(Bucket=bucket, **kwargs)
        if versioned:
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        return bucket

    def put_object(
        self, bucket: str, key: str, data: bytes | str | os.PathLike, public: bool = True
    ) -> dict[str, Any]:
        """Upload ``data`` (bytes or a file) as ``bucket/key``; return boto3's response."""
        client = self.client()
        kwargs = {"ACL": "public-read"} if public else {}
        if isinstance(data, (bytes, bytearray)):
            return client.put_object(Bucket=bucket, Key=key, Body=bytes(data), **kwargs)
        with open(data, "rb") as body:
            return client.put_object(Bucket=bucket, Key=key, Body=body, **kwargs)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

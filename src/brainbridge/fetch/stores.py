"""Stores: where bytes come from (local paths, HTTP(S) servers, S3 buckets) and where uploads go.

Every store opens a *body* from a byte offset (to resume a partial download) and classifies
failures: :class:`~brainbridge.fetch.errors.TransientFetchError` for what is worth retrying
(connection errors, timeouts, 5xx, 429, truncated bodies), and final errors for the rest
(:class:`~brainbridge.fetch.errors.RemoteNotFoundError`, :class:`~brainbridge.fetch.errors.AccessDeniedError`,
other 4xx). HTTP goes through ``requests`` (``Range``/``If-Range`` for resuming); S3 through
``s3fs``/fsspec (ranged GETs), anonymous for public buckets unless credentials are configured.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from brainbridge.errors import FetchError
from brainbridge.fetch.errors import (
    AccessDeniedError,
    HostUnreachableError,
    RemoteNotFoundError,
    TransientFetchError,
)
from brainbridge.fetch.locations import Location, redact_text, redact_url

__all__ = ["Body", "HTTPStore", "LocalStore", "S3Store", "Store", "Timeouts", "open_store", "s3_filesystem"]

logger = logging.getLogger("brainbridge.fetch")

CHUNK = 1 << 20
S3_CHUNK = 4 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_RESTART = re.compile(r"pre-?condition|invalidrange|not satisfiable|\b412\b|\b416\b", re.IGNORECASE)
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524}


@dataclass(frozen=True)
class Timeouts:
    """Network timeouts in seconds.

    Attributes
    ----------
    connect : float
        Time allowed to open a connection.
    read : float
        Time allowed between two received pieces of data (a stalled server fails after this).
    """

    connect: float = 10.0
    read: float = 60.0


@dataclass
class Body:
    """An open download.

    Attributes
    ----------
    start : int
        Offset of the first byte the body delivers: the offset asked for, or ``0`` when the
        store cannot resume (or the file changed) and sends the whole file again.
    total : int or None
        Size of the whole file, when the store says.
    validator : str or None
        ETag / Last-Modified / size+mtime, used to check that a later resume continues the
        same file.
    chunks : Iterator[bytes]
        The bytes from ``start``.
    ranges : bool
        Whether the store serves byte ranges of this very file (pinned by ``validator``), so
        that several ranged GETs may fetch parts of it in parallel (:meth:`Store.open_range`).
    """

    start: int
    total: int | None
    validator: str | None
    chunks: Iterator[bytes]
    _close: Any = None
    ranges: bool = False

    def close(self) -> None:
        if self._close is not None:
            self._close()


@runtime_checkable
class Store(Protocol):
    """The store contract: a place that one file is read from, resumably.

    ``open(offset, validator, timeouts)`` returns a :class:`Body` whose chunks start at
    ``body.start`` (``offset``, or ``0`` when the store cannot resume or the file changed since
    ``validator`` was read) and raises :class:`~brainbridge.fetch.errors.TransientFetchError`
    for what is worth retrying and a final :class:`~brainbridge.errors.FetchError` for the rest.
    :class:`LocalStore`, :class:`HTTPStore` and :class:`S3Store` implement it (and inherit
    from it); any object with ``location`` and ``open`` is accepted by the download loop.
    """

    location: Location

    def open(self, offset: int, validator: str | None, timeouts: Timeouts) -> Body:  # noqa: ARG002  # pragma: no cover - abstract
        """Open the file from ``offset`` (``validator``: what the partial file was read from)."""
        raise FetchError(f"{type(self).__name__} cannot read files")

    def open_range(self, start: int, stop: int, validator: str, timeouts: Timeouts) -> Body:  # noqa: ARG002
        """Bytes ``[start, stop)`` of the file that ``validator`` names, or a transient error.

        Only called after :meth:`open` returned a body with ``ranges`` set. A store that
        answers with anything but exactly that range of that file raises
        :class:`~brainbridge.fetch.errors.TransientFetchError` (the download then resumes
        without parallel ranges).
        """
        raise TransientFetchError(f"{type(self).__name__} serves no byte ranges")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# local
# --------------------------------------------------------------------------------------------


class LocalStore(Store):
    """A file on a local (or mounted) file system."""

    def __init__(self, location: Location):
        self.location = location
        self.path = Path(location.url)

    def open(self, offset: int, validator: str | None, timeouts: Timeouts) -> Body:  # noqa: ARG002 - a signature shared by its interface
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - the caller reads and closes it
        except FileNotFoundError as e:
            raise RemoteNotFoundError(f"file not found: {self.path}") from e
        except IsADirectoryError as e:
            raise FetchError(f"not a file: {self.path}") from e
        except PermissionError as e:
            raise AccessDeniedError(f"permission denied: {self.path}") from e
        stat = os.fstat(handle.fileno())
        current = f"{stat.st_size}-{stat.st_mtime_ns}"
        start = offset if (offset <= stat.st_size and (validator is None or validator == current)) else 0
        handle.seek(start)

        def chunks() -> Iterator[bytes]:
            try:
                yield from iter(lambda: handle.read(CHUNK), b"")
            except OSError as e:
                raise TransientFetchError(f"reading {self.path} failed: {e}") from e

        return Body(start, stat.st_size, current, chunks(), handle.close)


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

_local = threading.local()


class _RedactingFilter(logging.Filter):
    """Masks secrets in the records of the HTTP/S3 libraries' own loggers (their DEBUG lines
    quote request paths with presigned query strings, and request headers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_LIBRARY_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "urllib3.response",
    "requests",
    "botocore.endpoint",
    "botocore.auth",
    "botocore.parsers",
    "botocore.httpsession",
    "botocore.awsrequest",
    "botocore.hooks",
    "botocore.retryhandler",
    "aiobotocore.endpoint",
    "s3fs",
    "fsspec",
)
_filter_installed = False


def install_log_redaction() -> None:
    """Attach the redacting filter to the loggers of requests/urllib3/botocore/s3fs (once)."""
    global _filter_installed
    if _filter_installed:
        return
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).addFilter(_RedactingFilter())
    _filter_installed = True


def _http_session():
    """One ``requests.Session`` per thread (sessions are not thread-safe; pools are reused)."""
    import requests

    session = getattr(_local, "session", None)
    if session is None or getattr(_local, "pid", None) != os.getpid():
        session = requests.Session()
        session.headers["User-Agent"] = "brainbridge-fetch"
        _local.session, _local.pid = session, os.getpid()
    return session


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


class HTTPStore(Store):
    """A file on an HTTP(S) server; resumes with ``Range`` + ``If-Range`` when the server allows."""

    def __init__(self, location: Location):
        self.location = location
        self.url = location.url
        #: cleared when the server answered a ranged GET with something else (no more parallel parts)
        self.ranges = True

    def open_range(self, start: int, stop: int, validator: str, timeouts: Timeouts) -> Body:
        return self.open(start, validator, timeouts, stop=stop)

    def open(
        self, offset: int, validator: str | None, timeouts: Timeouts, *, stop: int | None = None
    ) -> Body:
        import requests

        shown = redact_url(self.url)
        # identity: we store the bytes the server has, not a decoded variant
        headers = {"Accept-Encoding": "identity"}
        if offset > 0 or stop is not None:
            headers["Range"] = f"bytes={offset}-" if stop is None else f"bytes={offset}-{stop - 1}"
            if validator:
                headers["If-Range"] = validator
        failure: BaseException | None = None
        try:
            response = _http_session().get(
                self.url,
                headers=headers,
                stream=True,
                timeout=(timeouts.connect, timeouts.read),
                allow_redirects=True,
            )
        except BaseException as e:  # classified below, outside this block
            failure = _http_failure(e, shown, self.location.host)
        if failure is not None:
            # raised outside the ``except``: the library's exception (whose text repeats the raw
            # URL with its secrets) is neither the cause nor the context of ours
            raise failure
        status = response.status_code
        if stop is not None and status != 206:
            response.close()
            if status == 200:
                # Range ignored, or If-Range failed (the file changed): no parallel parts for this
                # file any more; the next attempt resumes (or restarts) with one plain GET
                self.ranges = False
                raise TransientFetchError(
                    f"GET {shown}: 200 instead of 206 for a part; continuing without parts"
                )
            if status in (404, 410):
                raise RemoteNotFoundError(
                    f"GET {shown}: {status} {response.reason} (the server has no such file)"
                )
            if status in (401, 403):
                raise AccessDeniedError(f"GET {shown}: {status} {response.reason} (access denied)")
            raise TransientFetchError(
                f"GET {shown}: {status} {response.reason} for a part",
                _retry_after(response.headers.get("Retry-After")),
            )
        if status not in (200, 206):
            response.close()
            if status == 416 and offset > 0:
                # the partial file is as long as (or longer than) the remote one, or the remote one
                # shrank: what we have cannot be continued, so start over from the first byte
                logger.info("GET %s: 416 for a resume at byte %d; downloading from the start", shown, offset)
                return self.open(0, None, timeouts)
            if status in (404, 410):
                raise RemoteNotFoundError(
                    f"GET {shown}: {status} {response.reason} (the server has no such file)"
                )
            if status in (401, 403):
                raise AccessDeniedError(f"GET {shown}: {status} {response.reason} (access denied)")
            if status in _RETRY_STATUS or status >= 500:
                raise TransientFetchError(
                    f"GET {shown}: {status} {response.reason}",
                    _retry_after(response.headers.get("Retry-After")),
                )
            if 300 <= status < 400:
                raise FetchError(f"GET {shown}: {status} {response.reason} redirect that cannot be followed")
            raise FetchError(f"GET {shown}: {status} {response.reason}")
        new_validator = _http_validator(response.headers)
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if (
                match is None
                or int(match.group(1)) != offset
                or (stop is not None and int(match.group(2)) != stop - 1)
            ):
                response.close()
                raise TransientFetchError(
                    f"GET {shown}: a 206 for the wrong range ({response.headers.get('Content-Range')!r})"
                )
            start = offset
            total = int(match.group(3)) if match.group(3) != "*" else None
            if validator and new_validator and new_validator != validator:
                response.close()
                raise TransientFetchError(f"GET {shown}: the file changed on the server; restarting")
        else:
            start = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None

        def chunks() -> Iterator[bytes]:
            import urllib3

            raw = response.raw
            try:
                # read1 hands over what has arrived, so a connection dropped mid-chunk loses
                # nothing that could be resumed from
                while True:
                    broken = None
                    try:
                        block = raw.read1(CHUNK)
                    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
                        broken = TransientFetchError(
                            f"GET {shown}: transfer broke: {type(e).__name__}: {_short(e)}"
                        )
                    if broken is not None:
                        raise broken  # outside the except: no raw URL in the context chain
                    if not block:
                        break
                    yield block
            finally:
                response.close()

        # parallel parts need a server that says it serves ranges and a validator that pins the file
        ranges = (
            self.ranges
            and bool(new_validator)
            and total is not None
            and response.headers.get("Accept-Ranges", "").strip().lower() == "bytes"
        )
        return Body(start, total, new_validator, chunks(), response.close, ranges=ranges)


def _http_failure(e: BaseException, shown: str, host: str) -> BaseException:
    """Our error for an exception of ``requests.get`` (its text redacted)."""
    import requests

    if isinstance(e, requests.exceptions.TooManyRedirects):
        # a loop (or an endless chain) will not end on a retry
        return FetchError(f"GET {shown}: too many redirects (a redirect loop?)")
    if isinstance(
        e,
        (
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidURL,
        ),
    ):
        # e.g. a redirect to file:// (never followed: a server must not make us read local files)
        return FetchError(f"GET {shown}: refused: {type(e).__name__}: {_short(e)}")
    if isinstance(e, (requests.exceptions.RequestException, OSError)):
        if _unreachable(e):
            return HostUnreachableError(f"GET {shown}: cannot reach {host}: {_short(e)}")
        return TransientFetchError(f"GET {shown}: {type(e).__name__}: {_short(e)}")
    return e  # KeyboardInterrupt and the like: as they are


def _http_validator(headers) -> str | None:
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):  # If-Range needs a strong validator
        return etag
    return headers.get("Last-Modified")


def _short(e: BaseException) -> str:
    return redact_text(str(e))[:300]


_UNREACHABLE_TEXT = re.compile(
    r"name or service not known|nodename nor servname|failed to resolve|name resolution|getaddrinfo failed"
    r"|no address associated|network is unreachable|no route to host|connection refused"
    r"|could not connect to the endpoint",
    re.IGNORECASE,
)


def _unreachable(e: BaseException) -> bool:
    """Whether ``e`` says the host cannot be reached at all (DNS failure, no network, refused)."""
    import socket

    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (socket.gaierror, ConnectionRefusedError)):
            return True
        if isinstance(current, OSError) and current.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
            return True
        if type(current).__name__ in ("NameResolutionError", "EndpointConnectionError"):
            return True
        current = current.__cause__ or current.__context__
    return bool(_UNREACHABLE_TEXT.search(str(e)))


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------

_CRED_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def aws_credentials_configured() -> bool:
    """Whether AWS credentials are configured (environment or shared files), without network.

    Deliberately does not ask the instance-metadata service, which costs a network round trip
    (and a long timeout off EC2).
    """
    if any(os.environ.get(var) for var in _CRED_VARS):
        return True
    for var, default in (
        ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        ("AWS_CONFIG_FILE", "~/.aws/config"),
    ):
        path = Path(os.environ.get(var) or default).expanduser()
        try:
            if path.is_file() and re.search(
                r"aws_access_key_id|credential_process|sso_", path.read_text(errors="ignore")
            ):
                return True
        except OSError:
            continue
    return False


def _default_anon(storage_options: dict[str, Any]) -> bool:
    if any(storage_options.get(k) for k in ("key", "secret", "token", "profile", "session")):
        return False
    env = os.environ.get("BRAINBRIDGE_S3_ANON", "").strip().lower()
    if env in _TRUE:
        return True
    if env in _FALSE:
        return False
    return not aws_credentials_configured()


def s3_filesystem(
    endpoint_url: str | None = None,
    *,
    anon: bool | None = None,
    region: str | None = None,
    timeouts: Timeouts | None = None,
    storage_options: dict[str, Any] | None = None,
):
    """An ``s3fs.S3FileSystem`` configured the brainbridge way.

    Parameters
    ----------
    endpoint_url
        S3-compatible endpoint (``None``: AWS).
    anon
        Unsigned requests. ``None``: anonymous unless credentials are configured
        (``BRAINBRIDGE_S3_ANON=1/0`` forces either way).
    region
        AWS region of the bucket, if known.
    timeouts
        Connect/read timeouts (retries are done by the caller, so botocore's are off).
    storage_options
        Extra ``S3FileSystem`` arguments (``key``, ``secret``, ``profile``, ``client_kwargs``...).
    """
    try:
        import s3fs
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise FetchError("S3 locations need s3fs: pip install 'brainbridge[s3]'") from e
    options = dict(storage_options or {})
    timeouts = timeouts or Timeouts()
    if anon is None:
        anon = _default_anon(options)
    client_kwargs = dict(options.pop("client_kwargs", {}) or {})
    if endpoint_url:
        client_kwargs.setdefault("endpoint_url", endpoint_url)
    if region:
        client_kwargs.setdefault("region_name", region)
    config_kwargs = dict(options.pop("config_kwargs", {}) or {})
    config_kwargs.setdefault("connect_timeout", timeouts.connect)
    config_kwargs.setdefault("read_timeout", timeouts.read)
    config_kwargs.setdefault("retries", {"max_attempts": 1, "mode": "standard"})
    retries = options.pop("retries", 1)
    fs = s3fs.S3FileSystem(anon=anon, client_kwargs=client_kwargs, config_kwargs=config_kwargs, **options)
    fs.retries = retries  # s3fs's own retry loop: ours (with backoff and resume) is the one that counts
    return fs


def _s3_error(e: BaseException, what: str) -> FetchError:
    """Classify an exception from s3fs/botocore/aiohttp."""
    if isinstance(e, FetchError):
        return e
    text = _short(e)
    if isinstance(e, FileNotFoundError):
        return RemoteNotFoundError(f"{what}: no such object ({text})")
    if isinstance(e, PermissionError):
        return AccessDeniedError(f"{what}: access denied ({text})")
    name = type(e).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return AccessDeniedError(f"{what}: {name}: {text}")
    if _unreachable(e):
        return HostUnreachableError(f"{what}: cannot reach the endpoint: {name}: {text}")
    code = str(getattr(e, "errno", "") or "")
    if "InvalidBucketName" in text or "NoSuchBucket" in text:
        return RemoteNotFoundError(f"{what}: {text}")
    if isinstance(e, (ValueError, TypeError)) and not code:
        return FetchError(f"{what}: {name}: {text}")
    # connection errors, read timeouts, 5xx/SlowDown, truncated bodies: worth another try
    return TransientFetchError(f"{what}: {name}: {text}")


class S3Store(Store):
    """An object in an S3 bucket (AWS or S3-compatible), read with ranged GETs through s3fs.

    Anonymous access unless credentials are configured; when configured credentials are refused
    (a public bucket and unrelated credentials) and ``anon`` was not forced, the request is
    repeated anonymously once.
    """

    def __init__(
        self,
        location: Location,
        *,
        anon: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        chunk_size: int | None = None,
    ):
        self.location = location
        self.anon = anon
        self.storage_options = dict(storage_options or {})
        self.chunk_size = chunk_size or S3_CHUNK
        self.path = f"{location.bucket}/{location.key}"
        self._anon_used: bool | None = None

    def _fs(self, timeouts: Timeouts, anon: bool | None):
        options = dict(self.storage_options)
        # always version-aware: one cached filesystem (and botocore client) for pinned and
        # unpinned objects alike; creating a client costs about a second
        options.setdefault("version_aware", True)
        return s3_filesystem(
            self.location.endpoint_url,
            anon=anon,
            region=self.location.region,
            timeouts=timeouts,
            storage_options=options,
        )

    def open(self, offset: int, validator: str | None, timeouts: Timeouts) -> Body:
        fs = self._fs(timeouts, self.anon)
        try:
            return self._get(fs, offset, validator)
        except AccessDeniedError:
            if self.anon is not None or fs.anon:
                raise
        logger.info("configured credentials were refused for %s; trying anonymously", self.location.display())
        return self._get(self._fs(timeouts, True), offset, validator)

    def open_range(self, start: int, stop: int, validator: str, timeouts: Timeouts) -> Body:
        # the access (credentials or anonymous) that the whole-object GET succeeded with
        anon = self._anon_used if self._anon_used is not None else self.anon
        return self._get(self._fs(timeouts, anon), start, validator, stop=stop)

    def _get(self, fs, offset: int, validator: str | None, *, stop: int | None = None) -> Body:
        """One streamed GET from ``offset`` to the end, or to ``stop`` (``IfMatch`` guards a resume)."""
        from fsspec.asyn import sync

        what = f"S3 {self.location.display()}"
        kwargs: dict[str, Any] = {"Bucket": self.location.bucket, "Key": self.location.key}
        if self.location.version_id:
            kwargs["VersionId"] = self.location.version_id
        if offset > 0 or stop is not None:
            kwargs["Range"] = f"bytes={offset}-" if stop is None else f"bytes={offset}-{stop - 1}"
            if validator:
                kwargs["IfMatch"] = validator
        try:
            response = fs.call_s3("get_object", **kwargs)
        except Exception as e:  # s3fs/botocore/aiohttp raise many types; classified here
            if stop is not None:
                if _RESTART.search(f"{e} {e.__cause__}"):
                    # IfMatch failed: the object changed; the next attempt's resume sees it
                    raise TransientFetchError(
                        f"{what}: the object changed while its parts were fetched"
                    ) from e
                raise _s3_error(e, what) from e
            if offset > 0 and _RESTART.search(f"{e} {e.__cause__}"):
                # the object changed (IfMatch failed) or the partial file is already as long as
                # the object (InvalidRange): start over
                return self._get(fs, 0, None)
            raise _s3_error(e, what) from e
        stream = response["Body"]

        async def close_on_loop():
            stream.close()

        def close() -> None:
            # aiohttp's response belongs to fsspec's event loop: closed from another thread, its
            # connection could go back to the pool with unread bytes that the next GET would read
            try:
                sync(fs.loop, close_on_loop)
            except Exception:  # already closed, or the loop is gone: nothing left to release
                pass

        body = stream
        etag = response.get("ETag")
        length = response.get("ContentLength")
        start, total = 0, int(length) if length is not None else None
        match = _CONTENT_RANGE.match(response.get("ContentRange") or "")
        if match:
            start = int(match.group(1))
            total = int(match.group(3)) if match.group(3) != "*" else None
            if (offset > 0 or stop is not None) and start != offset:
                close()
                raise TransientFetchError(f"{what}: the server sent bytes from {start} instead of {offset}")
            if stop is not None and int(match.group(2)) != stop - 1:
                close()
                raise TransientFetchError(
                    f"{what}: the server sent {match.group(0)!r} for bytes {offset}-{stop - 1}"
                )
        elif stop is not None:
            close()
            raise TransientFetchError(f"{what}: the whole object instead of bytes {offset}-{stop - 1}")
        block = self.chunk_size

        async def read_block():
            parts, size = [], 0
            while size < block:
                data = await body.read(block - size)
                if not data:
                    break
                parts.append(data)
                size += len(data)
            return b"".join(parts)

        def chunks() -> Iterator[bytes]:
            try:
                while True:
                    try:
                        data = sync(fs.loop, read_block)
                    except Exception as e:
                        raise _s3_error(e, f"{what}: transfer broke") from e
                    if not data:
                        return
                    yield data
            finally:
                close()

        self._anon_used = bool(fs.anon)
        return Body(start, total, etag, chunks(), close, ranges=bool(etag) and total is not None)


def open_store(
    location: Location, *, s3_anon: bool | None = None, storage_options: dict[str, Any] | None = None
) -> Store:
    """The store for a parsed location."""
    install_log_redaction()
    if location.kind == "local":
        return LocalStore(location)
    if location.kind == "http":
        return HTTPStore(location)
    return S3Store(location, anon=s3_anon, storage_options=storage_options)

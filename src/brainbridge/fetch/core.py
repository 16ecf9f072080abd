"""``fetch_file``/``fetch_files``: verified local copies through the cache; ``upload_file``.

A download, under the entry's inter-process lock:

1. streams into ``.<name>.part`` in the entry's folder (hashing on the fly), resuming an
   interrupted ``.part`` with HTTP ``Range``/``If-Range`` or an S3 ranged GET when the source is
   unchanged (``.part.json`` remembers the source and its ETag). A large file whose store
   serves byte ranges comes in :data:`PARALLEL_PARTS` ranged GETs at once, each written at its
   offset; ``.part.json`` then also records how far each part got, and the SHA-1 runs over
   the contiguous prefix as it completes;
2. on connection errors, read timeouts, 5xx/429 and truncated bodies, backs off exponentially
   (with jitter, honouring ``Retry-After``) and resumes; 404/403/other 4xx fail at once;
3. checks the SHA-1; a mismatch deletes the partial file and downloads again, then raises
   :class:`~brainbridge.errors.ChecksumMismatchError` with the expected and actual checksums;
4. ``fsync``s and renames atomically to the final name, then records it in the manifest.

A ``kill -9`` at any point leaves either no final file or a complete verified one; the next
fetch resumes the ``.part`` (or restarts it) under the lock.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from brainbridge import config
from brainbridge.atomic import atomic_path, atomic_write_text, fsync_dir
from brainbridge.deprecation import renamed_parameters
from brainbridge.errors import ChecksumMismatchError, FetchError, OfflineError
from brainbridge.fetch.cache import DownloadCache, normalize_sha1, sha1_hash
from brainbridge.fetch.errors import (
    DiskFullError,
    FetchFilesError,
    FetchTimeoutError,
    HostUnreachableError,
    TransientFetchError,
)
from brainbridge.fetch.locations import Location, _kind, parse_location, redact_text
from brainbridge.fetch.stores import Body, Store, Timeouts, open_store, s3_filesystem
from brainbridge.hashing import text_digest
from brainbridge.progress import progress_bar

__all__ = ["fetch_file", "fetch_files", "get_local_data_path", "load_verified", "upload_file"]

logger = logging.getLogger("brainbridge.fetch")

MAX_BACKOFF = 30.0
#: new bytes an attempt must bring for the count of failed attempts to start again
PROGRESS_RESET = 1 << 20
#: at most this many times ``retries + 1`` attempts per fetch, progress or not
ATTEMPTS_PER_TRY = 10
#: seconds a fetch waits for another process downloading the same file
DEFAULT_LOCK_TIMEOUT = 3600.0
#: ranged GETs in flight for one large file (when the store serves ranges of it)
PARALLEL_PARTS = 4
#: a file is fetched in parts only when each part gets at least this many bytes
PART_MIN_BYTES = 16 << 20
#: new bytes between two saves of the parts' progress (what a resume after a kill continues from)
PARTS_SAVE_STEP = 8 << 20


def get_local_data_path() -> Path:
    """The cache folder (BrainIO's name for it)."""
    return config.cache_dir()


def fetch_file(
    location_type: str,
    location: str,
    sha1: str | None = None,
    *,
    base_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool | None = None,
    endpoint_url: str | None = None,
    s3_anon: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    read_timeout: float = 60.0,
    connect_timeout: float = 10.0,
    retries: int = 5,
    backoff: float = 0.5,
    checksum_retries: int = 1,
    verify: bool = True,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
) -> Path:
    """Return a verified local copy of a catalogued file, downloading it when needed.

    Parameters
    ----------
    location_type, location
        As in a catalog row: ``local`` path (absolute, relative to ``base_dir``, or
        ``file://``), ``http``/``https`` URL, or ``S3`` (``s3://bucket/key``, BrainIO's
        ``https://<bucket>.s3.amazonaws.com/<key>``, optionally ``?versionId=``).
    sha1
        Expected SHA-1 (the cache key). ``None`` caches by location and skips verification.
    base_dir
        Folder that relative ``local`` locations are relative to (the catalog's folder).
    cache_dir
        Cache root (default :func:`brainbridge.config.cache_dir`).
    offline
        Never use the network; a file that is not cached raises
        :class:`~brainbridge.errors.OfflineError` naming it (default ``BRAINBRIDGE_OFFLINE``).
        Local paths are still copied.
    progress
        A progress bar (``None``: on a terminal; otherwise INFO log lines, see :mod:`brainbridge.progress`).
    endpoint_url
        S3-compatible endpoint for AWS-style S3 locations (default ``AWS_ENDPOINT_URL``...).
    s3_anon
        Unsigned S3 requests; ``None``: anonymous unless AWS credentials are configured.
    storage_options
        Extra ``s3fs.S3FileSystem`` arguments (``key``, ``secret``, ``profile``...).
    timeout
        Total seconds allowed for the fetch: waiting for another process's download, every
        attempt and every back-off included (``None``: no limit). No attempt's connect or read
        timeout reaches past it.
    read_timeout
        Seconds without receiving data after which an attempt fails (and is retried).
    connect_timeout
        Seconds allowed to connect.
    retries
        Failed attempts in a row allowed after the first on transient failures (an attempt
        that brought at least 1 MiB starts the count again; never more than ``10 * (retries
        + 1)`` attempts in all). A host that cannot be reached at all (DNS failure, no
        network, connection refused) fails at once, unless it already sent bytes.
    backoff
        First retry delay in seconds; doubles each retry (with jitter), at most 30 s.
    checksum_retries
        Fresh downloads after a checksum mismatch before giving up.
    verify
        Re-hash a cached file before returning it (the default: changed bytes are never
        served; a damaged copy is moved aside into ``<cache>/.quarantine`` and fetched again).
        ``False`` trusts a file whose size and modification time match what was verified.
        :func:`load_verified` does the check while the caller reads the file instead.
    lock_timeout
        Seconds to wait for another process that is fetching the same file (``None``: no
        limit but ``timeout``); the error names that process.

    Returns
    -------
    pathlib.Path
        The cached file (never a partial one).

    Raises
    ------
    OfflineError
        Offline and not cached.
    ChecksumMismatchError
        The source's bytes do not have the expected SHA-1 (after retrying).
    RemoteNotFoundError, AccessDeniedError
        The store has no such file / refuses access.
    FetchTimeoutError
        ``timeout`` or ``lock_timeout`` ran out.
    HostUnreachableError
        The host cannot be reached (offline, DNS failure, nothing listening).
    DiskFullError
        The cache's disk is full (the partial file was removed).
    FetchError
        Anything else, e.g. retries spent, a redirect loop or a redirect to ``file://``.
    """
    return _fetch(
        location_type,
        location,
        sha1,
        base_dir=base_dir,
        cache_dir=cache_dir,
        offline=offline,
        progress=progress,
        endpoint_url=endpoint_url,
        s3_anon=s3_anon,
        storage_options=storage_options,
        timeout=timeout,
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        retries=retries,
        backoff=backoff,
        checksum_retries=checksum_retries,
        verify=verify,
        lock_timeout=lock_timeout,
    )


def _offline_message(loc: Location, sha1: str | None, target: Path, corrupt: bool = False) -> str:
    checksum = f" (sha1 {sha1})" if sha1 else ""
    state = "is damaged in the cache" if corrupt else "is not in the cache"
    return (
        f"offline mode: {loc.display()}{checksum} {state} (expected at {target}); "
        "fetch it once while online, or turn offline mode off (BRAINBRIDGE_OFFLINE / --offline)"
    )


def _fetch(
    location_type: str,
    location: str,
    sha1: str | None,
    *,
    base_dir=None,
    cache_dir=None,
    offline=None,
    progress=None,
    endpoint_url=None,
    s3_anon=None,
    storage_options=None,
    timeout=None,
    read_timeout=60.0,
    connect_timeout=10.0,
    retries=5,
    backoff=0.5,
    checksum_retries=1,
    verify=True,
    lock_timeout=DEFAULT_LOCK_TIMEOUT,
    on_bytes: Callable[[int], object] | None = None,
    on_total: Callable[[int], None] | None = None,
    deferred: list | None = None,
) -> Path:
    started = time.monotonic()
    deadline = started + timeout if timeout is not None else None
    sha1 = normalize_sha1(sha1)
    loc = parse_location(location_type, location, base_dir, endpoint_url)
    cache = DownloadCache(cache_dir)
    key = cache.key_for(sha1, loc.identity)
    target = cache.entry_path(key, loc.name or "file")
    offline = config.offline() if offline is None else bool(offline)

    # a hit is hashed before it is returned (verify=True) or, for callers that read the file
    # right away (deferred), while they read it; verify=False trusts the manifest's size+mtime
    trust = verify is False or deferred is not None
    state = cache.check(target, sha1, verify=not trust, source=loc.display(), location_type=loc.kind)
    if state == "hit":
        if deferred is not None and sha1 is not None and verify is not False:
            deferred.append(_BackgroundHash(target, sha1))
        return target
    if offline and loc.is_remote:
        raise OfflineError(_offline_message(loc, sha1, target, corrupt=state == "corrupt"))

    lock = cache.lock(key)
    _acquire(lock, loc, deadline, lock_timeout)
    try:
        # another process may have finished it meanwhile
        state = cache.check(target, sha1, verify=not trust, source=loc.display(), location_type=loc.kind)
        if state == "hit":
            if deferred is not None and sha1 is not None and verify is not False:
                deferred.append(_BackgroundHash(target, sha1))
            return target
        if state == "corrupt":
            aside = cache.quarantine(target)
            logger.warning(
                "cached %s does not match sha1 %s; moved aside to %s and fetching it again",
                target,
                sha1,
                aside,
            )
            DownloadCache._safe(cache.manifest.remove, cache.relpath(target))
        if offline and loc.is_remote:
            raise OfflineError(_offline_message(loc, sha1, target, corrupt=state == "corrupt"))
        target.parent.mkdir(parents=True, exist_ok=True)
        actual = _reuse_sibling(target, sha1) if sha1 else None
        if actual is None:
            store = open_store(loc, s3_anon=s3_anon, storage_options=dict(storage_options or {}))
            actual = _download(
                store,
                loc,
                target,
                sha1,
                timeouts=Timeouts(connect=connect_timeout, read=read_timeout),
                deadline=deadline,
                retries=retries,
                backoff=backoff,
                checksum_retries=checksum_retries,
                progress=progress,
                on_bytes=on_bytes,
                on_total=on_total,
            )
        cache.record(target, actual, loc.display(), loc.kind)
        return target
    finally:
        _release(lock)


def _owner_path(lock: FileLock) -> Path:
    return Path(lock.lock_file).with_suffix(".owner.json")


def _acquire(lock: FileLock, loc: Location, deadline: float | None, lock_timeout: float | None) -> None:
    """Take an entry's lock, waiting at most ``lock_timeout`` (and the deadline) for its holder."""
    try:
        lock.acquire(timeout=0.2)
    except Timeout:
        logger.info("waiting for another process to finish fetching %s", loc.display())
        limits = [
            t
            for t in (lock_timeout, None if deadline is None else deadline - time.monotonic())
            if t is not None
        ]
        wait = max(min(limits), 0) if limits else -1
        try:
            lock.acquire(timeout=wait)
        except Timeout as e:
            raise FetchTimeoutError(
                f"gave up after {wait:.0f} s waiting for {_holder(lock)} to finish fetching {loc.display()}"
                f" (lock {lock.lock_file}); if that process is stuck, stop it"
            ) from e
    # who holds it, for the message of anyone who waits (pid and host are not secrets)
    with contextlib.suppress(OSError):
        _owner_path(lock).write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            )
        )


def _release(lock: FileLock) -> None:
    with contextlib.suppress(OSError):
        _owner_path(lock).unlink(missing_ok=True)
    lock.release()


def _holder(lock: FileLock) -> str:
    try:
        owner = json.loads(_owner_path(lock).read_text())
        return f"process {int(owner['pid'])} on {owner['host']} (holding it since {owner['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _reuse_sibling(target: Path, sha1: str) -> str | None:
    """The same bytes cached under another file name (same SHA-1 key): link or copy them."""
    for sibling in sorted(target.parent.iterdir()):
        if sibling == target or sibling.name.startswith(".") or not sibling.is_file():
            continue
        if sha1_hash(sibling) != sha1:
            continue
        with atomic_path(target) as tmp:
            try:
                os.link(sibling, tmp)
            except OSError:
                shutil.copyfile(sibling, tmp)
        return sha1
    return None


class _BackgroundHash:
    """The SHA-1 of a cached file, computed by a helper thread while the caller reads the file.

    Both read the same pages (one of them from the page cache), and ``hashlib`` releases the
    GIL, so on a multi-core machine the check costs little wall time.
    """

    def __init__(self, path: Path, sha1: str):
        self.path, self.sha1 = path, sha1
        self.actual: str | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="brainbridge-fetch-verify", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.actual = sha1_hash(self.path, 8 << 20)
        except BaseException as e:  # handed to ok()
            self.error = e

    def ok(self) -> bool:
        """Wait for the hash; whether the file has its SHA-1."""
        self.thread.join()
        if self.error is not None:
            return False
        return self.actual == self.sha1


def load_verified(
    location_type: str,
    location: str,
    sha1: str | None,
    reader: Callable[[Path], Any],
    **options: Any,
) -> Any:
    """``reader(fetch_file(...))``, with the cached file's SHA-1 checked *while* ``reader`` reads it.

    A cache hit is returned at once and hashed by a helper thread in parallel with ``reader``;
    if the bytes changed since they were verified (bit rot, an edit), the reader's result is
    thrown away, the bad copy is moved aside (``<cache>/.quarantine``), a good copy is fetched
    and read again. So changed bytes are never served, at the cost of the read-back on another
    core instead of a serial hash before the read.

    Parameters
    ----------
    location_type, location, sha1
        As for :func:`fetch_file`.
    reader
        Reads the file completely and returns what it made (it must not keep the file open
        lazily, or the check would not cover what it reads later).
    **options
        Passed to :func:`fetch_file`.
    """
    checks: list[_BackgroundHash] = []
    path = _fetch(location_type, location, sha1, deferred=checks, **options)
    try:
        result = reader(path)
    except BaseException:
        if checks and not checks[0].ok():
            return _refetch_after_damage(location_type, location, sha1, reader, path, checks[0], options)
        raise
    if checks and not checks[0].ok():
        return _refetch_after_damage(location_type, location, sha1, reader, path, checks[0], options)
    return result


def _refetch_after_damage(location_type, location, sha1, reader, path: Path, check: _BackgroundHash, options):
    cache = DownloadCache(options.get("cache_dir"))
    key = path.parent.name
    lock = cache.lock(key)
    lock.acquire()
    try:
        if path.exists() and sha1_hash(path) != sha1:  # not already replaced by another process
            aside = cache.quarantine(path)
            DownloadCache._safe(cache.manifest.remove, cache.relpath(path))
            logger.warning(
                "cached %s changed since it was verified (sha1 %s, expected %s);"
                " moved aside to %s and fetching it again",
                path,
                check.actual,
                sha1,
                aside,
            )
    finally:
        lock.release()
    return reader(_fetch(location_type, location, sha1, **{**options, "verify": True}))


# --------------------------------------------------------------------------------------------
# the download loop
# --------------------------------------------------------------------------------------------


def _read_meta(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_meta(path: Path, data: dict) -> None:
    """Resume metadata, owner-only (it holds nothing secret, but a source's hash and ETag are
    nobody else's business either)."""
    atomic_write_text(path, json.dumps(data), mode=0o600)


def _source_id(loc: Location) -> str:
    """What a partial file remembers of its source: a hash, never the URL (it may be signed)."""
    return text_digest(loc.identity)


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


class RetryPolicy:
    """brainbridge's one retry policy (downloads, uploads and every consumer's fetches).

    An attempt that fails transiently waits ``backoff * 2**(n-1)`` seconds (jitter +-25 %, at
    most :data:`MAX_BACKOFF`, at least a server's ``Retry-After``) before the next one. It
    gives up after ``retries`` failures in a row (:meth:`progressed` starts the count again),
    after :data:`ATTEMPTS_PER_TRY` times ``retries + 1`` attempts in all, or when the next
    attempt would start past ``deadline`` (:class:`FetchTimeoutError`).
    """

    def __init__(self, what: str, retries: int, backoff: float, deadline: float | None = None):
        self.what, self.retries, self.backoff, self.deadline = what, retries, backoff, deadline
        self.failures = self.attempts = 0
        self.max_attempts = ATTEMPTS_PER_TRY * (retries + 1)

    def attempt(self) -> None:
        """Count an attempt (call before each)."""
        self.attempts += 1

    def progressed(self) -> None:
        """The last attempt made real progress: its failure starts a new count."""
        self.failures = 0

    def failed(self, error: TransientFetchError) -> None:
        """Wait before the next attempt, or raise when none is left."""
        self.failures += 1
        if self.failures > self.retries or self.attempts >= self.max_attempts:
            raise FetchError(f"giving up on {self.what} after {self.attempts} failed attempts: {error}")
        delay = min(self.backoff * 2 ** (self.failures - 1), MAX_BACKOFF) * random.uniform(0.75, 1.25)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, MAX_BACKOFF))
        if self.deadline is not None and time.monotonic() + delay > self.deadline:
            raise FetchTimeoutError(f"timed out fetching {self.what} (last error: {error})")
        left = min(self.max_attempts, self.attempts + self.retries + 1 - self.failures)
        logger.warning(
            "%s; retrying in %.1f s (attempt %d of at most %d)",
            redact_text(str(error)),
            delay,
            self.attempts + 1,
            left,
        )
        time.sleep(delay)


def _download(
    store: Store,
    loc: Location,
    target: Path,
    sha1: str | None,
    *,
    timeouts: Timeouts,
    deadline: float | None,
    retries: int,
    backoff: float,
    checksum_retries: int,
    progress: bool | None,
    on_bytes: Callable[[int], object] | None,
    on_total: Callable[[int], None] | None = None,
) -> str:
    """Download into the cache (the entry lock is held); return the verified SHA-1.

    Attempts are bounded twice: ``retries`` failed attempts in a row (an attempt that brought
    at least :data:`PROGRESS_RESET` new bytes starts the count again), and at most
    :data:`ATTEMPTS_PER_TRY` times ``retries + 1`` attempts in all, so a server that sends a
    few bytes per connection cannot keep a fetch alive forever.
    """
    part = DownloadCache.part_path(target)
    meta = part.with_name(part.name + ".json")
    policy = RetryPolicy(loc.display(), retries, backoff, deadline)
    mismatches = 0
    best = _bytes_kept(part, meta)
    received = False  # bytes came from the source during this fetch

    def counted(n: int) -> None:
        nonlocal received
        received = True
        if on_bytes is not None:
            on_bytes(n)

    while True:
        policy.attempt()
        try:
            actual = _transfer(
                store,
                loc,
                part,
                meta,
                sha1,
                _bounded(timeouts, deadline),
                deadline,
                progress,
                counted,
                on_total,
            )
        except HostUnreachableError as e:
            if not received:
                e.args = (f"{e} (offline? cached files are used with --offline / BRAINBRIDGE_OFFLINE=1)",)
                raise
            error: TransientFetchError = TransientFetchError(str(e))
        except TransientFetchError as e:
            error = e
        except OSError as e:
            if _disk_full(e):
                _discard(part, meta)
                raise DiskFullError(
                    f"no space left on the device of the cache ({target.parent})"
                    f" while fetching {loc.display()}:"
                    " the partial file was removed; free some space or point BRAINBRIDGE_HOME elsewhere"
                ) from None
            if isinstance(e, FetchError):
                raise
            raise FetchError(
                f"cannot write {part} while fetching {loc.display()}: {redact_text(str(e))}"
            ) from None
        else:
            if sha1 is not None and actual != sha1:
                _discard(part, meta)
                mismatches += 1
                if mismatches > checksum_retries:
                    raise ChecksumMismatchError(loc.display(), sha1, actual)
                logger.warning("%s: sha1 %s instead of %s; downloading again", loc.display(), actual, sha1)
                continue
            os.replace(part, target)
            fsync_dir(target.parent)
            _discard(meta)
            return actual
        size = _bytes_kept(part, meta)
        if size >= best + PROGRESS_RESET:  # real progress: the budget of retries starts again
            policy.progressed()
        best = max(best, size)
        policy.failed(error)


def _bounded(timeouts: Timeouts, deadline: float | None) -> Timeouts:
    """Timeouts of one attempt, never past the fetch's deadline."""
    if deadline is None:
        return timeouts
    left = max(deadline - time.monotonic(), 0.05)
    return Timeouts(connect=min(timeouts.connect, left), read=min(timeouts.read, left))


def _transfer(
    store: Store,
    loc: Location,
    part: Path,
    meta: Path,
    sha1: str | None,
    timeouts: Timeouts,
    deadline: float | None,
    progress: bool | None,
    on_bytes: Callable[[int], object] | None,
    on_total: Callable[[int], None] | None = None,
) -> str:
    """One attempt: continue or start ``part``; return the SHA-1 of the complete part file."""
    offset, validator, parts = 0, None, None
    if part.exists():
        saved = _read_meta(meta)
        # resume only what we know came from this very source, and only when we can tell a
        # changed source (validator) or catch one (sha1)
        if saved.get("source") == _source_id(loc) and (saved.get("validator") or sha1):
            validator = saved.get("validator")
            size = part.stat().st_size
            # a download in parts continues each part; the contiguous prefix is what is resumed first
            parts = _saved_parts(saved, size)
            offset = _frontier(parts) if parts is not None else size
            total = saved.get("total")
            if isinstance(total, int) and offset >= total:
                # killed after the last byte, before the rename: promote it if it verifies,
                # else start over (a resume would ask for bytes past the end: 416)
                if offset == total and sha1 is not None and sha1_hash(part) == sha1:
                    logger.info("%s: the interrupted download was complete; verified", loc.display())
                    return sha1
                _discard(part, meta)
                offset, validator, parts = 0, None, None
        else:
            _discard(part, meta)
    body = store.open(offset, validator, timeouts)
    if body.start != offset:  # the store sends the file from the first byte: the parts start over
        parts = None
    if body.ranges and body.total is not None and body.validator:
        if parts is None:
            parts = _layout(body.start, body.total)
        if parts is not None and _frontier(parts) == body.start and parts[-1][1] == body.total:
            return _transfer_parts(
                store, loc, part, meta, body, parts, timeouts, deadline, progress, on_bytes, on_total
            )
    hasher = _TailHasher(part)
    writeback: _Writeback | None = None
    try:
        start = body.start
        if on_total is not None and body.total is not None:
            on_total(body.total - start)
        _write_meta(meta, {"source": _source_id(loc), "validator": body.validator, "total": body.total})
        with (
            open(part, "r+b" if start > 0 else "wb", buffering=0) as out,
            progress_bar(
                total=body.total,
                initial=start,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=loc.name or "download",
                progress=progress,
                leave=False,
            ) as bar,
        ):
            if start > 0:
                out.seek(start)
                out.truncate()
            # the kept prefix is hashed while the rest arrives
            hasher.start(start)
            writeback = _Writeback(out.fileno())
            size = start
            for chunk in body.chunks:
                view = memoryview(chunk)
                while view:
                    view = view[out.write(view) :]
                size += len(chunk)
                hasher.advance(len(chunk))
                writeback.advance(len(chunk))
                bar.update(len(chunk))
                if on_bytes is not None:
                    on_bytes(len(chunk))
                if deadline is not None and time.monotonic() > deadline:
                    raise FetchTimeoutError(
                        f"timed out fetching {loc.display()} after {size} bytes"
                        " (the partial file is kept for resuming)"
                    )
            writeback.finish()
            os.fsync(out.fileno())
    except BaseException:
        hasher.abort()
        raise
    finally:
        if writeback is not None:
            writeback.finish()
        body.close()
    if body.total is not None and size != body.total:
        hasher.abort()
        if size > body.total:
            _discard(part, meta)
        raise TransientFetchError(f"{loc.display()}: received {size} of {body.total} bytes")
    return hasher.finish()


def _layout(start: int, total: int) -> list[list[int]] | None:
    """Parts ``[first, end, done]`` for bytes ``[start, total)`` (a kept prefix is a done part),
    or ``None`` when the rest is too small to be worth several ranged GETs."""
    remaining = total - start
    count = min(PARALLEL_PARTS, remaining // max(PART_MIN_BYTES, 1))
    if count < 2:
        return None
    step = -(-remaining // count)
    step = -(-step // (1 << 20)) * (1 << 20) if step > (1 << 20) else step  # MiB-aligned parts
    parts = [[0, start, start]] if start > 0 else []
    for first in range(start, total, step):
        parts.append([first, min(first + step, total), first])
    return parts


def _frontier(parts: list[list[int]]) -> int:
    """End of the contiguous run of written bytes from byte 0."""
    frontier = 0
    for _first, end, done in parts:
        frontier = done
        if done < end:
            break
    return frontier


def _saved_parts(saved: dict, size: int) -> list[list[int]] | None:
    """The parts a resume file recorded, if they are consistent with themselves and the file."""
    parts, total = saved.get("parts"), saved.get("total")
    if not isinstance(parts, list) or not parts or not isinstance(total, int):
        return None
    expected = 0
    for item in parts:
        if not (isinstance(item, list) and len(item) == 3 and all(type(v) is int for v in item)):
            return None
        first, end, done = item
        if first != expected or not first <= done <= end or done > size:
            return None
        expected = end
    return [list(item) for item in parts] if expected == total else None


def _bytes_kept(part: Path, meta: Path) -> int:
    """Bytes a partial download holds: the parts' written bytes, or the file's length."""
    if not part.exists():
        return 0
    size = part.stat().st_size
    parts = _saved_parts(_read_meta(meta), size)
    return sum(done - first for first, _end, done in parts) if parts is not None else size


def _pwrite_all(fd: int, data: memoryview, position: int) -> None:
    while data:
        written = os.pwrite(fd, data, position)
        data, position = data[written:], position + written


def _transfer_parts(
    store: Store,
    loc: Location,
    part: Path,
    meta: Path,
    body: Body,
    parts: list[list[int]],
    timeouts: Timeouts,
    deadline: float | None,
    progress: bool | None,
    on_bytes: Callable[[int], object] | None,
    on_total: Callable[[int], None] | None,
) -> str:
    """One attempt in parts: ranged GETs in parallel threads, each written at its offset.

    ``body`` (already open at the first unwritten byte) serves the first unfinished part; every
    other unfinished part gets its own ranged GET pinned to ``body.validator`` (a changed file
    answers 200 or a failed precondition, never spliced bytes). The SHA-1 follows the
    contiguous prefix in a helper thread. The parts' progress is saved in ``meta`` every
    :data:`PARTS_SAVE_STEP` bytes and when the attempt ends, always after the bytes it counts
    were written, so a resume (even after ``kill -9``) never skips a byte that is not there.
    """
    total = int(body.total)  # type: ignore[arg-type]
    pinned = body.validator or ""  # set: the caller checked it (the parts are pinned to it)
    source = _source_id(loc)
    pending = [i for i, (_first, end, done) in enumerate(parts) if done < end]
    remaining = sum(end - done for _first, end, done in parts)
    lock = threading.Lock()
    stop = threading.Event()
    bodies: dict[int, Body] = {}
    errors: list[BaseException] = []
    frontier = _frontier(parts)
    unsaved = 0

    def save() -> None:
        _write_meta(meta, {"source": source, "validator": body.validator, "total": total, "parts": parts})

    if on_total is not None:
        on_total(remaining)
    save()
    hasher = _TailHasher(part)
    writeback: _Writeback | None = None
    try:
        with (
            open(part, "r+b" if part.exists() else "wb", buffering=0) as out,
            progress_bar(
                total=total,
                initial=total - remaining,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=loc.name or "download",
                progress=progress,
                leave=False,
            ) as bar,
        ):
            fd = out.fileno()
            if os.fstat(fd).st_size > total:
                out.truncate(total)
            hasher.start(frontier)
            writeback = _Writeback(fd)

            def advance(index: int, position: int) -> None:
                nonlocal frontier, unsaved
                with lock:
                    new = position - parts[index][2]
                    parts[index][2] = position
                    reached = _frontier(parts)
                    hasher.advance(reached - frontier)
                    frontier = reached
                    writeback.advance(new)
                    bar.update(new)
                    if on_bytes is not None:
                        on_bytes(new)
                    unsaved += new
                    if unsaved >= PARTS_SAVE_STEP:
                        unsaved = 0
                        save()

            def run(index: int, opened: Body | None) -> None:
                first, end, done = parts[index]
                try:
                    current = opened if opened is not None else store.open_range(done, end, pinned, timeouts)
                    with lock:
                        bodies[index] = current
                    if stop.is_set():
                        return
                    position = done
                    for chunk in current.chunks:
                        data = memoryview(chunk)[: end - position]
                        _pwrite_all(fd, data, position)
                        position += len(data)
                        advance(index, position)
                        if position >= end or stop.is_set():
                            break
                        if deadline is not None and time.monotonic() > deadline:
                            raise FetchTimeoutError(
                                f"timed out fetching {loc.display()} (the partial file is kept for resuming)"
                            )
                    if position < end and not stop.is_set():
                        raise TransientFetchError(
                            f"{loc.display()}: bytes {first}-{end - 1} ended after {position - first} bytes"
                        )
                except BaseException as e:  # the first failure stops the other parts
                    with lock:
                        errors.append(e)
                        others = [b for i, b in bodies.items() if i != index]
                    stop.set()
                    for other in others:  # unblocks their reads at once
                        with contextlib.suppress(Exception):
                            other.close()
                finally:
                    with lock:
                        mine = bodies.pop(index, None)
                    if mine is not None:
                        mine.close()

            with ThreadPoolExecutor(
                max_workers=len(pending), thread_name_prefix="brainbridge-fetch-part"
            ) as pool:
                futures = [pool.submit(run, index, None) for index in pending[1:]]
                run(pending[0], body)
                for future in futures:
                    future.result()
            if errors:
                # a final error (not found, access, disk full...) wins over the transient ones it caused
                final = [e for e in errors if not isinstance(e, TransientFetchError)]
                raise (final or errors)[0]
            writeback.finish()
            os.fsync(fd)
    except BaseException:
        hasher.abort()
        with contextlib.suppress(OSError):
            save()  # what was written, for the next attempt
        raise
    finally:
        if writeback is not None:
            writeback.finish()
        body.close()
    if _frontier(parts) != total:
        hasher.abort()
        raise TransientFetchError(f"{loc.display()}: received {_frontier(parts)} of {total} bytes")
    return hasher.finish()


class _Writeback:
    """Flush a file being written to disk in the background, so the final ``fsync`` is short.

    Every :data:`STEP` bytes a helper thread calls ``fdatasync`` (it releases the GIL), so the
    disk writes overlap the download instead of all waiting for the ``fsync`` before the
    rename. The final ``fsync`` still makes the whole file durable.
    """

    STEP = 32 << 20

    def __init__(self, fd: int):
        self.fd = fd
        self.pending = 0
        self.wanted = False
        self.closed = False
        self.condition = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="brainbridge-fetch-writeback", daemon=True)
        self.thread.start()

    def advance(self, n: int) -> None:
        self.pending += n
        if self.pending >= self.STEP:
            self.pending = 0
            with self.condition:
                self.wanted = True
                self.condition.notify()

    def _run(self) -> None:
        while True:
            with self.condition:
                while not (self.wanted or self.closed):
                    self.condition.wait()
                if not self.wanted:  # closed with nothing asked: the final fsync does the rest
                    return
                self.wanted = False
            try:
                os.fdatasync(self.fd)
            except (OSError, AttributeError):  # not supported here: the final fsync does it all
                return

    def finish(self) -> None:
        """Stop the helper (idempotent); the caller's ``fsync`` makes the file durable."""
        with self.condition:
            self.closed = True
            self.condition.notify()
        self.thread.join()


class _TailHasher:
    """SHA-1 of a file that is being appended to, computed by a helper thread reading it back.

    The network loop never waits for hashing (``hashlib`` and reads release the GIL), and on a
    resume the bytes already on disk are hashed while the rest downloads. Reading back costs a
    copy from the page cache, far less than the SHA-1 itself.
    """

    BLOCK = 4 << 20

    def __init__(self, path: Path):
        self.path = path
        self.digest = hashlib.sha1()
        self.available = 0
        self.hashed = 0
        self.finished = False
        self.aborted = False
        self.error: BaseException | None = None
        self.condition = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="brainbridge-fetch-sha1", daemon=True)

    def start(self, available: int) -> None:
        self.available = available
        self.thread.start()

    def advance(self, n: int) -> None:
        with self.condition:
            self.available += n
            self.condition.notify()

    def _run(self) -> None:
        try:
            # unbuffered: a buffered reader would read ahead into parts not written yet (holes)
            with open(self.path, "rb", buffering=0) as f:
                while True:
                    with self.condition:
                        while self.hashed >= self.available and not (self.finished or self.aborted):
                            self.condition.wait()
                        if self.aborted:
                            return
                        target, finished = self.available, self.finished
                    if self.hashed >= target:
                        if finished:
                            return
                        continue
                    block = f.read(min(target - self.hashed, self.BLOCK))
                    if not block:
                        raise TransientFetchError(f"{self.path} is shorter than what was written to it")
                    self.digest.update(block)
                    self.hashed += len(block)
        except BaseException as e:  # handed to finish()
            self.error = e

    def _stop(self, attribute: str) -> None:
        with self.condition:
            setattr(self, attribute, True)
            self.condition.notify()
        if self.thread.is_alive():
            self.thread.join()

    def abort(self) -> None:
        self._stop("aborted")

    def finish(self) -> str:
        self._stop("finished")
        if self.error is not None:
            raise self.error
        return self.digest.hexdigest()


# --------------------------------------------------------------------------------------------
# many files
# --------------------------------------------------------------------------------------------


def _as_request(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        request = dict(item)
        missing = {"location_type", "location"} - set(request)
        if missing:
            raise FetchError(f"fetch request {item!r} lacks {sorted(missing)}")
        request.setdefault("sha1", None)
        allowed = {"location_type", "location", "sha1", "base_dir"}
        return {k: v for k, v in request.items() if k in allowed}
    if isinstance(item, Sequence) and not isinstance(item, str) and 2 <= len(item) <= 3:
        location_type, location, *rest = item
        return {"location_type": location_type, "location": location, "sha1": rest[0] if rest else None}
    raise FetchError(f"a fetch request is (location_type, location[, sha1]) or a mapping; got {item!r}")


@renamed_parameters(max_workers="workers")
def fetch_files(
    requests: Iterable[Any],
    *,
    workers: int = 4,
    progress: bool | None = None,
    offline: bool | None = None,
    **options: Any,
) -> list[Path]:
    """Fetch several files in parallel threads.

    Parameters
    ----------
    requests
        Items ``(location_type, location, sha1)`` / ``(location_type, location)`` or mappings
        with those keys (plus an optional ``base_dir``), e.g. catalog rows as dicts.
    workers
        Parallel downloads (``max_workers`` is the deprecated name).
    progress
        One byte-counting progress bar for all files (default: when stderr is a terminal).
    offline
        As in :func:`fetch_file`; offline, every missing file is named in one
        :class:`~brainbridge.errors.OfflineError` before anything is copied.
    **options
        Passed to :func:`fetch_file` (``cache_dir``, ``base_dir``, ``timeout``...).

    Returns
    -------
    list of pathlib.Path
        In the order of ``requests``.

    Raises
    ------
    FetchFilesError
        Some files failed (``.failures`` and ``.results`` tell which); a single request
        re-raises its own error.
    """
    items = [_as_request(item) for item in requests]
    if not items:
        return []
    offline = config.offline() if offline is None else bool(offline)
    if offline:
        _check_offline(items, options)
    results: list[Path | None] = [None] * len(items)
    failures: dict[int, BaseException] = {}
    totals_lock = threading.Lock()
    with progress_bar(
        total=None,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"fetching {len(items)} files",
        progress=progress,
    ) as bar:

        def add_total(n: int) -> None:
            # the bar's total grows as each download learns its size, so it shows a total and an ETA
            with totals_lock:
                bar.total = (bar.total or 0) + n
                bar.refresh()

        def one(request: dict[str, Any]) -> Path:
            merged = {**options, **{k: v for k, v in request.items() if k == "base_dir"}}
            request = {k: v for k, v in request.items() if k != "base_dir"}
            return _fetch(
                **request, **merged, offline=offline, progress=False, on_bytes=bar.update, on_total=add_total
            )

        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="brainbridge-fetch") as pool:
            futures = {pool.submit(one, item): i for i, item in enumerate(items)}
            for future in as_completed(futures):
                index = futures[future]
                try:
                    results[index] = future.result()
                except Exception as e:
                    failures[index] = e
    if failures:
        if len(items) == 1:
            raise failures[0]
        raise FetchFilesError(failures, results)
    return results  # type: ignore[return-value]


def _check_offline(items: list[dict[str, Any]], options: Mapping[str, Any]) -> None:
    cache = DownloadCache(options.get("cache_dir"))
    missing = []
    for item in items:
        sha1 = normalize_sha1(item.get("sha1"))
        loc = parse_location(
            item["location_type"],
            item["location"],
            item.get("base_dir", options.get("base_dir")),
            options.get("endpoint_url"),
        )
        if not loc.is_remote:
            continue
        target = cache.entry_path(cache.key_for(sha1, loc.identity), loc.name or "file")
        if cache.check(target, sha1) != "hit":
            missing.append(f"  {loc.display()}" + (f" (sha1 {sha1})" if sha1 else ""))
    if missing:
        raise OfflineError(
            f"offline mode: {len(missing)} of {len(items)} files are not in the cache {cache.root}:\n"
            + "\n".join(missing)
            + "\nfetch them once while online, or turn offline mode off (BRAINBRIDGE_OFFLINE / --offline)"
        )


# --------------------------------------------------------------------------------------------
# uploads
# --------------------------------------------------------------------------------------------


def upload_file(
    local_path: str | os.PathLike,
    location_type: str,
    location: str,
    *,
    base_dir: str | os.PathLike | None = None,
    endpoint_url: str | None = None,
    s3_anon: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = True,
    retries: int = 3,
    backoff: float = 0.5,
) -> str:
    """Publish a file to a local mirror or an S3 bucket; return the location for the catalog row.

    Parameters
    ----------
    local_path
        The file to publish.
    location_type
        ``local`` (a mirror folder, e.g. a shared lab drive) or ``S3``. HTTP(S) is read-only.
    location
        Destination file, or a folder / key prefix ending in ``/`` (the file name is appended).
        S3 accepts ``s3://bucket/key`` and ``https://<bucket>.s3.amazonaws.com/<key>``.
    base_dir
        Folder that relative local destinations are relative to.
    endpoint_url, s3_anon, storage_options
        S3 endpoint and access, as in :func:`fetch_file` (uploads need credentials).
    overwrite
        Replace an existing destination with different bytes (otherwise raise).
    retries, backoff
        Retries with exponential backoff on transient S3 errors.

    Returns
    -------
    str
        The location to record (``location`` with the file name appended when it named a
        folder). Record ``sha1_hash(local_path)`` next to it.
    """
    source = Path(local_path)
    if not source.is_file():
        raise FetchError(f"cannot upload {source}: not a file")
    kind = _kind(location_type, location)
    if kind == "http":
        raise FetchError("uploads go to S3 or a local mirror; HTTP(S) locations are read-only")
    if location.endswith("/") or (
        kind == "local" and Path(parse_location("local", location, base_dir).url).is_dir()
    ):
        location = location.rstrip("/") + "/" + source.name
    if kind == "local":
        _upload_local(source, Path(parse_location("local", location, base_dir).url), overwrite)
        return location
    loc = parse_location("S3", location, endpoint_url=endpoint_url)
    _upload_s3(source, loc, s3_anon, dict(storage_options or {}), overwrite, retries, backoff)
    return location


def _upload_local(source: Path, dest: Path, overwrite: bool) -> None:
    source_sha1 = sha1_hash(source)
    if dest.exists():
        if sha1_hash(dest) == source_sha1:
            return
        if not overwrite:
            raise FetchError(f"{dest} exists with different content (pass overwrite=True to replace it)")
    with atomic_path(dest, durable=True) as tmp:
        with open(tmp, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        written = sha1_hash(tmp)
        if written != source_sha1:
            raise ChecksumMismatchError(dest, source_sha1, written)


def _same_remote(fs, path: str, source: Path) -> bool:
    """Whether the S3 object at ``path`` holds the bytes of ``source``."""
    info = fs.info(path)
    if int(info["size"]) != source.stat().st_size:
        return False
    etag = str(info.get("ETag") or "").strip('"')
    if etag and "-" not in etag:  # a single-part upload: the ETag is the MD5
        digest = hashlib.md5(usedforsecurity=False)
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest() == etag
    remote = hashlib.sha1()
    with fs.open(path, "rb", block_size=8 << 20) as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            remote.update(block)
    return remote.hexdigest() == sha1_hash(source)


def _upload_s3(
    source: Path, loc: Location, anon, storage_options, overwrite: bool, retries: int, backoff: float
) -> None:
    from brainbridge.fetch.stores import _s3_error

    fs = s3_filesystem(loc.endpoint_url, anon=anon, region=loc.region, storage_options=storage_options)
    path = f"{loc.bucket}/{loc.key}"
    size = source.stat().st_size
    what = f"upload of {source.name} to {loc.display()}"
    policy = RetryPolicy(what, retries, backoff)
    while True:
        policy.attempt()
        failure: FetchError | None = None
        try:
            if not overwrite and fs.exists(path):
                if _same_remote(fs, path, source):
                    return  # already published: re-packaging is a no-op
                raise FetchError(
                    f"{loc.display()} exists with different content (pass overwrite=True to replace it)"
                )
            fs.put_file(str(source), path)
            fs.invalidate_cache(path)
            remote = int(fs.info(path)["size"])
            if remote != size:
                raise TransientFetchError(f"{what}: {remote} bytes arrived instead of {size}")
            return
        except Exception as e:
            failure = _s3_error(e, what)
            if failure is e and not isinstance(e, TransientFetchError):
                raise
        if not isinstance(failure, TransientFetchError):
            raise failure
        policy.failed(failure)

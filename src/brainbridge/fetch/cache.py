"""The content-addressed download cache: layout, manifest, locks, inspection and cleaning.

Layout under the cache root (:func:`brainbridge.config.cache_dir`)::

    <root>/<key[:2]>/<key>/<file name>        a complete, verified file
    <root>/<key[:2]>/<key>/.<file name>.part  a download in progress (or interrupted)
    <root>/.locks/<key>.lock                   one lock per entry (never deleted while in use)
    <root>/manifest.sqlite3                    what is cached: size, sha1, source, times

``key`` is the file's SHA-1 when the catalog gives one (so two different ``data.nc`` never
collide, and the same bytes listed twice are stored once), else ``url-`` plus a hash of the
location. A file only ever gets its final name by an atomic rename after its checksum was
verified, so a crash at any moment leaves nothing that looks complete. The files are the truth;
the manifest is an index that is rebuilt from them when it is missing or damaged.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from brainbridge import config
from brainbridge.errors import ChecksumMismatchError

__all__ = [
    "CacheEntry",
    "CacheInfo",
    "CacheProblem",
    "CleanReport",
    "DownloadCache",
    "cache_info",
    "cached_path",
    "clean_cache",
    "sha1_hash",
    "verify_cache",
    "verify_sha1",
]

logger = logging.getLogger("brainbridge.fetch")

_BLOCK = 1 << 20
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_MANIFEST = "manifest.sqlite3"
_LOCKS = ".locks"
_PART = ".part"


def sha1_hash(path: str | os.PathLike, buffer_size: int = _BLOCK) -> str:
    """SHA-1 hex digest of a file, read in blocks."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(buffer_size), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha1(path: str | os.PathLike, sha1: str) -> None:
    """Raise :class:`~brainbridge.errors.ChecksumMismatchError` unless the file's SHA-1 is ``sha1``."""
    actual = sha1_hash(path)
    if actual != sha1.strip().lower():
        raise ChecksumMismatchError(path, sha1.strip().lower(), actual)


def normalize_sha1(sha1: str | None) -> str | None:
    """Lower-case, stripped SHA-1, ``None`` for empty/NaN; :class:`ValueError` if malformed."""
    if sha1 is None:
        return None
    if isinstance(sha1, float):  # a NaN from a pandas row
        return None
    value = str(sha1).strip().lower()
    if not value or value in ("nan", "none"):
        return None
    if not _SHA1.match(value):
        from brainbridge.errors import ValidationError

        raise ValidationError(f"not a SHA-1 checksum (40 hex digits): {sha1!r}")
    return value


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._+=@,-]", "_", name).lstrip(".") or "file"
    return name[-200:]


def fsync_dir(path: Path) -> None:
    """Persist a rename in ``path`` (best effort; not every file system allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class CacheEntry:
    """A row of the manifest.

    Attributes
    ----------
    relpath : str
        Path relative to the cache root.
    sha1 : str
        Verified SHA-1 of the file.
    size : int
        Size in bytes.
    mtime_ns : int
        Modification time recorded when the file was verified (a changed file is re-hashed).
    source : str
        Where it came from (redacted URL or path).
    location_type : str
        ``local``, ``http`` or ``s3``.
    fetched_at, last_used : str
        UTC ISO times.
    """

    relpath: str
    sha1: str
    size: int
    mtime_ns: int
    source: str
    location_type: str
    fetched_at: str
    last_used: str


class Manifest:
    """SQLite index of the cache (safe across threads and processes)."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / _MANIFEST

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._open()
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                raise
            # damaged index: keep it aside for inspection and start a new one (the files are the truth)
            aside = self.path.with_name(f"{_MANIFEST}.damaged-{int(time.time())}")
            logger.warning("the cache manifest %s is damaged (%s); moved to %s and rebuilding", self.path, e, aside)
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS entries (relpath TEXT PRIMARY KEY, sha1 TEXT NOT NULL, size INTEGER NOT NULL,"
                " mtime_ns INTEGER NOT NULL, source TEXT NOT NULL, location_type TEXT NOT NULL,"
                " fetched_at TEXT NOT NULL, last_used TEXT NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS entries_sha1 ON entries (sha1)")
        except BaseException:
            conn.close()
            raise
        return conn

    def get(self, relpath: str) -> CacheEntry | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM entries WHERE relpath = ?", (relpath,)).fetchone()
        return CacheEntry(*row) if row else None

    def put(self, entry: CacheEntry) -> None:
        values = asdict(entry)
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO entries VALUES (:relpath, :sha1, :size, :mtime_ns, :source, :location_type,"
                " :fetched_at, :last_used)",
                values,
            )

    def touch(self, relpath: str) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE entries SET last_used = ? WHERE relpath = ?", (_now(), relpath))

    def remove(self, relpath: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM entries WHERE relpath = ?", (relpath,))

    def all(self) -> list[CacheEntry]:
        if not self.path.exists():
            return []
        with self._connect() as conn:
            return [CacheEntry(*row) for row in conn.execute("SELECT * FROM entries ORDER BY relpath")]


class DownloadCache:
    """A cache root: entry paths, locks, the manifest and hit checks.

    Parameters
    ----------
    root
        Cache folder (default :func:`brainbridge.config.cache_dir`, read on every call).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else config.cache_dir()
        self.manifest = Manifest(self.root)

    # -- layout ----------------------------------------------------------------------------

    @staticmethod
    def key_for(sha1: str | None, identity: str) -> str:
        """The entry key: the SHA-1, else ``url-`` + a hash of the location's identity."""
        return sha1 if sha1 else "url-" + hashlib.sha256(identity.encode()).hexdigest()[:40]

    def entry_path(self, key: str, name: str) -> Path:
        """Final path of a file in the cache."""
        return self.root / key[:2] / key / _safe_name(name)

    @staticmethod
    def part_path(target: Path) -> Path:
        """The partial-download file next to ``target`` (hidden, never the final name)."""
        return target.with_name(f".{target.name}{_PART}")

    def lock(self, key: str) -> FileLock:
        """The inter-process lock of an entry."""
        folder = self.root / _LOCKS
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / f"{key}.lock"))

    def relpath(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- hits ------------------------------------------------------------------------------

    def check(
        self, target: Path, sha1: str | None, *, verify: bool = False, source: str | None = None,
        location_type: str = "unknown",
    ) -> str:
        """State of a cached file: ``"hit"``, ``"missing"`` or ``"corrupt"``.

        A file that the manifest recorded with the same size and mtime is trusted without
        re-hashing (unless ``verify``); anything else is hashed and compared to ``sha1``. A
        verified file that the manifest lacks (a crash between the rename and the manifest
        update) is recorded, with ``source`` when given.
        """
        try:
            stat = target.stat()
        except FileNotFoundError:
            return "missing"
        relpath = self.relpath(target)
        entry = self._manifest_get(relpath)
        if (
            not verify
            and entry is not None
            and entry.size == stat.st_size
            and entry.mtime_ns == stat.st_mtime_ns
            and (sha1 is None or entry.sha1 == sha1)
        ):
            self._safe(self.manifest.touch, relpath)
            return "hit"
        if sha1 is None and not verify:
            return "hit"
        actual = sha1_hash(target)
        expected = sha1 or (entry.sha1 if entry else None)
        if expected is not None and actual != expected:
            return "corrupt"
        if entry is not None:
            entry.size, entry.mtime_ns, entry.sha1, entry.last_used = stat.st_size, stat.st_mtime_ns, actual, _now()
            self._safe(self.manifest.put, entry)
        else:
            self.record(target, actual, source or "(unknown: found in the cache)", location_type)
        return "hit"

    def record(self, target: Path, sha1: str, source: str, location_type: str) -> None:
        """Add a verified file to the manifest."""
        stat = target.stat()
        now = _now()
        entry = CacheEntry(self.relpath(target), sha1, stat.st_size, stat.st_mtime_ns, source, location_type, now, now)
        self._safe(self.manifest.put, entry)

    def _manifest_get(self, relpath: str) -> CacheEntry | None:
        try:
            return self.manifest.get(relpath)
        except sqlite3.Error as e:
            logger.warning("cache manifest unavailable (%s); verifying by checksum", e)
            return None

    @staticmethod
    def _safe(function, *args) -> None:
        # the manifest is an index: failing to update it must never fail a fetch
        try:
            function(*args)
        except sqlite3.Error as e:
            logger.warning("could not update the cache manifest: %s", e)

    # -- walking ---------------------------------------------------------------------------

    def entry_dirs(self) -> Iterator[Path]:
        """Every entry folder (``<root>/<xx>/<key>``)."""
        if not self.root.is_dir():
            return
        for prefix in sorted(self.root.iterdir()):
            if not prefix.is_dir() or prefix.name.startswith(".") or len(prefix.name) != 2:
                continue
            for folder in sorted(prefix.iterdir()):
                if folder.is_dir() and folder.name[:2] == prefix.name:
                    yield folder

    def files(self) -> Iterator[Path]:
        """Every complete file in the cache."""
        for folder in self.entry_dirs():
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    yield path

    def partial_files(self) -> Iterator[Path]:
        """Every partial download (and its resume metadata)."""
        for folder in self.entry_dirs():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.name.startswith(".") and (_PART in path.name or path.name.startswith(".tmp")):
                    yield path


# --------------------------------------------------------------------------------------------
# inspection and maintenance (used by `brainbridge cache ...`)
# --------------------------------------------------------------------------------------------


@dataclass
class CacheInfo:
    """Summary of a cache root."""

    root: str
    manifest: str
    files: int
    bytes: int
    partial_files: int
    partial_bytes: int
    recorded: int

    def as_dict(self) -> dict:
        return asdict(self)


def cache_info(cache_dir: str | os.PathLike | None = None) -> CacheInfo:
    """Count the complete and partial files of the cache (no hashing)."""
    cache = DownloadCache(cache_dir)
    files = list(cache.files())
    partial = list(cache.partial_files())
    try:
        recorded = len(cache.manifest.all())
    except sqlite3.Error:
        recorded = 0
    return CacheInfo(
        root=str(cache.root),
        manifest=str(cache.manifest.path),
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        partial_files=len(partial),
        partial_bytes=sum(p.stat().st_size for p in partial),
        recorded=recorded,
    )


def cached_path(sha1: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The cached file whose checksum is ``sha1`` (``None`` when it is not cached)."""
    from brainbridge.errors import ValidationError

    key = normalize_sha1(sha1)
    if key is None:
        raise ValidationError("cached_path needs a SHA-1")
    folder = DownloadCache(cache_dir).root / key[:2] / key
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            return path
    return None


@dataclass
class CacheProblem:
    """Something :func:`verify_cache` found wrong.

    ``kind`` is ``"corrupt"`` (checksum differs), ``"missing"`` (recorded but gone) or
    ``"busy"`` (being downloaded by someone else; not checked).
    """

    kind: str
    path: str
    expected: str | None = None
    actual: str | None = None
    fixed: bool = False

    def __str__(self) -> str:
        if self.kind == "corrupt":
            done = " (deleted)" if self.fixed else ""
            return f"corrupt: {self.path}: expected sha1 {self.expected}, got {self.actual}{done}"
        if self.kind == "missing":
            return f"missing: {self.path} is recorded in the manifest but not on disk (record dropped)"
        return f"{self.kind}: {self.path}"


def verify_cache(
    cache_dir: str | os.PathLike | None = None, *, delete: bool = False, progress: bool | None = None
) -> list[CacheProblem]:
    """Re-hash every cached file and compare with its key / recorded checksum.

    Parameters
    ----------
    cache_dir
        Cache root (default: the configured one).
    delete
        Delete corrupt files (the next fetch downloads them again).
    progress
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    list of CacheProblem
        Empty when everything is intact. Files found on disk but missing from the manifest
        are hashed and recorded (not a problem); manifest rows without a file are dropped.
    """
    import sys

    from tqdm.auto import tqdm

    cache = DownloadCache(cache_dir)
    recorded = {e.relpath: e for e in _all_entries(cache)}
    problems: list[CacheProblem] = []
    files = list(cache.files())
    show = progress if progress is not None else sys.stderr.isatty()
    for path in tqdm(files, desc="verifying cache", unit="file", disable=not show):
        relpath = cache.relpath(path)
        key = path.parent.name
        entry = recorded.pop(relpath, None)
        expected = key if _SHA1.match(key) else (entry.sha1 if entry else None)
        lock = cache.lock(key)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            problems.append(CacheProblem("busy", str(path)))
            continue
        try:
            if not path.exists():
                continue
            actual = sha1_hash(path)
            if expected is not None and actual != expected:
                problem = CacheProblem("corrupt", str(path), expected, actual)
                if delete:
                    path.unlink(missing_ok=True)
                    DownloadCache._safe(cache.manifest.remove, relpath)
                    problem.fixed = True
                problems.append(problem)
            elif entry is None:
                cache.record(path, actual, "(unknown: found in the cache)", "unknown")
        finally:
            lock.release()
    for relpath in recorded:
        DownloadCache._safe(cache.manifest.remove, relpath)
        problems.append(CacheProblem("missing", str(cache.root / relpath)))
    return problems


def _all_entries(cache: DownloadCache) -> list[CacheEntry]:
    try:
        return cache.manifest.all()
    except sqlite3.Error as e:
        logger.warning("cache manifest unreadable: %s", e)
        return []


@dataclass
class CleanReport:
    """What :func:`clean_cache` removed (or would remove, with ``dry_run``)."""

    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    busy: list[str] = field(default_factory=list)
    dry_run: bool = False


def clean_cache(
    cache_dir: str | os.PathLike | None = None,
    *,
    everything: bool = False,
    older_than_days: float | None = None,
    partial: bool = True,
    dry_run: bool = False,
) -> CleanReport:
    """Remove partial downloads and, optionally, complete files.

    Entries being downloaded right now (their lock is held) are left alone and reported as busy.

    Parameters
    ----------
    cache_dir
        Cache root (default: the configured one).
    everything
        Remove every cached file too.
    older_than_days
        Remove complete files not used for this many days.
    partial
        Remove interrupted downloads (``.part`` files).
    dry_run
        Only report what would be removed.
    """
    cache = DownloadCache(cache_dir)
    report = CleanReport(dry_run=dry_run)
    entries = {e.relpath: e for e in _all_entries(cache)}
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    for folder in list(cache.entry_dirs()):
        key = folder.name
        victims: list[Path] = []
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            if path.name.startswith("."):
                if partial or everything:
                    victims.append(path)
                continue
            if everything:
                victims.append(path)
            elif cutoff is not None:
                entry = entries.get(cache.relpath(path))
                used = _dt.datetime.fromisoformat(entry.last_used).timestamp() if entry else path.stat().st_mtime
                if used < cutoff:
                    victims.append(path)
        if not victims:
            continue
        lock = cache.lock(key)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            report.busy.append(str(folder))
            continue
        try:
            for path in victims:
                size = path.stat().st_size if path.exists() else 0
                report.removed.append(str(path))
                report.freed_bytes += size
                if not dry_run:
                    path.unlink(missing_ok=True)
                    if not path.name.startswith("."):
                        DownloadCache._safe(cache.manifest.remove, cache.relpath(path))
            if not dry_run:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
                with contextlib.suppress(OSError):
                    folder.parent.rmdir()
        finally:
            lock.release()
    return report

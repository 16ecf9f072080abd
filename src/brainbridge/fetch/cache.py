"""The content-addressed download cache: layout, manifest, locks, inspection and cleaning.

Layout under the cache root (:func:`brainbridge.config.cache_dir`)::

    <root>/<key[:2]>/<key>/<file name>        a complete, verified file
    <root>/<key[:2]>/<key>/.<file name>.part  a download in progress (or interrupted)
    <root>/.locks/<key>.lock                   one lock per entry (never deleted while in use)
    <root>/manifest.sqlite3                    what is cached: size, sha1, source, times
    <root>/.quarantine/                         damaged copies moved out of service

Besides downloaded files, the cache holds *tree entries*: folders that brainbridge makes from
cached files (e.g. extracted stimulus archives, under ``<root>/stimuli/<key>``). They are
registered with :func:`register_tree` (every file's size and SHA-1), checked by
:func:`verify_tree` / :func:`verify_cache`, and removed by :func:`clean_cache`.

``key`` is the file's SHA-1 when the catalog gives one (so two different ``data.nc`` never
collide, and the same bytes listed twice are stored once), else ``url-`` plus a hash of the
location. A file only ever gets its final name by an atomic rename after its checksum was
verified, so a crash at any moment leaves nothing that looks complete. The files are the truth;
the manifest is an index that is rebuilt from them when it is missing or damaged.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from brainbridge import config
from brainbridge.errors import ChecksumMismatchError
from brainbridge.hashing import sha1_hash, text_digest

__all__ = [
    "CacheEntry",
    "CacheInfo",
    "CacheProblem",
    "CleanReport",
    "DownloadCache",
    "TreeEntry",
    "cache_info",
    "cached_path",
    "clean_cache",
    "register_tree",
    "remove_tree",
    "sha1_hash",
    "tree_entries",
    "tree_lock",
    "verify_cache",
    "verify_sha1",
    "verify_tree",
]

logger = logging.getLogger("brainbridge.fetch")

_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_MANIFEST = "manifest.sqlite3"
_LOCKS = ".locks"
_QUARANTINE = ".quarantine"
_PART = ".part"


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


def _walk_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (symlinks count as files: they are never followed)."""
    found: list[Path] = []
    for dirpath, _dirs, names in os.walk(folder):
        found.extend(Path(dirpath) / name for name in names)
    return sorted(found)


def _hash_tree(folder: Path) -> dict[str, tuple[int, str]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, sha1_hash(p)) for p in _walk_files(folder)}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._+=@,-]", "_", name).lstrip(".") or "file"
    return name[-200:]


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


@dataclass
class TreeEntry:
    """A registered folder of the cache (e.g. an extracted stimulus archive).

    Attributes
    ----------
    relpath : str
        Folder path relative to the cache root.
    kind : str
        What it is (e.g. ``"stimuli"``), shown by ``brainbridge cache``.
    source : str
        What it was made from (e.g. the archive's SHA-1 or redacted location).
    files : dict[str, tuple[int, str]]
        Every file (POSIX path relative to the folder) -> ``(size, sha1)``.
    created_at, last_used : str
        UTC ISO times.
    """

    relpath: str
    kind: str
    source: str
    files: dict[str, tuple[int, str]]
    created_at: str
    last_used: str

    @property
    def size(self) -> int:
        """Total bytes of the folder's files."""
        return sum(size for size, _ in self.files.values())

    def to_row(self) -> tuple:
        files = {name: [size, sha1] for name, (size, sha1) in sorted(self.files.items())}
        return (self.relpath, self.kind, self.source, json.dumps(files), self.created_at, self.last_used)

    @classmethod
    def from_row(cls, row) -> TreeEntry:
        relpath, kind, source, files, created_at, last_used = row
        listing = {name: (int(size), str(sha1)) for name, (size, sha1) in json.loads(files).items()}
        return cls(relpath, kind, source, listing, created_at, last_used)


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
            logger.warning(
                "the cache manifest %s is damaged (%s); moved to %s and rebuilding", self.path, e, aside
            )
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
                "CREATE TABLE IF NOT EXISTS entries (relpath TEXT PRIMARY KEY, sha1 TEXT NOT NULL,"
                " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, source TEXT NOT NULL,"
                " location_type TEXT NOT NULL, fetched_at TEXT NOT NULL, last_used TEXT NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS entries_sha1 ON entries (sha1)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS trees (relpath TEXT PRIMARY KEY, kind TEXT NOT NULL,"
                " source TEXT NOT NULL, files TEXT NOT NULL, created_at TEXT NOT NULL,"
                " last_used TEXT NOT NULL)"
            )
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
                "INSERT OR REPLACE INTO entries VALUES (:relpath, :sha1, :size, :mtime_ns, :source,"
                " :location_type, :fetched_at, :last_used)",
                values,
            )

    # one implementation of the row operations both tables share (table names are constants here)
    def _touch_row(self, table: str, relpath: str) -> None:
        with self._connect() as conn:
            conn.execute(f"UPDATE {table} SET last_used = ? WHERE relpath = ?", (_now(), relpath))

    def _remove_row(self, table: str, relpath: str) -> None:
        with self._connect() as conn:
            conn.execute(f"DELETE FROM {table} WHERE relpath = ?", (relpath,))

    def _all_rows(self, table: str) -> list[tuple]:
        if not self.path.exists():
            return []
        with self._connect() as conn:
            return list(conn.execute(f"SELECT * FROM {table} ORDER BY relpath"))

    def touch(self, relpath: str) -> None:
        self._touch_row("entries", relpath)

    def remove(self, relpath: str) -> None:
        self._remove_row("entries", relpath)

    def all(self) -> list[CacheEntry]:
        return [CacheEntry(*row) for row in self._all_rows("entries")]

    # tree entries (folders made from cached files) ---------------------------------------

    def get_tree(self, relpath: str) -> TreeEntry | None:
        if not self.path.exists():
            return None
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM trees WHERE relpath = ?", (relpath,)).fetchone()
        return TreeEntry.from_row(row) if row else None

    def put_tree(self, entry: TreeEntry) -> None:
        with self._connect() as conn:
            conn.execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?, ?, ?, ?)", entry.to_row())

    def touch_tree(self, relpath: str) -> None:
        self._touch_row("trees", relpath)

    def remove_tree(self, relpath: str) -> None:
        self._remove_row("trees", relpath)

    def all_trees(self) -> list[TreeEntry]:
        return [TreeEntry.from_row(row) for row in self._all_rows("trees")]


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
        return sha1 if sha1 else "url-" + text_digest(identity, length=40)

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

    def inside(self, path: str | os.PathLike) -> Path:
        """``path`` as a path under the root; :class:`ValidationError` when it resolves outside."""
        from brainbridge.errors import ValidationError

        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        root = self.root.resolve()
        resolved = candidate.resolve()
        if resolved == root or root not in resolved.parents:
            raise ValidationError(f"{path} is not inside the cache folder {self.root}")
        return self.root / resolved.relative_to(root)  # spelled under the root as given (it may be a link)

    # -- quarantine ------------------------------------------------------------------------

    def quarantine(self, path: Path) -> Path:
        """Move a damaged file or folder out of service (into ``<root>/.quarantine``); return where."""
        folder = self.root / _QUARANTINE
        folder.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        label = self.relpath(self.inside(path)).replace("/", "__")
        aside = folder / f"{stamp}-{os.getpid()}-{label}"
        n = 0
        while aside.exists():
            n += 1
            aside = folder / f"{stamp}-{os.getpid()}-{n}-{label}"
        os.replace(path, aside)
        return aside

    # -- tree entries ----------------------------------------------------------------------

    def tree_lock(self, folder: str | os.PathLike) -> FileLock:
        """The inter-process lock of a tree entry (hold it while making, checking or removing it)."""
        relpath = self.relpath(self.inside(folder))
        return self.lock("tree-" + text_digest(relpath, length=40))

    def register_tree(
        self,
        folder: str | os.PathLike,
        *,
        kind: str,
        source: str,
        files: dict[str, tuple[int, str]] | None = None,
    ) -> TreeEntry:
        """Record a finished folder under the root as a cache entry (sizes and SHA-1s of its files).

        ``files`` (relative POSIX path -> ``(size, sha1)``), when the caller hashed them while
        writing, saves reading the folder again; otherwise every file is hashed here.
        """
        path = self.inside(folder)
        if not path.is_dir():
            raise FileNotFoundError(f"cannot register {path}: not a folder")
        listing = dict(files) if files is not None else _hash_tree(path)
        now = _now()
        entry = TreeEntry(self.relpath(path), kind, source, listing, now, now)
        self.manifest.put_tree(entry)
        return entry

    def tree(self, folder: str | os.PathLike) -> TreeEntry | None:
        """The registered entry of a folder, if any."""
        try:
            return self.manifest.get_tree(self.relpath(self.inside(folder)))
        except sqlite3.Error as e:
            logger.warning("cache manifest unavailable (%s)", e)
            return None

    def verify_tree(self, folder: str | os.PathLike, *, deep: bool = True) -> list[str]:
        """What is wrong with a registered folder (empty list: intact).

        Every listed file must exist with its size (and, with ``deep``, its SHA-1), and no other
        file may be there. A folder that is not registered is one problem ("not registered").
        """
        path = self.inside(folder)
        entry = self.tree(path)
        if entry is None:
            return [f"{path} is not a registered cache entry"]
        if not path.is_dir():
            return [f"{path} is missing"]
        problems = []
        present = {p.relative_to(path).as_posix(): p for p in _walk_files(path)}
        for name, (size, sha1) in sorted(entry.files.items()):
            file = present.pop(name, None)
            if file is None:
                problems.append(f"missing file {name}")
            elif file.stat().st_size != size:
                problems.append(f"changed file {name} ({file.stat().st_size} bytes instead of {size})")
            elif deep and sha1_hash(file) != sha1:
                problems.append(f"changed file {name} (sha1 differs)")
        problems.extend(f"unexpected file {name}" for name in sorted(present))
        if not problems:
            self._safe(self.manifest.touch_tree, entry.relpath)
        return problems

    def remove_tree(self, folder: str | os.PathLike) -> None:
        """Delete a folder and its registration."""
        path = self.inside(folder)
        shutil.rmtree(path, ignore_errors=True)
        self._safe(self.manifest.remove_tree, self.relpath(path))

    # -- hits ------------------------------------------------------------------------------

    def check(
        self,
        target: Path,
        sha1: str | None,
        *,
        verify: bool = False,
        source: str | None = None,
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
            entry.size, entry.mtime_ns, entry.sha1, entry.last_used = (
                stat.st_size,
                stat.st_mtime_ns,
                actual,
                _now(),
            )
            self._safe(self.manifest.put, entry)
        else:
            self.record(target, actual, source or "(unknown: found in the cache)", location_type)
        return "hit"

    def record(self, target: Path, sha1: str, source: str, location_type: str) -> None:
        """Add a verified file to the manifest."""
        stat = target.stat()
        now = _now()
        entry = CacheEntry(
            self.relpath(target), sha1, stat.st_size, stat.st_mtime_ns, source, location_type, now, now
        )
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
                if (
                    path.is_file()
                    and path.name.startswith(".")
                    and (_PART in path.name or path.name.startswith(".tmp"))
                ):
                    yield path


# --------------------------------------------------------------------------------------------
# tree entries: the API other parts of brainbridge use to register the folders they make
# --------------------------------------------------------------------------------------------


def tree_lock(folder: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> FileLock:
    """The inter-process lock of the tree entry at ``folder`` (see :meth:`DownloadCache.tree_lock`)."""
    return DownloadCache(cache_dir).tree_lock(folder)


def register_tree(
    folder: str | os.PathLike,
    *,
    kind: str,
    source: str,
    files: dict[str, tuple[int, str]] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> TreeEntry:
    """Register a folder under the cache root as a cache entry.

    Call it (holding :func:`tree_lock`) right after the folder was made complete, e.g. renamed
    into place by :func:`brainbridge.atomic.atomic_dir`. ``brainbridge cache info`` then counts
    it, ``cache verify`` checks it and moves it aside when damaged, ``cache clean --all`` removes it.

    Parameters
    ----------
    folder
        The folder (absolute, or relative to the cache root); it must be inside the root.
    kind
        A short word for what it is (``"stimuli"``).
    source
        What it was made from (e.g. the archive's SHA-1); never a URL with secrets.
    files
        ``{relative POSIX path: (size, sha1)}`` when already known; otherwise hashed here.
    cache_dir
        Cache root (default: the configured one).
    """
    return DownloadCache(cache_dir).register_tree(folder, kind=kind, source=source, files=files)


def verify_tree(
    folder: str | os.PathLike, *, deep: bool = True, cache_dir: str | os.PathLike | None = None
) -> list[str]:
    """What is wrong with a registered folder (empty: intact); see :meth:`DownloadCache.verify_tree`."""
    return DownloadCache(cache_dir).verify_tree(folder, deep=deep)


def remove_tree(folder: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> None:
    """Delete a registered folder and its record."""
    DownloadCache(cache_dir).remove_tree(folder)


def tree_entries(cache_dir: str | os.PathLike | None = None) -> list[TreeEntry]:
    """Every registered folder of the cache."""
    cache = DownloadCache(cache_dir)
    try:
        return cache.manifest.all_trees()
    except sqlite3.Error as e:
        logger.warning("cache manifest unreadable: %s", e)
        return []


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
    folders: int = 0
    folder_bytes: int = 0
    quarantined: int = 0

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
    trees = tree_entries(cache.root)
    quarantine = cache.root / _QUARANTINE
    return CacheInfo(
        root=str(cache.root),
        manifest=str(cache.manifest.path),
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        partial_files=len(partial),
        partial_bytes=sum(p.stat().st_size for p in partial),
        recorded=recorded,
        folders=len(trees),
        folder_bytes=sum(t.size for t in trees),
        quarantined=len(list(quarantine.iterdir())) if quarantine.is_dir() else 0,
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

    ``kind`` is ``"corrupt"`` (checksum differs, or a registered folder changed),
    ``"missing"`` (recorded but gone) or ``"busy"`` (being downloaded by someone else; not
    checked). A corrupt file or folder is never left in service: it is deleted (``fixed``) or
    moved aside (``moved_to``).
    """

    kind: str
    path: str
    expected: str | None = None
    actual: str | None = None
    fixed: bool = False
    moved_to: str | None = None
    details: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        done = " (deleted)" if self.fixed else (f" (moved aside to {self.moved_to})" if self.moved_to else "")
        if self.kind == "corrupt" and self.details:
            return (
                f"corrupt: {self.path}: {'; '.join(self.details[:5])}"
                f"{' ...' if len(self.details) > 5 else ''}{done}"
            )
        if self.kind == "corrupt":
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
        Delete corrupt files and folders. Otherwise they are moved aside into
        ``<root>/.quarantine`` (for inspection; ``cache clean`` removes them). Either way the
        next fetch downloads (or the next load re-extracts) a good copy.
    progress
        A progress bar (``None``: on a terminal; otherwise INFO log lines, see :mod:`brainbridge.progress`).

    Returns
    -------
    list of CacheProblem
        Empty when everything is intact. Files found on disk but missing from the manifest
        are hashed and recorded (not a problem); manifest rows without a file are dropped.
        Registered folders (:func:`register_tree`) are checked file by file.
    """
    from brainbridge.progress import progress_bar

    cache = DownloadCache(cache_dir)
    recorded = {e.relpath: e for e in _all_entries(cache)}
    problems: list[CacheProblem] = []
    files = list(cache.files())
    for path in progress_bar(files, desc="verifying cache", unit="file", progress=progress):
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
                    problem.fixed = True
                else:
                    problem.moved_to = str(cache.quarantine(path))
                DownloadCache._safe(cache.manifest.remove, relpath)
                problems.append(problem)
            elif entry is None:
                cache.record(path, actual, "(unknown: found in the cache)", "unknown")
        finally:
            lock.release()
    for relpath in recorded:
        DownloadCache._safe(cache.manifest.remove, relpath)
        problems.append(CacheProblem("missing", str(cache.root / relpath)))
    for tree in tree_entries(cache.root):
        problems.extend(_verify_tree_entry(cache, tree, delete))
    return problems


def _verify_tree_entry(cache: DownloadCache, tree: TreeEntry, delete: bool) -> list[CacheProblem]:
    folder = cache.root / tree.relpath
    lock = cache.tree_lock(folder)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return [CacheProblem("busy", str(folder))]
    try:
        if not folder.is_dir():
            DownloadCache._safe(cache.manifest.remove_tree, tree.relpath)
            return [CacheProblem("missing", str(folder))]
        details = cache.verify_tree(folder)
        if not details:
            return []
        problem = CacheProblem("corrupt", str(folder), details=details)
        if delete:
            cache.remove_tree(folder)
            problem.fixed = True
        else:
            problem.moved_to = str(cache.quarantine(folder))
            DownloadCache._safe(cache.manifest.remove_tree, tree.relpath)
        return [problem]
    finally:
        lock.release()


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
    """Remove partial downloads and quarantined copies and, optionally, complete entries.

    Entries being downloaded right now (their lock is held) are left alone and reported as busy.
    Registered folders (:func:`register_tree`) are complete entries too.

    Parameters
    ----------
    cache_dir
        Cache root (default: the configured one).
    everything
        Remove every cached file and registered folder too.
    older_than_days
        Remove complete files and folders not used for this many days.
    partial
        Remove interrupted downloads (``.part`` files) and quarantined damaged copies.
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
                used = (
                    _dt.datetime.fromisoformat(entry.last_used).timestamp() if entry else path.stat().st_mtime
                )
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
    for tree in tree_entries(cache.root):
        folder = cache.root / tree.relpath
        used = _dt.datetime.fromisoformat(tree.last_used).timestamp()
        if not (everything or (cutoff is not None and used < cutoff)):
            continue
        lock = cache.tree_lock(folder)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            report.busy.append(str(folder))
            continue
        try:
            report.removed.append(str(folder))
            report.freed_bytes += tree.size
            if not dry_run:
                cache.remove_tree(folder)
        finally:
            lock.release()
    quarantine = cache.root / _QUARANTINE
    if (partial or everything) and quarantine.is_dir():
        for path in sorted(quarantine.iterdir()):
            report.removed.append(str(path))
            report.freed_bytes += _disk_size(path)
            if not dry_run:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
    return report


def _disk_size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(p.lstat().st_size for p in _walk_files(path))
    return path.lstat().st_size

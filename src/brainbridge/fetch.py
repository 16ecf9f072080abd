"""Fetching catalogued files into a content-addressed local cache.

``fetch_file(location_type, location, sha1)`` is the one entry point (as in BrainIO): it
returns the path of a verified local copy, downloading it first when needed. The cache key
contains the checksum, never just the basename, so two different files called ``data.nc`` can
never be confused. Every file enters the cache through a temporary file in the cache folder
that is verified and then renamed atomically, so no crash leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from brainbridge import config
from brainbridge.errors import ChecksumMismatchError, FetchError, OfflineError

__all__ = [
    "fetch_file",
    "get_local_data_path",
    "resolve_location",
    "sha1_hash",
    "verify_sha1",
]

_BLOCK = 1 << 20


def sha1_hash(path: str | os.PathLike, buffer_size: int = _BLOCK) -> str:
    """SHA-1 hex digest of a file, read in blocks."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(buffer_size), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha1(path: str | os.PathLike, sha1: str) -> None:
    """Raise :class:`ChecksumMismatchError` unless the file's SHA-1 is ``sha1``."""
    actual = sha1_hash(path)
    if actual != sha1.lower():
        raise ChecksumMismatchError(path, sha1.lower(), actual)


def get_local_data_path() -> Path:
    """The cache folder (BrainIO's name for it)."""
    return config.cache_dir()


def resolve_location(location_type: str, location: str, base_dir: str | os.PathLike | None = None) -> str:
    """Turn a catalog row's ``location_type``/``location`` into a URL or absolute path.

    ``local`` locations are paths, absolute or relative to ``base_dir`` (the folder of the
    catalog's lookup CSV).
    """
    kind = (location_type or "").strip().lower()
    if kind in ("local", "file", ""):
        parsed = urlparse(location)
        path = Path(parsed.path if parsed.scheme == "file" else location).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        return str(path)
    return location


def _cache_path(location: str, sha1: str | None, cache_dir: Path) -> Path:
    name = Path(urlparse(location).path).name or "file"
    key = sha1.lower() if sha1 else "url-" + hashlib.sha256(location.encode()).hexdigest()[:40]
    return cache_dir / key[:2] / key / name


def fetch_file(
    location_type: str,
    location: str,
    sha1: str | None = None,
    *,
    base_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool | None = None,
) -> Path:
    """Return a verified local copy of a catalogued file.

    Parameters
    ----------
    location_type, location
        As in a catalog row (``local`` path, ``http(s)``, ``S3``...).
    sha1
        Expected SHA-1; checked on every fetch. ``None`` skips the check (not recommended).
    base_dir
        Folder that relative ``local`` locations are relative to.
    cache_dir
        Cache root (default :func:`brainbridge.config.cache_dir`).
    offline
        Forbid the network (default ``BRAINBRIDGE_OFFLINE``).
    progress
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    pathlib.Path
        The cached file.
    """
    cache_root = Path(cache_dir) if cache_dir is not None else config.cache_dir()
    source = resolve_location(location_type, location, base_dir)
    target = _cache_path(source, sha1, cache_root)
    if target.exists():
        if sha1 is None:
            return target
        try:
            verify_sha1(target, sha1)
            return target
        except ChecksumMismatchError:
            target.unlink(missing_ok=True)  # corrupted cache entry: fetch again
    kind = (location_type or "").strip().lower()
    if kind not in ("local", "file", ""):
        if offline if offline is not None else config.offline():
            raise OfflineError(f"{location} is not in the cache ({target}) and offline mode is on")
        raise FetchError(f"location_type {location_type!r} is not supported by this store yet")
    if not Path(source).exists():
        raise FetchError(f"file not found: {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, _BLOCK)
        if sha1 is not None:
            verify_sha1(tmp, sha1)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target

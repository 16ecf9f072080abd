"""Writing files and folders so that a crash never leaves one that looks complete.

Everything brainbridge writes for others to read (assemblies, stimulus archives, catalogs,
cached fits, extracted stimuli, manifests) is first written under a hidden temporary name in
the destination's own folder (same file system, so the final rename is atomic) and renamed
into place only when complete. On any error the temporary copy is removed and the
destination is left as it was. This module is the one owner of that procedure: nothing else in
brainbridge renames a temporary file into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_dir",
    "promote_partial",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: str | os.PathLike) -> None:
    """Persist a rename in folder ``path`` (best effort; not every file system allows it)."""
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


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@contextmanager
def atomic_path(
    target: str | os.PathLike, *, copy_existing: bool = False, durable: bool = False, mode: int | None = None
) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces ``target`` when the block succeeds.

    Parameters
    ----------
    target
        The file to (re)write. Its folder is created if needed.
    copy_existing
        Start the temporary file as a copy of ``target`` (to append to it). Otherwise the
        temporary path does not exist yet: the writer creates it.
    durable
        Flush the file to disk before the rename and the folder after it, so the new
        content survives a power cut (slower; for files that are the only copy).
    mode
        The finished file's permissions (default: ``0o666`` less the umask, as ``open`` gives).

    Yields
    ------
    pathlib.Path
        Where to write.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(name)
    try:
        if copy_existing and target.exists():
            shutil.copyfile(target, tmp)
        else:
            tmp.unlink()  # writers create the file themselves
        yield tmp
        # mkstemp creates 0600; finished files get the usual mode unless asked otherwise
        os.chmod(tmp, (0o666 & ~_umask()) if mode is None else mode)
        if durable:
            _fsync_file(tmp)
        os.replace(tmp, target)
        if durable:
            fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(
    target: str | os.PathLike,
    text: str,
    encoding: str = "utf-8",
    *,
    durable: bool = False,
    mode: int | None = None,
) -> Path:
    """Write ``text`` to ``target`` atomically and return the path (see :func:`atomic_path`)."""
    with atomic_path(target, durable=durable, mode=mode) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(target)


def atomic_write_bytes(target: str | os.PathLike, data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to ``target`` atomically and return the path (see :func:`atomic_path`)."""
    with atomic_path(target, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(target)


@contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """A staging folder beside ``target`` that replaces ``target`` (whole) when the block succeeds.

    An existing ``target`` is removed just before the rename, so readers see either the old
    folder, no folder, or the new complete one; never a partial one. Serialize concurrent
    writers with a lock (see :class:`filelock.FileLock`).

    Yields
    ------
    pathlib.Path
        The empty staging folder to fill.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; the contents are not secret
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def promote_partial(partial: str | os.PathLike, target: str | os.PathLike, *, durable: bool = False) -> Path:
    """Rename a finished resumable ``partial`` file (kept across runs so a killed writer can
    continue it) into place as ``target``; both in the same folder, so the rename is atomic."""
    partial, target = Path(partial), Path(target)
    if partial.parent.resolve() != target.parent.resolve():
        from brainbridge.errors import InvalidParameterError

        raise InvalidParameterError(f"{partial} and {target} must be in the same folder for an atomic rename")
    if durable:
        _fsync_file(partial)
    os.replace(partial, target)
    if durable:
        fsync_dir(target.parent)
    return target

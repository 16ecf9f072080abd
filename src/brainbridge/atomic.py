"""Writing files and folders so that a crash never leaves one that looks complete.

Everything brainbridge writes for others to read (assemblies, stimulus archives, catalogs,
cached fits, extracted stimuli, manifests) is first written under a hidden temporary name in
the destination's own folder (same file system, so the final rename is atomic) and renamed
into place only when complete. On any error the temporary copy is removed and the
destination is left as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "atomic_write_text"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | os.PathLike, *, copy_existing: bool = False) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces ``target`` when the block succeeds.

    Parameters
    ----------
    target
        The file to (re)write. Its folder is created if needed.
    copy_existing
        Start the temporary file as a copy of ``target`` (to append to it). Otherwise the
        temporary path does not exist yet: the writer creates it.

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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; finished files get the usual mode
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(target: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)
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

"""Stimulus sets: a CSV of metadata, one ``stimulus_id`` per row, plus the stimulus files.

:class:`StimulusSet` is a :class:`pandas.DataFrame` subclass (as in BrainIO) that carries
``identifier`` and ``stimulus_paths`` (``stimulus_id -> local file``) through pandas operations.
Ids read from a CSV are always strings, exactly as written: ``001`` is read back as ``"001"``,
``1e3`` as ``"1e3"`` and ``NA`` as ``"NA"`` (never a number or a missing value). Ids a caller
gives in another type (BrainIO code often uses integers) are kept as given.

Every stimulus file must lie inside the folder of its stimulus set: a ``filename`` that is
absolute, climbs out with ``..`` or resolves outside through a link is refused.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import pandas as pd

from brainbridge.errors import StimulusNotFoundError, StimulusSetError, UnsafeArchiveError

# the CSV + ZIP format lives in brainbridge.formats.stimulus_csv_zip; its names stay importable here
from brainbridge.formats.stimulus_csv_zip import (  # noqa: F401
    EXTRACTED_MTIME_NS,
    ID_COLUMNS,
    ExtractLimits,
    archive_members,
    check_extract_limits,
    check_filename,
    extract_zip,
    read_stimulus_csv,
    safe_members,
    wide_encoding,
)

__all__ = [
    "ExtractLimits",
    "StimulusSet",
    "archive_members",
    "check_extract_limits",
    "check_filename",
    "contained_path",
    "extract_stimuli",
    "extract_zip",
    "read_stimulus_csv",
    "safe_members",
    "wide_encoding",
]

_logger = logging.getLogger(__name__)


class StimulusSet(pd.DataFrame):
    """A table of stimuli, one row per ``stimulus_id``, with the paths of their files.

    Attributes
    ----------
    identifier : str or None
        The catalog identifier, e.g. ``"brainbridge.example.stimuli"``.
    stimulus_paths : dict
        ``{stimulus_id: path}`` of each stimulus's local file.

    Examples
    --------
    >>> s = StimulusSet({"stimulus_id": ["001", "002"], "object_name": ["a", "b"]})
    >>> s.stimulus_paths = {"001": "/tmp/001.png", "002": "/tmp/002.png"}
    >>> s.sel_ids = None  # doctest: +SKIP
    """

    _metadata = ["identifier", "stimulus_paths"]
    # declared for the type checker (set per instance in __init__; pandas carries them along)
    identifier: str | None
    stimulus_paths: dict

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # pandas copies _metadata through __finalize__, but plain construction needs defaults
        if not hasattr(self, "identifier") or "identifier" not in self.__dict__:
            object.__setattr__(self, "identifier", None)
        if not hasattr(self, "stimulus_paths") or "stimulus_paths" not in self.__dict__:
            object.__setattr__(self, "stimulus_paths", {})

    @property
    def _constructor(self):
        return StimulusSet

    def _repr_html_(self) -> str | None:
        """Jupyter's display: a few thumbnails and the first metadata rows."""
        from brainbridge.display import stimulus_set_html

        return stimulus_set_html(self)

    # ----------------------------------------------------------------------------------

    def get_stimulus(self, stimulus_id) -> Path:
        """The local path of a stimulus's file.

        The id is looked up as given first (a caller's integer ids and integer-keyed
        ``stimulus_paths`` work, as in BrainIO), then by its text (``7`` finds ``"7"`` and
        ``"7"`` finds ``7``).

        Raises
        ------
        brainbridge.errors.StimulusNotFoundError
            The id is not in the set (or has no file); a ``KeyError``.
        """
        paths = self.stimulus_paths
        try:
            return Path(paths[stimulus_id])
        except (KeyError, TypeError):
            pass
        key = str(stimulus_id)
        if key in paths:
            return Path(paths[key])
        for candidate, path in paths.items():
            if str(candidate) == key:
                return Path(path)
        raise StimulusNotFoundError(f"no file for stimulus_id {key!r} in stimulus set {self.identifier!r}")

    def validate(self, *, check_files: bool = True) -> StimulusSet:
        """Check the rules of the format and return ``self``.

        Raises
        ------
        StimulusSetError
            ``stimulus_id`` missing, missing or duplicate ids, or (``check_files``) stimulus
            files that do not exist.
        """
        if "stimulus_id" not in self.columns:
            raise StimulusSetError(
                f"stimulus set {self.identifier!r} has no 'stimulus_id' column "
                f"(columns: {list(self.columns)})"
            )
        ids = self["stimulus_id"]
        empty = ids.isna() | (ids.astype(object) == "")
        if empty.any():
            rows = list(ids.index[empty][:5])
            raise StimulusSetError(
                f"stimulus set {self.identifier!r} has empty stimulus_id values (rows {rows})"
            )
        duplicated = ids[ids.duplicated()].unique()
        if len(duplicated):
            raise StimulusSetError(
                f"stimulus set {self.identifier!r} has {len(duplicated)} duplicate stimulus_id values, "
                f"e.g. {list(duplicated[:5])}"
            )
        if check_files and self.stimulus_paths:
            absent = [sid for sid in ids if sid not in self.stimulus_paths]
            if absent:
                raise StimulusSetError(f"no file listed for stimulus ids {absent[:5]} ({len(absent)} in all)")
            missing = [str(p) for p in (self.stimulus_paths[sid] for sid in ids) if not os.path.isfile(p)]
            if missing:
                raise StimulusSetError(f"{len(missing)} stimulus files do not exist, e.g. {missing[:3]}")
        return self

    @classmethod
    def from_files(
        cls, csv_path: str | os.PathLike, dir_path: str | os.PathLike, *, identifier: str | None = None
    ) -> StimulusSet:
        """Load a stimulus set from its CSV and the folder its files are in.

        Parameters
        ----------
        csv_path
            The metadata CSV; needs ``stimulus_id`` (or legacy ``image_id``) and ``filename``
            (the path of each file relative to ``dir_path``; subfolders allowed).
        dir_path
            The folder holding the stimulus files (an unpacked ZIP).
        identifier
            Stored as ``.identifier``.

        Raises
        ------
        StimulusSetError
            A missing or malformed CSV, missing columns, duplicate ids or missing files.
        """
        frame = read_stimulus_csv(csv_path)
        stimulus_set = cls(frame)
        stimulus_set.identifier = identifier
        if "filename" not in stimulus_set.columns:
            raise StimulusSetError(f"{csv_path}: a stimulus set CSV needs a 'filename' column")
        stimulus_set.validate(check_files=False)
        ids = list(stimulus_set["stimulus_id"])
        names = [
            name if _plain_name(name) else check_filename(name, sid, csv_path)
            for sid, name in zip(ids, stimulus_set["filename"])
        ]
        root = _stimulus_root(Path(dir_path), names)
        inside = _Containment(root)
        stimulus_set.stimulus_paths = {sid: inside.path(name) for sid, name in zip(ids, names)}
        return stimulus_set.validate()

    @classmethod
    def from_paths(
        cls,
        paths: Mapping[str, str | os.PathLike] | Iterable[str | os.PathLike],
        *,
        identifier: str | None = None,
        **columns,
    ) -> StimulusSet:
        """Build a stimulus set from files: a ``{stimulus_id: path}`` mapping or a list of paths.

        With a list, each id is the file's stem. Extra keyword arguments become columns.
        """
        if isinstance(paths, Mapping):
            mapping = {str(k): Path(v) for k, v in paths.items()}
        else:
            mapping = {Path(p).stem: Path(p) for p in paths}
        stimulus_set = cls({"stimulus_id": list(mapping), **columns})
        stimulus_set.identifier = identifier
        stimulus_set.stimulus_paths = mapping
        return stimulus_set.validate()


def _plain_name(name) -> bool:
    """A ``filename`` that :func:`check_filename` returns unchanged: one plain path component."""
    return (
        isinstance(name, str)
        and name.strip() != ""
        and name not in (".", "..")
        and not any(c in name for c in "/\\\0")
        and not (len(name) > 1 and name[1] == ":")
    )


def contained_path(root: str | os.PathLike, name: str) -> Path:
    """``root / name``, after proving that it resolves inside ``root`` (links followed).

    Raises
    ------
    UnsafeArchiveError
        ``name`` is absolute, climbs out with ``..``, or leads outside through a symbolic link.
    """
    return _Containment(root).path(name)


class _Containment:
    """Checks that relative names stay inside one folder, resolving each parent folder once.

    A name's own last component is resolved only when it is a link, so checking thousands of
    stimuli costs one ``lstat`` each (plus one ``realpath`` per distinct subfolder).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.real_root = os.path.realpath(self.root)
        self.real_parents: dict[str, str] = {}

    def _inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip(os.sep) + os.sep)

    def path(self, name: str) -> Path:
        text = str(name).replace("\\", "/")
        if "/" not in text and text not in ("", ".", "..") and not (len(text) > 1 and text[1] == ":"):
            # one component (the usual flat folder): its parent is the root, resolved once
            path = self.root / text
            try:
                if stat.S_ISLNK(os.lstat(path).st_mode) and not self._inside(os.path.realpath(path)):
                    raise UnsafeArchiveError(
                        f"stimulus path {name!r} leads outside {self.root} "
                        f"(to {os.path.realpath(path)}); refused"
                    )
            except OSError:
                pass  # a missing file is reported by validate(), not here
            return path
        posix = PurePosixPath(text)
        if posix.is_absolute() or (len(text) > 1 and text[1] == ":") or ".." in posix.parts:
            raise UnsafeArchiveError(f"stimulus path {name!r} is not a relative path inside {self.root}")
        path = self.root / posix
        parent = os.path.dirname(path)
        real_parent = self.real_parents.get(parent)
        if real_parent is None:
            real_parent = self.real_parents[parent] = os.path.realpath(parent)
        real = real_parent
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                real = os.path.realpath(path)
        except OSError:
            pass  # a missing file is reported by validate(), not here
        if not self._inside(real):
            raise UnsafeArchiveError(
                f"stimulus path {name!r} leads outside {self.root} (to {os.path.realpath(path)}); refused"
            )
        return path


def _stimulus_root(root: Path, filenames: Iterable) -> Path:
    """``root``, or its single top-level folder when the ZIP wrapped every file in one folder.

    BrainIO's ZIPs are flat (``n0.png``); hand-made ones often hold ``stimuli/n0.png`` while the
    CSV still says ``n0.png``.
    """
    first = next(iter(filenames), None)
    if first is None or not root.is_dir() or (root / str(first)).exists():
        return root
    entries = [
        p for p in root.iterdir() if p.suffix.lower() not in (".csv", ".zip") and not p.name.startswith(".")
    ]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / str(first)).exists():
        return entries[0]
    return root


# --------------------------------------------------------------------------------------
# extracted archives as cache entries
# --------------------------------------------------------------------------------------
_KEY = re.compile(r"^[0-9a-z][0-9a-z-]{0,79}$")


def extract_stimuli(
    zip_path: str | os.PathLike, key: str, *, cache_dir: str | os.PathLike | None = None
) -> Path:
    """The folder of a stimulus archive extracted into the cache, as a managed cache entry.

    The folder (``<cache>/stimuli/<key>``) is extracted once (:func:`extract_zip`) and
    registered with :func:`brainbridge.fetch.register_tree` (every file's size and SHA-1,
    hashed while writing), so ``brainbridge cache verify`` checks it, ``cache clean``
    removes it and ``cache list`` shows it. Each later call checks, under the entry's lock,
    that exactly the recorded files are there with their sizes and extraction time stamp
    (a ``stat`` per file, no reading); when one differs the files are hashed, and a damaged
    folder (a deleted, added, overwritten or truncated file) is moved aside into the cache's
    quarantine and extracted again.

    Parameters
    ----------
    zip_path
        The (verified) archive.
    key
        Names the folder: the archive's SHA-1 (or the cache key of its download).
    cache_dir
        Cache root (default: the configured one).

    Raises
    ------
    UnsafeArchiveError, StimulusSetError
        As :func:`extract_zip`; ``key`` not a cache key.
    """
    from brainbridge.fetch.cache import DownloadCache

    if not isinstance(key, str) or not _KEY.match(key):
        raise StimulusSetError(f"{key!r} is not a cache key (lower-case letters, digits and '-')")
    cache = DownloadCache(cache_dir)
    target = cache.root / "stimuli" / key
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()  # a link planted in the cache is never followed; the lock's path must stay inside
    with cache.tree_lock(target):
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        elif target.is_dir():
            entry = cache.tree(target)
            if entry is not None:
                problems, unsafe = _quick_problems(target, entry.files)
                if not problems:
                    cache._safe(cache.manifest.touch_tree, entry.relpath)
                    return target
                if not unsafe:  # hash only regular files: a link could lead anywhere (/dev/zero...)
                    problems = cache.verify_tree(target)
                    if not problems:  # same bytes, new time stamps (copied back, touched): fine
                        _stamp(target)
                        return target
                aside = cache.quarantine(target)
                _logger.warning(
                    "extracted stimuli %s were damaged (%s); moved aside to %s and extracting %s again",
                    target,
                    "; ".join(problems[:3]),
                    aside,
                    zip_path,
                )
        listing: dict[str, tuple[int, str]] = {}
        extract_zip(zip_path, target, listing=listing)
        source = f"zip {Path(zip_path).name} (key {key})"
        cache.register_tree(target, kind="stimuli", source=source, files=listing)
    return target


def _quick_problems(folder: Path, files: Mapping[str, tuple[int, str]]) -> tuple[list[str], bool]:
    """Differences visible without reading (missing, extra or linked files, sizes, time stamps),
    and whether any entry is a link or not a regular file (unsafe to read)."""
    problems = []
    seen = set()
    unsafe = False
    for dirpath, dirs, names in os.walk(folder):
        base = Path(dirpath)
        for d in dirs:
            if (base / d).is_symlink():
                problems.append(f"linked folder {d}")
                unsafe = True
        for name in names:
            path = base / name
            relative = path.relative_to(folder).as_posix()
            seen.add(relative)
            recorded = files.get(relative)
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                problems.append(f"{relative} is not a regular file")
                unsafe = True
            elif recorded is None:
                problems.append(f"unexpected file {relative}")
            elif info.st_size != recorded[0] or info.st_mtime_ns != EXTRACTED_MTIME_NS:
                problems.append(f"changed file {relative}")
    problems.extend(f"missing file {name}" for name in files if name not in seen)
    return problems, unsafe


def _stamp(folder: Path) -> None:
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            os.utime(Path(dirpath) / name, ns=(EXTRACTED_MTIME_NS, EXTRACTED_MTIME_NS), follow_symlinks=False)

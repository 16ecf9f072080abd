"""Stimulus sets: a CSV of metadata, one ``stimulus_id`` per row, plus the stimulus files.

:class:`StimulusSet` is a :class:`pandas.DataFrame` subclass (as in BrainIO) that carries
``identifier`` and ``stimulus_paths`` (``stimulus_id -> local file``) through pandas operations.
Ids are always strings: an id written as ``001`` is read back as ``"001"``.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import pandas as pd

from brainbridge.atomic import atomic_dir
from brainbridge.errors import StimulusSetError, UnsafeArchiveError

__all__ = ["StimulusSet", "extract_zip", "read_stimulus_csv", "safe_members"]

#: columns read as strings whatever they look like
ID_COLUMNS = ("stimulus_id", "image_id", "filename", "stimulus_path_within_store")


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

    # ----------------------------------------------------------------------------------

    def get_stimulus(self, stimulus_id: str) -> Path:
        """The local path of a stimulus's file.

        Raises
        ------
        KeyError
            The id is not in the set (or has no file).
        """
        key = str(stimulus_id)
        try:
            return Path(self.stimulus_paths[key])
        except KeyError:
            raise KeyError(f"no file for stimulus_id {key!r} in stimulus set {self.identifier!r}") from None

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
                f"stimulus set {self.identifier!r} has no 'stimulus_id' column (columns: {list(self.columns)})"
            )
        ids = self["stimulus_id"]
        if ids.isna().any():
            rows = list(ids.index[ids.isna()][:5])
            raise StimulusSetError(f"stimulus set {self.identifier!r} has empty stimulus_id values (rows {rows})")
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
            missing = [str(p) for p in (self.stimulus_paths[sid] for sid in ids) if not Path(p).exists()]
            if missing:
                raise StimulusSetError(f"{len(missing)} stimulus files do not exist, e.g. {missing[:3]}")
        return self

    @classmethod
    def from_files(cls, csv_path: str | os.PathLike, dir_path: str | os.PathLike, *, identifier: str | None = None) -> StimulusSet:
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
        root = _stimulus_root(Path(dir_path), stimulus_set["filename"])
        stimulus_set.stimulus_paths = {
            sid: root / name for sid, name in zip(stimulus_set["stimulus_id"], stimulus_set["filename"])
        }
        return stimulus_set.validate()

    @classmethod
    def from_paths(
        cls, paths: Mapping[str, str | os.PathLike] | Iterable[str | os.PathLike], *, identifier: str | None = None, **columns
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


def _stimulus_root(root: Path, filenames: Iterable) -> Path:
    """``root``, or its single top-level folder when the ZIP wrapped every file in one folder.

    BrainIO's ZIPs are flat (``n0.png``); hand-made ones often hold ``stimuli/n0.png`` while the
    CSV still says ``n0.png``.
    """
    first = next(iter(filenames), None)
    if first is None or not root.is_dir() or (root / str(first)).exists():
        return root
    entries = [p for p in root.iterdir() if p.suffix.lower() not in (".csv", ".zip") and not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / str(first)).exists():
        return entries[0]
    return root


def read_stimulus_csv(csv_path: str | os.PathLike) -> pd.DataFrame:
    """Read a stimulus set CSV with id columns kept as strings (``"001"`` stays ``"001"``)."""
    path = Path(csv_path)
    if not path.exists():
        raise StimulusSetError(f"stimulus set CSV not found: {path}")
    try:
        frame = pd.read_csv(path, dtype={c: str for c in ID_COLUMNS}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise StimulusSetError(f"cannot parse stimulus set CSV {path}: {e}") from e
    if "stimulus_id" not in frame.columns and "image_id" in frame.columns:
        frame["stimulus_id"] = frame["image_id"]
    if "stimulus_id" not in frame.columns:
        raise StimulusSetError(f"{path}: a stimulus set CSV needs a 'stimulus_id' column (has {list(frame.columns)})")
    return frame


# --------------------------------------------------------------------------------------
# ZIP archives
# --------------------------------------------------------------------------------------


def safe_members(archive: zipfile.ZipFile, target: str | os.PathLike) -> list[zipfile.ZipInfo]:
    """The archive's entries, after checking none would land outside ``target``.

    Raises
    ------
    UnsafeArchiveError
        An absolute path, a ``..`` component, a drive letter or a symbolic link.
    """
    root = Path(target).resolve()
    members = []
    for info in archive.infolist():
        name = info.filename
        posix = PurePosixPath(name.replace("\\", "/"))
        if posix.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise UnsafeArchiveError(f"archive entry {name!r} has an absolute path")
        if ".." in posix.parts:
            raise UnsafeArchiveError(f"archive entry {name!r} escapes the target folder")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"archive entry {name!r} is a symbolic link")
        destination = (root / posix).resolve()
        if root != destination and root not in destination.parents:
            raise UnsafeArchiveError(f"archive entry {name!r} escapes the target folder")
        members.append(info)
    return members


def extract_zip(zip_path: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a stimulus ZIP safely into ``target`` (created), atomically per archive.

    Every entry is checked first (:func:`safe_members`); files are extracted into a temporary
    sibling folder that is renamed into place, so an interrupted extraction never leaves a
    folder that looks complete.

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    target = Path(target)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise StimulusSetError(f"cannot open stimulus archive {zip_path}: {e}") from e
    with archive:
        members = safe_members(archive, target)
        with atomic_dir(target) as staging:
            for info in members:
                archive.extract(info, staging)
    return target

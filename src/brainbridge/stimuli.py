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

import os
import stat
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from brainbridge.atomic import atomic_dir
from brainbridge.errors import StimulusSetError, UnsafeArchiveError

__all__ = ["StimulusSet", "contained_path", "extract_zip", "read_stimulus_csv", "safe_members"]

#: columns read as strings whatever they look like (no number or missing-value inference)
ID_COLUMNS = ("stimulus_id", "image_id", "filename", "stimulus_path_within_store")
#: words pandas (and so BrainIO) reads as missing values; in a numeric column they still are
_NA_WORDS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
     "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
_BOOLEANS = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}


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

    def get_stimulus(self, stimulus_id) -> Path:
        """The local path of a stimulus's file.

        The id is looked up as given first (a caller's integer ids and integer-keyed
        ``stimulus_paths`` work, as in BrainIO), then by its text (``7`` finds ``"7"`` and
        ``"7"`` finds ``7``).

        Raises
        ------
        KeyError
            The id is not in the set (or has no file).
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
        raise KeyError(f"no file for stimulus_id {key!r} in stimulus set {self.identifier!r}")

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
        empty = ids.isna() | (ids.astype(object) == "")
        if empty.any():
            rows = list(ids.index[empty][:5])
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
            missing = [str(p) for p in (self.stimulus_paths[sid] for sid in ids) if not Path(p).is_file()]
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
        stimulus_set.validate(check_files=False)
        ids = list(stimulus_set["stimulus_id"])
        names = [_checked_filename(name, sid, csv_path) for sid, name in zip(ids, stimulus_set["filename"])]
        root = _stimulus_root(Path(dir_path), names)
        stimulus_set.stimulus_paths = {sid: contained_path(root, name) for sid, name in zip(ids, names)}
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


def _checked_filename(name, stimulus_id, csv_path) -> str:
    """A ``filename`` cell as a relative POSIX path, refusing absolute paths and ``..``."""
    if not isinstance(name, str) or not name.strip():
        raise StimulusSetError(f"{csv_path}: stimulus {stimulus_id!r} has an empty filename")
    text = name.replace("\\", "/")
    posix = PurePosixPath(text)
    if posix.is_absolute() or (len(text) > 1 and text[1] == ":") or ".." in posix.parts or "\0" in text:
        raise UnsafeArchiveError(
            f"{csv_path}: stimulus {stimulus_id!r} has filename {name!r}, which is not a relative path "
            "inside the stimulus folder; the stimulus set is refused"
        )
    return posix.as_posix()


def contained_path(root: str | os.PathLike, name: str) -> Path:
    """``root / name``, after proving that it resolves inside ``root`` (links followed).

    Raises
    ------
    UnsafeArchiveError
        ``name`` is absolute, climbs out with ``..``, or leads outside through a symbolic link.
    """
    root = Path(root)
    text = str(name).replace("\\", "/")
    posix = PurePosixPath(text)
    if posix.is_absolute() or (len(text) > 1 and text[1] == ":") or ".." in posix.parts:
        raise UnsafeArchiveError(f"stimulus path {name!r} is not a relative path inside {root}")
    path = root / posix
    resolved_root = root.resolve()
    resolved = path.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise UnsafeArchiveError(f"stimulus path {name!r} leads outside {root} (to {resolved}); refused")
    return path


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
    """Read a stimulus set CSV, keeping every text exactly as written.

    Id columns (:data:`ID_COLUMNS`) are strings, with no inference at all: ``"001"``, ``"1e3"``,
    ``"NA"`` and ``"None"`` stay those strings. Other columns are numbers (or booleans) when
    every cell is one (missing-value words such as ``NA`` count as missing there), else
    strings as written, with only empty cells missing; so a column of names that holds
    ``"NA"`` or ``"null"`` reads back exactly.

    Raises
    ------
    StimulusSetError
        A missing, empty, undecodable or malformed file, or no ``stimulus_id`` column.
    """
    path = Path(csv_path)
    if not path.exists():
        raise StimulusSetError(f"stimulus set CSV not found: {path}")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise StimulusSetError(f"cannot parse stimulus set CSV {path}: {e}") from e
    except OSError as e:
        raise StimulusSetError(f"cannot read stimulus set CSV {path}: {e.strerror or e}") from e
    columns = {c: raw[c] if c in ID_COLUMNS else _infer_column(raw[c]) for c in raw.columns}
    frame = pd.DataFrame(columns, index=raw.index)
    if "stimulus_id" not in frame.columns and "image_id" in frame.columns:
        frame["stimulus_id"] = frame["image_id"]
    if "stimulus_id" not in frame.columns:
        raise StimulusSetError(f"{path}: a stimulus set CSV needs a 'stimulus_id' column (has {list(frame.columns)})")
    return frame


def _infer_column(text: pd.Series) -> pd.Series:
    """A metadata column read as text: numbers or booleans when every cell is one, else text."""
    missing = text.isin(_NA_WORDS)
    present = text[~missing]
    if present.empty:
        if (text == "").all():
            return pd.Series(np.nan, index=text.index, dtype=float)
        return text  # e.g. only "NA" / "None" words: keep them as written
    if present.isin(_BOOLEANS).all():
        values = text.map(_BOOLEANS)
        return values.astype(bool) if not missing.any() else values.astype(object).where(~missing, np.nan)
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        if not missing.any():
            return pd.to_numeric(text)
        return pd.to_numeric(text.where(~missing, None), errors="coerce").astype(float)
    return text.where(text != "", None)


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

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

import codecs
import errno
import logging
import lzma
import os
import re
import shutil
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from brainbridge import config
from brainbridge.atomic import atomic_dir
from brainbridge.errors import StimulusNotFoundError, StimulusSetError, UnsafeArchiveError
from brainbridge.formatting import format_bytes
from brainbridge.hashing import new_hasher

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
        names = [check_filename(name, sid, csv_path) for sid, name in zip(ids, stimulus_set["filename"])]
        root = _stimulus_root(Path(dir_path), names)
        inside = _Containment(root)
        stimulus_set.stimulus_paths = {sid: inside.path(name) for sid, name in zip(ids, names)}
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


def check_filename(name, stimulus_id, csv_path) -> str:
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
    entries = [p for p in root.iterdir() if p.suffix.lower() not in (".csv", ".zip") and not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / str(first)).exists():
        return entries[0]
    return root


def wide_encoding(head: bytes) -> str | None:
    """``"UTF-16"``/``"UTF-32"`` when a text file's first bytes say so (a BOM, or NUL bytes)."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        return "UTF-16"
    return None


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
        with open(path, "rb") as f:
            wide = wide_encoding(f.read(4096))
        if wide:
            raise StimulusSetError(
                f"{path} is encoded as {wide}; stimulus set CSVs must be UTF-8 (re-save it as UTF-8)"
            )
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


def _member_path(name: str) -> PurePosixPath:
    """An archive entry's name as a relative POSIX path (``\\`` as a separator, ``.`` removed)."""
    return PurePosixPath(name.replace("\\", "/"))


def safe_members(archive: zipfile.ZipFile, target: str | os.PathLike) -> list[zipfile.ZipInfo]:
    """The archive's entries, after checking none would land outside ``target`` or collide.

    Raises
    ------
    UnsafeArchiveError
        An absolute path, a ``..`` component, a drive letter, a symbolic link, an entry
        without a name, two entries with the same name (after normalising ``\\`` and ``.``),
        or a name used both as a file and as a folder.
    """
    root = Path(target).resolve()
    members = []
    files: dict[str, str] = {}
    folders: set[str] = set()
    for info in archive.infolist():
        name = info.filename
        posix = _member_path(name)
        if posix.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise UnsafeArchiveError(f"archive entry {name!r} has an absolute path")
        if ".." in posix.parts:
            raise UnsafeArchiveError(f"archive entry {name!r} escapes the target folder")
        if not posix.parts:
            raise UnsafeArchiveError(f"archive entry {name!r} has no name")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"archive entry {name!r} is a symbolic link")
        destination = (root / posix).resolve()
        if root != destination and root not in destination.parents:
            raise UnsafeArchiveError(f"archive entry {name!r} escapes the target folder")
        key = posix.as_posix()
        folders.update(p.as_posix() for p in posix.parents if p.parts)
        if info.is_dir():
            folders.add(key)
        elif key in files:
            raise UnsafeArchiveError(
                f"the archive holds two entries named {key!r} ({files[key]!r} and {name!r}); "
                "which one is meant is ambiguous, so the archive is refused"
            )
        else:
            files[key] = name
        members.append(info)
    clash = sorted(set(files) & folders)
    if clash:
        raise UnsafeArchiveError(f"archive entry {clash[0]!r} is both a file and a folder")
    return members


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds on what extracting one archive may write (zip bombs).

    Attributes
    ----------
    max_bytes : int
        Total uncompressed size of the files.
    max_ratio : float
        Uncompressed / compressed size, for the whole archive and for each entry larger than
        :data:`RATIO_FLOOR` bytes (small files compress well and cannot be bombs).
    max_files : int
        Number of entries.
    """

    max_bytes: int
    max_ratio: float
    max_files: int

    @classmethod
    def from_config(
        cls, max_bytes: int | None = None, max_ratio: float | None = None, max_files: int | None = None
    ) -> ExtractLimits:
        """The given limits, the rest from the environment (:func:`brainbridge.config.extract_limits`)."""
        defaults = config.extract_limits()
        return cls(
            int(defaults["max_bytes"] if max_bytes is None else max_bytes),
            float(defaults["max_ratio"] if max_ratio is None else max_ratio),
            int(defaults["max_files"] if max_files is None else max_files),
        )


#: entries smaller than this are not held to the ratio limit
RATIO_FLOOR = 1 << 20
_OPTIONS = "set BRAINBRIDGE_MAX_EXTRACT_{} (or pass {}=) to allow it"


def check_extract_limits(members: list[zipfile.ZipInfo], limits: ExtractLimits, *, name: str) -> int:
    """Refuse an archive whose declared sizes exceed ``limits``; return its total size.

    Raises
    ------
    UnsafeArchiveError
        Too many entries, too many bytes, or a compression ratio above the limit.
    """
    if len(members) > limits.max_files:
        raise UnsafeArchiveError(
            f"{name} has {len(members)} entries, more than the limit of {limits.max_files}; "
            + _OPTIONS.format("FILES", "max_files")
        )
    total = sum(info.file_size for info in members)
    packed = sum(info.compress_size for info in members)
    if total > limits.max_bytes:
        raise UnsafeArchiveError(
            f"{name} would extract to {format_bytes(total)}, more than the limit of "
            f"{format_bytes(limits.max_bytes)}; "
            + _OPTIONS.format("BYTES", "max_bytes")
        )
    for info in members:
        if info.file_size > RATIO_FLOOR and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise UnsafeArchiveError(
                f"{name}: entry {info.filename!r} inflates {format_bytes(info.compress_size)} to "
                f"{format_bytes(info.file_size)} "
                f"(ratio {info.file_size / max(info.compress_size, 1):.0f}, limit {limits.max_ratio:g}); "
                f"refused as a likely zip bomb; " + _OPTIONS.format("RATIO", "max_ratio")
            )
    if total > RATIO_FLOOR and total > limits.max_ratio * max(packed, 1):
        raise UnsafeArchiveError(
            f"{name} inflates {format_bytes(packed)} to {format_bytes(total)} "
            f"(ratio {total / max(packed, 1):.0f}, limit {limits.max_ratio:g}); "
            "refused as a likely zip bomb; " + _OPTIONS.format("RATIO", "max_ratio")
        )
    return total


#: errors of the zip module and its decompressors on damaged or unsupported archives
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError,
                   lzma.LZMAError, struct.error)
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def extract_zip(
    zip_path: str | os.PathLike,
    target: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    max_ratio: float | None = None,
    max_files: int | None = None,
    listing: dict[str, tuple[int, str]] | None = None,
) -> Path:
    """Extract a stimulus ZIP safely into ``target`` (created), atomically per archive.

    Every entry is checked first (:func:`safe_members`), then the declared sizes against the
    limits (:class:`ExtractLimits`; defaults from the environment, see
    :func:`brainbridge.config.extract_limits`) and the free disk space, before anything is
    written. Each file is then copied out in blocks, never past its declared size (an archive
    that lies about its sizes fails its CRC check). Files go into a temporary sibling folder
    that is renamed into place, so an interrupted or failed extraction (a full disk, say)
    leaves nothing behind and never a folder that looks complete.

    Parameters
    ----------
    zip_path
        The archive.
    target
        The folder to create (replaced whole if it exists).
    max_bytes, max_ratio, max_files
        Override the configured limits.
    listing
        A dict to fill with ``{relative POSIX path: (size, sha1)}`` of every extracted file,
        hashed while writing (what :func:`brainbridge.fetch.register_tree` records).

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    UnsafeArchiveError
        An entry that would land outside ``target``, duplicate names, or an archive over the limits.
    StimulusSetError
        An unreadable or corrupt archive, or no space left on the device.
    """
    target = Path(target)
    limits = ExtractLimits.from_config(max_bytes, max_ratio, max_files)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (*_ARCHIVE_ERRORS, OSError) as e:
        raise StimulusSetError(f"cannot open stimulus archive {zip_path}: {_reason(e)}") from e
    with archive:
        members = safe_members(archive, target)
        total = check_extract_limits(members, limits, name=f"stimulus archive {zip_path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free
        if total > free:
            raise StimulusSetError(
                f"not enough disk space to extract {zip_path}: it needs {format_bytes(total)}, "
                f"{target.parent} has {format_bytes(free)} free"
            )
        try:
            with atomic_dir(target) as staging:
                for info in members:
                    entry = _extract_member(archive, info, staging)
                    if entry is not None and listing is not None:
                        listing[entry[0]] = entry[1:]
        except OSError as e:
            if e.errno in _NO_SPACE:
                raise StimulusSetError(
                    f"no space left while extracting {zip_path} into {target} "
                    f"(it needs {format_bytes(total)}); the partial copy was removed"
                ) from e
            raise StimulusSetError(f"cannot extract {zip_path} into {target}: {_reason(e)}") from e
        except _ARCHIVE_ERRORS as e:
            raise StimulusSetError(f"stimulus archive {zip_path} is damaged: {_reason(e)}") from e
    return target


def archive_members(
    zip_path: str | os.PathLike, *, verify: bool = False, limits: ExtractLimits | None = None
) -> list[str]:
    """The file names in a stimulus archive (normalised), after the checks extraction makes.

    Parameters
    ----------
    zip_path
        The archive.
    verify
        Also decompress every entry and check its CRC (nothing is written).
    limits
        The extraction limits to check (default: the configured ones).

    Raises
    ------
    StimulusSetError
        Not a readable ZIP, or (``verify``) a corrupt entry.
    UnsafeArchiveError
        Unsafe or duplicate names, or sizes over the limits (see :func:`extract_zip`).
    """
    limits = limits or ExtractLimits.from_config()
    try:
        archive = zipfile.ZipFile(zip_path)
    except (*_ARCHIVE_ERRORS, OSError) as e:
        raise StimulusSetError(f"{zip_path} is not a readable ZIP archive: {_reason(e)}") from e
    with archive:
        members = safe_members(archive, Path(zip_path).parent / "_check")
        check_extract_limits(members, limits, name=f"stimulus archive {zip_path}")
        if verify:
            try:
                for info in members:
                    if info.is_dir():
                        continue
                    with archive.open(info) as source:
                        while source.read(_BLOCK):
                            pass
            except (*_ARCHIVE_ERRORS, OSError) as e:
                raise StimulusSetError(f"stimulus archive {zip_path} is damaged: {_reason(e)}") from e
    return [_member_path(i.filename).as_posix() for i in members if not i.is_dir()]


def _extract_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, staging: Path
) -> tuple[str, int, str] | None:
    """Copy one entry out; return ``(name, size, sha1)`` for a file, ``None`` for a folder."""
    name = _member_path(info.filename)
    destination = staging / name
    if info.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return None
    destination.parent.mkdir(parents=True, exist_ok=True)
    left = info.file_size
    digest = new_hasher("sha1")
    with archive.open(info) as source, open(destination, "xb") as sink:
        while True:
            block = source.read(min(_BLOCK, left + 1))
            if not block:
                break
            if len(block) > left:  # more bytes than declared: never write past the declared size
                raise zipfile.BadZipFile(f"entry {info.filename!r} holds more data than its declared size")
            sink.write(block)
            digest.update(block)
            left -= len(block)
    os.utime(destination, ns=(EXTRACTED_MTIME_NS, EXTRACTED_MTIME_NS))
    return name.as_posix(), info.file_size - left, digest.hexdigest()


# --------------------------------------------------------------------------------------
# extracted archives as cache entries
# --------------------------------------------------------------------------------------

#: every extracted file's modification time (2000-01-01 UTC): a file written after extraction
#: no longer has it, so a changed stimulus is noticed by a ``stat`` on each load
EXTRACTED_MTIME_NS = 946_684_800 * 1_000_000_000
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
                    target, "; ".join(problems[:3]), aside, zip_path,
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


_BLOCK = 1 << 20


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return str(error) or type(error).__name__

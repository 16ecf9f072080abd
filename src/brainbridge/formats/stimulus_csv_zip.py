"""The stimulus set format: a metadata CSV plus a ZIP of the stimulus files (BrainIO's layout).

Reading (:func:`read_stimulus_csv`: every text kept exactly as written, ids always strings),
writing (:func:`write_stimulus_set`: deterministic CSV + flat, stored ZIP, atomic) and the
rules for archives (:func:`safe_members`, :func:`check_extract_limits`, :func:`extract_zip`,
:func:`archive_members`: no entry outside the target, no links, bounded size and count, every
CRC checked). :class:`brainbridge.stimuli.StimulusSet` is the in-memory form and
:func:`brainbridge.stimuli.extract_stimuli` keeps extracted archives as cache entries.
"""

from __future__ import annotations

import codecs
import errno
import lzma
import os
import shutil
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from brainbridge import config
from brainbridge.atomic import atomic_dir, atomic_path
from brainbridge.errors import StimulusSetError, UnsafeArchiveError
from brainbridge.formatting import format_bytes
from brainbridge.hashing import new_hasher, sha1_hash

__all__ = [
    "EXTRACTED_MTIME_NS",
    "ExtractLimits",
    "ID_COLUMNS",
    "ZIP_DATE_TIME",
    "archive_members",
    "check_extract_limits",
    "check_filename",
    "extract_zip",
    "read_stimulus_csv",
    "safe_members",
    "wide_encoding",
    "write_stimulus_set",
]

#: the date stamped on every ZIP entry (the earliest a ZIP can hold), so archives are reproducible
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
#: columns BrainIO's packager drops from the stimulus CSV
_DROPPED_STIMULUS_COLUMNS = ("stimulus_current_local_file_path", "stimulus_path_within_store")

#: columns read as strings whatever they look like (no number or missing-value inference)
ID_COLUMNS = ("stimulus_id", "image_id", "filename", "stimulus_path_within_store")
#: words pandas (and so BrainIO) reads as missing values; in a numeric column they still are
_NA_WORDS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
_BOOLEANS = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}


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
        raise StimulusSetError(
            f"{path}: a stimulus set CSV needs a 'stimulus_id' column (has {list(frame.columns)})"
        )
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
            f"{format_bytes(limits.max_bytes)}; " + _OPTIONS.format("BYTES", "max_bytes")
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
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    lzma.LZMAError,
    struct.error,
)
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


#: every extracted file's modification time (2000-01-01 UTC): a file written after extraction
#: no longer has it, so a changed stimulus is noticed by a ``stat`` on each load
EXTRACTED_MTIME_NS = 946_684_800 * 1_000_000_000

_BLOCK = 1 << 20


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return str(error) or type(error).__name__


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------


def _check_arcname(name: str, stimulus_id: str) -> str:
    posix = PurePosixPath(name.replace("\\", "/"))
    if not name or posix.is_absolute() or ".." in posix.parts or (len(name) > 1 and name[1] == ":"):
        raise StimulusSetError(
            f"stimulus {stimulus_id!r}: filename {name!r} must be a relative path inside the archive"
        )
    return posix.as_posix()


def _stimulus_table(stimulus_set: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, Path]]]:
    """The CSV table (a copy) and the ``(arcname, local file)`` pairs of the ZIP."""
    frame = pd.DataFrame(stimulus_set).copy()
    if "stimulus_id" not in frame.columns and "image_id" in frame.columns:
        frame["stimulus_id"] = frame["image_id"]
    if "stimulus_id" not in frame.columns:
        raise StimulusSetError(f"a stimulus set needs a 'stimulus_id' column (has {list(frame.columns)})")
    ids = frame["stimulus_id"]
    if ids.isna().any():
        raise StimulusSetError("the stimulus set has empty stimulus_id values")
    ids = ids.astype(str)
    if ids.duplicated().any():
        raise StimulusSetError(
            f"duplicate stimulus_id values, e.g. {list(ids[ids.duplicated()].unique()[:5])}"
        )
    paths = dict(getattr(stimulus_set, "stimulus_paths", None) or {})
    paths = {str(k): Path(v) for k, v in paths.items()}
    missing = [sid for sid in ids if sid not in paths]
    if missing:
        raise StimulusSetError(
            f"no file for stimulus ids {missing[:5]} ({len(missing)} in all): "
            "set .stimulus_paths = {id: path}"
        )
    absent = [str(paths[sid]) for sid in ids if not paths[sid].is_file()]
    if absent:
        raise StimulusSetError(f"{len(absent)} stimulus files do not exist, e.g. {absent[:3]}")
    if "filename" in frame.columns:
        names = [_check_arcname(str(n), sid) for n, sid in zip(frame["filename"], ids)]
    elif "stimulus_path_within_store" in frame.columns:
        names = [
            _check_arcname(str(within) + paths[sid].suffix, sid)
            for within, sid in zip(frame["stimulus_path_within_store"], ids)
        ]
    else:
        names = [_check_arcname(sid + paths[sid].suffix, sid) for sid in ids]
    if len(set(names)) != len(names):
        dup = pd.Index(names)[pd.Index(names).duplicated()].unique()
        raise StimulusSetError(
            f"several stimuli would be stored under the same filename, e.g. {list(dup[:5])}"
        )
    frame["stimulus_id"] = ids.to_numpy()
    frame["filename"] = names
    frame = frame.drop(columns=[c for c in _DROPPED_STIMULUS_COLUMNS if c in frame.columns])
    return frame, [(name, paths[sid]) for name, sid in zip(names, ids)]


def _write_zip(members: list[tuple[str, Path]], path: Path, progress: bool | None) -> None:
    from brainbridge.progress import progress_bar

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for arcname, source in progress_bar(members, desc="zip stimuli", unit="file", progress=progress):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE_TIME)
            info.external_attr = (0o100644 & 0xFFFF) << 16  # a regular file, rw-r--r--
            info.create_system = 3  # Unix, whatever the platform, for identical bytes
            info.compress_type = zipfile.ZIP_STORED
            with open(source, "rb") as src, archive.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def write_stimulus_set(
    stimulus_set: pd.DataFrame,
    csv_path: str | os.PathLike,
    zip_path: str | os.PathLike,
    *,
    progress: bool | None = None,
) -> tuple[str, str]:
    """Write a stimulus set as BrainIO's CSV + flat ZIP and return ``(csv_sha1, zip_sha1)``.

    The CSV keeps the frame's column order (``filename`` appended when absent), without the
    index; ``stimulus_current_local_file_path`` and ``stimulus_path_within_store`` are dropped
    as BrainIO does. Each file goes into the ZIP (stored, not recompressed: images are already
    compressed) under its ``filename`` column when there is one, else under
    ``stimulus_path_within_store`` + extension, else ``stimulus_id`` + its original extension,
    in row order, with a fixed date and mode, so the same stimulus set always gives the same
    bytes. Both files are written atomically. The caller's frame is not modified.

    Parameters
    ----------
    stimulus_set
        A :class:`~brainbridge.stimuli.StimulusSet` (or DataFrame with ``.stimulus_paths``)
        with a unique ``stimulus_id`` per row and a local file for each.
    csv_path, zip_path
        Where to write.
    progress
        A progress bar while zipping (``None``: on a terminal, see :mod:`brainbridge.progress`).

    Raises
    ------
    StimulusSetError
        Missing ``stimulus_id``, duplicate or empty ids, missing files, or filenames that are
        not safe relative paths.
    """
    frame, members = _stimulus_table(stimulus_set)
    csv_target, zip_target = Path(csv_path), Path(zip_path)
    with atomic_path(zip_target) as tmp:
        _write_zip(members, tmp, progress)
    with atomic_path(csv_target) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    return sha1_hash(csv_target), sha1_hash(zip_target)

"""``load_data``: one array from a file of any common format; ``load_deeplabcut``.

Same function names, arguments and key/column resolution as ``cebra.load_data`` and
``cebra.load_deeplabcut``, with these fixes:

* suffixes are case-insensitive (``.NPY`` works);
* formats that would unpickle (``.pkl``/``.p``, ``.jl``, ``.pt`` files holding arbitrary objects,
  ``.npy``/``.npz`` object arrays) refuse unless ``allow_pickle=True`` is passed, with an error
  saying why (CEBRA silently retries ``.npy`` with ``allow_pickle=True``);
* pandas/PyTables HDF5 files are checked with h5py before PyTables opens them: PyTables
  unpickles object columns and string attributes, so any of them that would import or call
  code is refused, naming the node (:mod:`brainbridge.data.pickles`); ``.pt`` files go through
  torch's restricted (``weights_only``) unpickler;
* ambiguous files raise instead of silently picking one entry (two DataFrames and no key),
  and each error also derives from the exception CEBRA raises (an empty CSV is an
  ``AttributeError``, a multi-animal DeepLabCut file a ``NotImplementedError``);
* unsigned-integer HDF5 datasets are read (CEBRA skips them), MATLAB v7.3 files are read
  through h5py (CEBRA's fallback crashes), and a CSV/Excel header row becomes column names
  instead of data;
* DeepLabCut likelihood masking replaces only the masked coordinates, checks every frame and
  interpolates across gaps of any length, so the result always has one row per frame.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from brainbridge.data.errors import (
    DataFileError,
    DataKeyError,
    EmptyFileError,
    MultiAnimalFileError,
    TorchMissingError,
    UnreadableFileError,
    UnsafeFormatError,
    UnsupportedFormatError,
)
from brainbridge.safe_pickle import torch_refused_global

__all__ = ["SUPPORTED_SUFFIXES", "Entry", "list_entries", "load_data", "load_deeplabcut"]

_H5 = (".h5", ".h", ".hdf", ".hdf5")
_EXCEL = (".xls", ".xlsx", ".xlsm")
SUPPORTED_SUFFIXES = (
    ".npy",
    ".npz",
    *_H5,
    ".pt",
    ".pth",
    ".csv",
    *_EXCEL,
    ".jl",
    ".pkl",
    ".p",
    ".mat",
    ".nc",
    ".nwb",
)

_PICKLE_WHY = (
    "unpickling can execute arbitrary code, so it is refused by default; pass allow_pickle=True "
    "only for files you trust"
)


def load_data(
    file: str | Path,
    key: str | int | None = None,
    columns: Sequence[Any] | None = None,
    *,
    allow_pickle: bool = False,
) -> np.ndarray:
    """Load one array from a file.

    Parameters
    ----------
    file : str or Path
        A ``.npy``, ``.npz``, ``.h5``/``.h``/``.hdf``/``.hdf5`` (h5py arrays, pandas HDF,
        DeepLabCut output), ``.pt``/``.pth``, ``.csv``, ``.xls``/``.xlsx``/``.xlsm``, ``.jl``,
        ``.pkl``/``.p``, ``.mat`` (v5 and v7.3), ``.nc`` (a brainbridge/BrainIO assembly) or
        ``.nwb`` file. The suffix decides, case-insensitively.
    key : str or int, optional
        The entry of a file holding several (npz name, HDF5 path, dict key, Excel sheet, MAT
        variable, an assembly's numeric coordinate, an NWB table: ``units``,
        ``units/spike_times``, ``units/spike_times_index``, ``trials`` or another intervals
        table). Without it, the first entry holding a numeric array is loaded (an assembly's
        values); an NWB file or an HDF5 file with several DataFrames needs a key.
        :func:`list_entries` lists them.
    columns : list, optional
        Columns to keep when the data is a table (DataFrame, CSV/Excel with a header); for a
        DeepLabCut file, the keypoints.
    allow_pickle : bool, default False
        Allow formats and entries that can only be read by unpickling.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    UnsupportedFormatError
        An unknown suffix (an ``OSError``).
    DataKeyError
        ``key`` or ``columns`` not in the file, or naming something that is not an array (also
        an ``AttributeError``, as in CEBRA).
    UnsafeFormatError
        Reading would unpickle and ``allow_pickle`` is False (a ``ValueError``).
    UnreadableFileError
        The file is missing or is not a valid file of its format (a :class:`DataFileError`
        and an ``OSError``).
    EmptyFileError
        A CSV or workbook without any data (a :class:`DataFileError` and an
        ``AttributeError``, as in CEBRA).
    MultiAnimalFileError
        A multi-animal DeepLabCut file (also a ``NotImplementedError``, as in CEBRA).
    """
    path, suffix = _checked_path(file)
    reader = _READERS[suffix]
    try:
        result = reader(path, key, columns, allow_pickle)
    except (DataKeyError, UnsafeFormatError, DataFileError, UnsupportedFormatError, TorchMissingError):
        raise
    except Exception as e:  # each library fails in its own way on a corrupt file
        raise UnreadableFileError(f"cannot read {path} as {suffix} data: {type(e).__name__}: {e}") from e
    return result


def _checked_path(file: str | Path) -> tuple[Path, str]:
    """The path and its lower-case suffix, for an existing file of a supported format."""
    path = Path(file)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFormatError(
            f"File ending {path.suffix or '(none)'!r} not supported; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.is_file():
        raise UnreadableFileError(f"no such file: {path}")
    return path, suffix


# --------------------------------------------------------------------------------------
# listing a file's entries (never unpickles, reads headers where the format has them)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One entry of a data file, as :func:`list_entries` describes it.

    Attributes
    ----------
    name : str or None
        The ``key`` that loads it (``None`` for a file that holds one array).
    shape : tuple of int
        Its shape (rows, columns for a table).
    dtype : str
        Its dtype (a MATLAB class for ``.mat`` v5 files, ``"DataFrame"`` for pandas tables).
    kind : str
        ``array``, ``DataFrame``, ``table``, ``coordinate`` or ``assembly``.
    loadable : bool
        Whether :func:`load_data` returns it as a numeric array.
    default : bool
        Whether :func:`load_data` loads it when no key is given.
    """

    name: str | None
    shape: tuple[int, ...]
    dtype: str
    kind: str = "array"
    loadable: bool = True
    default: bool = False


def list_entries(file: str | Path, *, allow_pickle: bool = False) -> list[Entry]:
    """Every entry of a data file, with its shape and dtype, without loading the data.

    ``.npz`` (from the array headers), ``.mat``, ``.h5``-family, ``.nwb`` and ``.nc`` files list
    each entry; other formats hold one array, which is loaded to describe it (so reading rules,
    ``allow_pickle`` included, are those of :func:`load_data`).

    Parameters
    ----------
    file : str or Path
        A file :func:`load_data` reads.
    allow_pickle : bool, default False
        Passed to :func:`load_data` for single-array formats.

    Returns
    -------
    list of Entry
    """
    path, suffix = _checked_path(file)
    lister = _LISTERS.get(suffix)
    if lister is None:
        array = load_data(path, allow_pickle=allow_pickle)
        return [Entry(None, tuple(array.shape), str(array.dtype), default=True)]
    try:
        return lister(path)
    except (DataKeyError, UnsafeFormatError, DataFileError, UnsupportedFormatError):
        raise
    except Exception as e:  # each library fails in its own way on a corrupt file
        raise UnreadableFileError(f"cannot read {path} as {suffix} data: {type(e).__name__}: {e}") from e


def _list_npz(path: Path) -> list[Entry]:
    entries = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read(f)
            numeric = dtype.kind in "biufc"
            entries.append(Entry(info.filename[: -len(".npy")], tuple(shape), str(dtype), loadable=numeric))
    return _mark_first(entries)


def _mark_first(entries: list[Entry]) -> list[Entry]:
    """Mark the first loadable entry as the default (load_data's choice without a key)."""
    for i, entry in enumerate(entries):
        if entry.loadable:
            entries[i] = Entry(entry.name, entry.shape, entry.dtype, entry.kind, True, True)
            break
    return entries


def _frame_shape(group) -> tuple[int, int]:
    """(rows, columns) of a pandas HDF group, from h5py (no PyTables, no unpickling)."""
    if "table" in group:  # format="table": one compound dataset, one field per column block
        table = group["table"]
        width = sum(
            int(np.prod(table.dtype.fields[name][0].shape or (1,)))
            for name in table.dtype.names
            if name != "index"
        )
        return int(table.shape[0]), width
    rows = len(group["axis1"]) if "axis1" in group else 0
    return rows, len(group["axis0"]) if "axis0" in group else 0


def _list_h5(path: Path, matlab: bool = False) -> list[Entry]:
    import h5py

    frames, arrays = _h5_entries(path)
    entries: list[Entry] = []
    with h5py.File(path, "r") as f:
        for name in frames:
            entries.append(Entry(name, _frame_shape(f[name]), "DataFrame", kind="DataFrame"))

        def visit(name, obj):
            if (
                isinstance(obj, h5py.Dataset)
                and name not in arrays
                and not any(name.startswith(p + "/") for p in frames)
            ) and not (name.startswith("#refs#") or name.startswith("#subsystem#")):
                entries.append(Entry(name, tuple(obj.shape), str(obj.dtype), loadable=False))

        f.visititems(visit)
        for name, (shape, matlab_class) in arrays.items():
            dtype = str(f[name].dtype)
            if matlab or matlab_class:  # MATLAB v7.3: column-major, loadmat's orientation reverses it
                shape = tuple(reversed(shape))
            entries.append(Entry(name, tuple(shape), dtype))
    if frames:
        single = len(frames) == 1 and not arrays
        return [
            Entry(e.name, e.shape, e.dtype, e.kind, e.loadable, single and e.kind == "DataFrame")
            for e in entries
        ]
    return _mark_first(entries)


def _list_mat(path: Path) -> list[Entry]:
    import scipy.io

    try:
        variables = scipy.io.whosmat(path)
    except NotImplementedError:
        return _list_h5(path, matlab=True)
    entries = [
        Entry(name, tuple(shape), matlab_class, loadable=matlab_class in _MATLAB_NUMERIC)
        for name, shape, matlab_class in variables
    ]
    return _mark_first(entries)


def _list_nwb(path: Path) -> list[Entry]:
    io, builder = _nwb_builders(path)
    try:
        entries = []
        for name, read in _nwb_entries(builder).items():
            value = read()
            if isinstance(value, pd.DataFrame):
                dtypes = sorted({str(t) for t in value.dtypes}) or ["(no numeric columns)"]
                loadable = value.shape[1] > 0
                entries.append(
                    Entry(name, tuple(value.shape), ",".join(dtypes), kind="table", loadable=loadable)
                )
            else:
                entries.append(Entry(name, tuple(value.shape), str(value.dtype)))
        return entries
    finally:
        io.close()


def _list_nc(path: Path) -> list[Entry]:
    from brainbridge.readers import open_assembly_array

    array = open_assembly_array(path)
    entries = [Entry(None, tuple(array.shape), str(array.dtype), kind="assembly", default=True)]
    for name, coord in _assembly_coords(array).items():
        numeric = np.dtype(coord.dtype).kind in "biufcmM"
        entries.append(Entry(name, tuple(coord.shape), str(coord.dtype), kind="coordinate", loadable=numeric))
    return entries


_LISTERS = {
    ".npz": _list_npz,
    **dict.fromkeys(_H5, _list_h5),
    ".mat": _list_mat,
    ".nwb": _list_nwb,
    ".nc": _list_nc,
}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _is_numeric_array(value: Any) -> bool:
    if isinstance(value, pd.DataFrame | pd.Series):
        return True
    if _is_tensor(value):
        return True
    if not isinstance(value, np.ndarray):
        return False
    return value.dtype.kind in "biufc"


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "numpy")


def _to_array(value: Any, columns: Sequence[Any] | None, where: str) -> np.ndarray:
    if _is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, pd.Series):
        value = value.to_frame()
    if isinstance(value, pd.DataFrame):
        if columns is not None:
            missing = [c for c in columns if c not in value.columns]
            if missing:
                raise DataKeyError(f"columns {missing} not in {where}; available: {list(value.columns)}")
            value = value[list(columns)]
        return value.to_numpy()
    if columns is not None:
        raise DataKeyError(f"columns can only be selected from a table, but {where} holds a plain array")
    return np.asarray(value)


def _pick(entries: Mapping[Any, Any], key, where: str, usable=_is_numeric_array) -> tuple[Any, Any]:
    """``(name, value)`` of ``key`` in ``entries``, or of the first usable entry."""
    if key is not None:
        if key not in entries:
            raise DataKeyError(f"key {key!r} not found in {where}; available: {list(entries)}")
        value = entries[key]
        if not usable(value):
            raise DataKeyError(
                f"key {key!r} of {where} does not hold a numeric array ({type(value).__name__})"
            )
        return key, value
    for name, value in entries.items():
        if usable(value):
            return name, value
    raise DataKeyError(f"{where} holds no numeric array; entries: {list(entries)}")


def _frame_with_header(frame: pd.DataFrame) -> pd.DataFrame:
    """Use the first row as column names when it is text above numeric rows."""
    if len(frame) < 2:
        return frame
    first = pd.to_numeric(frame.iloc[0], errors="coerce")
    rest = frame.iloc[1:].apply(pd.to_numeric, errors="coerce")
    header_is_text = first.isna().all() and frame.iloc[0].notna().all()
    if header_is_text and not rest.isna().all().any():
        body = rest.reset_index(drop=True)
        body.columns = [str(v) for v in frame.iloc[0]]
        return body
    return frame


# --------------------------------------------------------------------------------------
# readers (path, key, columns, allow_pickle) -> ndarray
# --------------------------------------------------------------------------------------


def _read_npy(path, key, columns, allow_pickle):  # noqa: ARG001 - a signature shared by its interface
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY" and not allow_pickle:
        # np.load would try to unpickle it
        raise UnreadableFileError(f"cannot read {path} as .npy data: it has no NumPy header")
    try:
        value = np.load(path, allow_pickle=allow_pickle)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise UnsafeFormatError(f"{path} holds an object array; {_PICKLE_WHY}") from e
        raise
    return _to_array(value, columns, str(path))


def _read_npz(path, key, columns, allow_pickle):
    with np.load(path, allow_pickle=allow_pickle) as npz:
        names = list(npz.files)
        if key is not None and key not in names:
            raise DataKeyError(f"key {key!r} not found in {path}; available: {names}")
        for name in [key] if key is not None else names:
            try:
                value = npz[name]
            except ValueError as e:
                if "allow_pickle" in str(e):
                    if key is not None:
                        raise UnsafeFormatError(
                            f"entry {name!r} of {path} is an object array; {_PICKLE_WHY}"
                        ) from e
                    continue
                raise
            if _is_numeric_array(value):
                return _to_array(value, columns, f"{path}[{name!r}]")
            if key is not None:
                raise DataKeyError(
                    f"key {key!r} of {path} does not hold a numeric array (dtype {value.dtype})"
                )
    raise DataKeyError(f"{path} holds no numeric array; entries: {names}")


#: MATLAB v7.3 classes that hold numbers (objects, function handles, cells, structs, text do not)
_MATLAB_NUMERIC = frozenset(
    {"double", "single", "logical", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}
)


def _h5_entries(path) -> tuple[list[str], dict[str, Any]]:
    """Pandas HDF groups, and every other numeric dataset (by path), of an HDF5 file.

    Never unpickles (h5py only). Datasets whose values live in other files (external storage,
    virtual datasets) are left out: only the file's own bytes are read; external links are not
    followed (``visititems`` does not).
    """
    import h5py

    frames: list[str] = []
    arrays: dict[str, Any] = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if name.startswith("#refs#") or name.startswith("#subsystem#"):
                return None  # MATLAB v7.3 internals
            parent_is_frame = any(name.startswith(p + "/") for p in frames)
            if parent_is_frame:
                return None
            if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
                frames.append(name)
            elif isinstance(obj, h5py.Dataset):
                if obj.is_virtual or obj.external:
                    return None
                matlab_class = obj.attrs.get("MATLAB_class", b"")
                matlab_class = matlab_class.decode() if isinstance(matlab_class, bytes) else str(matlab_class)
                if obj.dtype.kind in "biuf" and (not matlab_class or matlab_class in _MATLAB_NUMERIC):
                    arrays[name] = (obj.shape, matlab_class)
            return None

        f.visititems(visit)
    return frames, arrays


def _read_h5_dataset(path, name, matlab: bool) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        value = f[name][()]
    # MATLAB v7.3 stores arrays column-major: transpose to loadmat's orientation
    return value.T if matlab else value


def _refuse_pickles(path: Path, allow_pickle: bool) -> None:
    """Refuse an HDF5 file that PyTables would unpickle code from (checked with h5py first)."""
    if allow_pickle:
        return
    from brainbridge.data.pickles import scan_hdf5

    found = scan_hdf5(path)
    if not found:
        return
    shown = "; ".join(node.describe() for node in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    hint = ""
    if any(node.attribute is None for node in found):
        hint = (
            " (pandas pickles the object columns, strings included, of format='fixed' frames: "
            "save with format='table' to store them without pickles)"
        )
    raise UnsafeFormatError(
        f"{path} holds pickled Python objects that reading would run: {shown}{more}{hint}; {_PICKLE_WHY}"
    )


def _read_frame(path: Path, name: str, allow_pickle: bool) -> pd.DataFrame:
    """A pandas DataFrame from an HDF5 file, after checking that PyTables will unpickle no code."""
    _refuse_pickles(path, allow_pickle)
    # the formats read here store DataFrames (a stored Series comes back as it is)
    return cast(pd.DataFrame, pd.read_hdf(path, key=name))


def _is_dlc(frame: pd.DataFrame) -> bool:
    return {"scorer", "bodyparts", "coords"} <= set(frame.columns.names or [])


def _read_h5(path, key, columns, allow_pickle, *, matlab: bool = False):
    frames, arrays = _h5_entries(path)
    if key is not None:
        name = str(key).strip("/")
        if name in frames:
            return _to_array(_read_frame(path, name, allow_pickle), columns, f"{path}[{name!r}]")
        if name in arrays:
            return _to_array(
                _read_h5_dataset(path, name, matlab or bool(arrays[name][1])), columns, f"{path}[{name!r}]"
            )
        raise DataKeyError(f"key {key!r} not found in {path}; available: {frames + list(arrays)}")
    if frames:
        # a DeepLabCut output is recognised by its first frame, as in CEBRA
        first = "df_with_missing" if "df_with_missing" in frames else frames[0]
        frame = _read_frame(path, first, allow_pickle)
        if _is_dlc(frame):
            return _dlc_keypoints(frame, path, columns, 0.6, False)
        if len(frames) > 1 or arrays:
            # CEBRA raises here too: picking one silently would hide the others
            raise DataKeyError(
                f"{path} holds {len(frames)} DataFrames and {len(arrays)} other arrays; pass key= "
                f"one of {frames + list(arrays)}"
            )
        return _to_array(frame, columns, f"{path}[{first!r}]")
    if arrays:
        name = next(iter(arrays))
        return _to_array(
            _read_h5_dataset(path, name, matlab or bool(arrays[name][1])), columns, f"{path}[{name!r}]"
        )
    raise DataKeyError(f"{path} holds no numeric dataset or DataFrame")


# torch.save's legacy (non-zip) format starts with this pickled magic number
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."


def _check_torch_file(path: Path) -> None:
    """Refuse a file that is neither of torch.save's formats (random bytes, other archives)."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise UnreadableFileError(
                f"cannot read {path} as a PyTorch file: a damaged zip archive ({e})"
            ) from e
        if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            raise UnreadableFileError(f"cannot read {path} as a PyTorch file: a zip archive without data.pkl")
        return
    with open(path, "rb") as f:
        head = f.read(len(_TORCH_LEGACY_MAGIC))
    if head != _TORCH_LEGACY_MAGIC:
        raise UnreadableFileError(
            f"cannot read {path} as a PyTorch file: "
            "it is neither torch.save's zip format nor its legacy format"
        )


def _torch_load(path, allow_pickle):
    _check_torch_file(path)
    try:
        import torch
    except ModuleNotFoundError as e:
        raise TorchMissingError(
            f"reading {path} needs PyTorch; {TorchMissingError.HINT}", name="torch"
        ) from e
    if allow_pickle:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's restricted unpickler names the global it refused; anything else is damage
        refused = torch_refused_global(e)
        if refused is None:
            detail = re.search(r"WeightsUnpickler error:\s*(.+?)\n", str(e) + "\n")
            reason = detail.group(1).strip() if detail else type(e).__name__
            raise UnreadableFileError(f"cannot read {path} as a PyTorch file: damaged ({reason})") from e
        raise UnsafeFormatError(
            f"{path} holds Python objects beyond tensors and containers ({refused}); {_PICKLE_WHY}"
        ) from e


def _read_torch(path, key, columns, allow_pickle):
    value = _torch_load(path, allow_pickle)
    if isinstance(value, Mapping):
        _, value = _pick(value, key, str(path), usable=_is_tensor if key is None else _is_numeric_or_tensor)
    elif isinstance(value, list | tuple):
        _, value = _pick(dict(enumerate(value)), key, str(path), usable=_is_numeric_or_tensor)
    elif key is not None:
        raise DataKeyError(f"{path} holds a single {type(value).__name__}; it has no key {key!r}")
    if not _is_numeric_or_tensor(value):
        raise DataKeyError(f"{path} does not hold a tensor or numeric array ({type(value).__name__})")
    return _to_array(value, columns, str(path))


def _is_numeric_or_tensor(value) -> bool:
    return _is_tensor(value) or _is_numeric_array(value)


def _read_csv(path, key, columns, allow_pickle):  # noqa: ARG001 - a signature shared by its interface
    if key is not None:
        raise DataKeyError(f"a CSV file holds one table; it has no key {key!r}")
    try:
        frame = pd.read_csv(path, header=None)
    except pd.errors.EmptyDataError as e:
        raise EmptyFileError(f"{path} is empty: a CSV file needs at least one row of values") from e
    frame = _frame_with_header(frame)
    return _to_array(frame, columns, str(path))


def _read_excel(path, key, columns, allow_pickle):  # noqa: ARG001 - a signature shared by its interface
    sheets = pd.read_excel(path, header=None, sheet_name=None)
    if all(frame.empty for frame in sheets.values()):
        raise EmptyFileError(f"{path} is empty: none of its sheets {list(sheets)} holds a value")
    if isinstance(key, int):  # sheet names are strings: an int is a sheet's position
        names = list(sheets)
        if not 0 <= key < len(names):
            raise DataKeyError(f"sheet {key} not found in {path}; it has {len(names)} sheets: {names}")
        key = names[key]
    _, frame = _pick(sheets, key, str(path), usable=lambda v: isinstance(v, pd.DataFrame) and not v.empty)
    return _to_array(_frame_with_header(frame), columns, f"{path}[{key!r}]")


def _read_joblib(path, key, columns, allow_pickle):
    if not allow_pickle:
        raise UnsafeFormatError(f"{path}: joblib files are pickles; {_PICKLE_WHY}")
    import joblib

    value = joblib.load(path, mmap_mode="r")
    return _from_object(value, key, columns, path)


def _from_object(value, key, columns, path) -> np.ndarray:
    if isinstance(value, Mapping):
        _, value = _pick(value, key, str(path), usable=_is_numeric_or_tensor)
    elif key is not None:
        raise DataKeyError(f"{path} holds a single {type(value).__name__}; it has no key {key!r}")
    if not _is_numeric_or_tensor(value):
        raise DataKeyError(f"{path} does not hold a numeric array ({type(value).__name__})")
    return _to_array(value, columns, str(path))


def _read_pickle(path, key, columns, allow_pickle):
    if zipfile.is_zipfile(path):  # a torch.save file named .p
        return _read_torch(path, key, columns, allow_pickle)
    if not allow_pickle:
        raise UnsafeFormatError(f"{path}: pickle files can only be read by unpickling; {_PICKLE_WHY}")
    with open(path, "rb") as f:
        value = pickle.load(f)
    return _from_object(value, key, columns, path)


def _read_mat(path, key, columns, allow_pickle):
    import scipy.io

    try:
        entries = scipy.io.loadmat(path)
    except NotImplementedError:
        # v7.3 files are HDF5: scipy defers to an HDF reader
        return _read_h5(path, key, columns, allow_pickle, matlab=True)
    entries = {k: v for k, v in entries.items() if not k.startswith("__")}
    name, value = _pick(entries, key, str(path))
    return _to_array(value, columns, f"{path}[{name!r}]")


def _read_nc(path, key, columns, allow_pickle):  # noqa: ARG001 - a signature shared by its interface
    from brainbridge.readers import open_assembly_array

    array = open_assembly_array(path)
    if columns is not None:
        raise DataKeyError(f"columns can only be selected from a table; {path} holds an assembly (use key=)")
    if key is None:
        return np.asarray(array.values)
    coords = _assembly_coords(array)
    if key not in coords:
        raise DataKeyError(
            f"key {key!r} is not a coordinate of the assembly in {path}; available: {list(coords)}"
        )
    values = np.asarray(array[key].values)
    if values.dtype.kind not in "biufcmM":
        raise DataKeyError(f"coordinate {key!r} of {path} is not numeric (dtype {values.dtype})")
    return values


def _assembly_coords(array) -> dict[str, Any]:
    return {str(name): array[name] for name in array.coords}


def _nwb_builders(path: Path):
    """The raw HDF5 builders of an NWB file: no type mapping, no cached namespaces loaded.

    pynwb opens the file read-only without loading the namespaces it caches (specifications
    of extensions), so a file's extensions change nothing in this process; the builders are the
    file's groups and datasets as stored, which is all the tables below need.
    """
    try:
        import pynwb
    except ModuleNotFoundError as e:
        raise UnreadableFileError(f"reading {path} needs pynwb: pip install 'brainbridge[ecephys]'") from e
    io = pynwb.NWBHDF5IO(str(path), "r", load_namespaces=False)
    try:
        return io, io.read_builder()
    except Exception:
        io.close()
        raise


def _nwb_table(group) -> pd.DataFrame:
    """The 1-D numeric columns of an NWB DynamicTable builder (ids as the index)."""
    ragged = {name[: -len("_index")] for name in group.datasets if name.endswith("_index")}
    columns = {}
    for name in [str(c) for c in group.attributes.get("colnames", [])]:
        dataset = group.datasets.get(name)
        if dataset is None or name in ragged:
            continue
        if dataset.attributes.get("neurodata_type") == "DynamicTableRegion":
            continue  # row references into another table
        data = dataset.data
        if getattr(data, "ndim", 1) != 1 or np.dtype(data.dtype).kind not in "biuf":
            continue
        columns[name] = np.asarray(data[()])
    ids = group.datasets.get("id")
    index = pd.Index(np.asarray(ids.data[()]), name="id") if ids is not None else None
    return pd.DataFrame(columns, index=index)


def _nwb_entries(builder) -> dict[str, Any]:
    """Entry name -> callable giving a DataFrame or ndarray, for the tables load_data reads."""
    entries: dict[str, Any] = {}
    units = builder.groups.get("units")
    if units is not None:
        entries["units"] = lambda: _nwb_table(units)
        for name in ("spike_times", "spike_times_index"):
            if name in units.datasets:
                entries[f"units/{name}"] = lambda d=units.datasets[name]: np.asarray(d.data[()])
    intervals = builder.groups.get("intervals")
    if intervals is not None:
        for name, group in intervals.groups.items():
            entries[name] = lambda g=group: _nwb_table(g)
    return entries


def _read_nwb(path, key, columns, allow_pickle):  # noqa: ARG001 - a signature shared by its interface
    io, builder = _nwb_builders(path)
    try:
        entries = _nwb_entries(builder)
        if key is None:
            raise DataKeyError(f"{path} is an NWB file: pass key= one of {list(entries)}")
        if key not in entries:
            raise DataKeyError(f"key {key!r} not found in {path}; available: {list(entries)}")
        return _to_array(entries[key](), columns, f"{path}[{key!r}]")
    finally:
        io.close()


_READERS = {
    ".nc": _read_nc,
    ".nwb": _read_nwb,
    ".npy": _read_npy,
    ".npz": _read_npz,
    **dict.fromkeys(_H5, _read_h5),
    ".pt": _read_torch,
    ".pth": _read_torch,
    ".csv": _read_csv,
    **dict.fromkeys(_EXCEL, _read_excel),
    ".jl": _read_joblib,
    ".pkl": _read_pickle,
    ".p": _read_pickle,
    ".mat": _read_mat,
}


# --------------------------------------------------------------------------------------
# DeepLabCut
# --------------------------------------------------------------------------------------


def _read_dlc_frame(path: Path, allow_pickle: bool) -> pd.DataFrame:
    _refuse_pickles(path, allow_pickle)
    with pd.HDFStore(path, mode="r") as store:
        keys = [k.strip("/") for k in store]
        if not keys:
            raise UnreadableFileError(f"{path} holds no DataFrame")
        key = "df_with_missing" if "df_with_missing" in keys else keys[0]
        return cast(pd.DataFrame, store[key])  # DeepLabCut stores DataFrames


def _interpolate_nans(values: np.ndarray) -> np.ndarray:
    """Linear interpolation over time of the NaN entries of each column; edges take the nearest value."""
    out = values.copy()
    t = np.arange(len(values))
    for j in range(values.shape[1]):
        column = values[:, j]
        ok = np.isfinite(column)
        if ok.all() or not ok.any():
            continue
        out[~ok, j] = np.interp(t[~ok], t[ok], column[ok])
    return out


def load_deeplabcut(
    filepath: str | Path,
    keypoints: Sequence[str] | None = None,
    pcutoff: float = 0.6,
    *,
    return_mask: bool = False,
    allow_pickle: bool = False,
):
    """Keypoint positions from a DeepLabCut ``.h5`` output, low-likelihood points interpolated.

    Parameters
    ----------
    filepath : str or Path
        A DeepLabCut output (``df_with_missing`` key, or the file's first DataFrame) with column
        levels ``scorer / bodyparts / coords``.
    keypoints : list of str, optional
        Body parts to keep, in this order (all by default).
    pcutoff : float, default 0.6
        Coordinates of frames whose likelihood is below this are treated as missing and
        linearly interpolated from the nearest valid frames (the first/last valid value at the
        edges). Only the missing entries change.
    return_mask : bool, default False
        Also return the ``(frames, keypoints)`` boolean mask of interpolated points.
    allow_pickle : bool, default False
        Read the file even if PyTables would unpickle code from it (only for trusted files).

    Returns
    -------
    numpy.ndarray, shape (frames, 2 * len(keypoints))
        ``x, y`` of each keypoint; one row per frame of the file. With ``return_mask``, a
        tuple ``(data, mask)``.

    Raises
    ------
    DataKeyError
        An unknown keypoint (also an ``AttributeError``).
    ValueError
        ``keypoints`` not a list.
    MultiAnimalFileError
        A multi-animal file (four column levels); an ``UnsupportedFormatError`` and a
        ``NotImplementedError`` (as in CEBRA).
    UnsafeFormatError
        PyTables would unpickle code from the file and ``allow_pickle`` is False; the error
        names the node.
    """
    path = Path(filepath)
    if not path.is_file():
        raise UnreadableFileError(f"no such file: {path}")
    try:
        frame = _read_dlc_frame(path, allow_pickle)
    except (UnsafeFormatError, UnreadableFileError):
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UnreadableFileError(f"cannot read {path} as a DeepLabCut HDF5 file: {e}") from e
    return _dlc_keypoints(frame, path, keypoints, pcutoff, return_mask)


def _dlc_keypoints(frame: pd.DataFrame, path: Path, keypoints, pcutoff: float, return_mask: bool):
    """:func:`load_deeplabcut` on a DataFrame already read from ``path``."""
    if frame.columns.nlevels == 4:
        raise MultiAnimalFileError(
            f"{path} is a multi-animal DeepLabCut file (4 column levels); select one individual "
            "(frame.xs(name, level='individuals', axis=1)) and save it first"
        )
    names = list(frame.columns.names or [])
    if not {"scorer", "bodyparts", "coords"} <= set(names):
        raise UnreadableFileError(f"{path} is not a DeepLabCut output: column levels are {names}")
    scorer = frame.columns.get_level_values("scorer")[0]
    frame = frame[scorer]
    available = list(dict.fromkeys(frame.columns.get_level_values("bodyparts")))
    if keypoints is None:
        keypoints = available
    elif not isinstance(keypoints, list | tuple):
        raise ValueError(f"keypoints must be a list of body part names, got {type(keypoints).__name__}")
    missing = [k for k in keypoints if k not in available]
    if missing:
        raise DataKeyError(f"keypoints {missing} not in {path}; available: {available}")
    xy = np.stack([frame[(k, c)].to_numpy(dtype=np.float64) for k in keypoints for c in ("x", "y")], axis=1)
    coords = set(frame.columns.get_level_values("coords"))
    if "likelihood" in coords:
        likelihood = np.stack(
            [frame[(k, "likelihood")].to_numpy(dtype=np.float64) for k in keypoints], axis=1
        )
        low = ~(likelihood >= pcutoff)  # NaN likelihood counts as missing
    else:
        low = np.zeros((len(frame), len(keypoints)), dtype=bool)
    mask = low | ~np.isfinite(xy.reshape(len(frame), len(keypoints), 2)).all(axis=2)
    xy[np.repeat(mask, 2, axis=1)] = np.nan
    never = np.flatnonzero(mask.all(axis=0))
    if len(never):
        warnings.warn(
            f"keypoints {[keypoints[i] for i in never]} are below pcutoff={pcutoff} in every frame; "
            "left as NaN",
            RuntimeWarning,
            stacklevel=3,
        )
    data = _interpolate_nans(xy)
    return (data, mask) if return_mask else data

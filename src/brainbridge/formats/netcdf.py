"""netCDF-4 in BrainIO's layout: reading (lazy, parallel decompression), writing, checking.

Reading: :func:`open_netcdf_array` returns a plain, un-indexed :class:`xarray.DataArray` whose
values are read on first use. Local files take a faster route than xarray's default one, with
identical results: string coordinates are read as raw bytes and decoded in one vectorised step,
and the values of a zlib (+ shuffle) compressed, chunked ``data`` variable are decompressed by
a thread pool (HDF5 decompresses chunk after chunk under a global lock). With ``chunks=`` the
same reader feeds dask. Anything else (other filters, scaled or masked variables, remote files,
any explicit ``xr.open_dataset`` option) goes through xarray unchanged.

Writing: :func:`write_netcdf` (deterministic bytes, atomic, zlib-1 + shuffle by default; see
:mod:`brainbridge.formats.layout` for the layout). Extra arrays live in netCDF groups
(:func:`netcdf_groups`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint

from brainbridge.atomic import atomic_path
from brainbridge.errors import AssemblyError
from brainbridge.formats.blocks import read_workers, region_and_post
from brainbridge.formats.layout import data_variable_name, default_chunks, single_variable, to_dataset
from brainbridge.hashing import sha1_hash

__all__ = [
    "DEFAULT_COMPRESSION_LEVEL",
    "is_netcdf_file",
    "netcdf_groups",
    "open_netcdf_array",
    "write_netcdf",
]

#: zlib level of ``data`` (with the shuffle filter). BrainIO used 9. Measured on a 152 MB
#: float32 assembly (148480 x 256 x 1, 4 MiB chunks, 2-core machine): level 9 took 25.8 s CPU
#: for 128.9 MB, level 1 took 3.4 s for 130.8 MB (+1.5 %); reading back costs the same.
DEFAULT_COMPRESSION_LEVEL = 1
#: the first bytes of every HDF5 file (netCDF-4 is HDF5), at offset 0 (or 512, 1024, ...)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_netcdf_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a local HDF5 (netCDF-4) file, by its signature."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == _HDF5_SIGNATURE
    except OSError:
        return False


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------


def open_netcdf_dataset(
    path: str | os.PathLike,
    *,
    group: str | None = None,
    drop_variables: Any = None,
    on_full_read: Callable[[xr.Dataset, Hashable, np.ndarray], None] | None = None,
) -> xr.Dataset:
    """A local netCDF-4 file as xarray's default engine opens it, read the fast way.

    Same variables, values, dtypes, attributes and encodings as
    ``xr.open_dataset(path, engine="h5netcdf", group=group)``: string coordinates are decoded
    in one vectorised step and ``data`` (when zlib + shuffle compressed and chunked) is read
    lazily by the parallel reader. Used by :func:`open_netcdf_array` and by the xarray backend
    (:class:`brainbridge.formats.xarray_backend.BrainbridgeBackendEntrypoint`).
    ``on_full_read(dataset, name, values)`` is called once, when the parallel reader has read
    the values of ``name`` in full.
    """
    path = os.fspath(path)
    ds = _open_netcdf(path, group)
    if drop_variables:
        names = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables)
        ds = ds.drop_vars([n for n in names if n in ds.variables])
    try:
        name = data_variable_name(ds, path)
    except AssemblyError:  # not an assembly (several variables): every variable read by xarray
        return ds
    if on_full_read is None:
        return _with_parallel_reads(ds, path, group, name)
    holder: list[xr.Dataset] = []
    result = _with_parallel_reads(ds, path, group, name, lambda values: on_full_read(holder[0], name, values))
    holder.append(result)
    return result


#: xarray's decoding options (passed to a backend only when the caller sets them)
_DECODERS = (
    "mask_and_scale",
    "decode_times",
    "concat_characters",
    "decode_coords",
    "use_cftime",
    "decode_timedelta",
)


class NetcdfBackendEntrypoint(BackendEntrypoint):
    """xarray backend for local netCDF-4 files read by :func:`open_netcdf_dataset`.

    ``xr.open_dataset(path, engine=NetcdfBackendEntrypoint, chunks=...)`` gives dask arrays
    whose chunks are read by the parallel reader. Decoding options other than xarray's
    defaults are handed to the h5netcdf engine unchanged. The registered ``brainbridge``
    engine (:mod:`brainbridge.formats.xarray_backend`) adds zarr.
    """

    description = "BrainIO netCDF-4 assemblies, read with parallel decompression (brainbridge)"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "group", *_DECODERS)

    def open_dataset(
        self,
        filename_or_obj,
        *,
        drop_variables=None,
        group=None,
        mask_and_scale=None,
        decode_times=None,
        concat_characters=None,
        decode_coords=None,
        use_cftime=None,
        decode_timedelta=None,
    ) -> xr.Dataset:
        given = {
            "mask_and_scale": mask_and_scale,
            "decode_times": decode_times,
            "concat_characters": concat_characters,
            "decode_coords": decode_coords,
            "use_cftime": use_cftime,
            "decode_timedelta": decode_timedelta,
        }
        decoders = {k: v for k, v in given.items() if v is not None}
        local = isinstance(filename_or_obj, (str, os.PathLike)) and "://" not in os.fspath(filename_or_obj)
        if decoders or not local:  # xarray's own decoding (the fast route assumes the defaults)
            return xr.open_dataset(
                filename_or_obj, engine="h5netcdf", drop_variables=drop_variables, group=group, **decoders
            )
        return open_netcdf_dataset(filename_or_obj, group=group, drop_variables=drop_variables)

    def guess_can_open(self, filename_or_obj) -> bool:
        return isinstance(filename_or_obj, (str, os.PathLike)) and is_netcdf_file(filename_or_obj)


def _open_with_fast_form(path: str) -> xr.Dataset | None:
    from brainbridge.formats.fastform import open_fast_form

    return open_fast_form(path)


def _keep_fast_form(path: str) -> Callable[[xr.Dataset, Hashable, np.ndarray], None] | None:
    """The callback that keeps a fast form of ``path`` after its first full read (see
    :mod:`brainbridge.formats.fastform`), or ``None`` when fast forms are off."""
    from brainbridge import config
    from brainbridge.formats.fastform import build_fast_form, fingerprint

    if not config.fast_form():
        return None
    before = fingerprint(path)

    def read() -> tuple[xr.Dataset, str, np.ndarray]:
        # the file afresh (in the background thread): no array the caller holds is used; one
        # thread (a thread pool cannot start once the interpreter is exiting)
        dataset = open_netcdf_dataset(path)
        name = data_variable_name(dataset, path)
        reader = _DeflateChunkReader.for_dataset(path, str(name))
        if reader is None or reader.shape != dataset[name].shape:
            return dataset, str(name), dataset[name].values
        return dataset, str(name), reader.read(workers=1)

    def keep(_dataset: xr.Dataset, _name: Hashable, _values: np.ndarray) -> None:
        build_fast_form(path, read, before)  # from a fresh read, not from the caller's arrays

    return keep


def open_netcdf_array(
    path: str | os.PathLike, *, group: str | None = None, chunks: Any = None, **kwargs
) -> xr.DataArray:
    """Open a netCDF-4 assembly file as a plain, lazy :class:`xarray.DataArray` (no indexes).

    Reads BrainIO's ``data`` variable (or the legacy ``__xarray_dataarray_variable__``) with
    h5netcdf. ``chunks`` (as :func:`xarray.open_dataset`) returns dask-backed values, read by
    the same parallel reader (through brainbridge's xarray backend).

    Raises
    ------
    AssemblyError
        The file is missing or not a netCDF-4 assembly.
    """
    path = os.fspath(path)
    if "://" not in path and not Path(path).exists():
        raise AssemblyError(f"assembly file not found: {path}")
    engine = kwargs.pop("engine", "h5netcdf")
    # a local file opened with the defaults: faster string coordinates, and values (still
    # read on first use) decompressed on every core; same result as xarray's reads
    fast = not kwargs and engine == "h5netcdf" and "://" not in path
    try:
        if fast and chunks is None:
            ds = _open_with_fast_form(path) if group is None else None
            if ds is None:
                ds = open_netcdf_dataset(
                    path, group=group, on_full_read=_keep_fast_form(path) if group is None else None
                )
        elif fast:
            # xarray chunks the backend's lazy arrays exactly as it chunks h5netcdf's
            ds = xr.open_dataset(path, engine=NetcdfBackendEntrypoint, group=group, chunks=chunks)
        else:
            ds = xr.open_dataset(path, engine=engine, group=group, chunks=chunks, **kwargs)
    except AssemblyError:
        raise
    except Exception as e:
        raise AssemblyError(f"cannot read {path} as a netCDF-4 assembly: {e}") from e
    return single_variable(ds, path)


def netcdf_groups(file_path: str | os.PathLike) -> list[str]:
    """Names of the netCDF groups beside a file's root array (BrainIO's ``extras``), sorted.

    A zarr store, a missing file or a file that is not HDF5 has none.
    """
    path = Path(file_path)
    if path.is_dir() or path.suffix == ".zarr" or not path.is_file():
        return []
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return sorted(name for name, item in f.items() if isinstance(item, h5py.Group))
    except OSError:
        return []


#: HDF5 attributes netCDF-4 keeps for itself (a variable with others is left to xarray)
_NETCDF_INTERNAL_ATTRS = frozenset({"DIMENSION_LIST", "_Netcdf4Coordinates", "_Netcdf4Dimid"})


def _decode_strings(raw: np.ndarray) -> np.ndarray:
    """Variable-length UTF-8 strings as h5py reads them (bytes objects) to the fixed-width
    ``str`` array xarray decodes them to, without a Python ``decode`` per element when
    they are all ASCII (then bytes and characters are the same)."""
    as_bytes = raw.astype("S")
    if as_bytes.size and as_bytes.view(np.uint8).max(initial=0) >= 128:
        return np.array([value.decode("utf-8") for value in raw], dtype=object).astype(str)
    return as_bytes.astype("U")


def _string_coordinates(path: str, group: str | None) -> tuple[list[str], dict[str, xr.Variable]]:
    """Read the 1-D string coordinates of a netCDF-4 group faster than xarray does.

    Returns the group's variable names in file order and, for each coordinate that is a
    1-D variable-length string variable without attributes of its own, its values decoded
    exactly as xarray decodes them (see :func:`_decode_strings`). Coordinates are the names
    listed in the variables' ``coordinates`` attributes.
    """
    import h5py

    with h5py.File(path, "r") as f:
        node = f[group] if group else f
        datasets = {name: item for name, item in node.items() if isinstance(item, h5py.Dataset)}
        listed: set[str] = set()
        for dataset in datasets.values():
            text = dataset.attrs.get("coordinates")
            if text is not None:
                listed.update((text.decode() if isinstance(text, bytes) else str(text)).split())
        strings = {}
        for name in sorted(listed & set(datasets)):
            dataset = datasets[name]
            info = h5py.check_string_dtype(dataset.dtype)
            if info is None or info.length is not None or dataset.ndim != 1:
                continue
            if set(dataset.attrs) - _NETCDF_INTERNAL_ATTRS or "DIMENSION_LIST" not in dataset.attrs:
                continue
            dims = [f[ref].name.rsplit("/", 1)[-1] for ref in dataset.attrs["DIMENSION_LIST"][0]]
            raw = dataset[...]
            if info.encoding != "utf-8" and raw.size and raw.astype("S").view(np.uint8).max(initial=0) >= 128:
                continue
            values = _decode_strings(raw)
            strings[name] = xr.Variable(tuple(dims), values, encoding={"dtype": values.dtype})
        return list(datasets), strings


def _open_netcdf(path: str, group: str | None) -> xr.Dataset:
    """``xr.open_dataset(path, engine='h5netcdf', group=group)``, with its string coordinates
    read by :func:`_string_coordinates` (same values, dtypes and order)."""
    try:
        order, strings = _string_coordinates(path, group)
    except Exception:  # anything unusual: xarray reads the file on its own
        order, strings = [], {}
    ds = xr.open_dataset(path, engine="h5netcdf", group=group, drop_variables=list(strings))
    if not strings:
        return ds
    # the variables in file order, as xarray lists them (the order of the index levels)
    variables: dict[Hashable, xr.Variable] = {**ds.variables}
    variables.update(strings)
    ordered: dict[Hashable, xr.Variable] = {name: variables[name] for name in order if name in variables}
    ordered.update({name: v for name, v in variables.items() if name not in ordered})
    result = xr.Dataset(ordered, attrs=ds.attrs).set_coords(
        [n for n in ordered if n in ds.coords or n in strings]
    )
    result.set_close(ds.close)
    return result


# --------------------------------------------------------------------------------------
# reading compressed netCDF-4 values on every core
# --------------------------------------------------------------------------------------

#: HDF5 filter ids the parallel reader decodes itself (everything else goes through h5py)
_H5Z_DEFLATE, _H5Z_SHUFFLE = 1, 2
#: encodings with which xarray's decoding changes the stored values (the parallel reader must
#: not bypass them; time units and boolean flags change the dtype, which is checked as well)
_VALUE_ENCODINGS = ("scale_factor", "add_offset", "missing_value", "_Unsigned", "calendar")


class _DeflateChunkReader:
    """Read a zlib-compressed (optionally shuffled), chunked HDF5 dataset with all cores.

    HDF5 (through h5py) decompresses chunks one after the other under a global lock; here
    each chunk's raw bytes are read with ``read_direct_chunk`` (a short locked read) and
    inflated (``zlib`` releases the GIL) and un-shuffled (numpy copies release it too) in a
    thread pool, straight into the output array. Chunks stored with a filter skipped,
    unallocated chunks (fill value) or of an unexpected size are read through h5py instead,
    so values are always those h5py returns.

    Use :meth:`for_dataset` to get a reader only for datasets it handles.
    """

    def __init__(
        self,
        path: str,
        name: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        chunks: tuple[int, ...],
        shuffle: bool,
    ):
        self.path, self.name = path, name
        self.shape, self.dtype, self.chunks, self.shuffle = shape, dtype, chunks, shuffle

    @classmethod
    def for_dataset(cls, path: str, name: str) -> _DeflateChunkReader | None:
        """A reader for the dataset ``name`` (a path inside the file), or ``None`` if it is not
        chunked with exactly deflate or shuffle + deflate, or not of a plain numeric dtype."""
        import h5py

        with h5py.File(path, "r") as f:
            dataset = f.get(name)
            if (
                not isinstance(dataset, h5py.Dataset)
                or dataset.chunks is None
                or dataset.dtype.kind not in "fiu"
            ):
                return None
            plist = dataset.id.get_create_plist()
            filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
            if filters not in ([_H5Z_DEFLATE], [_H5Z_SHUFFLE, _H5Z_DEFLATE]):
                return None
            return cls(path, name, dataset.shape, dataset.dtype, dataset.chunks, filters[0] == _H5Z_SHUFFLE)

    def read(self, region: tuple[slice, ...] | None = None, workers: int | None = None) -> np.ndarray:
        """The values in ``region`` (one ``slice`` with step 1 per dimension; default: all)."""
        import h5py

        region = tuple(slice(0, n) for n in self.shape) if region is None else region
        bounds = [(s.start, s.stop) for s in region]
        out = np.empty(tuple(stop - start for start, stop in bounds), dtype=self.dtype)
        if out.size == 0:
            return out
        grid = [range(start // c * c, stop, c) for (start, stop), c in zip(bounds, self.chunks)]
        offsets = list(itertools.product(*grid))
        workers = min(len(offsets), workers or read_workers())
        with h5py.File(self.path, "r") as f:
            dataset = f[self.name]
            if workers <= 1:
                for offset in offsets:
                    self._read_chunk(dataset, offset, bounds, out)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(workers, thread_name_prefix="brainbridge-read") as pool:
                    # list(): re-raise the first error
                    list(pool.map(lambda offset: self._read_chunk(dataset, offset, bounds, out), offsets))
        return out

    def _read_chunk(
        self, dataset, offset: tuple[int, ...], bounds: list[tuple[int, int]], out: np.ndarray
    ) -> None:
        """Decode the chunk at ``offset`` and copy its part inside ``bounds`` into ``out``."""
        import zlib

        # the chunk's part of the region, in file and in output coordinates
        inner = tuple(
            slice(max(start, o) - o, min(stop, o + c) - o)
            for (start, stop), o, c in zip(bounds, offset, self.chunks)
        )
        target = tuple(
            slice(max(start, o) - start, min(stop, o + c) - start)
            for (start, stop), o, c in zip(bounds, offset, self.chunks)
        )
        try:
            mask, raw = dataset.id.read_direct_chunk(offset)
        except Exception:  # unallocated chunk (fill value) or a driver without direct reads
            mask, raw = -1, b""
        n_values = math.prod(self.chunks)
        data = zlib.decompress(raw) if mask == 0 else b""
        if mask != 0 or len(data) != n_values * self.dtype.itemsize:
            region = tuple(slice(o + s.start, o + s.stop) for o, s in zip(offset, inner))
            out[target] = dataset[region]
            return
        destination = out[target]
        whole = all(s.stop - s.start == c for s, c in zip(inner, self.chunks))
        if not self.shuffle:
            values = np.frombuffer(data, dtype=self.dtype).reshape(self.chunks)
            out[target] = values if whole else values[inner]
            return
        if whole and destination.flags.c_contiguous:
            unshuffled = destination.reshape(-1).view(np.uint8).reshape(n_values, self.dtype.itemsize)
        else:
            unshuffled = np.empty((n_values, self.dtype.itemsize), dtype=np.uint8)
        # HDF5's shuffle stores byte k of every value together: scatter the planes back
        planes = np.frombuffer(data, dtype=np.uint8).reshape(self.dtype.itemsize, n_values)
        for k in range(self.dtype.itemsize):
            unshuffled[:, k] = planes[k]
        if not (whole and destination.flags.c_contiguous):
            out[target] = unshuffled.view(self.dtype).reshape(self.chunks)[inner]


class _ParallelBackendArray(BackendArray):
    """An xarray backend array whose reads go through :class:`_DeflateChunkReader`."""

    def __init__(self, reader: _DeflateChunkReader, on_full_read: Callable[[np.ndarray], None] | None = None):
        self.reader = reader
        self.on_full_read = on_full_read
        self.shape = reader.shape
        self.dtype = reader.dtype

    def __getitem__(self, key):
        from xarray.core import indexing

        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._getitem
        )

    def _getitem(self, key: tuple) -> np.ndarray:
        region, post = region_and_post(key, self.shape)
        values = self.reader.read(region)
        if self.on_full_read is not None and all(
            (s.start, s.stop) == (0, n) for s, n in zip(region, self.shape)
        ):
            callback, self.on_full_read = self.on_full_read, None  # once
            callback(values)
        return values[tuple(post)]


def _with_parallel_reads(
    dataset: xr.Dataset,
    path: str,
    group: str | None,
    name: Hashable,
    on_full_read: Callable[[np.ndarray], None] | None = None,
) -> xr.Dataset:
    """``dataset`` with variable ``name`` read by :class:`_DeflateChunkReader` when safe.

    Safe means: decoding leaves the values as stored (no scale/offset, time units, unsigned
    or boolean flags, no fill value other than NaN on floats), the decoded dtype is the stored
    one, and the dataset is chunked with deflate (+ shuffle) only. Otherwise, or if anything
    about the file is unexpected, ``dataset`` is returned unchanged (xarray's own reads).
    """
    from xarray.core import indexing

    variable = dataset[name].variable
    encoding = variable.encoding
    if any(k in encoding or k in variable.attrs for k in _VALUE_ENCODINGS):
        return dataset
    fill = encoding.get("_FillValue", variable.attrs.get("_FillValue"))
    if fill is not None and not (variable.dtype.kind == "f" and np.isnan(fill)):
        return dataset
    inner = "/".join(p for p in ((group or "").strip("/"), str(name)) if p)
    try:
        reader = _DeflateChunkReader.for_dataset(path, inner)
    except Exception:  # not readable by h5py directly: keep xarray's reads
        return dataset
    if reader is None or reader.dtype != variable.dtype or reader.shape != variable.shape:
        return dataset
    # xarray's own wrapping of a backend array (its annotations do not list its lazy arrays)
    lazy = indexing.LazilyIndexedArray(_ParallelBackendArray(reader, on_full_read))
    data = indexing.MemoryCachedArray(indexing.CopyOnWriteArray(lazy))  # type: ignore[arg-type]
    fast = xr.Variable(variable.dims, data, variable.attrs, encoding, fastpath=True)
    return dataset.assign({name: fast})


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------


def _netcdf_encoding(dataset: xr.Dataset, compress: bool, compression_level: int) -> dict[str, dict]:
    encoding: dict[str, dict] = {str(name): {} for name in dataset.variables}
    data = dataset["data"]
    if compress and data.ndim:
        encoding["data"] = {
            "zlib": True,
            "complevel": int(compression_level),
            "shuffle": True,
            "chunksizes": default_chunks(data.shape, data.dtype.itemsize),
        }
    else:
        encoding["data"] = {"contiguous": True} if data.ndim else {}
    return encoding


def write_netcdf_file(
    assembly: xr.DataArray,
    path: Path,
    *,
    mode: Literal["w", "a"],
    group: str | None,
    compress: bool,
    compression_level: int,
    engine: str,
) -> None:
    """Write ``assembly`` into ``path`` as it is (no temporary file, no hash): the step inside
    :func:`write_netcdf` and :class:`brainbridge.packaging.PackagingTransaction`."""
    dataset = to_dataset(assembly)
    encoding = _netcdf_encoding(dataset, compress, compression_level)
    try:
        # another engine name fails inside xarray (a ValueError, reported below)
        netcdf_engine = cast(Literal["netcdf4", "scipy", "h5netcdf"], engine.lower())
        dataset.to_netcdf(
            path, mode=mode, group=group, format="NETCDF4", engine=netcdf_engine, encoding=encoding
        )
    except (TypeError, ValueError) as e:
        raise AssemblyError(f"cannot write the assembly as netCDF-4: {e}") from e


def write_netcdf(
    assembly: xr.DataArray,
    target_netcdf_file: str | os.PathLike,
    append: bool = False,
    group: str | None = None,
    compress: bool = True,
    *,
    compression_level: int = DEFAULT_COMPRESSION_LEVEL,
    engine: str = "h5netcdf",
) -> str:
    """Write an assembly as a BrainIO netCDF-4 file and return the file's SHA-1.

    Parameters
    ----------
    assembly
        A :class:`~brainbridge.assemblies.DataAssembly` or plain :class:`xarray.DataArray`.
    target_netcdf_file
        The file to write. It is written to a temporary file in the same folder and renamed
        into place, so readers never see a partial file.
    append
        Add ``assembly`` as the netCDF group ``group`` of an existing file (BrainIO's
        ``extras``) instead of replacing the file. The file is copied, extended and renamed,
        so it stays intact if the write fails.
    group
        The netCDF group to write into (``None``: the root).
    compress
        Compress ``data`` with zlib + shuffle in chunks of about 4 MiB. ``False`` stores it
        contiguous and uncompressed (same layout otherwise: variable ``data``, attrs global
        and on ``data``; BrainIO used ``__xarray_dataarray_variable__`` there).
    compression_level
        zlib level 1-9 (default :data:`DEFAULT_COMPRESSION_LEVEL`; BrainIO used 9).
    engine
        ``"h5netcdf"`` (default) or ``"netCDF4"``.

    Returns
    -------
    str
        The SHA-1 hex digest of the written file. The same content gives the same bytes and
        digest in every process (with the same library versions, which are recorded in the
        file's ``_NCProperties``).

    Raises
    ------
    AssemblyError
        An assembly that cannot be stored (clashing coordinate names, unsupported values),
        or ``append=True`` without an existing file or a group.
    """
    target = Path(target_netcdf_file)
    if not 1 <= int(compression_level) <= 9:
        raise AssemblyError(f"compression_level must be between 1 and 9, got {compression_level}")
    if append and not target.exists():
        raise AssemblyError(f"cannot append to {target}: the file does not exist")
    if append and not group:
        raise AssemblyError(
            "append=True needs a group name (the extra array is written to that netCDF group)"
        )
    with atomic_path(target, copy_existing=append) as tmp:
        write_netcdf_file(
            assembly,
            tmp,
            mode="a" if append else "w",
            group=group,
            compress=compress,
            compression_level=compression_level,
            engine=engine,
        )
    return sha1_hash(target)

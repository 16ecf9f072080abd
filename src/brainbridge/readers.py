"""Reading assembly files: netCDF-4 (BrainIO's layout) and zarr, lazily.

:func:`open_assembly_array` returns a plain, un-indexed :class:`xarray.DataArray` whose values
are read on first use; :meth:`brainbridge.assemblies.DataAssembly.from_files` wraps it.

Local netCDF-4 files take a faster route than xarray's default one, with identical results:
string coordinates are read as raw bytes and decoded in one vectorised step, and the values of
a zlib (+ shuffle) compressed, chunked ``data`` variable are decompressed by a thread pool
(HDF5 decompresses chunk after chunk under a global lock). Anything else (other filters,
scaled or masked variables, remote files, any explicit ``xr.open_dataset`` option) goes
through xarray unchanged.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray

from brainbridge.errors import AssemblyError

__all__ = ["is_zarr_store", "netcdf_groups", "open_assembly_array"]


def is_zarr_store(path: str | os.PathLike) -> bool:
    text = str(path).rstrip("/")
    if text.endswith(".zarr") or "://" in text and text.endswith(".zarr"):
        return True
    p = Path(text)
    return p.is_dir() and any((p / marker).exists() for marker in ("zarr.json", ".zgroup", ".zattrs"))


def _zarr_consolidated(path: str, storage_options: dict | None = None) -> bool | None:
    """Whether a zarr store has consolidated metadata (``None``: unknown, let xarray try).

    zarr v3 stores written by :func:`brainbridge.packaging.write_zarr` are not consolidated
    (not part of the v3 spec); saying so spares xarray a failed attempt and its warning.
    """
    import json

    try:
        import fsspec

        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
        root = root.rstrip("/")
        if fs.exists(f"{root}/.zmetadata"):
            return True
        if fs.exists(f"{root}/zarr.json"):
            return json.loads(fs.cat_file(f"{root}/zarr.json")).get("consolidated_metadata") is not None
        return False if fs.exists(f"{root}/.zgroup") else None
    except Exception:  # any store problem is reported by the real open below
        return None


def open_assembly_array(
    file_path: str | os.PathLike, *, group: str | None = None, chunks: Any = None, **kwargs
) -> xr.DataArray:
    """Open an assembly file as a plain, lazy :class:`xarray.DataArray` (no indexes built).

    Reads netCDF-4 (BrainIO's ``data`` variable, or the legacy
    ``__xarray_dataarray_variable__``) with h5netcdf, and zarr stores. A zarr store with
    recorded checksums (:mod:`brainbridge.zarr_checksums`) is checked on open (no file
    missing or added) and on every read (each file's SHA-256).

    Raises
    ------
    ZarrIntegrityError
        A zarr store whose files do not match its recorded checksums (also when values are
        read later).
    """
    path = os.fspath(file_path)
    if is_zarr_store(path):
        try:
            from brainbridge.zarr_checksums import open_verified_store

            kwargs.setdefault("consolidated", _zarr_consolidated(path, kwargs.get("storage_options")))
            # a store with recorded checksums is read through a store that checks every file
            verified = open_verified_store(path, group, kwargs.get("storage_options"))
            if verified is not None:
                kwargs.pop("storage_options", None)
            ds = xr.open_zarr(verified if verified is not None else path, group=group,
                              chunks=chunks if chunks is not None else None, **kwargs)
        except AssemblyError:  # ZarrIntegrityError: the files do not match their checksums
            raise
        except Exception as e:  # zarr raises many types; report one
            raise AssemblyError(f"cannot open zarr assembly {path}: {e}") from e
        return _single_variable(ds, path)
    if "://" not in path and not Path(path).exists():
        raise AssemblyError(f"assembly file not found: {path}")
    engine = kwargs.pop("engine", "h5netcdf")
    # a local file opened with the defaults: faster string coordinates, and values (still
    # read on first use) decompressed on every core; same result as xarray's reads
    fast = chunks is None and not kwargs and engine == "h5netcdf" and "://" not in path
    try:
        if fast:
            ds = _open_netcdf(path, group)
        else:
            ds = xr.open_dataset(path, engine=engine, group=group, chunks=chunks, **kwargs)
    except Exception as e:
        raise AssemblyError(f"cannot read {path} as a netCDF-4 assembly: {e}") from e
    if fast:
        ds = _with_parallel_reads(ds, path, group, _data_variable_name(ds, path))
    return _single_variable(ds, path)


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


def _data_variable_name(ds: xr.Dataset, path: str) -> Hashable:
    """The assembly's variable: ``data`` (BrainIO), or the only data variable."""
    if "data" in ds.data_vars:
        return "data"
    if len(ds.data_vars) == 1:
        return next(iter(ds.data_vars))
    raise AssemblyError(
        f"{path} holds {len(ds.data_vars)} data variables {sorted(map(str, ds.data_vars))}; "
        "an assembly file has one (named 'data')"
    )


def _single_variable(ds: xr.Dataset, path: str) -> xr.DataArray:
    name = _data_variable_name(ds, path)
    array = ds[name]
    # global attrs (BrainIO promotes them) complete the variable's own
    attrs = {**ds.attrs, **array.attrs}
    attrs.pop("coordinates", None)
    array.attrs = attrs
    array.name = None if name in ("data", "__xarray_dataarray_variable__") else name
    return array


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
    result = xr.Dataset(ordered, attrs=ds.attrs).set_coords([n for n in ordered if n in ds.coords or n in strings])
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


def _read_workers() -> int:
    """Threads for decompressing chunks: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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

    def __init__(self, path: str, name: str, shape: tuple[int, ...], dtype: np.dtype, chunks: tuple[int, ...], shuffle: bool):
        self.path, self.name = path, name
        self.shape, self.dtype, self.chunks, self.shuffle = shape, dtype, chunks, shuffle

    @classmethod
    def for_dataset(cls, path: str, name: str) -> _DeflateChunkReader | None:
        """A reader for the dataset ``name`` (a path inside the file), or ``None`` if it is not
        chunked with exactly deflate or shuffle + deflate, or not of a plain numeric dtype."""
        import h5py

        with h5py.File(path, "r") as f:
            dataset = f.get(name)
            if not isinstance(dataset, h5py.Dataset) or dataset.chunks is None or dataset.dtype.kind not in "fiu":
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
        workers = min(len(offsets), workers or _read_workers())
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

    def _read_chunk(self, dataset, offset: tuple[int, ...], bounds: list[tuple[int, int]], out: np.ndarray) -> None:
        """Decode the chunk at ``offset`` and copy its part inside ``bounds`` into ``out``."""
        import zlib

        # the chunk's part of the region, in file and in output coordinates
        inner = tuple(
            slice(max(start, o) - o, min(stop, o + c) - o) for (start, stop), o, c in zip(bounds, offset, self.chunks)
        )
        target = tuple(
            slice(max(start, o) - start, min(stop, o + c) - start) for (start, stop), o, c in zip(bounds, offset, self.chunks)
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

    def __init__(self, reader: _DeflateChunkReader):
        self.reader = reader
        self.shape = reader.shape
        self.dtype = reader.dtype

    def __getitem__(self, key):
        from xarray.core import indexing

        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._getitem)

    def _getitem(self, key: tuple) -> np.ndarray:
        region: list[slice] = []
        post: list[slice | int] = []
        for k, n in zip(key, self.shape):
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                if step < 0:  # read the covered range, then step through it backwards
                    start, stop = stop + 1, start + 1
                post.append(slice(None, None, step))
                region.append(slice(start, max(start, stop)))
            else:
                i = int(k) + (n if int(k) < 0 else 0)
                region.append(slice(i, i + 1))
                post.append(0)
        values = self.reader.read(tuple(region))
        return values[tuple(post)]


def _with_parallel_reads(dataset: xr.Dataset, path: str, group: str | None, name: Hashable) -> xr.Dataset:
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
    lazy = indexing.LazilyIndexedArray(_ParallelBackendArray(reader))
    data = indexing.MemoryCachedArray(indexing.CopyOnWriteArray(lazy))  # type: ignore[arg-type]
    fast = xr.Variable(variable.dims, data, variable.attrs, encoding, fastpath=True)
    return dataset.assign({name: fast})

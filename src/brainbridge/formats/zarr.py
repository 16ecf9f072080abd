"""zarr stores in BrainIO's layout: detection, reading (checksums verified), writing.

The layout is the netCDF one (:mod:`brainbridge.formats.layout`). Stores written by
:func:`write_zarr` record the SHA-256 of every file (:mod:`brainbridge.zarr_checksums`), which
:func:`open_zarr_array` checks on open (no file missing or added) and on every read.
:func:`is_zarr_store` is the one test for "is this a zarr store".
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlparse

import xarray as xr

from brainbridge.errors import AssemblyError
from brainbridge.formats.layout import default_chunks, single_variable, to_dataset

__all__ = ["ZARR_MARKERS", "is_zarr_store", "open_zarr_array", "write_zarr"]

#: files at the root of a zarr store (v3: ``zarr.json``; v2: ``.zgroup``/``.zattrs``/``.zarray``)
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zattrs", ".zarray")
_STORE_SCHEMES = ("s3", "gs", "gcs", "http", "https", "az", "abfs", "memory")


def is_zarr_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a zarr store: a ``*.zarr`` path or URL, or a folder with zarr's
    metadata files at its root (:data:`ZARR_MARKERS`)."""
    text = os.fspath(path).rstrip("/")
    if text.endswith(".zarr"):
        return True
    if "://" in text:
        return False
    p = Path(text)
    return p.is_dir() and any((p / marker).exists() for marker in ZARR_MARKERS)


def is_url(location: str) -> bool:
    """Whether ``location`` is an fsspec URL of a store brainbridge writes zarr to."""
    return urlparse(str(location)).scheme.lower() in _STORE_SCHEMES


def _zarr_consolidated(path: str, storage_options: dict | None = None) -> bool | None:
    """Whether a zarr store has consolidated metadata (``None``: unknown, let xarray try).

    zarr v3 stores written by :func:`brainbridge.packaging.write_zarr` are not consolidated
    (not part of the v3 spec); saying so spares xarray a failed attempt and its warning.
    """
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


def open_zarr_array(
    path: str | os.PathLike, *, group: str | None = None, chunks: Any = None, **kwargs
) -> xr.DataArray:
    """Open a zarr store in BrainIO's layout as a plain, lazy :class:`xarray.DataArray`.

    A store with recorded checksums is read through a store that checks every file.

    Raises
    ------
    ZarrIntegrityError
        The store's files do not match their recorded checksums (also when values are read later).
    AssemblyError
        The store cannot be opened.
    """
    path = os.fspath(path)
    try:
        ds = open_zarr_dataset(path, group=group, chunks=chunks, **kwargs)
    except AssemblyError:  # ZarrIntegrityError: the files do not match their checksums
        raise
    except Exception as e:  # zarr raises many types; report one
        raise AssemblyError(f"cannot open zarr assembly {path}: {e}") from e
    return single_variable(ds, path)


def open_zarr_dataset(path: str, *, group: str | None = None, chunks: Any = None, **kwargs) -> xr.Dataset:
    """``xr.open_zarr``, through a checksum-verifying store when the store has checksums."""
    from brainbridge.zarr_checksums import open_verified_store

    kwargs.setdefault("consolidated", _zarr_consolidated(path, kwargs.get("storage_options")))
    verified = open_verified_store(path, group, kwargs.get("storage_options"))
    if verified is not None:
        kwargs.pop("storage_options", None)
    return xr.open_zarr(verified if verified is not None else path, group=group, chunks=chunks, **kwargs)


def write_zarr(
    assembly: xr.DataArray,
    store: str | os.PathLike | Any,
    *,
    chunks: Mapping[Hashable, int] | tuple[int, ...] | None = None,
    mode: str = "w-",
    zarr_format: int = 3,
    group: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    checksums: bool = True,
) -> str:
    """Write an assembly to a zarr store (v3 by default), in BrainIO's flat layout.

    The layout is the netCDF one (variable ``data``, every coordinate a 1-D array, attributes
    on the group and on ``data``). Strings are stored with zarr v3's ``string`` data type
    (``vlen-utf8`` codec), which zarr-python, zarrs and other readers understand; fixed-width
    numpy unicode (an unregistered v3 extension) is avoided. Metadata is not consolidated in
    v3 stores (not part of the v3 specification).

    Parameters
    ----------
    assembly
        The assembly to write.
    store
        A folder path (``*.zarr`` by convention), an fsspec URL (``s3://bucket/x.zarr``,
        ``memory://x.zarr``) or a zarr store object.
    chunks
        Chunk shape of ``data``: a tuple in dimension order or ``{dim: size}``; default about
        4 MiB per chunk, whole trailing dimensions.
    mode
        ``"w-"`` (default) refuses to overwrite an existing store; ``"w"`` replaces it.
    zarr_format
        3 (default) or 2.
    group
        Write into this group of the store.
    storage_options
        Passed to fsspec for URLs (credentials, endpoint).
    checksums
        Write every chunk (also those equal to the fill value) and record the SHA-256 of
        every file of the store in ``brainbridge.checksums.json``
        (:mod:`brainbridge.zarr_checksums`), so a missing chunk or a changed byte is an error
        on read and in ``validate``. Costs one hashing pass after writing (see
        ``benchmarks/assembly_io.py``); store objects (not a path or URL) get no checksums.

    Returns
    -------
    str
        The store's path or URL (what :meth:`DataAssembly.from_files` opens).

    Raises
    ------
    AssemblyError
        The store exists and ``mode='w-'``, or the assembly cannot be stored.
    """
    dataset = to_dataset(assembly)
    data = dataset["data"]
    if chunks is None:
        chunk_shape = default_chunks(data.shape, data.dtype.itemsize)
    elif isinstance(chunks, Mapping):
        unknown = set(chunks) - set(data.dims)
        if unknown:
            raise AssemblyError(
                f"chunks name unknown dimensions {sorted(map(str, unknown))}; dims: {data.dims}"
            )
        chunk_shape = tuple(int(chunks.get(d, s)) for d, s in zip(data.dims, data.shape))
    else:
        chunk_shape = tuple(int(c) for c in chunks)
        if len(chunk_shape) != data.ndim:
            raise AssemblyError(f"chunks {chunk_shape} do not match the {data.ndim} dims {data.dims}")
    if data.chunks is not None:
        # dask-backed: align the dask chunks with the zarr chunks so every write is whole
        dataset["data"] = data.chunk(dict(zip(data.dims, chunk_shape)))
    encoding = {"data": {"chunks": chunk_shape}}
    for name in dataset.coords:
        encoding[str(name)] = {}
    target = os.fspath(store) if isinstance(store, (str, os.PathLike)) else store
    if isinstance(target, str) and not is_url(target) and mode == "w-" and Path(target, group or "").exists():
        raise AssemblyError(f"zarr store {target} already exists (use mode='w' to replace it)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            dataset.to_zarr(
                target,
                mode=cast(Literal["w", "w-", "a", "a-", "r+", "r"], mode),  # another mode fails inside xarray
                group=group,
                zarr_format=zarr_format,
                consolidated=zarr_format == 2,
                encoding=encoding,
                storage_options=dict(storage_options) if storage_options else None,
                write_empty_chunks=True,  # every chunk exists, so a missing one is an error, not fill
            )
    except FileExistsError as e:
        raise AssemblyError(f"zarr store {target} already exists (use mode='w' to replace it)") from e
    except (TypeError, ValueError) as e:
        if "exist" in str(e).lower():
            raise AssemblyError(f"zarr store {target} already exists (use mode='w' to replace it)") from e
        raise AssemblyError(f"cannot write the assembly to zarr: {e}") from e
    if isinstance(target, str) and checksums:
        from brainbridge.zarr_checksums import write_checksums

        write_checksums(target, group, storage_options)
    return target if isinstance(target, str) else str(target)

"""BrainIO's layout of an assembly in a file, shared by netCDF-4 and zarr.

An assembly is stored as a flat dataset with one data variable, ``data``; every MultiIndex
level becomes a plain 1-D coordinate variable on its dimension (a plain index named after its
dimension is stored as ``<dim>_``); attributes are stored both globally and on ``data``;
attributes holding a DataFrame, a DataArray or ``None`` are dropped; strings are variable-length
UTF-8. Files written by BrainIO 1.1 use ``__xarray_dataarray_variable__`` for uncompressed
files; both names are read.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainbridge.errors import AssemblyError

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "FACTORIZED_ENCODING",
    "data_variable_name",
    "default_chunks",
    "single_variable",
    "to_dataset",
    "walk_coords",
]

#: encoding key of a 1-D coordinate read with its factorization, ``(codes, uniques)``: ``uniques``
#: sorted and distinct, ``uniques[codes]`` the values, i.e. what ``pd.factorize(values,
#: sort=True)`` returns; index builds use it instead of hashing every value again
#: (:func:`brainbridge.assemblies.gather_indexes`). Never written to a file.
FACTORIZED_ENCODING = "brainbridge_factorized"
#: target size of one chunk of ``data`` (uncompressed) in compressed netCDF files and zarr stores
DEFAULT_CHUNK_BYTES = 4 << 20


def walk_coords(assembly: xr.DataArray):
    """Yield ``(name, dims, values)`` for every coordinate, MultiIndex levels flattened.

    Equivalent to BrainIO's ``walk_coords``.
    """
    for name, coord in assembly.coords.items():
        index = assembly.indexes.get(name)
        if name in assembly.dims and isinstance(index, pd.MultiIndex):
            continue
        yield name, coord.dims, coord.values


def _plain_values(values: Any) -> np.ndarray:
    """Coordinate values as a numpy array netCDF/zarr can store.

    Strings (numpy ``U``/``S``, pandas string arrays, object arrays of ``str``) become object
    arrays of Python ``str``, which both backends write as variable-length UTF-8 strings.
    """
    if isinstance(values, (pd.Index, pd.Series, pd.api.extensions.ExtensionArray)):
        if isinstance(values.dtype, pd.StringDtype):
            values = np.asarray(values.astype(object))
        else:
            values = np.asarray(values)
    values = np.asarray(values)
    if values.dtype.kind in "US" or values.dtype.kind == "T":
        return (
            values.astype(object)
            if values.dtype.kind != "S"
            else np.char.decode(values, "utf-8").astype(object)
        )
    if values.dtype == object and len(values):
        # numpy.str_ elements are str subclasses: normalise so the bytes do not depend on them
        kinds = {type(v) for v in values.ravel()[: min(values.size, 4096)]}
        if kinds <= {str, np.str_}:
            return np.array([str(v) for v in values.ravel()], dtype=object).reshape(values.shape)
    return values


def _storable_attrs(attrs: Mapping[Hashable, Any]) -> dict[str, Any]:
    """The attributes that can go into a file, in sorted order (BrainIO's rule plus sorting).

    DataFrames, DataArrays and ``None`` are dropped as BrainIO does (``attrs['stimulus_set']``
    is re-attached on load); ``bool`` becomes ``int`` (netCDF has no boolean attribute).
    """
    kept = {}
    for key in sorted(attrs, key=str):
        value = attrs[key]
        if value is None or isinstance(value, (pd.DataFrame, pd.Series, xr.DataArray, xr.Dataset)):
            continue
        if isinstance(value, (bool, np.bool_)):
            value = int(value)
        kept[str(key)] = value
    return kept


def to_dataset(assembly: xr.DataArray) -> xr.Dataset:
    """The assembly as the flat :class:`xarray.Dataset` BrainIO writes (no indexes, no encoding).

    Every coordinate (MultiIndex levels included) becomes a plain variable on its
    dimension(s); a plain index named after its dimension becomes ``<dim>_``. Variables are in
    sorted order and carry no encoding inherited from a file the assembly was read from, so
    the written bytes depend on content only.

    Raises
    ------
    AssemblyError
        Two coordinates would get the same name.
    """
    if not isinstance(assembly, xr.DataArray):
        raise AssemblyError(f"expected an assembly (xarray.DataArray), got {type(assembly).__name__}")
    coords: dict[str, xr.Variable] = {}
    for name, dims, values in walk_coords(assembly):
        key = f"{name}_" if name in assembly.dims else str(name)
        if key in coords:
            raise AssemblyError(f"cannot write the assembly: two coordinates would be stored as {key!r}")
        if key == "data":
            raise AssemblyError(
                "cannot write the assembly: a coordinate is called 'data' (the data variable's name)"
            )
        variable = assembly.coords[name].variable
        coords[key] = xr.Variable(dims, _plain_values(values), attrs=_storable_attrs(variable.attrs))
    attrs = _storable_attrs(assembly.attrs)
    data = xr.Variable(assembly.dims, assembly.variable.data, attrs=attrs)
    return xr.Dataset({"data": data}, coords={k: coords[k] for k in sorted(coords)}, attrs=attrs)


def default_chunks(
    shape: tuple[int, ...], itemsize: int, target_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[int, ...]:
    """Chunk shape of about ``target_bytes``: split the first (longest-running) axes first.

    Trailing axes are kept whole as long as possible so each chunk is one contiguous block of
    rows; an array smaller than the target is one chunk.
    """
    if not shape or 0 in shape:
        return tuple(max(1, s) for s in shape)
    chunks = list(shape)
    budget = max(1, target_bytes // max(1, itemsize))
    for axis in range(len(shape)):
        rest = int(np.prod(chunks[axis + 1 :], dtype=np.int64)) if axis + 1 < len(shape) else 1
        if rest <= budget:
            chunks[axis] = max(1, min(shape[axis], budget // rest))
            break
        chunks[axis] = 1
    return tuple(int(c) for c in chunks)


def data_variable_name(ds: xr.Dataset, path: str) -> Hashable:
    """The assembly's variable: ``data`` (BrainIO), or the only data variable."""
    if "data" in ds.data_vars:
        return "data"
    if len(ds.data_vars) == 1:
        return next(iter(ds.data_vars))
    raise AssemblyError(
        f"{path} holds {len(ds.data_vars)} data variables {sorted(map(str, ds.data_vars))}; "
        "an assembly file has one (named 'data')"
    )


def single_variable(ds: xr.Dataset, path: str) -> xr.DataArray:
    name = data_variable_name(ds, path)
    array = ds[name]
    # global attrs (BrainIO promotes them) complete the variable's own
    attrs = {**ds.attrs, **array.attrs}
    attrs.pop("coordinates", None)
    array.attrs = attrs
    array.name = None if name in ("data", "__xarray_dataarray_variable__") else name
    return array

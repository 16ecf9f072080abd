"""Data assemblies: labelled arrays with every piece of metadata as a coordinate.

The classes and their names follow BrainIO (``brainio.assemblies``) so that code written for
BrainIO keeps working after changing the import. Differences, all deliberate:

* a dimension with a single coordinate keeps that coordinate's name (it gets its own index
  with :meth:`xarray.DataArray.set_xindex` instead of becoming the dimension coordinate);
* :meth:`DataAssembly.from_files` never overwrites a stored ``stimulus_set_identifier`` with
  ``None`` and merges the stimulus set before building indexes (one MultiIndex build, not two);
* files open lazily: values are read on first use (xarray's lazy backend, or dask chunks
  when ``chunks=`` is given);
* the domain helpers (:func:`average_repetitions`, :func:`select`, :func:`align`) are plain
  functions that also accept plain :class:`xarray.DataArray` objects, and are available on
  every DataArray as the ``.brainbridge`` accessor.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import pandas as pd
import xarray as xr

from brainbridge.errors import AssemblyError, GroupbyError
from brainbridge.formats import open_assembly_array
from brainbridge.formats.layout import FACTORIZED_ENCODING, walk_coords
from brainbridge.formats.netcdf import netcdf_groups
from brainbridge.regions import CHANNEL_GROUPS, OTHER_CHANNELS, ROI_PREFIX, channel_group, roi_names
from brainbridge.stats import (
    accumulate_in_order,
    accumulator_dtype,
    group_means,
    mean_over_axis,
    result_dtype,
)

if TYPE_CHECKING:
    from brainbridge.stimuli import StimulusSet

__all__ = [
    "BehavioralAssembly",
    "DataAssembly",
    "EEGAssembly",
    "GroupbyBridge",
    "GroupbyError",
    "MEGAssembly",
    "MetadataAssembly",
    "ModelFeaturesAssembly",
    "NeuroidAssembly",
    "NeuronRecordingAssembly",
    "OTHER_CHANNELS",
    "PropertyAssembly",
    "CHANNEL_GROUPS",
    "ROI_PREFIX",
    "SpikeTimesAssembly",
    "VoxelAssembly",
    "align",
    "assembly_class",
    "average_repetitions",
    "average_time_bins",
    "channel_group",
    "coords_for_dim",
    "gather_indexes",
    "roi_mask",
    "roi_names",
    "select",
    "select_rois",
    "assembly_problems",
    "walk_coords",
]


# --------------------------------------------------------------------------------------
# coordinate helpers
# --------------------------------------------------------------------------------------


def coords_for_dim(assembly: xr.DataArray, dim: Hashable) -> list[Hashable]:
    """Names of the 1-D metadata coordinates along ``dim`` (MultiIndex levels included).

    The dimension coordinate itself is excluded when it is a MultiIndex (its levels are
    listed instead).
    """
    names = []
    # the coordinates' variables: no DataArray built per coordinate (hundreds per open)
    for name, variable in assembly.coords.variables.items():
        if variable.dims != (dim,):
            continue
        if name == dim and isinstance(assembly.indexes.get(dim), pd.MultiIndex):
            continue
        names.append(name)
    return names


def assembly_problems(assembly: xr.DataArray) -> list[str]:
    """The rules of the assembly format that ``assembly`` (indexed or plain) breaks.

    Each dimension has a coordinate; ``presentation`` has ``stimulus_id`` (or BrainIO's legacy
    ``image_id``); ``neuroid`` has unique ``neuroid_id`` values; ``time_bin`` has
    ``time_bin_start`` < ``time_bin_end``; ``(stimulus_id, repetition)`` pairs are unique.
    :meth:`DataAssembly.validate` raises with them; ``brainbridge validate`` reports them.
    """
    coords = {str(name): (dims, np.asarray(v)) for name, dims, v in walk_coords(assembly)}
    problems = []
    for dim in assembly.dims:
        if not any(dims == (dim,) for dims, _ in coords.values()):
            problems.append(f"dimension {dim!r} has no coordinate")
    if "presentation" in assembly.dims and "stimulus_id" not in coords and "image_id" not in coords:
        problems.append("dimension 'presentation' has no 'stimulus_id' coordinate")
    if "neuroid" in assembly.dims:
        if "neuroid_id" not in coords:
            problems.append("dimension 'neuroid' has no 'neuroid_id' coordinate")
        elif not pd.Index(coords["neuroid_id"][1]).is_unique:
            problems.append("neuroid_id values are not unique")
    if "time_bin" in assembly.dims:
        if "time_bin_start" in coords and "time_bin_end" in coords:
            if np.any(coords["time_bin_start"][1] >= coords["time_bin_end"][1]):
                problems.append("a time bin has time_bin_start >= time_bin_end")
        else:
            problems.append("dimension 'time_bin' lacks time_bin_start/time_bin_end")
    if "stimulus_id" in coords and "repetition" in coords:
        pairs = pd.MultiIndex.from_arrays([coords["stimulus_id"][1], coords["repetition"][1]])
        if not pairs.is_unique:
            problems.append("(stimulus_id, repetition) pairs are not unique")
    return problems


def gather_indexes(assembly: xr.DataArray) -> xr.DataArray:
    """Index every dimension by all of its 1-D coordinates.

    A dimension with several coordinates gets one MultiIndex over them (so ``.sel(region='IT')``
    works on a level); a dimension with a single coordinate keeps that coordinate under its own
    name with a plain index (``.sel(neuroid_id=...)``). Coordinates already indexed are left
    as they are. Returns a new object; the input is not modified.
    """
    return _gather_indexes(assembly)


def _check_coordinate_names(assembly: xr.DataArray) -> None:
    """Refuse coordinate names that cannot all become index levels (a file's names are data).

    Raises
    ------
    AssemblyError
        A coordinate named after another dimension, or a dimension coordinate ``<dim>``
        next to a coordinate ``<dim>_`` (BrainIO stores the former as the latter: one would
        silently replace the other).
    """
    for dim in assembly.dims:
        for name in coords_for_dim(assembly, dim):
            if name != dim and name in assembly.dims:
                raise AssemblyError(
                    f"coordinate {name!r} along dimension {dim!r} has the name of another dimension; "
                    "coordinate names must differ from the dimension names (rename it in the file)"
                )
        if (
            dim in assembly.coords
            and f"{dim}_" in assembly.coords
            and not isinstance(assembly.indexes.get(dim), pd.MultiIndex)
            and len(coords_for_dim(assembly, dim)) > 1
        ):
            raise AssemblyError(
                f"coordinates {dim!r} and {f'{dim}_'!r} collide: the dimension coordinate {dim!r} is kept as "
                f"{f'{dim}_'!r} when other coordinates share its dimension; rename one of them"
            )


def _gather_indexes(assembly: xr.DataArray, key: _KeyFactorization | None = None) -> xr.DataArray:
    """:func:`gather_indexes`, reusing ``key`` (the factorized ``stimulus_id`` along
    ``presentation``, already computed by the stimulus-set merge) when given."""
    _check_coordinate_names(assembly)
    try:
        return _gather_indexes_checked(assembly, key)
    except (ValueError, KeyError) as e:  # xarray's index errors: name the cause, no traceback
        if isinstance(e, AssemblyError):
            raise
        raise AssemblyError(
            f"cannot index the assembly's coordinates {list(map(str, assembly.coords))}: {e}"
        ) from e


def _gather_indexes_checked(assembly: xr.DataArray, key: _KeyFactorization | None = None) -> xr.DataArray:
    result = assembly
    for dim in assembly.dims:
        index = assembly.indexes.get(dim)
        names = coords_for_dim(assembly, dim)
        if isinstance(index, pd.MultiIndex):
            missing = [n for n in names if n not in index.names]
            if not missing:
                continue
            # rebuild the MultiIndex with the new coordinates appended
            result = result.reset_index(dim)
            names = list(index.names) + missing
        elif dim in assembly.coords and dim in names:
            # a plain dimension coordinate next to other metadata: keep its values under the
            # name BrainIO's writer gives it, so it becomes an ordinary level.
            if len(names) == 1:
                continue
            # (DataArray.rename would rename the dimension too)
            own = result[dim].variable
            result = result.drop_vars([dim]).assign_coords(
                {f"{dim}_": xr.Variable((dim,), own.values, own.attrs)}
            )
            names = [f"{dim}_" if n == dim else n for n in names]
        if not names:
            continue
        if len(names) == 1:
            if names[0] not in result.xindexes:
                result = result.set_xindex([names[0]])
        else:
            indexed = [n for n in names if n in result.xindexes]
            if indexed:
                result = result.drop_indexes(indexed)
            result = _set_multiindex(result, dim, names, key if dim == "presentation" else None)
    return result


def _set_multiindex(
    array: xr.DataArray, dim: Hashable, names: list[Hashable], key: _KeyFactorization | None = None
) -> xr.DataArray:
    """``array.set_index({dim: names})``, built from one ``pd.factorize`` per level.

    xarray's ``set_index`` turns every level's codes into Python lists, which dominates the
    opening time of long assemblies (148480 presentations: ~1 s); this is the same index
    (sorted levels, NaN as code -1, level dtypes kept) without that detour. Levels that are
    constant within each stimulus are factorized through ``stimulus_id`` (see
    :class:`_KeyFactorization`).
    """
    from xarray.indexes import PandasMultiIndex

    variables = {name: array.coords[name].variable for name in names}
    if _KEY_LEVEL not in variables or len(names) < 2:
        key = None
    elif key is None or len(key.codes) != array.sizes[dim]:
        found = _factorized(variables[_KEY_LEVEL])
        key = (
            _KeyFactorization.of_sorted(*found)
            if found
            else _KeyFactorization.of(variables[_KEY_LEVEL].values)
        )
    codes: list[np.ndarray] = []
    levels: list[pd.Index] = []
    dtypes: dict[Hashable, np.dtype] = {}
    for name in names:
        variable = variables[name]
        found = _factorized(variable)
        if found is None and key is not None:
            found = key.factorize(name == _KEY_LEVEL, variable.values)
        level_codes, uniques = found if found is not None else pd.factorize(variable.values, sort=True)
        codes.append(level_codes)
        levels.append(pd.Index(uniques, dtype=object) if uniques.dtype == object else pd.Index(uniques))
        dtypes[name] = variable.dtype
    # pandas takes Index levels and array codes; pandas-stubs asks for plain sequences
    multiindex = pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=False)  # type: ignore[arg-type]
    index = PandasMultiIndex(multiindex, dim, level_coords_dtype=dtypes)
    index_variables = index.create_variables({name: _without_hint(v) for name, v in variables.items()})
    coords = xr.Coordinates(index_variables, indexes=dict.fromkeys(index_variables, index))
    return array.drop_vars(names).assign_coords(coords)


#: the level through which the others are factorized when it is part of a MultiIndex
_KEY_LEVEL = "stimulus_id"


def _factorized(variable: xr.Variable) -> tuple[np.ndarray, np.ndarray] | None:
    """``pd.factorize(variable.values, sort=True)`` when the reader already knows it (see
    :data:`brainbridge.formats.layout.FACTORIZED_ENCODING`), else ``None``."""
    hint = variable.encoding.get(FACTORIZED_ENCODING)
    if hint is None or variable.ndim != 1:
        return None
    codes, uniques = hint
    if len(codes) != variable.shape[0]:
        return None
    return codes, (uniques.astype(object) if uniques.dtype.kind == "U" else uniques)


def _without_hint(variable: xr.Variable) -> xr.Variable:
    if FACTORIZED_ENCODING not in variable.encoding:
        return variable
    variable = variable.copy(deep=False)
    variable.encoding = {k: v for k, v in variable.encoding.items() if k != FACTORIZED_ENCODING}
    return variable


class _KeyFactorization:
    """Factorize the levels of a long MultiIndex through its stimulus level.

    A presentation coordinate such as ``object_name`` or a stimulus-set column is usually
    constant within each stimulus. Checking that (one vectorised comparison with each
    stimulus's first value) and factorizing the few thousand per-stimulus values gives the
    same codes and levels as ``pd.factorize(values, sort=True)`` over every presentation
    (148480 hashes of Python strings), at a fraction of the cost; a level that varies within
    a stimulus is factorized in full.
    """

    __slots__ = ("codes", "first", "levels", "sorted_codes")

    def __init__(self, codes: np.ndarray, first: np.ndarray, sorted_codes: np.ndarray, levels):
        self.codes = codes  # group of each position, numbered by first appearance
        self.first = first  # first position of each group
        self.sorted_codes = sorted_codes  # codes of the key itself (its levels sorted)
        self.levels = levels

    @classmethod
    def of(cls, values: np.ndarray) -> _KeyFactorization | None:
        """Factorize the key; ``None`` when it has missing values or nothing repeats."""
        codes, uniques = pd.factorize(values, sort=False)
        if len(codes) == 0 or (codes < 0).any() or len(uniques) == len(codes):
            return None
        codes = codes.astype(np.intp, copy=False)
        first = np.flatnonzero(np.r_[True, codes[1:] > np.maximum.accumulate(codes)[:-1]])
        rank, levels = pd.factorize(uniques, sort=True)  # uniques are distinct: rank = sorted position
        return cls(codes, first, rank[codes], levels)

    @classmethod
    def of_sorted(cls, sorted_codes: np.ndarray, levels: np.ndarray) -> _KeyFactorization | None:
        """:meth:`of` from ``pd.factorize(values, sort=True)`` (codes, sorted distinct levels)."""
        n, k = len(sorted_codes), len(levels)
        if n == 0 or k == n or (sorted_codes < 0).any():
            return None
        sorted_codes = np.asarray(sorted_codes, dtype=np.intp)
        first_of_level = np.empty(k, dtype=np.intp)
        first_of_level[sorted_codes[::-1]] = np.arange(n - 1, -1, -1)  # the last write (first position) wins
        order = np.argsort(first_of_level, kind="stable")  # levels in order of first appearance
        appearance = np.empty(k, dtype=np.intp)
        appearance[order] = np.arange(k)
        return cls(appearance[sorted_codes], first_of_level[order], sorted_codes, levels)

    def factorize(self, is_key: bool, values: np.ndarray) -> tuple[np.ndarray, Any] | None:
        """``pd.factorize(values, sort=True)``, or ``None`` when ``values`` vary within a group."""
        if is_key:
            return self.sorted_codes, self.levels
        values = np.asarray(values)
        group_first = values[self.first]
        if not _equal_to_group_first(values, group_first, self.codes):
            return None
        group_codes, uniques = pd.factorize(group_first, sort=True)
        return group_codes[self.codes], uniques


def _equal_to_group_first(values: np.ndarray, group_first: np.ndarray, codes: np.ndarray) -> bool:
    """Whether every value is its group's first value (floats bit for bit: NaN and -0.0 kept)."""
    if values.dtype.kind in "fc":
        as_bits = np.dtype(f"u{values.dtype.itemsize}") if values.dtype.itemsize <= 8 else None
        if as_bits is None:
            return False
        return bool(np.array_equal(values.view(as_bits), group_first.view(as_bits)[codes]))
    try:
        same = np.asarray(values == group_first[codes])
    except (TypeError, ValueError):
        return False
    return same.shape == values.shape and same.dtype == bool and bool(same.all())


# --------------------------------------------------------------------------------------
# the classes
# --------------------------------------------------------------------------------------


_AssemblyT = TypeVar("_AssemblyT", bound="DataAssembly")


class DataAssembly(xr.DataArray):
    """A labelled array whose dimensions are indexed by all of their metadata coordinates.

    Construct it like an :class:`xarray.DataArray`; every dimension's coordinates are then
    gathered into an index (see :func:`gather_indexes`).

    Examples
    --------
    >>> import numpy as np
    >>> a = NeuronRecordingAssembly(
    ...     np.zeros((2, 3)), dims=["presentation", "neuroid"],
    ...     coords={"stimulus_id": ("presentation", ["s0", "s1"]),
    ...             "repetition": ("presentation", [0, 0]),
    ...             "neuroid_id": ("neuroid", ["n0", "n1", "n2"]),
    ...             "region": ("neuroid", ["V4", "IT", "IT"])})
    >>> a.sel(region="IT").sizes["neuroid"]
    2
    """

    __slots__ = ()

    def __init__(self, *args, **kwargs):
        fastpath = kwargs.get("fastpath", False) or (len(args) >= 7 and args[6])
        if not fastpath and len(args) == 1 and not kwargs and isinstance(args[0], xr.DataArray):
            # wrapping an array (``NeuronRecordingAssembly(array)``): share its coordinate values as
            # xarray operations do, instead of DataArray.__init__'s deep copy of every coordinate
            # (seconds for the object arrays of a long assembly)
            gathered = gather_indexes(args[0])
            super().__init__(
                gathered.variable.copy(deep=False),
                {name: variable.copy(deep=False) for name, variable in gathered._coords.items()},
                name=gathered.name,
                indexes=dict(gathered._indexes),
                fastpath=True,
            )
            return
        super().__init__(*args, **kwargs)
        if fastpath:
            # xarray's internal constructor (used by every operation): indexes are already right
            return
        gathered = gather_indexes(self)
        if gathered is not self:
            # adopt the re-indexed variable and coordinates without a second gather
            self._variable = gathered._variable
            self._coords = gathered._coords
            self._indexes = gathered._indexes

    # displays ---------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        """Jupyter's display: dims, coordinates and attributes (the values are not read)."""
        from brainbridge.display import assembly_html

        return assembly_html(self)

    @property
    def plot(self) -> Any:  # type: ignore[override]  # xarray's plot is a class attribute, read-only too
        """xarray's plotting (``assembly.plot()``, ``assembly.plot.line(...)``) on a plottable copy.

        xarray cannot put a MultiIndex (tuples) on an axis, so the copy replaces each
        dimension's MultiIndex by positions (its levels stay as coordinates). For the domain
        plots (responses per region, PSTH, RDM) use ``assembly.brainbridge.plot(kind=...)``.
        """
        multi = [dim for dim in self.dims if isinstance(self.indexes.get(dim), pd.MultiIndex)]
        plain = xr.DataArray(self).reset_index(multi) if multi else xr.DataArray(self)
        return plain.plot

    # BrainIO API ------------------------------------------------------------------------

    def validate(self) -> None:
        """Check the rules of the format (see :func:`assembly_problems`); subclasses add their
        dimensions.

        Raises
        ------
        AssemblyError
            Naming every rule the assembly breaks.
        """
        problems = assembly_problems(self)
        if problems:
            raise AssemblyError("; ".join(problems))

    @classmethod
    def from_files(
        cls: type[_AssemblyT],
        file_path: str | os.PathLike,
        stimulus_set_identifier: str | None = None,
        stimulus_set: StimulusSet | pd.DataFrame | None = None,
        *,
        group: str | None = None,
        chunks: Any = None,
        merge_stimulus_set: bool = True,
        attach_groups: bool = True,
        **kwargs,
    ) -> _AssemblyT:
        """Open an assembly file (netCDF-4 or zarr) lazily and merge its stimulus set.

        Parameters
        ----------
        file_path
            A netCDF-4 file written by BrainIO or brainbridge, or a zarr store (a folder or
            ``*.zarr`` path; see :func:`brainbridge.packaging.write_zarr`).
        stimulus_set_identifier
            Stored in ``attrs['stimulus_set_identifier']`` when given. When ``None`` the value
            stored in the file is kept (BrainIO overwrote it with ``None``).
        stimulus_set
            Its columns that the assembly lacks become ``presentation`` coordinates, joined on
            ``stimulus_id`` (the assembly wins clashes; unknown ids get missing values).
        group
            A netCDF group to read instead of the root (BrainIO's ``extras``).
        chunks
            ``None`` (default) reads values lazily on first use with xarray's backend; any
            value accepted by :func:`xarray.open_dataarray` (``{}``, ``"auto"``, a dict)
            returns a dask-backed assembly, read chunk by chunk.
        merge_stimulus_set
            Set to ``False`` to attach the stimulus set without merging its columns.
        attach_groups
            Reading a netCDF file's root: attach each of its other netCDF groups (BrainIO's
            ``extras``) as a :class:`MetadataAssembly` in ``attrs[<group name>]``, with the
            stimulus set (not merged) in its ``attrs``, as BrainIO's loader does.
        **kwargs
            Passed to :func:`xarray.open_dataarray` / :func:`xarray.open_zarr`.

        Returns
        -------
        DataAssembly
            An instance of ``cls``.

        Raises
        ------
        AssemblyError
            The file is missing, truncated or not an assembly.
        """
        array = open_assembly_array(file_path, group=group, chunks=chunks, **kwargs)
        assembly = cls._from_raw(
            array,
            stimulus_set_identifier=stimulus_set_identifier,
            stimulus_set=stimulus_set,
            merge_stimulus_set=merge_stimulus_set,
        )
        if group is None and attach_groups:
            for extra in netcdf_groups(file_path):
                assembly.attrs[extra] = MetadataAssembly.from_files(
                    file_path,
                    stimulus_set_identifier=stimulus_set_identifier,
                    stimulus_set=stimulus_set,
                    group=extra,
                    chunks=chunks,
                    merge_stimulus_set=False,
                    **kwargs,
                )
        return assembly

    @classmethod
    def _from_raw(
        cls: type[_AssemblyT],
        array: xr.DataArray,
        *,
        stimulus_set_identifier: str | None = None,
        stimulus_set: pd.DataFrame | None = None,
        merge_stimulus_set: bool = True,
    ) -> _AssemblyT:
        """Wrap a plain, un-indexed DataArray: legacy fixes, stimulus merge, one index build."""
        if "presentation" in array.dims and "image_id" in array.coords and "stimulus_id" not in array.coords:
            array = array.assign_coords(stimulus_id=array["image_id"])
        key = None
        if stimulus_set is not None and merge_stimulus_set:
            key = _presentation_key(array)
            array = _merge_stimulus_set_meta(array, stimulus_set, key=key)
        attrs = dict(array.attrs)
        if stimulus_set_identifier is not None:
            attrs["stimulus_set_identifier"] = stimulus_set_identifier
        if stimulus_set is not None:
            attrs["stimulus_set"] = stimulus_set
        array.attrs = attrs
        # one index build, the stimulus ids factorized once for the merge and the index
        assembly = cls(_gather_indexes(array, key))
        for variable in assembly._coords.values():  # the reader's factorizations have served
            variable.encoding.pop(FACTORIZED_ENCODING, None)
        return assembly

    @classmethod
    def get_loader_class(cls):  # BrainIO compatibility: loaders are functions here
        return cls.from_files

    # conveniences ---------------------------------------------------------------------

    def multi_groupby(self, group_coord_names: Iterable[Hashable], *args, **kwargs):
        """Group by the combinations of several coordinates of one dimension (BrainIO's API).

        One name is a plain :meth:`~xarray.DataArray.groupby`. Several names are grouped by
        their value tuples (sorted, as BrainIO sorts them); a reduction such as ``.mean(dim)``
        then returns an assembly whose dimension is indexed by those coordinates again.

        Parameters
        ----------
        group_coord_names
            Coordinates that all lie along the same single dimension.
        *args, **kwargs
            Passed to :meth:`xarray.DataArray.groupby`.

        Returns
        -------
        GroupbyBridge or xarray GroupBy

        Raises
        ------
        GroupbyError
            The coordinates do not all lie along one single dimension.

        Examples
        --------
        >>> a = DataAssembly([1., 2., 3., 4.], dims=["presentation"],
        ...                  coords={"object": ("presentation", ["a", "a", "b", "b"]),
        ...                          "size": ("presentation", [1, 1, 1, 2])})
        >>> a.multi_groupby(["object", "size"]).mean("presentation").values
        array([1.5, 3. , 4. ])
        """
        names = list(group_coord_names)
        if not names:
            raise GroupbyError("multi_groupby needs at least one coordinate name")
        if len(names) == 1:
            # xarray groups by any hashable name; its annotation lists str only
            return self.groupby(names[0], *args, **kwargs)  # type: ignore[arg-type]
        dim = _dim_of_coords(self, names)
        # one integer code per value tuple, in sorted tuple order (BrainIO sorts its tuples)
        keys = pd.MultiIndex.from_arrays([np.asarray(self[name].values) for name in names], names=names)
        codes, uniques = pd.factorize(keys, sort=True)
        grouping = self.assign_coords({_MULTI_GROUP: (dim, codes)})
        # the uniques of a MultiIndex are a MultiIndex
        return GroupbyBridge(
            grouping.groupby(_MULTI_GROUP, *args, **kwargs), self, dim, names, cast(pd.MultiIndex, uniques)
        )

    def multi_dim_apply(self, groups: Iterable[Hashable], apply) -> DataAssembly:
        """Apply ``apply`` to each block of cells that share one value of every group coordinate.

        BrainIO's ``multi_dim_apply``: ``groups`` names one coordinate per dimension (every
        dimension needs one); for each combination of their (sorted, unique) values,
        ``apply(cells, **coords)`` gets the block's values (size-1 axes squeezed, a scalar for
        one cell) and every coordinate's values over the block, and its result replaces the
        block. Coordinates and order stay as they are.

        Raises
        ------
        AssemblyError
            A group coordinate is not 1-D, two lie along the same dimension, or a dimension
            has none.
        """
        names = list(groups)
        by_dim: dict[Hashable, Hashable] = {}
        for name in names:
            dims = self[name].dims
            if len(dims) != 1:
                raise AssemblyError(f"group coordinate {name!r} must be 1-D, it has dims {dims}")
            if dims[0] in by_dim:
                raise AssemblyError(
                    f"{by_dim[dims[0]]!r} and {name!r} both lie along {dims[0]!r}; give one per dim"
                )
            by_dim[dims[0]] = name
        missing = [d for d in self.dims if d not in by_dim]
        if missing:
            raise AssemblyError(
                f"multi_dim_apply needs a group coordinate for every dimension; none for {missing}"
            )
        ordered = [by_dim[d] for d in self.dims]
        # positions of each value of each group, values sorted
        members = []
        for name in ordered:
            codes, uniques = pd.factorize(np.asarray(self[name].values), sort=True)
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
            members.append([order[a:b] for a, b in zip(bounds[:-1], bounds[1:])])
        values = np.asarray(self.values)
        coords = [(name, dims, np.asarray(v)) for name, dims, v in walk_coords(self)]
        blocks, results = [], []
        for cell in itertools.product(*members):
            block = np.ix_(*cell)
            cells = values[block]
            passed = {}
            for name, dims, coord_values in coords:
                if not dims:
                    passed[name] = coord_values.item() if coord_values.size == 1 else coord_values
                    continue
                if len(dims) != 1:
                    continue
                picked = coord_values[cell[self.dims.index(dims[0])]]
                passed[name] = picked.item() if picked.size == 1 else picked
            squeezed = cells.item() if cells.size == 1 else np.squeeze(cells)
            merged = np.asarray(apply(squeezed, **passed))
            if merged.size == cells.size:
                merged = merged.reshape(cells.shape)
            blocks.append(block)
            results.append(np.broadcast_to(merged, cells.shape))
        out = np.zeros(values.shape, dtype=np.result_type(np.float64, *(r.dtype for r in results)))
        for block, result in zip(blocks, results):
            out[block] = result
        return self.copy(data=out)

    def multisel(self, **indexers) -> DataAssembly:
        """Select on several coordinates at once (BrainIO's ``multisel``); same as ``.sel``."""
        return self.sel(**indexers)

    def sel(self, indexers=None, method=None, tolerance=None, drop=False, **indexers_kwargs) -> DataAssembly:
        """:meth:`xarray.DataArray.sel`, except that dimensions keep their names.

        When a selection on a level (``.sel(region='IT')``) leaves a dimension's MultiIndex with
        a single level, xarray (and BrainIO) rename the dimension after that level
        (``neuroid`` -> ``neuroid_id``); here the dimension stays ``neuroid`` and the remaining
        level stays an indexed coordinate.
        """
        result = super().sel(indexers, method=method, tolerance=tolerance, drop=drop, **indexers_kwargs)
        swaps = {}
        for dim in self.dims:
            index = self.indexes.get(dim)
            if dim in result.dims or not isinstance(index, pd.MultiIndex):
                continue
            swaps.update(
                {level: dim for level in index.names if level in result.dims and level not in self.dims}
            )
        if not swaps:
            return result
        return type(self)(result.swap_dims(swaps))


#: the temporary coordinate that holds the group code of :meth:`DataAssembly.multi_groupby`
_MULTI_GROUP = "multi_group"


def _dim_of_coords(assembly: xr.DataArray, names: list[Hashable]) -> Hashable:
    dims = {dim for name in names for dim in assembly[name].dims}
    if len(dims) != 1:
        raise GroupbyError(
            f"All coordinates for grouping must be associated with the same single dimension; {names} lie "
            f"along {sorted(map(str, dims))}"
        )
    return dims.pop()


class GroupbyBridge:
    """An xarray GroupBy over several coordinates' value tuples (see :meth:`DataAssembly.multi_groupby`).

    Every method of the wrapped GroupBy is available; results that carry the temporary group
    dimension get it replaced by the original dimension, indexed by the group coordinates.
    """

    def __init__(
        self,
        groupby,
        assembly: xr.DataArray,
        dim: Hashable,
        group_coord_names: list[Hashable],
        uniques: pd.MultiIndex,
    ):
        self.groupby = groupby
        self.assembly = assembly
        self.dim = dim
        self.group_coord_names = list(group_coord_names)
        self.multi_group_name = _MULTI_GROUP
        self._uniques = uniques

    def __getattr__(self, attr):
        result = getattr(self.groupby, attr)
        if callable(result):
            return self._wrap(result)
        return result

    def __iter__(self):
        return iter(self.groupby)

    def __len__(self) -> int:
        return len(self.groupby)

    def _wrap(self, func):
        def wrapper(*args, **kwargs):
            return self.split_group_coords(func(*args, **kwargs))

        return wrapper

    def split_group_coords(self, result):
        """Replace the temporary group dimension of ``result`` by the grouped dimension."""
        if not isinstance(result, xr.DataArray) or _MULTI_GROUP not in result.coords:
            return result
        codes = np.asarray(result[_MULTI_GROUP].values)
        group_dims = result[_MULTI_GROUP].dims
        plain = xr.DataArray(result).drop_vars(_MULTI_GROUP)
        level_coords = {
            name: (group_dims, np.asarray(self._uniques.get_level_values(i))[codes])
            for i, name in enumerate(self.group_coord_names)
        }
        plain = plain.drop_vars([n for n in self.group_coord_names if n in plain.coords])
        plain = plain.assign_coords(level_coords)
        if _MULTI_GROUP in plain.dims:
            plain = plain.rename({_MULTI_GROUP: self.dim})
        cls = type(self.assembly) if isinstance(self.assembly, DataAssembly) else DataAssembly
        return cls(plain)

    def __repr__(self) -> str:
        return f"GroupbyBridge({self.group_coord_names} along {self.dim!r})"


class NeuroidAssembly(DataAssembly):
    """Responses of neuroids (units, sites, voxels, model features) to presentations."""

    __slots__ = ()

    def validate(self) -> None:
        """The dimensions ``presentation`` and ``neuroid`` (and optionally ``time_bin``), then
        the format's rules."""
        dims = set(self.dims)
        if dims not in ({"presentation", "neuroid"}, {"presentation", "neuroid", "time_bin"}):
            raise AssemblyError(
                f"{type(self).__name__} needs dims presentation x neuroid [x time_bin], "
                f"got {tuple(self.dims)}"
            )
        super().validate()


class NeuronRecordingAssembly(NeuroidAssembly):
    """Recorded neural responses: ``presentation x neuroid [x time_bin]``."""

    __slots__ = ()


class ModelFeaturesAssembly(NeuroidAssembly):
    """Features (activations) of a model: ``presentation x neuroid``."""

    __slots__ = ()


class BehavioralAssembly(DataAssembly):
    """Behavioural measurements, e.g. ``presentation x choice``."""

    __slots__ = ()


class PropertyAssembly(DataAssembly):
    """Properties of neuroids that are not responses to a stimulus set (no merge)."""

    __slots__ = ()


class MetadataAssembly(DataAssembly):
    """Metadata arrays stored beside an assembly (BrainIO's netCDF groups)."""

    __slots__ = ()


class SpikeTimesAssembly(NeuronRecordingAssembly):
    """Spike events along one dimension, ``event``, with ``neuroid_id`` and ``time`` coordinates."""

    __slots__ = ()

    def validate(self) -> None:
        """The single dimension ``event``, then the format's rules."""
        if set(self.dims) != {"event"}:
            raise AssemblyError(f"SpikeTimesAssembly needs the single dim 'event', got {tuple(self.dims)}")
        DataAssembly.validate(self)


# --------------------------------------------------------------------------------------
# fMRI and EEG/MEG
# --------------------------------------------------------------------------------------


def _require_coords(assembly: xr.DataArray, wanted: dict[str, str]) -> None:
    """Raise AssemblyError naming every ``{coordinate: dim}`` that is missing or on another dim."""
    problems = []
    for name, dim in wanted.items():
        if name not in assembly.coords:
            problems.append(f"'{name}' (on {dim}) is missing")
        elif assembly[name].dims != (dim,):
            problems.append(f"'{name}' must lie along {dim}, not {assembly[name].dims}")
    if problems:
        raise AssemblyError(f"{type(assembly).__name__}: coordinate {'; '.join(problems)}")


def _require_dims(assembly: xr.DataArray, dims: tuple[str, ...]) -> None:
    if set(assembly.dims) != set(dims) or len(assembly.dims) != len(dims):
        raise AssemblyError(
            f"{type(assembly).__name__} needs dims {' x '.join(dims)}, "
            f"got {' x '.join(map(str, assembly.dims))}"
        )


def roi_mask(assembly: xr.DataArray, roi: str | Iterable[str]) -> np.ndarray:
    """Boolean voxel mask of the voxels in ``roi`` (several names: in any of them).

    Raises
    ------
    AssemblyError
        An ROI the assembly does not have (the message lists the ROIs it has).
    """
    from brainbridge.errors import valid_values_message

    names = [roi] if isinstance(roi, str) else list(roi)
    known = roi_names(assembly)
    mask = np.zeros(assembly.sizes["voxel"], dtype=bool)
    for name in names:
        if name not in known:
            raise AssemblyError(valid_values_message("ROI", name, known))
        mask |= np.asarray(assembly[ROI_PREFIX + name].values, dtype=bool)
    return mask


def select_rois(assembly: xr.DataArray, roi: str | Iterable[str]) -> xr.DataArray:
    """The voxels of ``roi`` (a voxel in several ROIs is kept once, in its original order)."""
    return assembly.isel(voxel=np.flatnonzero(roi_mask(assembly, roi)))


class VoxelAssembly(DataAssembly):
    """fMRI responses: ``presentation x voxel``.

    Coordinates: ``stimulus_id`` (and usually ``repetition``) on ``presentation``;
    ``subject`` on ``voxel``; ROI membership as one boolean ``voxel`` coordinate per ROI,
    ``roi_<name>`` (``roi_V1``, ``roi_FFA-1``): a voxel may belong to several ROIs (early and V1,
    say), which a single ``roi`` label could not say. Optional, checked when present: voxel
    coordinates ``voxel_x``, ``voxel_y``, ``voxel_z`` (integers, the volume's indices) and
    ``ncsnr`` (NSD's noise-ceiling SNR, non-negative or NaN). Build one with
    :meth:`from_arrays`; select ROIs with :func:`select_rois`.
    """

    __slots__ = ()

    def validate(self) -> None:
        _require_dims(self, ("presentation", "voxel"))
        _require_coords(self, {"stimulus_id": "presentation", "subject": "voxel"})
        rois = roi_names(self)
        if not rois:
            raise AssemblyError(
                "VoxelAssembly needs at least one boolean ROI coordinate 'roi_<name>' on voxel "
                "(e.g. roi_V1: True for the voxels in V1)"
            )
        for name in rois:
            coord = self[ROI_PREFIX + name]
            if coord.dims != ("voxel",) or coord.dtype != bool:
                raise AssemblyError(
                    f"ROI coordinate '{ROI_PREFIX}{name}' must be boolean along voxel, "
                    f"got {coord.dtype} along {coord.dims}"
                )
        for axis in ("voxel_x", "voxel_y", "voxel_z"):
            if axis in self.coords and self[axis].dtype.kind not in "iu":
                raise AssemblyError(f"voxel coordinate '{axis}' must hold integers, got {self[axis].dtype}")
        if "ncsnr" in self.coords:
            ncsnr = np.asarray(self["ncsnr"].values)
            if ncsnr.dtype.kind != "f" or (ncsnr[np.isfinite(ncsnr)] < 0).any():
                raise AssemblyError("'ncsnr' must be non-negative floats (NaN allowed)")
        DataAssembly.validate(self)  # then the format's rules, as every assembly class

    @classmethod
    def from_arrays(
        cls,
        values: np.ndarray,
        *,
        stimulus_id: Iterable,
        subject: str | Iterable[str],
        rois: dict[str, np.ndarray],
        repetition: Iterable[int] | None = None,
        voxel_id: Iterable[str] | None = None,
        xyz: np.ndarray | None = None,
        ncsnr: np.ndarray | None = None,
        attrs: dict | None = None,
    ) -> VoxelAssembly:
        """Build and validate a ``presentation x voxel`` assembly from plain arrays.

        ``rois`` maps each ROI name to its boolean voxel mask; ``xyz`` is ``(n_voxels, 3)``
        integer volume indices; ``repetition`` defaults to numbering each stimulus's
        presentations 0, 1, 2...
        """
        from brainbridge.stats import repetition_numbers

        values = np.asarray(values)
        n_voxels = values.shape[1]
        stimulus_id = np.asarray(list(stimulus_id), dtype=object)
        if repetition is None:
            repetition = repetition_numbers(pd.factorize(stimulus_id)[0])
        subjects = [subject] * n_voxels if isinstance(subject, str) else list(subject)
        coords: dict[str, Any] = {
            "stimulus_id": ("presentation", stimulus_id),
            "repetition": ("presentation", np.asarray(list(repetition), dtype=np.int64)),
            "voxel_id": (
                "voxel",
                np.asarray(
                    list(voxel_id) if voxel_id is not None else [f"{s}_v{i}" for i, s in enumerate(subjects)],
                    dtype=object,
                ),
            ),
            "subject": ("voxel", np.asarray(subjects, dtype=object)),
        }
        for name, mask in rois.items():
            coords[ROI_PREFIX + str(name)] = ("voxel", np.asarray(mask, dtype=bool))
        if xyz is not None:
            xyz = np.asarray(xyz)
            for k, axis in enumerate(("voxel_x", "voxel_y", "voxel_z")):
                coords[axis] = ("voxel", xyz[:, k].astype(np.int64))
        if ncsnr is not None:
            coords["ncsnr"] = ("voxel", np.asarray(ncsnr, dtype=np.float64))
        assembly = cls(values, dims=["presentation", "voxel"], coords=coords, attrs=dict(attrs or {}))
        assembly.validate()
        return assembly


class EEGAssembly(DataAssembly):
    """EEG responses: ``presentation x channel x time_bin``, one presentation per trial.

    Coordinates: ``stimulus_id`` and ``repetition`` on ``presentation``; ``channel_name`` on
    ``channel``; on ``time_bin``, ``time`` (seconds from stimulus onset, NED's ``times``) and
    ``time_bin_start`` / ``time_bin_end`` (milliseconds, brainbridge's time-bin convention, so
    :func:`select` with ``time_bin=(start, end)`` works). Build one with :meth:`from_arrays`.
    """

    __slots__ = ()

    def validate(self) -> None:
        _require_dims(self, ("presentation", "channel", "time_bin"))
        _require_coords(
            self,
            {
                "stimulus_id": "presentation",
                "repetition": "presentation",
                "channel_name": "channel",
                "time": "time_bin",
                "time_bin_start": "time_bin",
                "time_bin_end": "time_bin",
            },
        )
        times = np.asarray(self["time"].values)
        if times.dtype.kind != "f" or (len(times) > 1 and not (np.diff(times) > 0).all()):
            raise AssemblyError("'time' must be increasing floats (seconds from stimulus onset)")
        names = pd.Index(np.asarray(self["channel_name"].values))
        if not names.is_unique:
            raise AssemblyError(f"channel names repeat: {sorted(set(names[names.duplicated()]))[:5]}")
        DataAssembly.validate(self)  # then the format's rules, as every assembly class

    @classmethod
    def from_arrays(
        cls,
        values: np.ndarray,
        *,
        stimulus_id: Iterable,
        channel_name: Iterable[str],
        time: Iterable[float],
        repetition: Iterable[int] | None = None,
        subject: str | None = None,
        attrs: dict | None = None,
    ) -> EEGAssembly:
        """Build and validate an assembly from ``(presentations, channels, times)`` values.

        ``time`` are sample times in seconds; each becomes the bin ``[t, t + dt)`` in ms with
        ``dt`` the sampling step (1 ms for a single sample). ``subject`` goes on presentation.
        """
        from brainbridge.stats import repetition_numbers

        values = np.asarray(values)
        stimulus_id = np.asarray(list(stimulus_id), dtype=object)
        time = np.asarray(list(time), dtype=np.float64)
        step = float(np.median(np.diff(time))) if len(time) > 1 else 1e-3
        if repetition is None:
            repetition = repetition_numbers(pd.factorize(stimulus_id)[0])
        coords: dict[str, Any] = {
            "stimulus_id": ("presentation", stimulus_id),
            "repetition": ("presentation", np.asarray(list(repetition), dtype=np.int64)),
            "channel_name": ("channel", np.asarray(list(channel_name), dtype=object)),
            "time": ("time_bin", time),
            "time_bin_start": ("time_bin", np.round(time * 1000, 6)),
            "time_bin_end": ("time_bin", np.round((time + step) * 1000, 6)),
        }
        if subject is not None:
            coords["subject"] = ("presentation", np.asarray([subject] * len(stimulus_id), dtype=object))
        assembly = cls(
            values, dims=["presentation", "channel", "time_bin"], coords=coords, attrs=dict(attrs or {})
        )
        assembly.validate()
        return assembly

    def trials(self) -> tuple[np.ndarray, list]:
        """The responses as NED's ``(images, repetitions, channels, times)`` array, and the image ids.

        Images are in first-appearance order; every image needs the same number of repetitions.
        """
        data = self.transpose("presentation", "channel", "time_bin")
        codes, ids = pd.factorize(np.asarray(data["stimulus_id"].values))
        counts = np.bincount(codes)
        if len(counts) and (counts != counts[0]).any():
            raise AssemblyError(
                f"images have different numbers of repetitions ({counts.min()} to {counts.max()}); "
                "select a balanced subset first"
            )
        from brainbridge.stats import repetition_numbers

        reps = repetition_numbers(codes)
        out = np.empty((len(ids), int(counts[0]) if len(counts) else 0, *data.shape[1:]), dtype=data.dtype)
        out[codes, reps] = np.asarray(data.values)
        return out, list(ids)


class MEGAssembly(EEGAssembly):
    """MEG responses: the same layout as :class:`EEGAssembly` (channels are sensors)."""

    __slots__ = ()


_CLASSES = {
    c.__name__: c
    for c in (
        DataAssembly,
        NeuroidAssembly,
        NeuronRecordingAssembly,
        ModelFeaturesAssembly,
        BehavioralAssembly,
        PropertyAssembly,
        MetadataAssembly,
        SpikeTimesAssembly,
        VoxelAssembly,
        EEGAssembly,
        MEGAssembly,
    )
}


def assembly_class(name: str) -> type[DataAssembly]:
    """The assembly class called ``name`` (as in a catalog's ``class`` column)."""
    try:
        return _CLASSES[name]
    except KeyError:
        raise AssemblyError(f"unknown assembly class {name!r}; known classes: {sorted(_CLASSES)}") from None


# --------------------------------------------------------------------------------------
# merging a stimulus set into presentations
# --------------------------------------------------------------------------------------


def merge_stimulus_set_meta(
    assembly: xr.DataArray, stimulus_set: pd.DataFrame, *, on: str = "stimulus_id", dim: str = "presentation"
) -> xr.DataArray:
    """Add the stimulus set's columns the assembly lacks as ``dim`` coordinates, joined on ``on``.

    Vectorised left join: presentations whose id is not in the stimulus set get missing
    values. Works on plain and indexed arrays; returns an un-indexed array for a MultiIndex
    dim when new columns were added (the caller re-gathers).
    """
    return _merge_stimulus_set_meta(assembly, stimulus_set, on=on, dim=dim)


def _presentation_key(array: xr.DataArray) -> _KeyFactorization | None:
    """The factorized ``stimulus_id`` of a plain array's presentations (``None``: not applicable)."""
    if "presentation" not in array.dims or _KEY_LEVEL not in array.coords:
        return None
    if array.coords[_KEY_LEVEL].dims != ("presentation",):
        return None
    found = _factorized(array.coords[_KEY_LEVEL].variable)
    if found is not None:
        return _KeyFactorization.of_sorted(*found)
    return _KeyFactorization.of(np.asarray(array.coords[_KEY_LEVEL].values))


def _merge_stimulus_set_meta(
    assembly: xr.DataArray,
    stimulus_set: pd.DataFrame,
    *,
    on: str = "stimulus_id",
    dim: str = "presentation",
    key: _KeyFactorization | None = None,
) -> xr.DataArray:
    """:func:`merge_stimulus_set_meta`; ``key``, the factorized ``on`` values, spares a factorize."""
    if dim not in assembly.dims:
        return assembly
    if on not in assembly.coords:
        raise AssemblyError(
            f"cannot merge the stimulus set: the assembly has no '{on}' coordinate on '{dim}'"
        )
    if on not in stimulus_set.columns:
        raise AssemblyError(f"cannot merge the stimulus set: it has no '{on}' column")
    existing = set(map(str, assembly.coords)) | set(map(str, assembly.dims))
    columns = [c for c in stimulus_set.columns if str(c) not in existing]
    if not columns:
        return assembly
    keys = pd.Index(stimulus_set[on].astype(str).to_numpy(dtype=object), dtype=object)
    if not keys.is_unique:
        raise AssemblyError(f"cannot merge the stimulus set: its '{on}' column has duplicates")
    # look up each distinct id once (3200 stimuli), not every presentation (148480)
    if key is not None and on == _KEY_LEVEL and dim == "presentation":
        codes, uniques = key.codes, np.asarray(assembly[on].values)[key.first]
    else:
        codes, uniques = pd.factorize(np.asarray(assembly[on].values))
    unique_positions = keys.get_indexer(
        pd.Index(np.asarray(uniques).astype(str).astype(object), dtype=object)
    )
    positions = (
        np.where(codes < 0, -1, unique_positions[np.maximum(codes, 0)])
        if len(uniques)
        else np.full(len(codes), -1)
    )
    missing = positions < 0
    new_coords: dict[str, Any] = {}
    for column in columns:
        series = stimulus_set[column]
        values = series.to_numpy()
        taken = values[np.where(missing, 0, positions)] if len(values) else np.empty(len(positions), object)
        if missing.any():
            taken = taken.astype(object) if taken.dtype.kind not in "fc" else taken.astype(float)
            taken[missing] = np.nan
        if taken.dtype == object and _holds_strings(series):
            # already what xarray would make of it (str objects, NaN for missing): skip its
            # per-element round trip through a pandas string array (~15 ms per column)
            new_coords[str(column)] = xr.Variable((dim,), taken, fastpath=True)
        else:
            new_coords[str(column)] = (dim, taken)
    if isinstance(assembly.indexes.get(dim), pd.MultiIndex):
        assembly = assembly.reset_index(dim)
    return assembly.assign_coords(new_coords)


def _holds_strings(series: pd.Series) -> bool:
    """Whether a column holds only strings and NaN: pandas' default ``str`` dtype, or object
    dtype with strings only (xarray turns other missing markers, None or pd.NA, into NaN)."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.dtype.na_value is np.nan
    return series.dtype == object and pd.api.types.infer_dtype(series, skipna=False) == "string"


# --------------------------------------------------------------------------------------
# domain helpers (plain DataArrays welcome)
# --------------------------------------------------------------------------------------


def _rewrap(template: xr.DataArray, result: xr.DataArray) -> xr.DataArray:
    """Return ``result`` as the class of ``template`` (assemblies stay assemblies)."""
    if isinstance(template, DataAssembly) and not isinstance(result, type(template)):
        return type(template)(result)
    return result


def average_repetitions(
    assembly: xr.DataArray,
    *,
    dim: str = "presentation",
    by: str = "stimulus_id",
    skipna: bool = True,
) -> xr.DataArray:
    """Average the presentations of each stimulus (over repetitions), vectorised.

    One factorize of ``by`` replaces a groupby over every coordinate. The sums are accumulated
    in float64 with each stimulus's presentations added in index order (see
    :func:`brainbridge.stats.group_means`), the same arithmetic for in-memory and dask-backed assemblies,
    so eager and lazy results are identical. Coordinates that are constant within each
    stimulus (``object_name``...) are kept; those that vary (``repetition``...) are dropped.
    Stimuli come out in order of first appearance; a missing ``by`` value (NaN) is a stimulus
    of its own. Dask-backed assemblies are reduced lazily, chunk by chunk.

    Parameters
    ----------
    assembly
        An assembly or plain DataArray with a ``by`` coordinate along ``dim``.
    dim
        The dimension to reduce (default ``presentation``).
    by
        The coordinate that identifies a stimulus (default ``stimulus_id``).
    skipna
        Ignore NaN responses (a stimulus whose every repetition is NaN stays NaN).

    Returns
    -------
    xarray.DataArray
        Same class as the input, one entry per stimulus along ``dim``.
    """
    if dim not in assembly.dims:
        raise AssemblyError(f"cannot average repetitions: no dimension '{dim}' in {tuple(assembly.dims)}")
    if by not in assembly.coords:
        raise AssemblyError(f"cannot average repetitions: no coordinate '{by}' on '{dim}'")
    keys = np.asarray(assembly[by].values)
    codes, uniques = pd.factorize(keys, sort=False, use_na_sentinel=False)
    codes = codes.astype(np.intp, copy=False)
    n_groups = len(uniques)
    # factorize numbers the groups by first appearance: group g starts where the codes first
    # exceed every earlier code
    if len(codes):
        first = np.flatnonzero(np.r_[True, codes[1:] > np.maximum.accumulate(codes)[:-1]])
    else:
        first = np.empty(0, dtype=np.intp)
    axis = assembly.get_axis_num(dim)

    data = assembly.data
    if _is_dask(data):
        reduced = _average_dask(data, codes, n_groups, axis, skipna)
    else:
        reduced = _average_numpy(np.asarray(data), codes, n_groups, axis, skipna)

    result = xr.DataArray(
        reduced,
        dims=assembly.dims,
        coords=_group_coords(assembly, dim, by, codes, first),
        attrs=dict(assembly.attrs),
        name=assembly.name,
    )
    return _rewrap(assembly, result) if isinstance(assembly, DataAssembly) else gather_indexes(result)


def _group_coords(
    assembly: xr.DataArray, dim: Hashable, by: Hashable, codes: np.ndarray, first: np.ndarray
) -> dict[Hashable, Any]:
    """The coordinates of the averaged array: each group's first value of every ``dim``
    coordinate that is constant within the groups (always ``by``), other coordinates as
    they are.

    Levels of a MultiIndex are compared through their integer codes (a level's values are
    unique, NaN is code -1), so the 148480-long object arrays of a large assembly are never
    materialised; only the ``len(first)`` selected rows are.
    """
    index = assembly.indexes.get(dim)
    multiindex = index if isinstance(index, pd.MultiIndex) else None
    level_number = {name: i for i, name in enumerate(multiindex.names)} if multiindex is not None else {}
    taken = multiindex[first] if multiindex is not None else None
    coords: dict[Hashable, Any] = {}
    for name, coord in assembly.coords.items():
        if name in assembly.dims and isinstance(assembly.indexes.get(name), pd.MultiIndex):
            continue  # a MultiIndex itself: its levels are coordinates of their own
        variable = coord.variable
        if dim not in variable.dims:
            coords[name] = (variable.dims, variable.values, variable.attrs)
            continue
        if variable.dims != (dim,):
            continue  # multi-dimensional coordinate spanning dim: not representable per group
        i = level_number.get(name)
        if i is not None and multiindex is not None and taken is not None and multiindex.levels[i].is_unique:
            level_codes = multiindex.codes[i]
            if name != by and not np.array_equal(level_codes, level_codes[first][codes]):
                continue
            values = taken.get_level_values(i).to_numpy()
            coords[name] = (variable.dims, np.asarray(values, dtype=variable.dtype), variable.attrs)
            continue
        values = np.asarray(variable.values)
        group_first = values[first]
        if name != by and not _constant_within(values, codes, group_first):
            continue
        coords[name] = (variable.dims, group_first, variable.attrs)
    return coords


def _constant_within(values: np.ndarray, codes: np.ndarray, group_first: np.ndarray) -> bool:
    expected = group_first[codes]
    try:
        same = values == expected
        if values.dtype.kind == "f":
            same |= np.isnan(values) & np.isnan(expected)
        return bool(np.all(same))
    except (TypeError, ValueError):
        return bool(pd.Series(values).equals(pd.Series(expected)))


def _is_dask(data) -> bool:
    return type(data).__module__.startswith("dask")


def _average_numpy(data: np.ndarray, codes: np.ndarray, n_groups: int, axis: int, skipna: bool) -> np.ndarray:
    """Group means of an in-memory array along ``axis`` (:func:`brainbridge.stats.group_means`)."""
    return group_means(data, codes, n_groups, axis=axis, skipna=skipna)


def _average_dask(data, codes, n_groups: int, axis: int, skipna: bool):
    """Lazy group mean: per block of ``dim`` columns, sums and counts folded block by block.

    For every block along the non-reduced axes (e.g. a chunk of neuroids), a short chain of
    tasks reads the presentation blocks one after the other and adds their rows into one
    accumulator of ``n_groups`` rows (float64 sums in index order and counts: the arithmetic
    of the eager path, so a single chain gives bit-identical results). Peak memory per running
    chain is that accumulator (16 bytes x ``n_groups`` x block width) plus one input block,
    whatever the number of presentations; open the assembly with chunks that split the
    neuroids (``chunks={'neuroid': 512}``) to bound it further. When the other axes give too
    little parallelism, a few chains split the presentations and are added at the end (the
    sums may then differ from the eager ones in the last bit).
    """
    import dask
    import dask.array as da

    moved = da.moveaxis(data, axis, 0)
    out_dtype = result_dtype(data.dtype)
    n_blocks = len(moved.chunks[0])
    trailing_blocks = moved.numblocks[1:]
    n_chains = max(1, min(n_blocks, 4 // max(1, int(np.prod(trailing_blocks)))))
    chains = [c for c in np.array_split(np.arange(n_blocks), n_chains) if len(c)]
    bounds = np.cumsum((0, *moved.chunks[0]))
    codes = np.asarray(codes, dtype=np.intp)
    blocks = moved.to_delayed()
    accumulate = dask.delayed(_accumulate_groups, pure=True)
    finish = dask.delayed(_finish_groups, pure=True)
    pieces = np.empty(trailing_blocks, dtype=object)
    for index in np.ndindex(*trailing_blocks):
        partials = []
        for chain in chains:
            accumulator = None
            for i in chain:
                block_codes = codes[bounds[i] : bounds[i + 1]]
                accumulator = accumulate(accumulator, blocks[(int(i), *index)], block_codes, n_groups, skipna)
            partials.append(accumulator)
        shape = (n_groups, *(moved.chunks[k + 1][b] for k, b in enumerate(index)))
        pieces[index] = da.from_delayed(finish(partials, out_dtype), shape=shape, dtype=out_dtype)
    means = da.block([pieces.tolist()] if pieces.ndim else [pieces.item()])
    return da.moveaxis(means, 0, axis)


def _accumulate_groups(accumulator, block: np.ndarray, block_codes: np.ndarray, n_groups: int, skipna: bool):
    """Add one block's rows into the per-group sums and counts of ``accumulator`` (in place).

    The accumulator is the previous task's result and has no other consumer, so it is
    updated in place instead of copied (which would double the peak memory).
    """
    block = np.asarray(block)
    rest = block.shape[1:]
    if accumulator is None:
        accumulator = (
            np.zeros((n_groups, *rest), dtype=accumulator_dtype(block.dtype)),
            np.zeros((n_groups, *rest), dtype=np.int64),
        )
    if block.shape[0] == 0:
        return accumulator
    sums, counts = accumulator
    rows = block.reshape(block.shape[0], -1)
    flat_sums, flat_counts = sums.reshape(n_groups, -1), counts.reshape(n_groups, -1)
    if skipna and block.dtype.kind == "f":
        accumulate_in_order(flat_sums, flat_counts, rows, block_codes)
    else:
        accumulate_in_order(flat_sums, None, rows, block_codes)
        flat_counts += np.bincount(block_codes, minlength=n_groups)[:, None]
    return accumulator


def _finish_groups(partials: list, out_dtype) -> np.ndarray:
    """Add the chains' accumulators and divide (NaN where a group has no valid value)."""
    sums, counts = partials[0]
    for more_sums, more_counts in partials[1:]:
        sums = sums + more_sums
        counts = counts + more_counts
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts).astype(out_dtype, copy=False)


def select(
    assembly: xr.DataArray,
    *,
    region: str | Iterable[str] | None = None,
    time_bin: tuple[float, float] | int | None = None,
    **coords,
) -> xr.DataArray:
    """Select neuroids by region and/or a time bin, plus any coordinate values.

    Parameters
    ----------
    region
        One region name or several (``'IT'``, ``['V4', 'IT']``).
    time_bin
        ``(start, end)`` matching ``time_bin_start``/``time_bin_end`` (the dimension is kept
        with one entry), or an integer position along ``time_bin``.
    **coords
        Other ``coordinate=value(s)`` pairs; a list selects any of the values.

    Returns
    -------
    xarray.DataArray
        The selection, same class as the input; dimensions are never dropped.
    """
    wanted: dict[str, Any] = dict(coords)
    if region is not None:
        wanted["region"] = region
    result = assembly
    if time_bin is not None:
        if "time_bin" not in result.dims:
            raise AssemblyError("cannot select a time bin: the assembly has no 'time_bin' dimension")
        if isinstance(time_bin, (int, np.integer)):
            result = result.isel(time_bin=[int(time_bin)])
        else:
            start, end = time_bin
            mask = (np.asarray(result["time_bin_start"].values) == start) & (
                np.asarray(result["time_bin_end"].values) == end
            )
            if not mask.any():
                raise AssemblyError(f"no time bin {start}-{end}; available: {_time_bins(result)}")
            result = result.isel(time_bin=np.flatnonzero(mask))
    for name, value in wanted.items():
        if name not in result.coords:
            raise AssemblyError(
                f"no coordinate '{name}' to select on; coordinates: {sorted(map(str, result.coords))}"
            )
        coord = result[name]
        if coord.ndim != 1:
            raise AssemblyError(f"coordinate '{name}' is not one-dimensional")
        values = (
            [value] if isinstance(value, (str, bytes)) or not isinstance(value, Iterable) else list(value)
        )
        mask = np.isin(np.asarray(coord.values), values)
        if not mask.any():
            available = pd.unique(np.asarray(coord.values))[:20]
            raise AssemblyError(f"no {name} in {values}; available: {list(available)}")
        result = result.isel({coord.dims[0]: np.flatnonzero(mask)})
    return result


def average_time_bins(assembly: xr.DataArray, *, dim: str = "time_bin") -> xr.DataArray:
    """Average an assembly over its time bins (float64, NaN skipped); ``dim`` is dropped.

    The one time-bin average of brainbridge (:func:`brainbridge.stats.mean_over_axis`): scores,
    ceilings, fits and summaries all reduce time the same way. Coordinates along ``dim`` are
    dropped; the attrs are kept.
    """
    if dim not in assembly.dims:
        return assembly
    values = mean_over_axis(np.asarray(assembly.values), axis=assembly.get_axis_num(dim))
    dims = [d for d in assembly.dims if d != dim]
    coords = {str(n): (d, v) for n, d, v in walk_coords(assembly) if dim not in d}
    result = xr.DataArray(values, dims=dims, coords=coords, attrs=dict(assembly.attrs), name=assembly.name)
    return _rewrap(assembly, result) if isinstance(assembly, DataAssembly) else result


def _time_bins(assembly) -> list[tuple]:
    return list(zip(assembly["time_bin_start"].values.tolist(), assembly["time_bin_end"].values.tolist()))


def align(
    first: xr.DataArray, second: xr.DataArray, *, on: str = "stimulus_id", dim: str = "presentation"
) -> tuple[xr.DataArray, xr.DataArray]:
    """Restrict two assemblies to their common ``on`` values and put them in the same order.

    Both must have unique ``on`` values along ``dim`` (average repetitions first). The order
    is the sorted order of the shared ids, so the result does not depend on argument order.

    Raises
    ------
    AssemblyError
        A missing coordinate, duplicate ids, or no id in common.
    """
    ids = []
    for which, a in (("first", first), ("second", second)):
        if on not in a.coords or a[on].dims != (dim,):
            raise AssemblyError(f"cannot align: the {which} assembly has no '{on}' coordinate on '{dim}'")
        values = pd.Index(np.asarray(a[on].values).astype(str))
        if not values.is_unique:
            raise AssemblyError(
                f"cannot align: the {which} assembly repeats {on} values (average over repetitions first)"
            )
        ids.append(values)
    common = ids[0].intersection(ids[1]).sort_values()
    if len(common) == 0:
        raise AssemblyError(f"cannot align: the assemblies share no {on}")
    return (
        first.isel({dim: ids[0].get_indexer(common)}),
        second.isel({dim: ids[1].get_indexer(common)}),
    )


@xr.register_dataarray_accessor("brainbridge")
class BrainbridgeAccessor:
    """``array.brainbridge.<helper>(...)``: the assembly helpers on any DataArray."""

    def __init__(self, array: xr.DataArray):
        self._array = array

    def average_repetitions(self, **kwargs) -> xr.DataArray:
        """See :func:`brainbridge.assemblies.average_repetitions`."""
        return average_repetitions(self._array, **kwargs)

    def select(self, **kwargs) -> xr.DataArray:
        """See :func:`brainbridge.assemblies.select`."""
        return select(self._array, **kwargs)

    def align(self, other: xr.DataArray, **kwargs) -> tuple[xr.DataArray, xr.DataArray]:
        """See :func:`brainbridge.assemblies.align`."""
        return align(self._array, other, **kwargs)

    def gather_indexes(self) -> xr.DataArray:
        """See :func:`brainbridge.assemblies.gather_indexes`."""
        return gather_indexes(self._array)

    def to_assembly(self, cls: type[DataAssembly] | str = "DataAssembly") -> DataAssembly:
        """Wrap the array in an assembly class (by class or class name)."""
        klass = assembly_class(cls) if isinstance(cls, str) else cls
        return klass(self._array)

    def coords_for_dim(self, dim: Hashable) -> list[Hashable]:
        """See :func:`brainbridge.assemblies.coords_for_dim`."""
        return coords_for_dim(self._array, dim)

    def plot(self, kind: str = "regions", **kwargs) -> Any:
        """A quick domain plot; returns the matplotlib Axes.

        ``kind``: ``"regions"`` (each neuroid's mean response, per region), ``"psth"`` (mean
        response over time bins, per region) or ``"rdm"`` (``1 - Pearson r`` between stimuli);
        fMRI: ``"ceiling"`` (noise ceiling from ``ncsnr`` per ROI and subject); EEG/MEG:
        ``"erp"`` (trial-averaged response per channel group) or ``"reliability"`` (split-half
        ceilings over time per channel group). See
        :func:`brainbridge.assembly_plots.plot_assembly` for the options.
        """
        from brainbridge.assembly_plots import plot_assembly

        return plot_assembly(self._array, kind, **kwargs)

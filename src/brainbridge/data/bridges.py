"""Bridges from brainbridge assemblies to training datasets.

An assembly's non-neuroid dimensions (``presentation``, ``time_bin``...) become the sample
axis, its ``neuroid`` dimension the features, and any coordinates become labels: numeric ones
continuous, any ones (strings included) discrete. Several assemblies (sessions, e.g. from an
electrophysiology project) become a :class:`~brainbridge.data.DatasetCollection` whose
discrete labels share one code book.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from brainbridge.assemblies import walk_coords
from brainbridge.data.datasets import DatasetCollection, TensorDataset
from brainbridge.data.datatypes import Offset
from brainbridge.data.errors import DatasetError

__all__ = [
    "collection_from_assemblies",
    "collection_from_sessions",
    "dataset_from_assembly",
]


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _sample_dims(assembly: xr.DataArray, neuroid_dim: str, sample_dims: Sequence[str] | None) -> list[str]:
    if neuroid_dim not in assembly.dims:
        raise DatasetError(f"the assembly has no {neuroid_dim!r} dimension (dims: {list(assembly.dims)})")
    dims = [d for d in assembly.dims if d != neuroid_dim] if sample_dims is None else list(sample_dims)
    unknown = [d for d in dims if d not in assembly.dims or d == neuroid_dim]
    if unknown or not dims or set(dims) | {neuroid_dim} != set(assembly.dims):
        raise DatasetError(
            f"sample_dims must list every dimension except {neuroid_dim!r}; got {dims}, dims are {list(assembly.dims)}"
        )
    return dims


def _coord_on_samples(assembly: xr.DataArray, name: str, dims: list[str]) -> np.ndarray:
    """A coordinate's values broadcast to the flattened sample grid (``dims`` order)."""
    coords = {n: (cdims, values) for n, cdims, values in walk_coords(assembly)}
    if name not in coords:
        raise DatasetError(f"the assembly has no coordinate {name!r}; coordinates: {sorted(map(str, coords))}")
    cdims, values = coords[name]
    if not set(cdims) <= set(dims):
        raise DatasetError(f"coordinate {name!r} lies on {cdims}, not on the sample dimensions {dims}")
    da = xr.DataArray(np.asarray(values), dims=cdims)
    template = xr.DataArray(np.empty([assembly.sizes[d] for d in dims], dtype=np.int8), dims=dims)
    return da.broadcast_like(template).transpose(*dims).values.reshape(-1)


def _arrays_from_assembly(assembly, continuous, discrete, neuroid_dim, sample_dims):
    dims = _sample_dims(assembly, neuroid_dim, sample_dims)
    neural = np.asarray(assembly.transpose(*dims, neuroid_dim).values, dtype=np.float32)
    neural = neural.reshape(-1, assembly.sizes[neuroid_dim])
    cont = None
    if continuous:
        columns = []
        for name in continuous:
            values = _coord_on_samples(assembly, name, dims)
            if values.dtype.kind not in "biuf":
                raise DatasetError(f"continuous coordinate {name!r} is not numeric (dtype {values.dtype})")
            columns.append(values.astype(np.float32))
        cont = np.stack(columns, axis=1)
    disc = None
    if discrete:
        disc = [_coord_on_samples(assembly, name, dims) for name in discrete]
    trial_ids = trial_borders = None
    if len(dims) > 1:
        per_trial = int(np.prod([assembly.sizes[d] for d in dims[1:]]))
        n_trials = assembly.sizes[dims[0]]
        trial_ids = np.repeat(np.arange(n_trials), per_trial)
        trial_borders = np.arange(n_trials + 1) * per_trial
    return neural, cont, disc, trial_ids, trial_borders, dims


def _encode(columns_per_session: list[list[np.ndarray]]) -> tuple[list[np.ndarray], list[Any]]:
    """Joint integer codes of discrete label columns, one code book over all sessions."""
    lengths = [len(cols[0]) for cols in columns_per_session]
    joined = [np.concatenate([cols[j] for cols in columns_per_session]) for j in range(len(columns_per_session[0]))]
    if len(joined) == 1:
        categories, codes = np.unique(joined[0], return_inverse=True)
        categories = list(categories)
    else:
        per_column = [np.unique(col, return_inverse=True) for col in joined]
        stacked = np.stack([inv for _, inv in per_column], axis=1)
        rows, codes = np.unique(stacked, axis=0, return_inverse=True)
        categories = [tuple(per_column[j][0][r[j]] for j in range(len(per_column))) for r in rows]
    codes = codes.reshape(-1).astype(np.int64)
    return np.split(codes, np.cumsum(lengths)[:-1]), categories


def dataset_from_assembly(
    assembly: xr.DataArray,
    continuous: str | Sequence[str] | None = None,
    discrete: str | Sequence[str] | None = None,
    *,
    neuroid_dim: str = "neuroid",
    sample_dims: Sequence[str] | None = None,
    offset: Offset | int = Offset(0, 1),
    device: str = "cpu",
    cls: type[TensorDataset] = TensorDataset,
) -> TensorDataset:
    """A :class:`TensorDataset` from an assembly (``TensorDataset.from_assembly``).

    Parameters
    ----------
    assembly : xarray.DataArray
        E.g. a ``NeuronRecordingAssembly`` (``presentation x neuroid [x time_bin]``).
    continuous : str or list of str, optional
        Numeric coordinates on the sample dimensions, stacked as the continuous index columns.
    discrete : str or list of str, optional
        Coordinates (any dtype) whose value combination is the discrete label; the label of code
        ``k`` is ``dataset.discrete_categories[k]``.
    neuroid_dim : str, default "neuroid"
        The feature dimension.
    sample_dims : list of str, optional
        The other dimensions, flattened in this order into samples (default: assembly order).
        With two or more, the first one is the trial: ``dataset.trial_ids`` and
        ``dataset.trial_borders`` are set for :meth:`~Dataset.expand_index_in_trial`.
    offset, device
        As for :class:`TensorDataset`.

    Returns
    -------
    TensorDataset
        With ``sample_dims``, ``discrete_categories``, ``trial_ids`` and ``trial_borders``
        attributes.
    """
    cont_names, disc_names = _names(continuous), _names(discrete)
    if not cont_names and not disc_names:
        raise DatasetError("name at least one continuous or discrete coordinate to use as labels")
    neural, cont, disc, trial_ids, borders, dims = _arrays_from_assembly(
        assembly, cont_names, disc_names, neuroid_dim, sample_dims
    )
    categories = None
    if disc is not None:
        (codes,), categories = _encode([disc])
        disc = codes
    dataset = cls(neural, continuous=cont, discrete=disc, offset=offset, device=device)
    dataset.sample_dims = dims
    dataset.discrete_categories = categories
    dataset.trial_ids = trial_ids
    dataset.trial_borders = borders
    return dataset


def collection_from_assemblies(
    assemblies: Iterable[xr.DataArray],
    continuous: str | Sequence[str] | None = None,
    discrete: str | Sequence[str] | None = None,
    **kwargs,
) -> DatasetCollection:
    """A multi-session :class:`DatasetCollection`, one session per assembly.

    Discrete labels get one code book across sessions (the same value has the same code in
    every session), so that multi-session discrete sampling matches labels across sessions.
    Other keyword arguments are those of :func:`dataset_from_assembly`.
    """
    assemblies = list(assemblies)
    if not assemblies:
        raise DatasetError("no assemblies given")
    cont_names, disc_names = _names(continuous), _names(discrete)
    if not cont_names and not disc_names:
        raise DatasetError("name at least one continuous or discrete coordinate to use as labels")
    offset = kwargs.pop("offset", Offset(0, 1))
    device = kwargs.pop("device", "cpu")
    parts = [_arrays_from_assembly(a, cont_names, disc_names, **_bridge_kwargs(kwargs)) for a in assemblies]
    codes, categories = (None, None)
    if disc_names:
        codes, categories = _encode([p[2] for p in parts])
    sessions = []
    for i, (neural, cont, _disc, trial_ids, borders, dims) in enumerate(parts):
        ds = TensorDataset(neural, continuous=cont, discrete=None if codes is None else codes[i], offset=offset, device=device)
        ds.sample_dims, ds.discrete_categories, ds.trial_ids, ds.trial_borders = dims, categories, trial_ids, borders
        sessions.append(ds)
    collection = DatasetCollection(*sessions) if len(sessions) > 1 else DatasetCollection(s for s in sessions)
    collection.discrete_categories = categories
    return collection


def _bridge_kwargs(kwargs: dict) -> dict:
    allowed = {"neuroid_dim": kwargs.get("neuroid_dim", "neuroid"), "sample_dims": kwargs.get("sample_dims")}
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise TypeError(f"unexpected keyword arguments {sorted(unknown)}")
    return allowed


def collection_from_sessions(
    sessions: Callable[[Hashable], xr.DataArray] | Iterable[xr.DataArray],
    session_ids: Iterable[Hashable] | None = None,
    continuous: str | Sequence[str] | None = None,
    discrete: str | Sequence[str] | None = None,
    **kwargs,
) -> DatasetCollection:
    """A multi-session collection from an electrophysiology project (or any session source).

    Parameters
    ----------
    sessions : callable or iterable of assemblies
        A function ``session_id -> assembly`` (e.g. a method of an ecephys project returning
        binned unit responses) used with ``session_ids``, or the assemblies themselves.
    session_ids : iterable, optional
        Required when ``sessions`` is callable.
    continuous, discrete, **kwargs
        As for :func:`collection_from_assemblies`.
    """
    if callable(sessions):
        if session_ids is None:
            raise DatasetError("session_ids are required when sessions is a callable")
        assemblies = [sessions(sid) for sid in session_ids]
    else:
        assemblies = list(sessions)
    return collection_from_assemblies(assemblies, continuous=continuous, discrete=discrete, **kwargs)

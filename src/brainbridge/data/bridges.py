"""Bridges from brainbridge assemblies to training datasets.

An assembly's non-neuroid dimensions (``presentation``, ``time_bin``...) become the sample
axis, its ``neuroid`` dimension the features, and any coordinates become labels: numeric ones
continuous, any ones (strings included) discrete. Several assemblies (sessions, e.g. from an
electrophysiology project) become a :class:`~brainbridge.data.DatasetCollection` whose
discrete labels share one code book.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

import xarray as xr

from brainbridge.data.assembly_arrays import arrays_from_assembly, encode_labels, label_names
from brainbridge.data.datasets import DatasetCollection, TensorDataset
from brainbridge.data.datatypes import Offset
from brainbridge.data.errors import DatasetError

__all__ = [
    "collection_from_assemblies",
    "collection_from_sessions",
    "dataset_from_assembly",
]


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
        E.g. a ``NeuronRecordingAssembly`` (``presentation x neuroid [x time_bin]``), or
        AllenSDK-shaped spike counts (``stimulus_presentation_id x
        time_relative_to_stimulus_onset x unit_id``).
    continuous : str or list of str, optional
        Numeric coordinates on the sample dimensions, stacked as the continuous index columns.
    discrete : str or list of str, optional
        Coordinates (any dtype) whose value combination is the discrete label; the label of code
        ``k`` is ``dataset.discrete_categories[k]``.
    neuroid_dim : str, default "neuroid"
        The feature dimension (``unit_id`` when the array has no ``neuroid`` but a ``unit_id``
        dimension).
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
    return cls.from_assembly(
        assembly,
        continuous,
        discrete,
        neuroid_dim=neuroid_dim,
        sample_dims=sample_dims,
        offset=offset,
        device=device,
    )


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
    cont_names, disc_names = label_names(continuous), label_names(discrete)
    if not cont_names and not disc_names:
        raise DatasetError("name at least one continuous or discrete coordinate to use as labels")
    offset = kwargs.pop("offset", Offset(0, 1))
    device = kwargs.pop("device", "cpu")
    parts = [arrays_from_assembly(a, cont_names, disc_names, **_bridge_kwargs(kwargs)) for a in assemblies]
    codes, categories = (None, None)
    if disc_names:
        codes, categories = encode_labels([p[2] for p in parts])
    sessions = []
    for i, (neural, cont, _disc, trial_ids, borders, dims) in enumerate(parts):
        ds = TensorDataset(
            neural,
            continuous=cont,
            discrete=None if codes is None else codes[i],
            offset=offset,
            device=device,
        )
        ds.sample_dims, ds.discrete_categories, ds.trial_ids, ds.trial_borders = (
            dims,
            categories,
            trial_ids,
            borders,
        )
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

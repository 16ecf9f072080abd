"""An assembly as arrays for training data: samples x neuroids, with label columns.

Used by :class:`~brainbridge.data.datasets.TensorDataset.from_assembly` and by
:mod:`brainbridge.data.bridges`; it imports neither, so they do not import each other.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from brainbridge.assemblies import walk_coords
from brainbridge.data.errors import DatasetError

__all__ = ["arrays_from_assembly", "encode_labels", "label_names"]


def label_names(value: str | Sequence[str] | None) -> list[str]:
    """A coordinate name or names as a list (``None``: none)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _sample_dims(
    assembly: xr.DataArray, neuroid_dim: str, sample_dims: Sequence[str] | None
) -> list[Hashable]:
    if neuroid_dim not in assembly.dims:
        raise DatasetError(f"the assembly has no {neuroid_dim!r} dimension (dims: {list(assembly.dims)})")
    dims: list[Hashable] = (
        [d for d in assembly.dims if d != neuroid_dim] if sample_dims is None else list(sample_dims)
    )
    unknown = [d for d in dims if d not in assembly.dims or d == neuroid_dim]
    if unknown or not dims or set(dims) | {neuroid_dim} != set(assembly.dims):
        raise DatasetError(
            f"sample_dims must list every dimension except {neuroid_dim!r}; "
            f"got {dims}, dims are {list(assembly.dims)}"
        )
    return dims


def _coord_on_samples(assembly: xr.DataArray, name: str, dims: list[Hashable]) -> np.ndarray:
    """A coordinate's values broadcast to the flattened sample grid (``dims`` order)."""
    coords = {n: (cdims, values) for n, cdims, values in walk_coords(assembly)}
    if name not in coords:
        raise DatasetError(
            f"the assembly has no coordinate {name!r}; coordinates: {sorted(map(str, coords))}"
        )
    cdims, values = coords[name]
    if not set(cdims) <= set(dims):
        raise DatasetError(f"coordinate {name!r} lies on {cdims}, not on the sample dimensions {dims}")
    da = xr.DataArray(np.asarray(values), dims=cdims)
    template = xr.DataArray(np.empty([assembly.sizes[d] for d in dims], dtype=np.int8), dims=dims)
    return da.broadcast_like(template).transpose(*dims).values.reshape(-1)


#: the feature dimension of AllenSDK-shaped arrays (e.g. ``presentationwise_spike_counts``)
ALLENSDK_UNIT_DIM = "unit_id"


def arrays_from_assembly(assembly, continuous, discrete, neuroid_dim, sample_dims):
    """``(neural, continuous, discrete columns, trial_ids, trial_borders, sample dims)`` of an assembly.

    The non-neuroid dimensions are flattened (``sample_dims`` order) into samples; with two or
    more, the first is the trial. AllenSDK-shaped spike counts (``stimulus_presentation_id x
    time_relative_to_stimulus_onset x unit_id``) have no ``neuroid`` dimension: their
    ``unit_id`` dimension is then the feature dimension.
    """
    if neuroid_dim == "neuroid" and "neuroid" not in assembly.dims and ALLENSDK_UNIT_DIM in assembly.dims:
        neuroid_dim = ALLENSDK_UNIT_DIM  # AllenSDK's spike counts: units are the features
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


def encode_labels(columns_per_session: list[list[np.ndarray]]) -> tuple[list[np.ndarray], list[Any]]:
    """Joint integer codes of discrete label columns, one code book over all sessions."""
    lengths = [len(cols[0]) for cols in columns_per_session]
    joined = [
        np.concatenate([cols[j] for cols in columns_per_session]) for j in range(len(columns_per_session[0]))
    ]
    if len(joined) == 1:
        uniques, codes = np.unique(joined[0], return_inverse=True)
        categories: list[Any] = list(uniques)
    else:
        per_column = [np.unique(col, return_inverse=True) for col in joined]
        stacked = np.stack([inv for _, inv in per_column], axis=1)
        rows, codes = np.unique(stacked, axis=0, return_inverse=True)
        categories = [tuple(per_column[j][0][r[j]] for j in range(len(per_column))) for r in rows]
    codes = codes.reshape(-1).astype(np.int64)
    return np.split(codes, np.cumsum(lengths)[:-1]), categories

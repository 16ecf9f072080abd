"""Exact nearest-neighbour indexes (``cebra.distributions.index`` counterpart) and shared helpers.

``search`` returns ``torch.int64`` tensors, as CEBRA's does.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from brainbridge.data.datatypes import Offset
from brainbridge.data.errors import DatasetError, SamplingError

__all__ = ["ConditionalIndex", "ContinuousIndex", "as_numpy", "valid_range"]


def as_numpy(array) -> np.ndarray:
    """A numpy view (or copy, for GPU tensors) of a tensor or array-like."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def _as_tensor(indices: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64))


def _like_query(indices: np.ndarray, query) -> torch.Tensor:
    """``indices`` as an int64 tensor on the query's device (CPU for numpy queries)."""
    tensor = torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64))
    if isinstance(query, torch.Tensor) and query.device.type != "cpu":
        tensor = tensor.to(query.device)
    return tensor


def valid_range(num_samples: int, offset: Offset | None) -> tuple[int, int]:
    """``(lo, hi)``: the samples whose whole ``offset`` window lies in ``[0, num_samples)``.

    Raises
    ------
    SamplingError
        When no sample has a complete window (the data is shorter than the offset).
    """
    offset = offset if offset is not None else Offset(0, 1)
    lo, hi = offset.left, num_samples - offset.right + 1
    if hi <= lo:
        raise SamplingError(
            f"{num_samples} samples are too few for {offset}: no sample has a complete window"
        )
    return lo, hi


def _continuous_matrix(continuous, name: str = "continuous index") -> np.ndarray:
    values = as_numpy(continuous)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DatasetError(f"the {name} must be 1-D or 2-D (samples x dims), got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number) and values.dtype != np.bool_:
        raise DatasetError(f"the {name} must be numeric, got dtype {values.dtype}")
    values = values.astype(np.float64, copy=False)
    if not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        raise DatasetError(
            f"the {name} has {len(bad)} rows with NaN/inf (first: row {bad[0]}); "
            "interpolate or drop them before sampling"
        )
    return values


def _discrete_vector(discrete, name: str = "discrete index") -> np.ndarray:
    values = as_numpy(discrete)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DatasetError(f"the {name} must be 1-D, got shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
        raise DatasetError(f"the {name} must have an integer (or boolean) dtype, got {values.dtype}")
    return values.astype(np.int64, copy=False)


class ContinuousIndex:
    """Exact nearest-neighbour search in a continuous index (Euclidean, KD-tree).

    Parameters
    ----------
    index : array-like or torch.Tensor, shape (N,) or (N, d)
        The continuous variable of every sample.
    offset : Offset, optional
        Only samples in ``[left, N - right)`` are candidates (all when omitted).
    """

    def __init__(self, index, offset: Offset | None = None):
        self.index = _continuous_matrix(index)
        self.lo, self.hi = valid_range(len(self.index), offset)
        self.tree = cKDTree(self.index[self.lo : self.hi])

    def search(self, query) -> torch.Tensor:
        """Row indices (``torch.int64``, on the query's device) of the nearest candidate to each query row."""
        return _like_query(self.search_numpy(query), query)

    def search_numpy(self, query) -> np.ndarray:
        """:meth:`search`, as a numpy int64 array."""
        q = np.asarray(as_numpy(query), dtype=np.float64)
        if q.ndim == 1:
            q = q[:, None] if self.index.shape[1] == 1 else q[None, :]
        _, nearest = self.tree.query(q, k=1)
        return np.asarray(nearest).astype(np.int64, copy=False) + self.lo


class ConditionalIndex:
    """Exact nearest-neighbour search restricted to samples with a given discrete label.

    One KD-tree per label (CEBRA masks an ``(N, B)`` distance matrix instead).

    Parameters
    ----------
    discrete : array-like, shape (N,)
        Integer labels.
    continuous : array-like, shape (N,) or (N, d)
        The continuous variable.
    offset : Offset, optional
        Only samples in ``[left, N - right)`` are candidates.
    """

    def __init__(self, discrete, continuous, offset: Offset | None = None):
        labels = _discrete_vector(discrete)
        self.index = _continuous_matrix(continuous)
        if len(labels) != len(self.index):
            raise DatasetError(
                f"discrete ({len(labels)}) and continuous ({len(self.index)}) indexes differ in length"
            )
        self.lo, self.hi = valid_range(len(labels), offset)
        valid = labels[self.lo : self.hi]
        self.labels = np.unique(valid)
        order = np.argsort(valid, kind="stable")
        bounds = np.searchsorted(valid[order], self.labels, side="left")
        bounds = np.append(bounds, len(order))
        #: global row indices of the candidates of each label, in label order
        self.members = [order[a:b] + self.lo for a, b in zip(bounds[:-1], bounds[1:])]
        self.trees = [cKDTree(self.index[m]) for m in self.members]
        self._all: cKDTree | None = None  # a tree over every candidate, built on the first label-free search

    def search(self, query, discrete=None) -> torch.Tensor:
        """Nearest candidate to each query row among the samples that share its label.

        ``discrete=None`` searches every candidate, whatever its label (as CEBRA's
        ``ConditionalIndex.search(query, discrete=None)``). Returns ``torch.int64`` indices.
        """
        return _like_query(self.search_numpy(query, discrete), query)

    def search_numpy(self, query, discrete=None) -> np.ndarray:
        """:meth:`search`, as a numpy int64 array."""
        q = np.asarray(as_numpy(query), dtype=np.float64)
        if q.ndim == 1:
            q = q[:, None]
        if discrete is None:
            if self._all is None:
                self._all = cKDTree(self.index[self.lo : self.hi])
            _, nearest = self._all.query(q, k=1)
            return np.asarray(nearest).astype(np.int64, copy=False) + self.lo
        wanted = _discrete_vector(discrete, "query labels")
        code = np.searchsorted(self.labels, wanted)
        code_ok = code < len(self.labels)
        missing = ~code_ok
        missing[code_ok] = self.labels[code[code_ok]] != wanted[code_ok]
        if missing.any():
            raise SamplingError(
                f"label {wanted[missing][0]} has no sample in the valid range; present labels: "
                f"{self.labels.tolist()}"
            )
        result = np.empty(len(q), dtype=np.int64)
        order = np.argsort(code, kind="stable")
        sorted_codes = code[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for a, b in zip(starts, ends):
            c = sorted_codes[a]
            rows = order[a:b]
            _, nearest = self.trees[c].query(q[rows], k=1)
            result[rows] = self.members[c][nearest]
        return result

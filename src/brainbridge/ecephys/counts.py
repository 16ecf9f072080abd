"""Vectorised spike counting over ragged spike trains.

Spike trains are kept the way NWB stores them: one flat array of spike times and the offsets
where each unit's train starts (:class:`SpikeTrains`). Counting never loops over presentations:
for a chunk of units, every spike is located among the sorted, unique bin edges of all
presentations at once (one :func:`numpy.searchsorted`), a per-unit cumulative histogram turns
those positions into "number of spikes before edge k", and each bin's count is a difference of
two gathered cumulative values. The work is ``O(spikes * log(edges) + units * edges)`` and the
memory, beyond the output, is bounded by a fixed chunk budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainbridge.ecephys.errors import UnitNotFoundError
from brainbridge.errors import ValidationError
from brainbridge.progress import progress_bar

__all__ = ["SpikeTrains", "check_bin_edges", "spike_counts", "window_edges"]

#: working memory (bytes) of one chunk of units, beyond the output array
CHUNK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class SpikeTrains:
    """Spike trains of several units as one flat array (NWB's ragged layout).

    Attributes
    ----------
    unit_ids : numpy.ndarray
        Unit ids, shape ``(n_units,)``.
    times : numpy.ndarray
        All spike times (seconds, float64), unit after unit; sorted within each unit.
    offsets : numpy.ndarray
        Shape ``(n_units + 1,)``: unit ``i``'s spikes are ``times[offsets[i]:offsets[i + 1]]``.
    """

    unit_ids: np.ndarray
    times: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_ragged(cls, unit_ids, data, index, *, assume_sorted: bool = False) -> SpikeTrains:
        """Build from NWB's ragged column: flat ``data`` and cumulative end offsets ``index``.

        Trains are sorted within each unit (one stable lexsort over all spikes) unless they
        already are or ``assume_sorted`` is set.
        """
        unit_ids = np.asarray(unit_ids)
        times = np.asarray(data, dtype=np.float64)
        ends = np.asarray(index, dtype=np.int64)
        if ends.shape != unit_ids.shape:
            raise ValidationError(f"spike_times_index has {ends.size} entries for {unit_ids.size} units")
        offsets = np.concatenate([[0], ends]).astype(np.int64)
        if np.any(np.diff(offsets) < 0) or (offsets[-1] > times.size):
            raise ValidationError("spike_times_index is not a valid cumulative offset array")
        times = times[: offsets[-1]]
        if not assume_sorted and times.size > 1:
            decreasing = np.diff(times) < 0
            if decreasing.any():
                # a decrease at a unit boundary is expected; only decreases inside a train matter
                boundary = np.zeros(times.size - 1, dtype=bool)
                inner = offsets[1:-1]
                boundary[inner[(inner > 0) & (inner < times.size)] - 1] = True
                if np.any(decreasing & ~boundary):
                    codes = np.repeat(np.arange(unit_ids.size), np.diff(offsets))
                    times = times[np.lexsort((times, codes))]
        return cls(unit_ids=unit_ids, times=times, offsets=offsets)

    @classmethod
    def from_dict(cls, trains: dict) -> SpikeTrains:
        """Build from ``{unit_id: spike_times}``."""
        ids = np.asarray(list(trains))
        arrays = [np.asarray(trains[k], dtype=np.float64) for k in trains]
        lengths = np.array([a.size for a in arrays], dtype=np.int64)
        times = np.concatenate(arrays) if arrays else np.empty(0)
        return cls.from_ragged(ids, times, np.cumsum(lengths))

    def __len__(self) -> int:
        return int(self.unit_ids.size)

    @property
    def n_spikes(self) -> np.ndarray:
        """Number of spikes of each unit."""
        return np.diff(self.offsets)

    def positions(self, unit_ids) -> np.ndarray:
        """Positions of ``unit_ids`` in this object (raises for unknown ids)."""
        wanted = np.asarray(unit_ids)
        order = np.argsort(self.unit_ids, kind="stable")
        sorted_ids = self.unit_ids[order]
        pos = np.searchsorted(sorted_ids, wanted)
        pos = np.clip(pos, 0, max(sorted_ids.size - 1, 0))
        found = sorted_ids.size > 0
        ok = (sorted_ids[pos] == wanted) if found else np.zeros(wanted.shape, bool)
        if not np.all(ok):
            missing = wanted[~ok][:10].tolist()
            raise UnitNotFoundError(
                f"unknown unit id(s) {missing}; the session has {self.unit_ids.size} units"
                f" (e.g. {self.unit_ids[:5].tolist()})"
            )
        return order[pos]

    def select(self, unit_ids) -> SpikeTrains:
        """The trains of ``unit_ids``, in that order.

        Selecting every unit in stored order shares this object's arrays (no copy of the spike
        times); otherwise the trains are copied slice by slice, with no per-spike index array.
        """
        pos = self.positions(unit_ids)
        if pos.size == len(self) and np.array_equal(pos, np.arange(len(self))):
            return self
        lengths = self.n_spikes[pos]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        times = np.empty(int(offsets[-1]), dtype=self.times.dtype)
        for i, (a, b) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist())):
            start = int(self.offsets[pos[i]])
            times[a:b] = self.times[start : start + (b - a)]
        return SpikeTrains(unit_ids=self.unit_ids[pos], times=times, offsets=offsets)

    def __getitem__(self, unit_id) -> np.ndarray:
        i = int(self.positions([unit_id])[0])
        return self.times[self.offsets[i] : self.offsets[i + 1]]

    def to_dict(self) -> dict:
        """``{unit_id: spike_times}`` (views into the flat array)."""
        return {
            uid: self.times[a:b]
            for uid, a, b in zip(self.unit_ids.tolist(), self.offsets[:-1], self.offsets[1:])
        }

    def unit_codes(self) -> np.ndarray:
        """The position of each spike's unit, shape ``(n_spikes,)``."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.n_spikes)


def check_bin_edges(bin_edges) -> np.ndarray:
    """``bin_edges`` as float64, checked: 1-D, at least 2 edges, finite, strictly increasing.

    Raises
    ------
    ValidationError
        Saying what is wrong with the edges.
    """
    try:
        edges = np.asarray(bin_edges, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"bin_edges must be numbers: {e}") from e
    if edges.ndim != 1 or edges.size < 2:
        raise ValidationError(f"bin_edges must be a 1-D array of at least 2 edges, got shape {edges.shape}")
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValidationError("bin_edges must be finite and strictly increasing")
    return edges


def window_edges(starts, bin_edges) -> np.ndarray:
    """Absolute bin edges, shape ``(n_presentations, n_bins + 1)``: ``starts[:, None] + bin_edges``.

    Raises
    ------
    ValidationError
        ``bin_edges`` not strictly increasing, fewer than two edges, or non-finite starts.
    """
    bin_edges = check_bin_edges(bin_edges)
    starts = np.asarray(starts, dtype=np.float64)
    if not np.all(np.isfinite(starts)):
        raise ValidationError(
            f"{int(np.sum(~np.isfinite(starts)))} presentation(s) have no finite start time; "
            "select presentations with a start time"
        )
    return starts[:, None] + bin_edges[None, :]


def spike_counts(
    trains: SpikeTrains,
    edges: np.ndarray,
    *,
    closed: bool = True,
    binarize: bool = False,
    dtype=None,
    progress: bool | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> np.ndarray:
    """Count every unit's spikes in every bin of every presentation window.

    Parameters
    ----------
    trains
        The units to count, in output order.
    edges
        Absolute bin edges, shape ``(n_presentations, n_bins + 1)``, increasing along axis 1
        (see :func:`window_edges`). Windows may overlap and come in any order.
    closed
        ``True`` (default, AllenSDK's semantics): bins are closed ``[a, b]``, so a spike exactly
        on an inner edge counts in both neighbouring bins. ``False``: half-open ``[a, b)``, so
        every spike counts at most once per window.
    binarize
        Return ``count > 0`` as ``uint8``.
    dtype
        Output dtype (default ``uint16`` as AllenSDK, ``uint8`` when binarizing). A count that
        does not fit raises instead of wrapping around.
    progress
        A progress bar over unit chunks (``None``: on a terminal, see :mod:`brainbridge.progress`).
    chunk_bytes
        Working-memory budget of one chunk of units.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_presentations, n_bins, n_units)``.
    """
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 2 or edges.shape[1] < 2:
        raise ValidationError(f"edges must have shape (n_presentations, n_bins + 1), got {edges.shape}")
    if dtype is None:
        dtype = np.uint8 if binarize else np.uint16
    dtype = np.dtype(dtype)
    n_pres, n_bins = edges.shape[0], edges.shape[1] - 1
    n_units = len(trains)
    out = np.empty((n_pres, n_bins, n_units), dtype=dtype)
    if n_pres == 0 or n_units == 0:
        return out

    # every edge's position among the sorted unique edges: one sort for all presentations
    unique_edges, inverse = np.unique(edges.ravel(), return_inverse=True)
    inverse = inverse.reshape(edges.shape)
    left_pos = inverse[:, :-1].ravel()
    right_pos = inverse[:, 1:].ravel()
    del inverse
    n_edges = unique_edges.size + 1  # histogram slots: before E[0], between, after E[-1]
    n_cells = n_pres * n_bins

    # cumulative counts and gathered bins fit int32 unless a chunk's unit has >= 2**31 spikes
    wide = trains.times.size >= np.iinfo(np.int32).max
    work = np.dtype(np.int64 if wide else np.int32)
    # per unit: the histogram (int64) and its cumulative form, the two gathered edge columns
    per_unit = 2 * n_edges * 8 + 2 * n_cells * work.itemsize
    mean_spikes = trains.times.size / n_units
    per_unit += int(mean_spikes * 24)  # positions, slots and the edge hits of its spikes
    chunk = int(max(1, min(n_units, chunk_bytes // max(per_unit, 1))))
    limit = None if binarize or dtype.kind not in "ui" else np.iinfo(dtype).max
    starts = range(0, n_units, chunk)
    chunks = progress_bar(
        starts, total=len(starts), progress=progress, desc="spike counts", unit="chunk", leave=False
    )
    flat = out.reshape(n_cells, n_units)
    for u0 in chunks:
        u1 = min(n_units, u0 + chunk)
        n = u1 - u0
        spikes = trains.times[trains.offsets[u0] : trains.offsets[u1]]
        lengths = np.diff(trains.offsets[u0 : u1 + 1])
        # one search per spike: pos - 1 is the last edge <= the spike
        pos = np.searchsorted(unique_edges, spikes, side="right")
        # slot (edge-major) so that the cumulative table has one row per edge, units along a row
        slots = pos * n + np.repeat(np.arange(n, dtype=np.int64), lengths)
        # below[k, j] = number of unit j's spikes < E[k]
        below = np.bincount(slots, minlength=n_edges * n).reshape(n_edges, n)
        below = np.cumsum(below, axis=0, dtype=work)
        # the left edges first; for closed bins, spikes exactly on an edge E[k] count up to E[k]
        # inclusive: they are added to row k after the left and before the right edges' gather
        left = below[left_pos]
        if closed:
            # pos - 1 == -1 wraps to the last edge, which is > the spike: never a false hit
            hit = unique_edges[pos - 1] == spikes
            if hit.any():
                np.add.at(below.reshape(-1), slots[hit] - n, 1)  # slot of (k, j) = (pos-1) * n + j
        right = below[right_pos]
        del below, pos, slots
        counts = np.subtract(right, left, out=right)
        del left
        if binarize:
            flat[:, u0:u1] = counts > 0
        else:
            if limit is not None and counts.size and counts.max() > limit:
                raise ValidationError(
                    f"a bin holds {int(counts.max())} spikes, more than {dtype} can hold; pass a wider dtype"
                )
            flat[:, u0:u1] = counts
        del counts
    return out

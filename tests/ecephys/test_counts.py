"""Vectorised spike counting against brute-force loops (AllenSDK's closed bins and half-open bins)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbridge.ecephys.counts import SpikeTrains, spike_counts, window_edges
from brainbridge.ecephys.errors import UnitNotFoundError
from brainbridge.errors import ValidationError


def brute_force(trains: SpikeTrains, edges: np.ndarray, closed: bool) -> np.ndarray:
    out = np.zeros((edges.shape[0], edges.shape[1] - 1, len(trains)), dtype=np.int64)
    for u, train in enumerate(trains.to_dict().values()):
        for p, row in enumerate(edges):
            for b in range(row.size - 1):
                a, z = row[b], row[b + 1]
                inside = (train >= a) & ((train <= z) if closed else (train < z))
                out[p, b, u] = inside.sum()
    return out


grid = st.integers(0, 40).map(lambda i: i * 0.25)  # a coarse grid: many spikes land on edges


@settings(max_examples=60, deadline=None)
@given(
    trains=st.lists(st.lists(grid, max_size=25), min_size=1, max_size=5),
    starts=st.lists(grid, min_size=1, max_size=6),
    n_bins=st.integers(1, 4),
    closed=st.booleans(),
)
def test_counts_match_brute_force(trains, starts, n_bins, closed):
    spikes = SpikeTrains.from_dict({i: sorted(t) for i, t in enumerate(trains)})
    edges = window_edges(np.array(starts), np.arange(n_bins + 1) * 0.5)  # overlapping windows too
    got = spike_counts(spikes, edges, closed=closed, dtype=np.int64, chunk_bytes=1)  # one unit per chunk
    np.testing.assert_array_equal(got, brute_force(spikes, edges, closed))


def test_inner_edge_spike_counts_in_both_bins_only_when_closed():
    spikes = SpikeTrains.from_dict({7: [1.0]})
    edges = window_edges([0.5], [0.0, 0.5, 1.0])  # bins [0.5, 1.0] and [1.0, 1.5]
    assert spike_counts(spikes, edges, closed=True)[0, :, 0].tolist() == [1, 1]
    assert spike_counts(spikes, edges, closed=False)[0, :, 0].tolist() == [0, 1]


def test_dtype_binarize_and_overflow():
    spikes = SpikeTrains.from_dict({1: np.linspace(0, 0.99, 300)})
    edges = window_edges([0.0], [0.0, 1.0])
    assert spike_counts(spikes, edges).dtype == np.uint16
    binary = spike_counts(spikes, edges, binarize=True)
    assert binary.dtype == np.uint8 and binary.item() == 1
    with pytest.raises(ValidationError, match="more than uint8"):
        spike_counts(spikes, edges, dtype=np.uint8)


def test_spike_trains_sort_select_and_lookup():
    trains = SpikeTrains.from_ragged([10, 20, 30], [3.0, 1.0, 2.0, 5.0, 0.5, 0.1], [3, 4, 6])
    assert trains[10].tolist() == [1.0, 2.0, 3.0]  # unsorted train sorted, others untouched
    assert trains[30].tolist() == [0.1, 0.5]
    picked = trains.select([30, 10])
    assert picked.unit_ids.tolist() == [30, 10] and picked.offsets.tolist() == [0, 2, 5]
    with pytest.raises(UnitNotFoundError, match="unknown unit"):
        trains.select([99])
    with pytest.raises(KeyError):
        trains[99]


@pytest.mark.parametrize("edges", [[0.0], [0.0, 0.0], [0.2, 0.1], [0.0, np.nan]])
def test_window_edges_rejects_bad_bins(edges):
    with pytest.raises(ValidationError):
        window_edges([0.0], edges)


def test_window_edges_rejects_missing_starts():
    with pytest.raises(ValidationError, match="no finite start"):
        window_edges([0.0, np.nan], [0.0, 1.0])


def test_select_every_unit_shares_and_a_subset_copies_the_trains():
    trains = SpikeTrains.from_dict({5: [0.1, 0.2], 6: [], 7: [0.3]})
    assert trains.select([5, 6, 7]) is trains  # all units in stored order: no copy of the spike times
    picked = trains.select([7, 5, 6])
    assert picked.times.tolist() == [0.3, 0.1, 0.2] and picked.offsets.tolist() == [0, 1, 3, 3]
    assert not np.shares_memory(picked.times, trains.times)


def test_closed_bins_count_edge_spikes_in_every_window_that_shares_the_edge():
    # overlapping windows share edges; many spikes sit exactly on edges (the sparse correction path)
    spikes = SpikeTrains.from_dict({1: [0.0, 0.5, 0.5, 1.0, 1.5], 2: [0.25, 1.0]})
    edges = window_edges([0.0, 0.5, 1.0], [0.0, 0.5, 1.0])
    got = spike_counts(spikes, edges, closed=True, dtype=np.int64)
    np.testing.assert_array_equal(got, brute_force(spikes, edges, closed=True))
    assert got[:, :, 0].tolist() == [[3, 3], [3, 2], [2, 1]]

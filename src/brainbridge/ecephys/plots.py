"""Raster and PSTH of one unit around stimulus onsets (matplotlib, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from brainbridge.ecephys.counts import window_edges
from brainbridge.errors import ValidationError

__all__ = ["aligned_spike_times", "plot_unit"]


def aligned_spike_times(train: np.ndarray, onsets: np.ndarray, window: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Spikes of one train within ``[onset + window[0], onset + window[1]]`` of every onset.

    Returns
    -------
    (times, rows)
        Spike times relative to their onset, and the row (onset position) of each.
    """
    edges = window_edges(onsets, np.asarray(window, dtype=float))
    lo = np.searchsorted(train, edges[:, 0], side="left")
    hi = np.searchsorted(train, edges[:, 1], side="right")
    lengths = hi - lo
    rows = np.repeat(np.arange(onsets.size), lengths)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    gather = starts + np.arange(rows.size)
    return train[gather] - onsets[rows], rows


def plot_unit(
    session,
    unit_id,
    *,
    stimulus_presentation_ids=None,
    window: tuple[float, float] = (-0.1, 0.5),
    bin_size: float = 0.01,
    path: str | os.PathLike | None = None,
    align_to="start_time",
):
    """Raster (top) and PSTH in spikes/s (bottom) of one unit, aligned to presentation events.

    Parameters
    ----------
    session
        An :class:`~brainbridge.ecephys.session.EcephysSession`.
    unit_id
        A retained unit.
    stimulus_presentation_ids
        Presentations to align to (default: all).
    window
        ``(before, after)`` onset, seconds (``before`` is usually negative).
    bin_size
        PSTH bin width, seconds.
    path
        Save the figure there (PNG, PDF, SVG... by extension).
    align_to
        A presentation column (default ``start_time``; any event column such as
        ``stop_time`` or a task event), or one time per selected presentation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if window[1] <= window[0] or bin_size <= 0:
        raise ValidationError(f"need window[0] < window[1] and bin_size > 0, got window={window}, bin_size={bin_size}")
    presentations = session._select_presentations(stimulus_presentation_ids)
    if not len(presentations):
        raise ValidationError("no stimulus presentations to align to")
    train = session.spike_trains[unit_id]
    onsets, align_name = session._alignment_times(presentations, align_to)
    onsets = onsets[np.isfinite(onsets)]
    times, rows = aligned_spike_times(train, onsets, window)
    edges = np.arange(window[0], window[1] + bin_size / 2, bin_size)
    counts, _ = np.histogram(times, bins=edges)
    rate = counts / (onsets.size * bin_size)

    fig, (ax_raster, ax_psth) = plt.subplots(2, 1, sharex=True, figsize=(6, 5), height_ratios=(2, 1))
    ax_raster.scatter(times, rows, s=2, marker="|", color="black")
    ax_raster.set_ylabel("presentation")
    ax_raster.set_ylim(-0.5, onsets.size - 0.5)
    ax_raster.axvline(0.0, color="tab:red", linewidth=0.8)
    ax_raster.set_title(f"unit {unit_id} - session {session.session_id} ({onsets.size} presentations)")
    ax_psth.bar(edges[:-1], rate, width=bin_size, align="edge", color="tab:blue")
    ax_psth.axvline(0.0, color="tab:red", linewidth=0.8)
    ax_psth.set_xlabel(f"time from {align_name} (s)")
    ax_psth.set_ylabel("rate (spikes/s)")
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig

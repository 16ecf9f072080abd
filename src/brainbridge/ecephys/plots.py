"""Raster and PSTH of one unit around stimulus onsets (matplotlib, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from brainbridge.ecephys.counts import window_edges
from brainbridge.errors import ValidationError

__all__ = ["aligned_spike_times", "plot_unit"]


def aligned_spike_times(
    train: np.ndarray, onsets: np.ndarray, window: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
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


#: presentation columns that describe the stimulus, in the order trials are sorted by
_CONDITION_COLUMNS = (
    "stimulus_name",
    "stimulus_condition_id",
    "orientation",
    "spatial_frequency",
    "temporal_frequency",
    "phase",
    "contrast",
    "frame",
    "image",
)


def _trial_order(presentations, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Raster row of every presentation: sorted by stimulus condition, then by time.

    Returns ``(rank, group_starts, description)``; ``rank[i]`` is the row of presentation
    ``i``. Without condition columns (or when some onsets were dropped) the order is by time.
    """
    keys = [c for c in _CONDITION_COLUMNS if c in presentations.columns] if len(presentations) == n else []
    if "stimulus_condition_id" in keys:  # it identifies the condition: the parameters add nothing
        keys = keys[: keys.index("stimulus_condition_id") + 1]
    if not keys:
        return np.arange(n), np.empty(0, dtype=int), "time"
    import pandas as pd

    frame = presentations[keys].reset_index(drop=True)
    columns = []
    for c in keys:  # numbers sort as numbers, anything else as text
        numeric = pd.to_numeric(frame[c], errors="coerce")
        text = frame[c].astype(str).to_numpy(str)
        columns.append(numeric.to_numpy(float) if numeric.notna().all() else text)
    order = np.lexsort([np.arange(n), *columns[::-1]])  # the last key is the primary one
    frame = frame.astype(str)
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    groups = frame.iloc[order][keys].to_numpy()
    starts = np.flatnonzero(np.r_[False, np.any(groups[1:] != groups[:-1], axis=1)])
    return rank, starts, ", ".join(keys) + ", then time"


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
        raise ValidationError(
            f"need window[0] < window[1] and bin_size > 0, got window={window}, bin_size={bin_size}"
        )
    presentations = session._select_presentations(stimulus_presentation_ids)
    if not len(presentations):
        raise ValidationError("no stimulus presentations to align to")
    train = session.spike_trains[unit_id]
    onsets, align_name = session._alignment_times(presentations, align_to)
    onsets = onsets[np.isfinite(onsets)]
    times, rows = aligned_spike_times(train, onsets, window)
    rank, bounds, sorted_by = _trial_order(presentations, onsets.size)
    edges = np.arange(window[0], window[1] + bin_size / 2, bin_size)
    counts, _ = np.histogram(times, bins=edges)
    rate = counts / (onsets.size * bin_size)

    fig, (ax_raster, ax_psth) = plt.subplots(
        2, 1, sharex=True, figsize=(6.5, 6), height_ratios=(2, 1), layout="constrained"
    )
    # one tick per spike, a row tall: visible at any number of presentations
    y = rank[rows]
    ax_raster.vlines(times, y - 0.45, y + 0.45, color="black", linewidth=0.7)
    if len(bounds) <= 40 and onsets.size >= 2 * (len(bounds) + 1):  # lines between conditions
        for bound in bounds:
            ax_raster.axhline(bound - 0.5, color="0.75", linewidth=0.5)
    ax_raster.set_ylabel("presentation")
    ax_raster.set_title(f"rows sorted by {sorted_by}", fontsize="small", loc="left")
    ax_raster.set_ylim(-0.5, onsets.size - 0.5)
    ax_raster.invert_yaxis()
    ax_raster.axvline(0.0, color="tab:red", linewidth=0.8, label="alignment (t = 0)")
    ax_raster.legend(loc="upper right", fontsize="small", frameon=True, framealpha=0.85)
    title = f"unit {unit_id}, session {session.session_id}\n{onsets.size} presentations"
    fig.suptitle(title, fontsize="medium")
    ax_psth.bar(
        edges[:-1],
        rate,
        width=bin_size,
        align="edge",
        color="tab:blue",
        label=f"PSTH: mean over presentations, {bin_size * 1000:g} ms bins",
    )
    ax_psth.axvline(0.0, color="tab:red", linewidth=0.8)
    ax_psth.legend(loc="upper right", fontsize="small", frameon=False)
    ax_psth.set_xlabel(f"time from {align_name} (s)")
    ax_psth.set_ylabel("rate (spikes/s)")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig

"""Quick looks at an assembly: ``assembly.brainbridge.plot(kind=...)``.

* ``"regions"``: each neuroid's mean response, one box per region (with the points on top);
* ``"psth"``: the mean response over ``time_bin``, one line per region, ± SEM across neuroids;
* ``"rdm"``: the representational dissimilarity matrix ``1 - Pearson r`` between the stimuli's
  response patterns (repetitions averaged, time bins averaged).

fMRI (``presentation x voxel``, :class:`~brainbridge.assemblies.VoxelAssembly`):

* ``"ceiling"``: NSD's noise ceiling per voxel from ``ncsnr``
  (:func:`brainbridge.stats.ncsnr_noise_ceiling`), one box per ROI and subject.

EEG/MEG (``presentation x channel x time_bin``, :class:`~brainbridge.assemblies.EEGAssembly`):

* ``"erp"``: the trial-averaged response over time, one line per channel group
  (:func:`brainbridge.regions.channel_group`), ± SEM across the group's channels;
* ``"reliability"``: NED's split-half noise ceilings (:func:`brainbridge.stats.split_half_ceilings`)
  over time, averaged over each channel group's channels (lower bound solid, upper dashed).

A kind that does not fit the assembly's modality (:func:`modality_of`) is refused with the
kinds that do.

matplotlib is imported when a plot is drawn, never on ``import brainbridge``. With no ``ax``
the plot gets a new pyplot figure (so Jupyter shows it inline); the Axes is returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from brainbridge import stats
from brainbridge.errors import InvalidParameterError, OptionalDependencyError, valid_values_message
from brainbridge.stats import group_means

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes

__all__ = [
    "KINDS",
    "KINDS_BY_MODALITY",
    "RDM_ORDER_COORDS",
    "REGION_COORDS",
    "balanced_trials",
    "modality_of",
    "plot_assembly",
]

#: the plot kinds of each modality (:func:`modality_of`)
KINDS_BY_MODALITY = {
    "neuroid": ("regions", "psth", "rdm"),
    "fmri": ("ceiling",),
    "eeg": ("erp", "reliability"),
}
KINDS = tuple(kind for kinds in KINDS_BY_MODALITY.values() for kind in kinds)
_MODALITY_NAMES = {
    "neuroid": "a presentation x neuroid assembly",
    "fmri": "an fMRI (presentation x voxel) assembly",
    "eeg": "an EEG/MEG (presentation x channel x time_bin) assembly",
}
#: the neuroid coordinates read as the brain area, first found first
REGION_COORDS = ("region", "ecephys_structure_acronym", "structure_acronym", "location")
#: the presentation coordinates an RDM is ordered by, first found first
RDM_ORDER_COORDS = ("category_name", "object_name", "stimulus_id")


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise OptionalDependencyError("plotting needs matplotlib: pip install 'brainbridge[plot]'") from e
    _, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


def region_coord_of(array: xr.DataArray, region_coord: str | None = None) -> str | None:
    """The neuroid coordinate naming the brain area (``region_coord`` if given, else the first found)."""
    if region_coord is not None:
        if region_coord not in array.coords:
            raise InvalidParameterError(
                valid_values_message("region_coord", region_coord, sorted(map(str, array.coords)))
            )
        return region_coord
    return next((name for name in REGION_COORDS if name in array.coords and array[name].ndim == 1), None)


def _units(array: xr.DataArray) -> str:
    units = array.attrs.get("units")
    return f" ({units})" if units else ""


def _neuroid_groups(array: xr.DataArray, region_coord: str | None) -> dict[str, np.ndarray]:
    """``{region: neuroid positions}`` (one group, ``"all"``, without a region coordinate)."""
    coord = region_coord_of(array, region_coord)
    if coord is None or "neuroid" not in array[coord].dims:
        return {"all": np.arange(array.sizes.get("neuroid", 1))}
    labels = np.asarray(array[coord].values).astype(str)
    return {_short(label): np.flatnonzero(labels == label) for label in dict.fromkeys(labels)}


def _short(label: str, width: int = 32) -> str:
    """A region label short enough for a legend or a tick (NWB locations can be sentences)."""
    label = str(label)
    return label if len(label) <= width else label[: width - 1] + "…"


def _literal(label: object) -> str:
    """A label from the data drawn as written: ``$`` would start matplotlib's mathtext (and a
    malformed formula in a ROI or subject name would fail the plot)."""
    return _short(str(label)).replace("$", r"\$")


def _require_dims(array: xr.DataArray, kind: str, *dims: str) -> None:
    missing = [d for d in dims if d not in array.dims]
    if missing:
        raise InvalidParameterError(
            f"plot kind {kind!r} needs the dimensions {list(dims)}; "
            f"this assembly has {list(map(str, array.dims))}"
        )


def modality_of(array: xr.DataArray) -> str:
    """``"fmri"`` (a ``voxel`` dimension), ``"eeg"`` (``channel`` and ``time_bin``: EEG and MEG)
    or ``"neuroid"`` (everything else: spiking and model features), the keys of
    :data:`KINDS_BY_MODALITY`."""
    if "voxel" in array.dims:
        return "fmri"
    if "channel" in array.dims and "time_bin" in array.dims:
        return "eeg"
    return "neuroid"


def plot_assembly(
    array: xr.DataArray,
    kind: str = "regions",
    *,
    region_coord: str | None = None,
    region: str | None = None,
    sort_by: str | None = None,
    repetitions: int | None = None,
    n_iterations: int = 10,
    random_state: int | None = 0,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw one of :data:`KINDS` for ``array`` and return its matplotlib Axes.

    Parameters
    ----------
    array
        An assembly: ``presentation x neuroid [x time_bin]`` (kinds ``"regions"``, ``"psth"``,
        ``"rdm"``), fMRI ``presentation x voxel`` (``"ceiling"``) or EEG/MEG
        ``presentation x channel x time_bin`` (``"erp"``, ``"reliability"``).
    kind
        ``"regions"``, ``"psth"`` (needs ``time_bin`` with ``time_bin_start``/``time_bin_end``)
        or ``"rdm"`` (needs ``presentation``; repetitions of a ``stimulus_id`` are averaged);
        ``"ceiling"`` (needs boolean ``roi_<name>`` voxel coordinates; ``ncsnr`` on voxel, else
        it is computed from the trials with :func:`brainbridge.stats.ncsnr`); ``"erp"``;
        ``"reliability"`` (needs ``stimulus_id`` with repeated stimuli).
    region_coord
        The neuroid coordinate naming the brain area (default: the first of
        :data:`REGION_COORDS` present; none: all neuroids are one group).
    region
        ``"rdm"`` only: use this region's neuroids.
    sort_by
        ``"rdm"`` only: order the stimuli by this presentation coordinate (default: the first
        of :data:`RDM_ORDER_COORDS` present, so that categories form blocks).
    repetitions
        ``"ceiling"``: the number of repetitions averaged in the target, NSD's ``n`` (default:
        the most common number of presentations per stimulus). ``"reliability"``: use the
        first ``repetitions`` presentations of every stimulus shown at least that often
        (default: :func:`balanced_trials`'s choice). Stated in the title either way.
    n_iterations, random_state
        ``"reliability"`` only: the random halvings of
        :func:`brainbridge.stats.split_half_ceilings`.
    ax
        Draw here (default: a new figure).
    **kwargs
        Passed to the matplotlib call (``boxplot``, ``plot``, ``imshow``).

    Raises
    ------
    InvalidParameterError
        An unknown ``kind`` or one for another modality (the message lists the kinds that fit),
        or an assembly without the dimensions or coordinates the kind needs.
    OptionalDependencyError
        matplotlib is not installed.
    """
    modality = modality_of(array)
    valid = KINDS_BY_MODALITY[modality]
    if kind not in valid:
        other = next((m for m, kinds in KINDS_BY_MODALITY.items() if kind in kinds), None)
        note = f" ({kind!r} is for {_MODALITY_NAMES[other]})" if other is not None else ""
        what = "plot kind" if modality == "neuroid" else f"plot kind for {_MODALITY_NAMES[modality]}"
        raise InvalidParameterError(valid_values_message(what, kind, list(valid), note=note))
    if kind == "ceiling":
        return _plot_ceiling(array, repetitions, ax, **kwargs)
    if kind == "erp":
        return _plot_erp(array, ax, **kwargs)
    if kind == "reliability":
        return _plot_eeg_reliability(array, repetitions, n_iterations, random_state, ax, **kwargs)
    _require_dims(array, kind, "neuroid")
    if kind == "regions":
        return _plot_regions(array, region_coord, ax, **kwargs)
    if kind == "psth":
        return _plot_psth(array, region_coord, ax, **kwargs)
    return _plot_rdm(array, region_coord, region, sort_by, ax, **kwargs)


def _plot_regions(array, region_coord, ax, **kwargs) -> Axes:
    per_neuroid = array.mean([d for d in array.dims if d != "neuroid"]).values
    groups = _neuroid_groups(array, region_coord)
    ax = _axes(ax, (2.6 + 1.0 * len(groups), 3.4))
    data = [per_neuroid[positions] for positions in groups.values()]
    ax.boxplot(data, **kwargs)
    for i, values in enumerate(data, start=1):
        jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(len(values))
        ax.plot(np.full(len(values), i) + jitter, values, ".", color="0.3", alpha=0.6, markersize=4)
    ax.set_xticks(range(1, len(groups) + 1), [f"{name}\n(n={len(p)})" for name, p in groups.items()])
    ax.set_ylabel("mean response per neuroid" + _units(array))
    ax.set_title(f"{array.name or 'responses'} per region")
    return ax


def _plot_psth(array, region_coord, ax, **kwargs) -> Axes:
    _require_dims(array, "psth", "time_bin")
    if "time_bin_start" not in array.coords or "time_bin_end" not in array.coords:
        raise InvalidParameterError("plot kind 'psth' needs the time_bin_start and time_bin_end coordinates")
    starts, ends = (np.asarray(array[n].values, dtype=float) for n in ("time_bin_start", "time_bin_end"))
    centres = (starts + ends) / 2
    over = [d for d in array.dims if d not in ("neuroid", "time_bin")]
    per_neuroid = array.mean(over).transpose("neuroid", "time_bin").values  # neuroid x time_bin
    ax = _axes(ax, (5.0, 3.2))
    for name, positions in _neuroid_groups(array, region_coord).items():
        values = per_neuroid[positions]
        mean = np.nanmean(values, axis=0)
        line = ax.plot(centres, mean, label=f"{name} (n={len(positions)})", **kwargs)[0]
        if len(positions) > 1:
            sem = np.nanstd(values, axis=0) / np.sqrt(len(positions))
            ax.fill_between(centres, mean - sem, mean + sem, color=line.get_color(), alpha=0.25, linewidth=0)
    ax.set_xlabel(
        "time bin centre"
        + (f" ({array['time_bin_start'].attrs['units']})" if "units" in array["time_bin_start"].attrs else "")
    )
    ax.set_ylabel("mean response" + _units(array))
    ax.set_title("PSTH (mean ± SEM across neuroids)")
    ax.legend(frameon=False, fontsize="small")
    return ax


def _plot_rdm(array, region_coord, region, sort_by, ax, **kwargs) -> Axes:
    _require_dims(array, "rdm", "presentation")
    if region is not None:
        groups = _neuroid_groups(array, region_coord)
        region = _short(region)
        if region not in groups:
            raise InvalidParameterError(valid_values_message("region", region, list(groups)))
        array = array.isel(neuroid=groups[region])
    order_coord = sort_by or next((c for c in RDM_ORDER_COORDS if c in array.coords), None)
    on_presentation = [str(n) for n, c in array.coords.items() if c.dims == ("presentation",)]
    if order_coord is not None and order_coord not in on_presentation:
        raise InvalidParameterError(valid_values_message("sort_by", order_coord, on_presentation))
    over = [d for d in array.dims if d not in ("presentation", "neuroid")]
    patterns = np.asarray(array.mean(over).transpose("presentation", "neuroid").values, dtype=np.float64)
    first = np.arange(len(patterns))
    if "stimulus_id" in array.coords:  # one pattern per stimulus: the mean of its repetitions
        ids = np.asarray(array["stimulus_id"].values).astype(str)
        _, first, codes = np.unique(ids, return_index=True, return_inverse=True)
        patterns = group_means(patterns, codes, len(first), axis=0)
    if order_coord is not None:
        labels = np.asarray(array[order_coord].values).astype(str)[first]
        patterns = patterns[np.argsort(labels, kind="stable")]
    if patterns.shape[0] < 2:
        raise InvalidParameterError("an RDM needs at least two stimuli")
    with np.errstate(invalid="ignore", divide="ignore"):
        rdm = 1.0 - np.corrcoef(patterns)
    ax = _axes(ax, (4.4, 3.8))
    image = ax.imshow(rdm, cmap=kwargs.pop("cmap", "viridis"), interpolation="nearest", **kwargs)
    ax.figure.colorbar(image, ax=ax, label="1 - Pearson r")
    ax.set_xlabel(f"stimulus (by {order_coord})" if order_coord else "stimulus")
    ax.set_ylabel("stimulus")
    ax.set_title(f"RDM{f' ({region})' if region else ''}, {patterns.shape[0]} stimuli")
    return ax


# --------------------------------------------------------------------------------------
# fMRI and EEG/MEG
# --------------------------------------------------------------------------------------

#: colours of the ceiling plot's subjects and the EEG plots' channel groups (matplotlib's tab10)
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _stimulus_codes(array: xr.DataArray, kind: str) -> np.ndarray:
    """Integer codes of ``stimulus_id`` along presentation, in first-appearance order."""
    import pandas as pd

    if "stimulus_id" not in array.coords or array["stimulus_id"].dims != ("presentation",):
        raise InvalidParameterError(f"plot kind {kind!r} needs a stimulus_id coordinate on presentation")
    codes, _ = pd.factorize(np.asarray(array["stimulus_id"].values).astype(str))
    return np.asarray(codes)


def balanced_trials(stimulus_codes: np.ndarray, repetitions: int | None = None) -> np.ndarray:
    """Presentation positions as a balanced ``(stimuli, repetitions)`` table.

    Every stimulus shown at least ``repetitions`` times contributes its first ``repetitions``
    presentations (in presentation order), stimuli in first-appearance order. The default
    ``repetitions`` keeps the most trials (stimuli x repetitions, at least 2 repetitions; a tie
    goes to more repetitions): THINGS-EEG2-like data with 240 images x 4 and 60 x 10 gives
    300 x 4.

    Raises
    ------
    InvalidParameterError
        No stimulus is shown twice, or fewer than two stimuli are shown ``repetitions`` times.
    """
    codes = np.asarray(stimulus_codes, dtype=np.intp)
    counts = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.intp)
    if repetitions is None:
        options = [(int((counts >= k).sum()) * k, k) for k in np.unique(counts) if k >= 2]
        options = [(trials, k) for trials, k in options if (counts >= k).sum() >= 2]
        if not options:
            raise InvalidParameterError(
                "split-half reliability needs at least two stimuli shown at least twice "
                f"(presentations per stimulus here: {sorted(set(counts.tolist()))[:10]})"
            )
        repetitions = max(options)[1]
    if repetitions < 2 or int((counts >= repetitions).sum()) < 2:
        raise InvalidParameterError(
            f"repetitions must be >= 2 and shared by at least two stimuli, got {repetitions!r} "
            f"(presentations per stimulus here: {sorted(set(counts.tolist()))[:10]})"
        )
    kept = np.flatnonzero(counts >= repetitions)  # already in first-appearance order (factorized codes)
    rank = stats.repetition_numbers(codes)
    table = np.full((counts.size, repetitions), -1, dtype=np.intp)
    use = rank < repetitions
    table[codes[use], rank[use]] = np.flatnonzero(use)
    return table[kept]


def _plot_ceiling(array: xr.DataArray, repetitions: int | None, ax: Axes | None, **kwargs: Any) -> Axes:
    from brainbridge.regions import ROI_PREFIX, roi_names

    rois = [r for r in roi_names(array) if array[ROI_PREFIX + r].dims == ("voxel",)]
    if not rois:
        raise InvalidParameterError(
            "plot kind 'ceiling' needs boolean ROI coordinates 'roi_<name>' on voxel (e.g. roi_V1)"
        )
    codes = _stimulus_codes(array, "ceiling") if repetitions is None or "ncsnr" not in array.coords else None
    if repetitions is None:
        assert codes is not None
        counts = np.bincount(codes)
        values_, n = np.unique(counts, return_counts=True)
        repetitions = int(values_[np.argmax(n)])  # the most common; ties: the fewest
    if "ncsnr" in array.coords:
        ncsnr = np.asarray(array["ncsnr"].values, dtype=np.float64)
        source = "ncsnr"
    else:
        assert codes is not None
        trials = np.asarray(array.transpose("presentation", "voxel").values, dtype=np.float64)
        ncsnr = stats.ncsnr(trials, codes)
        source = "ncsnr computed from the trials"
    ceiling = np.asarray(stats.ncsnr_noise_ceiling(ncsnr, repetitions))
    subjects = (
        np.asarray(array["subject"].values).astype(str)
        if "subject" in array.coords and array["subject"].dims == ("voxel",)
        else np.full(array.sizes["voxel"], "all")
    )
    names = list(dict.fromkeys(subjects.tolist()))
    width = 0.8 / len(names)
    ax = _axes(ax, (2.4 + 1.1 * len(rois) * max(1, len(names) / 2), 3.6))
    for j, subject in enumerate(names):
        colour = _COLOURS[j % len(_COLOURS)]
        data, positions = [], []
        for i, roi in enumerate(rois):
            members = np.asarray(array[ROI_PREFIX + roi].values, dtype=bool) & (subjects == subject)
            values = ceiling[members]
            values = values[np.isfinite(values)]
            x = i + (j - (len(names) - 1) / 2) * width
            data.append(values)
            positions.append(x)
            jitter = np.linspace(-0.3, 0.3, len(values)) * width if len(values) > 1 else np.zeros(len(values))
            ax.plot(
                np.full(len(values), x) + jitter,
                values,
                ".",
                color=colour,
                alpha=0.7,
                markersize=4,
                gid=f"ceiling:{roi}:{subject}",
            )
        boxes = ax.boxplot(
            data, positions=positions, widths=width * 0.8, showfliers=False, manage_ticks=False, **kwargs
        )
        for part in ("boxes", "medians", "whiskers", "caps"):
            for artist in boxes[part]:
                artist.set_color(colour)
        ax.plot([], [], "s", color=colour, label=_literal(subject))
    ax.set_xticks(range(len(rois)), [_literal(roi) for roi in rois])
    ax.set_xlim(-0.6, len(rois) - 0.4)
    ax.set_ylim(0, 1)
    ax.set_xlabel("ROI (a voxel may be in several)")
    ax.set_ylabel("noise ceiling (fraction of variance)")
    ax.set_title(
        f"Noise ceiling per voxel from {source},\nfor the mean of n={repetitions} repetitions: "
        f"ncsnr² / (ncsnr² + 1/{repetitions})",
        fontsize="medium",
    )
    if len(names) > 1 or names != ["all"]:
        ax.legend(frameon=False, fontsize="small", title="subject", loc="upper left", bbox_to_anchor=(1, 1))
    return ax


def _channel_codes(array: xr.DataArray) -> tuple[list[str], np.ndarray]:
    """The channel groups present (in :data:`CHANNEL_GROUPS` order, then ``other``) and each
    channel's group code."""
    from brainbridge.regions import CHANNEL_GROUPS, OTHER_CHANNELS, channel_group

    if "channel_name" in array.coords and array["channel_name"].dims == ("channel",):
        labels = [channel_group(str(name)) for name in np.asarray(array["channel_name"].values)]
    else:
        labels = [OTHER_CHANNELS] * array.sizes["channel"]
    groups = [g for g in (*CHANNEL_GROUPS, OTHER_CHANNELS) if g in labels]
    return groups, np.array([groups.index(label) for label in labels], dtype=np.intp)


def _times_ms(array: xr.DataArray) -> np.ndarray:
    """Time of each time bin in ms: ``time`` (seconds) if present, else the bin centres."""
    if "time" in array.coords and array["time"].dims == ("time_bin",):
        return np.asarray(array["time"].values, dtype=np.float64) * 1000
    if "time_bin_start" in array.coords and "time_bin_end" in array.coords:
        starts, ends = (np.asarray(array[n].values, dtype=float) for n in ("time_bin_start", "time_bin_end"))
        return (starts + ends) / 2
    return np.arange(array.sizes["time_bin"], dtype=np.float64)


def _time_axes(ax: Axes) -> None:
    ax.axvline(0, color="0.6", lw=0.8, ls=":")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("time from stimulus onset (ms)")


def _plot_erp(array: xr.DataArray, ax: Axes | None, **kwargs: Any) -> Axes:
    groups, codes = _channel_codes(array)
    trials = array.sizes["presentation"]
    # channel x time: the trial average (NaN skipped), then each group's channels averaged
    erp = np.asarray(array.mean("presentation").transpose("channel", "time_bin").values, dtype=np.float64)
    means = group_means(erp, codes, len(groups), axis=0)
    times = _times_ms(array)
    ax = _axes(ax, (5.6, 3.4))
    for g, name in enumerate(groups):
        members = erp[codes == g]
        colour = _COLOURS[g % len(_COLOURS)]
        ax.plot(
            times, means[g], color=colour, label=f"{name} ({len(members)} ch.)", gid=f"erp:{name}", **kwargs
        )
        if len(members) > 1:
            sem = np.nanstd(members, axis=0) / np.sqrt(len(members))
            ax.fill_between(times, means[g] - sem, means[g] + sem, color=colour, alpha=0.2, linewidth=0)
    _time_axes(ax)
    ax.set_ylabel("mean response" + _units(array))
    ax.set_title(
        f"ERP per channel group: mean of {trials:,} trials, ± SEM across channels", fontsize="medium"
    )
    ax.legend(frameon=False, fontsize="small")
    return ax


def _plot_eeg_reliability(
    array: xr.DataArray,
    repetitions: int | None,
    n_iterations: int,
    random_state: int | None,
    ax: Axes | None,
    **kwargs: Any,
) -> Axes:
    table = balanced_trials(_stimulus_codes(array, "reliability"), repetitions)
    n_images, n_reps = table.shape
    data = array.transpose("presentation", "channel", "time_bin")
    # (images, repetitions, channels, times), read in presentation order
    order = np.sort(table.ravel())
    values = np.asarray(data.isel(presentation=order).values)
    trials = values[np.searchsorted(order, table)]
    result = stats.split_half_ceilings(trials, n_iterations=n_iterations, random_state=random_state)
    groups, codes = _channel_codes(array)
    lower = group_means(result.lower, codes, len(groups), axis=0)
    upper = group_means(result.upper, codes, len(groups), axis=0)
    times = _times_ms(array)
    ax = _axes(ax, (5.6, 3.4))
    for g, name in enumerate(groups):
        colour = _COLOURS[g % len(_COLOURS)]
        ax.plot(times, lower[g], color=colour, label=name, gid=f"lower:{name}", **kwargs)
        ax.plot(times, upper[g], color=colour, ls="--", lw=1, gid=f"upper:{name}", **kwargs)
    ax.plot([], [], color="0.4", label="lower bound")
    ax.plot([], [], color="0.4", ls="--", lw=1, label="upper bound")
    _time_axes(ax)
    ax.set_ylim(min(-0.1, float(np.nanmin(lower))) if np.isfinite(lower).any() else -0.1, 1)
    ax.set_ylabel("split-half noise ceiling (r)")
    ax.set_title(
        f"Split-half ceiling per channel group: {n_images:,} stimuli x {n_reps} repetitions,\n"
        f"{n_iterations} random halvings, channels averaged",
        fontsize="medium",
    )
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
    return ax

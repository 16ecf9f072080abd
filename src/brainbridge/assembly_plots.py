"""Quick looks at an assembly: ``assembly.brainbridge.plot(kind=...)``.

* ``"regions"``: each neuroid's mean response, one box per region (with the points on top);
* ``"psth"``: the mean response over ``time_bin``, one line per region, ± SEM across neuroids;
* ``"rdm"``: the representational dissimilarity matrix ``1 - Pearson r`` between the stimuli's
  response patterns (repetitions averaged, time bins averaged).

matplotlib is imported when a plot is drawn, never on ``import brainbridge``. With no ``ax``
the plot gets a new pyplot figure (so Jupyter shows it inline); the Axes is returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from brainbridge.errors import InvalidParameterError, OptionalDependencyError, valid_values_message
from brainbridge.stats import group_means

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes

__all__ = ["KINDS", "RDM_ORDER_COORDS", "REGION_COORDS", "plot_assembly"]

KINDS = ("regions", "psth", "rdm")
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


def _require_dims(array: xr.DataArray, kind: str, *dims: str) -> None:
    missing = [d for d in dims if d not in array.dims]
    if missing:
        raise InvalidParameterError(
            f"plot kind {kind!r} needs the dimensions {list(dims)}; "
            f"this assembly has {list(map(str, array.dims))}"
        )


def plot_assembly(
    array: xr.DataArray,
    kind: str = "regions",
    *,
    region_coord: str | None = None,
    region: str | None = None,
    sort_by: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw one of :data:`KINDS` for ``array`` and return its matplotlib Axes.

    Parameters
    ----------
    array
        An assembly with a ``neuroid`` dimension (``presentation x neuroid [x time_bin]``).
    kind
        ``"regions"``, ``"psth"`` (needs ``time_bin`` with ``time_bin_start``/``time_bin_end``)
        or ``"rdm"`` (needs ``presentation``; repetitions of a ``stimulus_id`` are averaged).
    region_coord
        The neuroid coordinate naming the brain area (default: the first of
        :data:`REGION_COORDS` present; none: all neuroids are one group).
    region
        ``"rdm"`` only: use this region's neuroids.
    sort_by
        ``"rdm"`` only: order the stimuli by this presentation coordinate (default: the first
        of :data:`RDM_ORDER_COORDS` present, so that categories form blocks).
    ax
        Draw here (default: a new figure).
    **kwargs
        Passed to the matplotlib call (``boxplot``, ``plot``, ``imshow``).

    Raises
    ------
    InvalidParameterError
        An unknown ``kind``, or an assembly without the dimensions the kind needs.
    OptionalDependencyError
        matplotlib is not installed.
    """
    if kind not in KINDS:
        raise InvalidParameterError(valid_values_message("plot kind", kind, list(KINDS)))
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

"""Server-rendered SVG plots (matplotlib's object API: no pyplot state shared between requests)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from brainbridge.errors import BrainbridgeError
from brainbridge.web.data import AssemblySummary, reliability

#: the plots an assembly page shows, name -> title
ASSEMBLY_PLOTS = {
    "responses": "Response distribution",
    "reliability": "Split-half reliability per neuroid, by region",
    "categories": "Mean response per stimulus category",
    "repetitions": "Repetitions per stimulus",
}
#: an fMRI (presentation x voxel) assembly's plots
FMRI_PLOTS = {
    "ceiling": "Noise ceiling per voxel from ncsnr, by ROI and subject",
    "responses": "Response distribution, by ROI",
    "repetitions": "Repetitions per stimulus",
}
#: an EEG/MEG (presentation x channel x time_bin) assembly's plots
EEG_PLOTS = {
    "erp": "Trial-averaged response (ERP) per channel group",
    "reliability": "Split-half noise ceiling over time, per channel group",
    "repetitions": "Repetitions per stimulus",
}
#: the plots drawn by :func:`brainbridge.assembly_plots.plot_assembly`, per modality
_ACCESSOR_PLOTS = {"fmri": ("ceiling",), "eeg": ("erp", "reliability")}


def plots_for(summary: AssemblySummary) -> dict[str, str]:
    """The plots (name -> title) of an assembly page, for the assembly's modality."""
    return {"fmri": FMRI_PLOTS, "eeg": EEG_PLOTS}.get(summary.modality, ASSEMBLY_PLOTS)


_COLOURS = ["#3b6ea8", "#d0743c", "#5a9e5a", "#b5485d", "#7d67ad", "#8c6d46", "#c76fb0", "#6f6f6f"]


def _figure(width: float = 6.4, height: float = 3.4):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def to_svg(figure: Any) -> bytes:
    """The figure as SVG bytes (deterministic ids, text as paths: no fonts needed in the browser)."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "brainbridge", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _message(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="#555")
    axes.set_axis_off()


def _by_region(summary: AssemblySummary) -> list[tuple[str, np.ndarray]]:
    """``[(region, neuroid positions)]`` (fMRI: per ROI; one ``all`` group without regions)."""
    if summary.neuroid_groups is not None:
        return summary.neuroid_groups
    if summary.neuroid_regions is None:
        return [("all", np.arange(0 if summary.values is None else summary.values.shape[1]))]
    regions = pd.unique(summary.neuroid_regions)
    return [(str(r), np.flatnonzero(summary.neuroid_regions == r)) for r in regions]


def assembly_plot(summary: AssemblySummary, name: str) -> bytes:
    """One of :func:`plots_for`'s plots as SVG."""
    figure, axes = _figure()
    if name in _ACCESSOR_PLOTS.get(summary.modality, ()):
        if summary.sample is None:
            _message(axes, summary.sample_note or "no values to plot")
            return to_svg(figure)
        from brainbridge.assembly_plots import plot_assembly

        try:
            plot_assembly(summary.sample, name, ax=axes)
        except BrainbridgeError as e:  # e.g. no repeated stimuli: say so in the plot's place
            axes.clear()
            _message(axes, str(e).splitlines()[0][:120])
        return to_svg(figure)
    if name == "repetitions":  # from the coordinates: every presentation, no values needed
        if summary.stimulus_codes is None:
            unread = summary.values is None and summary.sample is None and summary.sample_note
            _message(axes, unread or "no stimulus_id coordinate: repetitions unknown")
            return to_svg(figure)
        counts = np.bincount(summary.stimulus_codes)
        values_, n = np.unique(counts, return_counts=True)
        axes.bar(values_, n, color=_COLOURS[0])
        axes.set_xlabel("presentations per stimulus")
        axes.set_ylabel("stimuli")
        axes.set_xticks(values_)
        return to_svg(figure)
    values = summary.values
    if values is None:
        _message(axes, summary.sample_note or "no values to plot")
        return to_svg(figure)
    groups = _by_region(summary)
    if name == "responses":
        finite = values[np.isfinite(values)]
        bins = np.histogram_bin_edges(finite, bins=60) if finite.size else 10
        for i, (region, columns) in enumerate(groups):
            data = values[:, columns].ravel()
            axes.hist(
                data[np.isfinite(data)],
                bins=bins,
                histtype="stepfilled",
                alpha=0.45,
                color=_COLOURS[i % len(_COLOURS)],
                label=f"{region} ({len(columns)} {'voxels' if summary.modality == 'fmri' else 'neuroids'})",
            )
        axes.set_xlabel("response (trial level)")
        axes.set_ylabel("count")
        axes.legend(frameon=False)
    elif name == "reliability":
        per_neuroid = reliability(summary)
        if per_neuroid is None:
            _message(axes, "no reliability: it needs a stimulus_id with at least two repetitions")
            return to_svg(figure)
        for i, (region, columns) in enumerate(groups):
            r = per_neuroid[columns]
            axes.scatter(
                columns,
                r,
                s=14,
                color=_COLOURS[i % len(_COLOURS)],
                label=f"{region}: median {np.nanmedian(r):.3f}" if np.isfinite(r).any() else region,
            )
        axes.set_xlabel("neuroid (position)")
        axes.set_ylabel("split-half r (Spearman-Brown)")
        axes.set_ylim(min(0.0, float(np.nanmin(per_neuroid)) if np.isfinite(per_neuroid).any() else 0.0), 1.0)
        axes.legend(frameon=False, loc="lower right")
    elif name == "categories":
        if summary.categories is None or summary.stimulus_ids is None:
            _message(
                axes, "no stimulus categories (category_name/object_name) in the stimulus set or the assembly"
            )
            return to_svg(figure)
        per_presentation = summary.categories.reindex(summary.stimulus_ids[summary.stimulus_codes]).to_numpy()
        categories = [c for c in pd.unique(per_presentation) if isinstance(c, str)]
        if len(categories) > 30:
            categories = categories[:30]
        width = 0.8 / max(len(groups), 1)
        positions = np.arange(len(categories))
        for i, (region, columns) in enumerate(groups):
            means = [np.nanmean(values[per_presentation == c][:, columns]) for c in categories]
            axes.bar(positions + i * width, means, width, color=_COLOURS[i % len(_COLOURS)], label=region)
        axes.set_xticks(
            positions + width * (len(groups) - 1) / 2,
            categories,
            rotation=45 if len(categories) > 6 else 0,
            ha="right" if len(categories) > 6 else "center",
        )
        axes.set_ylabel("mean response")
        axes.set_xlabel(summary.category_column or "category")
        axes.legend(frameon=False)
    else:  # the app only asks for known names
        from brainbridge.web.errors import NotFound

        raise NotFound(f"no plot called {name!r}; plots: {', '.join(plots_for(summary))}")
    return to_svg(figure)


def neuroid_plot(neuroids: pd.DataFrame, title: str) -> bytes:
    """Per-neuroid held-out r against the neuroid's ceiling (or sorted r without ceilings)."""
    figure, axes = _figure(6.4, 4.0)
    if neuroids is None or neuroids.empty:
        _message(axes, "no per-neuroid values were recorded with this score")
        return to_svg(figure)
    r = neuroids["r"].to_numpy(dtype=float)
    ceiling = neuroids["ceiling"].to_numpy(dtype=float) if "ceiling" in neuroids else np.full(len(r), np.nan)
    if np.isfinite(ceiling).any():
        axes.scatter(np.sqrt(np.clip(ceiling, 0, None)), r, s=18, color=_COLOURS[0])
        top = float(np.nanmax([1.0, np.nanmax(r)]))
        axes.plot([0, top], [0, top], color="#999", lw=1, ls="--", label="r = sqrt(ceiling)")
        axes.set_xlabel("sqrt(internal consistency) of the neuroid")
        axes.legend(frameon=False)
    else:
        order = np.argsort(r)
        axes.bar(np.arange(len(r)), r[order], color=_COLOURS[0])
        axes.set_xlabel("neuroid (sorted)")
    axes.set_ylabel("held-out Pearson r")
    axes.set_title(title, fontsize=10)
    return to_svg(figure)


def unit_plot(session: Any, unit_id: Any, window: tuple[float, float], bin_size: float) -> bytes:
    """Raster and PSTH of one unit (:func:`brainbridge.ecephys.plots.plot_unit`) as SVG."""
    import matplotlib.pyplot as plt

    from brainbridge.ecephys.plots import plot_unit

    figure = plot_unit(session, unit_id, window=window, bin_size=bin_size)
    try:
        return to_svg(figure)
    finally:
        plt.close(figure)

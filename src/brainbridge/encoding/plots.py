"""Plots of a neural-predictivity score (matplotlib; the Agg backend when nothing else is set).

* :func:`plot_predictions`: held-out predictions against measured responses.
* :func:`plot_neuroid_ceiling`: each neuroid's r against its ceiling, per region, with the
  noise bound ``r = sqrt(ceiling)`` (the best r a perfect model reaches).
* :func:`plot_score`: both panels in one figure, optionally saved to a file.

All take the :class:`~brainbridge.encoding.scoring.Score` of a regression metric (``'pls'``,
``'ridge_per_neuroid'``, ``'ridge'``...) from :func:`brainbridge.encoding.score`, scored on one
region (or pooled); a per-region score is plotted region by region. Axes carry the response
units (the assembly's ``attrs['units']``), and every marker is explained in the legend.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from brainbridge.encoding.errors import InvalidParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from brainbridge.encoding.scoring import Score

__all__ = ["plot_neuroid_ceiling", "plot_predictions", "plot_score"]


def _pyplot():
    import matplotlib

    if "MPLBACKEND" not in os.environ and matplotlib.get_backend().lower() not in ("agg", "pdf", "svg"):
        # headless by default: scoring runs on servers and in CI
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _regression_attrs(score: Score) -> Any:
    if score.ndim:
        raise InvalidParameterError(
            "this plot shows one score: pick a region (score.regions['IT']) or plot each region in turn"
        )
    raw = score.unceiled
    if "predictions" not in raw.attrs:
        raise InvalidParameterError(
            f"this plot needs a regression score (metric 'pls', 'ridge_per_neuroid'...), "
            f"got metric {raw.attrs.get('metric')!r}"
        )
    return raw


def _units(raw: Any) -> str:
    units = raw.attrs["measured"].attrs.get("units")
    return f" ({units})" if units else ""


def _regions(array) -> np.ndarray:
    if "region" in array.coords:
        return np.asarray(array["region"].values).astype(str)
    return np.full(array.sizes["neuroid"], "all")


def plot_predictions(score: Score, ax: Axes | None = None, *, max_points: int = 20000, seed: int = 0) -> Axes:
    """Scatter of held-out predictions against measured responses, coloured by region.

    Every stimulus's prediction is the mean over the splits that held it out (stimuli never
    held out are skipped). At most ``max_points`` points are drawn (a seeded subsample).
    """
    plt = _pyplot()
    raw = _regression_attrs(score)
    predicted, measured = raw.attrs["predictions"], raw.attrs["measured"]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    regions = _regions(predicted)
    rng = np.random.default_rng(seed)
    low, high = np.inf, -np.inf
    for region in dict.fromkeys(regions):
        columns = regions == region
        p = np.asarray(predicted.values)[:, columns].ravel()
        m = np.asarray(measured.values)[:, columns].ravel()
        keep = np.isfinite(p) & np.isfinite(m)
        p, m = p[keep], m[keep]
        if p.size > max_points:
            chosen = rng.choice(p.size, max_points, replace=False)
            p, m = p[chosen], m[chosen]
        if p.size:
            low, high = min(low, p.min(), m.min()), max(high, p.max(), m.max())
        ax.scatter(m, p, s=4, alpha=0.4, label=f"{region}: one stimulus x neuroid", rasterized=True)
    if np.isfinite(low):
        ax.plot([low, high], [low, high], color="k", lw=0.8, ls="--", label="identity (perfect prediction)")
        pad = 0.03 * (high - low)
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
    units = _units(raw)
    ax.set_xlabel(f"measured response, repetition mean{units}")
    ax.set_ylabel(f"predicted response, held out{units}")
    error = raw.raw_error
    ax.set_title(
        f"{raw.attrs.get('metric', '')}: median r = {float(raw.values):.3f}"
        + (f" ± {error:.3f} (SEM over splits)" if error is not None else ""),
        fontsize="medium",
    )
    ax.legend(markerscale=3, frameon=False, fontsize="small", loc="upper left")
    return ax


def plot_neuroid_ceiling(score: Score, ax: Axes | None = None) -> Axes:
    """Per-neuroid r (mean over splits) against the per-neuroid ceiling, per region.

    Needs a ceiled score (``score(..., ceiling=True)``) whose ceiling was computed from the
    data. Big markers show each region's medians; the curve is ``r = sqrt(ceiling)``.
    """
    plt = _pyplot()
    raw = _regression_attrs(score)
    ceiling = score.ceiling
    c = ceiling.per_neuroid() if ceiling is not None else None
    if c is None:
        raise InvalidParameterError(
            "this plot needs a score with a per-neuroid ceiling (score(..., ceiling=True))"
        )
    r = raw.per_neuroid()
    if r.sizes["neuroid"] != c.sizes["neuroid"]:
        raise InvalidParameterError("the score and its ceiling cover different neuroids")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    regions = _regions(r)
    r_values, c_values = np.asarray(r.values), np.asarray(c.values)
    for region in dict.fromkeys(regions):
        columns = regions == region
        points = ax.scatter(
            c_values[columns], r_values[columns], s=14, alpha=0.7, label=f"{region}: one neuroid"
        )
        ax.scatter(
            np.nanmedian(c_values[columns]),
            np.nanmedian(r_values[columns]),
            s=120,
            marker="D",
            color=points.get_facecolor()[0],
            edgecolor="k",
            zorder=3,
            label=f"{region}: medians",
        )
    # use the space the data needs (with the noise bound drawn across it), not always [0, 1]
    finite_c, finite_r = c_values[np.isfinite(c_values)], r_values[np.isfinite(r_values)]
    c_low, c_high = float(finite_c.min()) - 0.05, float(finite_c.max()) + 0.05
    if c_high - c_low < 0.25:  # at least a quarter of the unit range, centred on the data
        middle = (c_low + c_high) / 2
        c_low, c_high = middle - 0.125, middle + 0.125
    c_low, c_high = max(0.0, c_low), min(1.0, c_high)
    r_low = max(-1.0, float(finite_r.min()) - 0.05)
    r_high = min(1.0, max(float(finite_r.max()), float(np.sqrt(c_high))) + 0.05)
    grid = np.linspace(c_low, c_high, 101)
    ax.plot(grid, np.sqrt(grid), color="k", lw=0.8, ls="--", label="r = sqrt(ceiling): a perfect model")
    ax.set_xlim(c_low, c_high)
    ax.set_ylim(r_low, r_high)
    ax.set_xlabel("ceiling per neuroid (split-half, Spearman-Brown)")
    ax.set_ylabel("r per neuroid (held out, mean over splits)")
    error = score.ceiled_error
    ax.set_title(
        f"ceiled score r²/ceiling = {float(score.values):.3f}"
        + (f" ± {error:.3f}" if error is not None else ""),
        fontsize="medium",
    )
    ax.legend(frameon=True, framealpha=0.85, fontsize="small", loc="best")
    return ax


def plot_score(
    score: Score, path: str | os.PathLike | None = None, *, title: str | None = None, dpi: int = 120
) -> Figure:
    """Both panels (predictions, r vs ceiling when available) in one figure; saved to ``path``.

    ``title`` (e.g. ``"gabor_v1 vs brainbridge.example.neural, V1"``) names the model and
    the data; the caption under the panels says what the error bars and markers are.
    """
    plt = _pyplot()
    has_ceiling = score.ceiling is not None and score.ceiling.per_neuroid() is not None
    figure, axes = plt.subplots(
        1, 2 if has_ceiling else 1, figsize=(10.5 if has_ceiling else 5.5, 5.2), squeeze=False
    )
    plot_predictions(score, axes[0, 0])
    if has_ceiling:
        plot_neuroid_ceiling(score, axes[0, 1])
    if title:
        figure.suptitle(title, fontsize="large")
    raw = score.unceiled
    figure.text(
        0.5,
        0.01,
        f"{raw.attrs.get('n_splits', '')} cross-validation splits; ± values are the SEM over splits "
        "(for the ceiled score, propagated from the raw r)",
        ha="center",
        va="bottom",
        fontsize="small",
        color="0.3",
    )
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    if path is not None:
        figure.savefig(path, dpi=dpi)
    return figure

"""The main job on the bundled example data: ``brainbridge example run``.

:func:`run_main_job` runs a list of *steps*, each a function ``step(context, echo)`` that
reads and adds entries of a shared ``context`` dict and reports through ``echo``. The core
steps list the catalogs, fetch and load the example assembly with its stimulus set, average
the repetitions, print a per-region summary (with split-half reliability) and save a plot of
the responses. The encoding steps (:mod:`brainbridge.examples.encoding_job`) follow; each
says so and is skipped when the ``encoding`` extra is not installed, so the core job always
runs. Pass ``steps=`` to run another list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainbridge import stats
from brainbridge.errors import AssemblyError
from brainbridge.examples import encoding_job, modalities_job
from brainbridge.examples.build import ASSEMBLY_IDENTIFIER
from brainbridge.formatting import format_table

__all__ = [
    "CORE_STEPS",
    "ENCODING_STEPS",
    "default_steps",
    "plot_responses",
    "region_reliability",
    "region_summary",
    "run_main_job",
    "split_half_reliability",
]

Echo = Callable[[str], None]
Step = Callable[[dict, Echo], None]

# --------------------------------------------------------------------------------------
# analysis helpers
# --------------------------------------------------------------------------------------


def _stimulus_codes(
    assembly: xr.DataArray, dim: str, by: str, repetition: str
) -> tuple[np.ndarray, np.ndarray]:
    if dim not in assembly.dims or by not in assembly.coords:
        raise AssemblyError(f"split-half reliability needs a '{by}' coordinate on a '{dim}' dimension")
    codes, _ = pd.factorize(np.asarray(assembly[by].values))
    if repetition in assembly.coords:
        reps = np.asarray(assembly[repetition].values)
    else:
        reps = stats.repetition_numbers(codes)
    if len(np.unique(reps)) < 2:
        raise AssemblyError("split-half reliability needs at least two repetitions per stimulus")
    return codes, reps


def split_half_reliability(
    assembly: xr.DataArray,
    *,
    n_splits: int = 10,
    seed: int = 1,
    dim: str = "presentation",
    by: str = "stimulus_id",
    repetition: str = "repetition",
) -> np.ndarray:
    """Split-half internal consistency of every neuroid, Spearman-Brown corrected.

    :func:`brainbridge.stats.split_half_reliability` (Brain-Score's ceiling procedure: the
    same halvings of the repetitions, seed 1) per neuroid and time bin; each value is the
    mean over the splits. It estimates the reliability of the mean over all repetitions.
    The per-region number the summary prints is :func:`region_reliability`, which is the
    encoding ceiling itself.

    Parameters
    ----------
    assembly
        Trial-level responses with ``by`` (and ideally ``repetition``) along ``dim``. Other
        dimensions (``neuroid``, ``time_bin``) are kept.
    n_splits, seed
        Number of halvings and their seed (Brain-Score: 10 and 1).
    dim, by, repetition
        Names of the presentation dimension, the stimulus key and the repetition coordinate;
        without ``repetition``, the order of presentation within each stimulus is used.

    Returns
    -------
    numpy.ndarray
        One value per element of the other dimensions, shaped like them (NaN where a neuroid
        does not vary).

    Raises
    ------
    AssemblyError
        Missing coordinates, or fewer than two repetitions.
    """
    codes, reps = _stimulus_codes(assembly, dim, by, repetition)
    values = np.moveaxis(np.asarray(assembly.values, dtype=np.float64), assembly.get_axis_num(dim), 0)
    rest_shape = values.shape[1:]
    result = stats.split_half_reliability(
        values.reshape(len(values), -1), codes, reps, n_splits=n_splits, random_state=seed
    )
    return result.per_neuroid.reshape(rest_shape)


def region_reliability(
    assembly: xr.DataArray, *, n_splits: int = 10, seed: int = 1
) -> dict[str, stats.SplitHalfReliability]:
    """Per region, the split-half reliability exactly as the encoding ceiling computes it.

    Time bins averaged (:func:`brainbridge.assemblies.average_time_bins`), then
    :func:`brainbridge.stats.split_half_reliability` on the region's neuroids; ``.value`` is
    the mean over splits of the median over neuroids, the number ``brainbridge score`` and
    the fits report as the ceiling.
    """
    from brainbridge.assemblies import average_time_bins

    if "region" not in assembly.coords:
        raise AssemblyError("region reliability needs a 'region' coordinate on 'neuroid'")
    flat = average_time_bins(assembly)
    codes, reps = _stimulus_codes(flat, "presentation", "stimulus_id", "repetition")
    values = np.asarray(flat.transpose("presentation", "neuroid").values, dtype=np.float64)
    regions = np.asarray(flat["region"].values).astype(str)
    return {
        region: stats.split_half_reliability(
            values[:, regions == region], codes, reps, n_splits=n_splits, random_state=seed
        )
        for region in pd.unique(regions)
    }


def region_summary(
    assembly: xr.DataArray,
    averaged: xr.DataArray,
    reliability: Mapping[str, stats.SplitHalfReliability | float] | None = None,
) -> pd.DataFrame:
    """One row per region: neuroids, stimuli, repetitions, mean response, reliability.

    Parameters
    ----------
    assembly
        Trial-level responses (``presentation x neuroid [x time_bin]``).
    averaged
        The same averaged over repetitions.
    reliability
        :func:`region_reliability` of ``assembly`` (computed here when ``None``). The
        ``split_half_reliability`` column is its ``.value``: the same number as the ceiling
        of every score of that region.
    """
    reliability = region_reliability(assembly) if reliability is None else reliability
    regions = np.asarray(assembly["region"].values).astype(str)
    n_stimuli = averaged.sizes["presentation"]
    repetitions = assembly.sizes["presentation"] / max(n_stimuli, 1)
    mean_axis = tuple(d for d in averaged.dims if d != "neuroid")
    per_neuroid_mean = np.asarray(averaged.mean(dim=mean_axis).values)
    rows = []
    for region in pd.unique(regions):
        mask = regions == region
        value = reliability[region]
        rows.append(
            {
                "region": region,
                "neuroids": int(mask.sum()),
                "stimuli": int(n_stimuli),
                "repetitions": float(repetitions),
                "mean_response": float(np.nanmean(per_neuroid_mean[mask])),
                "split_half_reliability": float(
                    value.value if isinstance(value, stats.SplitHalfReliability) else value
                ),
            }
        )
    return pd.DataFrame(rows)


def plot_responses(
    averaged: xr.DataArray,
    stimulus_set: pd.DataFrame | None,
    path: str | Path,
    *,
    n_examples: int = 8,
) -> Path:
    """Save a figure of the responses: per-category means, per-object tuning, example stimuli.

    Panels: (a) mean response per ``category_name`` and region (error bars: SEM over
    neuroids); (b) each neuroid's mean response per ``object_name``, z-scored per neuroid,
    neuroids grouped by region; (c) ``n_examples`` example stimuli, spread over categories.

    Parameters
    ----------
    averaged
        Responses averaged over repetitions, with ``category_name``/``object_name`` (from the
        merged stimulus set) on ``presentation`` and ``region`` on ``neuroid``.
    stimulus_set
        The stimulus set (its ``stimulus_paths`` give the example images); ``None`` omits (c).
    path
        Output PNG.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    for name in ("category_name", "object_name", "region"):
        if name not in averaged.coords:
            raise AssemblyError(f"cannot plot responses: no '{name}' coordinate")
    data = np.asarray(averaged.values, dtype=np.float64)
    data = data.reshape(data.shape[0], data.shape[1], -1).mean(axis=2)  # presentation x neuroid
    categories = np.asarray(averaged["category_name"].values).astype(str)
    objects = np.asarray(averaged["object_name"].values).astype(str)
    regions = np.asarray(averaged["region"].values).astype(str)
    region_order = list(pd.unique(regions))
    category_order = sorted(pd.unique(categories))
    object_order = sorted(pd.unique(objects))

    examples = _example_stimuli(stimulus_set, n_examples) if stimulus_set is not None else []
    figure = Figure(figsize=(13, 8.5 if examples else 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(
        2 if examples else 1, 2, height_ratios=[4, 1] if examples else [1], width_ratios=[1, 2.2]
    )

    # (a) mean per category and region
    bars = figure.add_subplot(grid[0, 0])
    width = 0.8 / max(len(region_order), 1)
    for i, region in enumerate(region_order):
        cols = regions == region
        per_neuroid = np.stack([data[categories == c][:, cols].mean(axis=0) for c in category_order])
        mean = per_neuroid.mean(axis=1)
        sem = per_neuroid.std(axis=1, ddof=1) / np.sqrt(max(cols.sum(), 1)) if cols.sum() > 1 else 0 * mean
        positions = np.arange(len(category_order)) + (i - (len(region_order) - 1) / 2) * width
        label = f"{region} (n={int(cols.sum())} neuroids)"
        bars.bar(positions, mean, width, yerr=sem, capsize=3, label=label)
    bars.set_xticks(np.arange(len(category_order)), category_order)
    units = averaged.attrs.get("units")
    bars.set_ylabel("mean response, repetition average" + (f" ({units})" if units else ""))
    bars.set_title("a  Mean response per category")
    bars.set_ylim(0, bars.get_ylim()[1] * 1.3)  # room for the legend above the bars
    bars.legend(
        frameon=False, title="bar: mean over neuroids\nerror bar: SEM over neuroids", title_fontsize="small"
    )

    # (b) object tuning, z-scored per neuroid
    heat = figure.add_subplot(grid[0, 1])
    per_object = np.stack([data[objects == o].mean(axis=0) for o in object_order])  # object x neuroid
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (per_object - per_object.mean(axis=0)) / per_object.std(axis=0)
    # within each region, neuroids sorted by their preferred object (then by how strongly they
    # prefer it), so that the tuning shows as a diagonal band instead of noise
    preferred = np.nanargmax(np.nan_to_num(z, nan=-np.inf), axis=0)
    strength = np.nanmax(np.nan_to_num(z, nan=-np.inf), axis=0)
    order = np.concatenate(
        [
            np.flatnonzero(regions == r)[np.lexsort((-strength[regions == r], preferred[regions == r]))]
            for r in region_order
        ]
    )
    image = heat.imshow(
        np.nan_to_num(z[:, order]).T, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, interpolation="nearest"
    )
    heat.set_xticks(np.arange(len(object_order)), object_order, rotation=70, ha="right", fontsize=7)
    bounds = np.cumsum([int((regions == r).sum()) for r in region_order])
    heat.set_yticks(bounds - np.diff(np.r_[0, bounds]) / 2, region_order)
    for b in bounds[:-1]:
        heat.axhline(b - 0.5, color="k", lw=0.8)
    heat.set_ylabel("neuroids (sorted by preferred object within region)")
    heat.set_title("b  Tuning: mean response per object_name, z-scored per neuroid")
    figure.colorbar(image, ax=heat, shrink=0.8, label="z (SD from the neuroid's mean over objects)")

    # (c) example stimuli
    if examples:
        strip = grid[1, :].subgridspec(1, len(examples))
        for k, (stimulus_id, label, file) in enumerate(examples):
            ax = figure.add_subplot(strip[0, k])
            with Image.open(file) as img:
                ax.imshow(np.asarray(img.convert("RGB")), interpolation="nearest")
            ax.set_title(f"{stimulus_id}\n{label}", fontsize=7)
            ax.axis("off")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def _example_stimuli(stimulus_set: pd.DataFrame, n: int) -> list[tuple[str, str, Path]]:
    """``n`` stimuli spread over ``object_name`` values (first of each, in sorted order)."""
    paths = getattr(stimulus_set, "stimulus_paths", None) or {}
    if not paths or "object_name" not in stimulus_set.columns:
        return []
    firsts = stimulus_set.drop_duplicates("object_name").sort_values("object_name")
    if len(firsts) > n:
        firsts = firsts.iloc[np.linspace(0, len(firsts) - 1, n).round().astype(int)]
    return [
        (str(sid), str(obj), Path(paths[str(sid)]))
        for sid, obj in zip(firsts["stimulus_id"], firsts["object_name"])
        if str(sid) in paths
    ]


# --------------------------------------------------------------------------------------
# steps
# --------------------------------------------------------------------------------------


def step_catalogs(context: dict, echo: Echo) -> None:
    """List catalogs, assemblies and stimulus sets."""
    import brainbridge

    context["catalogs"] = brainbridge.list_catalogs()
    context["assemblies"] = brainbridge.list_assemblies()
    context["stimulus_sets"] = brainbridge.list_stimulus_sets()
    echo(f"catalogs: {', '.join(context['catalogs'])}")
    echo(f"assemblies: {len(context['assemblies'])}, stimulus sets: {len(context['stimulus_sets'])}")


def step_fetch(context: dict, echo: Echo) -> None:
    """Fetch the example assembly's file into the cache (checksum verified)."""
    from brainbridge.catalogs import get_catalog, lookup_assembly
    from brainbridge.fetch import fetch_file

    identifier = context.setdefault("assembly_identifier", _default_identifier())
    row = lookup_assembly(identifier)
    base_dir = get_catalog(row["source_catalog"]).base_dir
    path = fetch_file(row["location_type"], row["location"], row["sha1"] or None, base_dir=base_dir)
    context["assembly_path"] = path
    echo(f"fetched {identifier} -> {path} (sha1 {row['sha1'][:12]}…, verified)")


def step_load(context: dict, echo: Echo) -> None:
    """Load the assembly with its stimulus set merged."""
    import brainbridge

    identifier = context.setdefault("assembly_identifier", _default_identifier())
    assembly = brainbridge.get_assembly(identifier)
    context["assembly"] = assembly
    context["stimulus_set"] = assembly.attrs.get("stimulus_set")
    sizes = " x ".join(f"{d} {n}" for d, n in assembly.sizes.items())
    echo(
        f"loaded {type(assembly).__name__} {identifier}: {sizes}; "
        f"stimulus set {assembly.attrs.get('stimulus_set_identifier')}"
    )


def step_average(context: dict, echo: Echo) -> None:
    """Average over repetitions and compute each neuroid's split-half reliability."""
    from brainbridge.assemblies import average_repetitions

    assembly = context["assembly"]
    averaged = average_repetitions(assembly)
    context["averaged"] = averaged
    context["reliability"] = split_half_reliability(assembly)
    context["region_reliability"] = region_reliability(assembly)
    echo(
        f"averaged {assembly.sizes['presentation']} presentations over repetitions "
        f"-> {averaged.sizes['presentation']} stimuli"
    )


def step_summary(context: dict, echo: Echo) -> None:
    """Print the per-region summary table and save it as ``summary.csv``."""
    summary = region_summary(context["assembly"], context["averaged"], context.get("region_reliability"))
    context["summary"] = summary
    path = Path(context["out_dir"]) / "summary.csv"
    summary.to_csv(path, index=False)
    context["summary_csv"] = path
    echo("")
    echo(format_table(summary.round({"repetitions": 1, "mean_response": 2, "split_half_reliability": 3})))
    echo("")


def step_plot(context: dict, echo: Echo) -> None:
    """Save ``responses.png`` (skipped with a note when matplotlib is not installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        echo("plot skipped: matplotlib is not installed (pip install 'brainbridge[plot]')")
        context["plot"] = None
        return
    path = plot_responses(
        context["averaged"], context.get("stimulus_set"), Path(context["out_dir"]) / "responses.png"
    )
    context["plot"] = path
    echo(f"saved {path}")


#: the core job, in order
CORE_STEPS: list[tuple[str, Step]] = [
    ("catalogs", step_catalogs),
    ("fetch", step_fetch),
    ("load", step_load),
    ("average", step_average),
    ("summary", step_summary),
    ("plot", step_plot),
]


#: the encoding part of the job (scores, in silico responses, plots), after the core steps
ENCODING_STEPS: list[tuple[str, Step]] = [
    ("score_families", encoding_job.step_score_families),
    ("encode_new_images", encoding_job.step_encode_new_images),
    ("encoding_plots", encoding_job.step_encoding_plots),
    # the other two modalities: NSD-like fMRI and THINGS-EEG2-like EEG (examples/modalities_job.py)
    *modalities_job.MODALITY_STEPS,
]


def _default_identifier() -> str:
    return ASSEMBLY_IDENTIFIER


def default_steps() -> list[tuple[str, Step]]:
    """:data:`CORE_STEPS` followed by :data:`ENCODING_STEPS`."""
    return [*CORE_STEPS, *ENCODING_STEPS]


def run_main_job(
    out_dir: str | Path,
    *,
    echo: Echo | None = print,
    steps: Sequence[tuple[str, Step]] | None = None,
    assembly_identifier: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the main job on the bundled example (or another catalogued assembly).

    Parameters
    ----------
    out_dir
        Folder for the outputs (created): ``summary.csv`` and ``responses.png``.
    echo
        Where progress lines and the summary table go (``None``: silent).
    steps
        ``[(name, step)]`` to run instead of :func:`default_steps`.
    assembly_identifier
        The assembly to analyse (default ``brainbridge.example.neural``).
    options
        Settings for the steps, put in the context before they run (e.g.
        ``{"encoding_families": "gabor_v1,random_cnn"}``).

    Returns
    -------
    dict
        The context: ``out_dir``, ``catalogs``, ``assemblies``, ``stimulus_sets``,
        ``assembly_identifier``, ``assembly_path``, ``assembly`` (trial level, stimulus set
        merged), ``stimulus_set``, ``averaged``, ``reliability`` (per neuroid),
        ``summary`` (DataFrame), ``summary_csv``, ``plot`` (path or ``None``), plus what
        the encoding steps add.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say: Echo = echo if echo is not None else (lambda _line: None)
    context: dict[str, Any] = {**(options or {}), "out_dir": out}
    if assembly_identifier is not None:
        context["assembly_identifier"] = assembly_identifier
    for _name, step in steps if steps is not None else default_steps():
        step(context, say)
    return context

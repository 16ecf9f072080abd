"""The encoding part of the main job (``brainbridge example run``) on the bundled example.

Three steps, listed in :data:`brainbridge.examples.main_job.ENCODING_STEPS` and run after
the core steps (which load ``brainbridge.example.neural`` into the job's context):

:func:`step_score_families`
    Scores each feature family (Gabor V1, the seeded random CNN, EfficientNet-lite0) on the
    example benchmark, per region, with Brain-Score's procedure (10 stratified shuffle splits
    by ``object_name``, train 0.9, random state 1; Pearson r per neuroid on held-out stimuli,
    median over neuroids, mean over splits; split-half internal-consistency ceiling;
    ``r**2 / ceiling``). Each family reads, per region, the layer of its registered model
    card (``ephys-brainbridge_example-<family>``), and the fits go through the content-hashed
    fit cache (:func:`brainbridge.encoding.cache.get_or_train`) under the same keys as
    :func:`~brainbridge.encoding.models.get_encoding_model`, so a second run only reads
    them. A family's stimulus features are extracted once for all its layers. Prints the
    table and saves ``encoding_scores.csv``; picks the best family per region.
:func:`step_encode_new_images`
    Encodes :func:`brainbridge.examples.new_images_dir` with each region's best model into
    in silico responses (one :class:`~brainbridge.assemblies.NeuronRecordingAssembly`, saved
    as ``insilico_new_images.nc``), compares them with the images' noiseless ground truth
    (:func:`brainbridge.examples.ground_truth`) and saves ``insilico_vs_truth.csv``.
:func:`step_encoding_plots`
    Saves ``insilico_vs_truth.png`` (predicted against true responses per region),
    ``neuroid_r_vs_ceiling.png`` (each neuroid's cross-validated r against its ceiling, per
    region and family) and ``family_scores.png`` (ceiled score per family and region).

Options are read from the context (set them from a custom step, or pass ``steps=``) or,
for the command line, from the environment:

``encoding_families``
    Families to score, a list or a comma-separated string (default all;
    ``BRAINBRIDGE_EXAMPLE_FAMILIES``), e.g. ``"gabor_v1,random_cnn"`` for a quick run.
``encoding_batch_size``
    Images per forward pass of the torch extractors (default 16;
    ``BRAINBRIDGE_EXAMPLE_BATCH_SIZE``).
``encoding_device``
    ``"auto"`` (default), ``"cpu"`` or ``"cuda"``.
``encoding_progress``
    Progress bars (default: on a terminal).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.deprecation import renamed_parameters
from brainbridge.errors import valid_values_message
from brainbridge.examples.build import ASSEMBLY_IDENTIFIER
from brainbridge.formatting import format_table

__all__ = [
    "BATCH_SIZE_ENV",
    "DEFAULT_BATCH_SIZE",
    "FAMILIES",
    "FAMILIES_ENV",
    "MODEL_PREFIX",
    "best_per_region",
    "compare_with_truth",
    "encode_with_best",
    "plot_family_scores",
    "plot_insilico_vs_truth",
    "plot_neuroid_r_vs_ceiling",
    "record_family_scores",
    "resolve_families",
    "score_families",
    "step_encode_new_images",
    "step_encoding_plots",
    "step_score_families",
]

Echo = Callable[[str], None]

#: family (the model-card ``model`` name) -> label used in tables and plots
FAMILIES: dict[str, str] = {
    "gabor_v1": "Gabor V1",
    "random_cnn": "random CNN",
    "efficientnet_lite0": "EfficientNet-lite0",
}
#: the registered example models are ``MODEL_PREFIX + family``
MODEL_PREFIX = "ephys-brainbridge_example-"
FAMILIES_ENV = "BRAINBRIDGE_EXAMPLE_FAMILIES"
BATCH_SIZE_ENV = "BRAINBRIDGE_EXAMPLE_BATCH_SIZE"
#: modest: EfficientNet at 224 px on a laptop CPU stays responsive and bounded in memory
DEFAULT_BATCH_SIZE = 16

_SCORE_COLUMNS = [
    "family",
    "model_id",
    "region",
    "layer",
    "raw_r",
    "raw_r_sem",
    "ceiling",
    "ceiled_score",
    "ceiled_score_error",
    "time_s",
    "fit",
    "train_time_s",
    "fit_key",
]


# --------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------


def resolve_families(value: str | Sequence[str] | None = None) -> list[str]:
    """The families to score, validated, in :data:`FAMILIES` order of first mention.

    Parameters
    ----------
    value
        Family names (``gabor_v1``, ``random_cnn``, ``efficientnet_lite0``) or full model ids,
        as a list or a comma-separated string; ``None`` or ``"all"``: every family.

    Raises
    ------
    InvalidParameterError
        An unknown name or an empty selection (the message lists the valid names).
    """
    from brainbridge.encoding.errors import InvalidParameterError

    if value is None:
        return list(FAMILIES)
    names = (
        [part.strip() for part in value.split(",")]
        if isinstance(value, str)
        else [str(v).strip() for v in value]
    )
    names = [name.removeprefix(MODEL_PREFIX) for name in names if name]
    if names == ["all"]:
        return list(FAMILIES)
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        raise InvalidParameterError(
            valid_values_message("feature families", unknown or names, FAMILIES, note=" (or 'all')")
        )
    return list(dict.fromkeys(names))


def _option(context: Mapping[str, Any], key: str, env: str | None = None, default: Any = None) -> Any:
    if context.get(key) is not None:
        return context[key]
    if env is not None and os.environ.get(env):
        return os.environ[env]
    return default


def _batch_size(context: Mapping[str, Any]) -> int:
    from brainbridge.encoding.errors import InvalidParameterError

    value = _option(context, "encoding_batch_size", BATCH_SIZE_ENV, DEFAULT_BATCH_SIZE)
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise InvalidParameterError(f"the encoding batch size must be a positive integer, got {value!r}")
    return size


# --------------------------------------------------------------------------------------
# scoring the families
# --------------------------------------------------------------------------------------


def _regions(assembly: xr.DataArray) -> list[str]:
    return [str(r) for r in pd.unique(np.asarray(assembly["region"].values).astype(str))]


def _features_provider(
    extractor: Any,
    stimulus_set: Any,
    layers: list[str],
    batch_size: int,
    progress: bool | None,
    echo: Echo,
    label: str,
) -> Callable[[str], Any]:
    """``provide(layer)``: the layer's features of the stimulus set, all ``layers`` extracted
    in one pass on the first call (only when some fit has to be trained)."""
    extracted: dict[str, Any] = {}

    def provide(layer: str):
        if layer not in extracted:
            wanted = [name for name in layers if name not in extracted]
            started = time.perf_counter()
            echo(
                f"  extracting {label} features ({', '.join(wanted)}) of {len(stimulus_set)} stimuli, "
                f"batch size {batch_size}"
            )
            from brainbridge.encoding.cache import cached_features

            features = cached_features(
                extractor, stimulus_set, wanted, batch_size=batch_size, progress=progress
            )
            if features.attrs.get("features_cached"):
                echo("  (read from the features cache: extracted once, by an earlier run)")
            layer_of = np.asarray(features["layer"].values).astype(str)
            for name in wanted:
                extracted[name] = features.isel(neuroid=np.flatnonzero(layer_of == name))
            echo(f"  extracted in {time.perf_counter() - started:.1f} s")
        return extracted[layer]

    return provide


@renamed_parameters(show_progress="progress")
def score_families(
    assembly: xr.DataArray,
    families: Sequence[str] | None = None,
    *,
    regions: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str = "auto",
    progress: bool | None = None,
    echo: Echo | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, str], Any], dict[str, Any]]:
    """Score each feature family on the example benchmark, per region, through the fit cache.

    For every family and region, the fit of the registered model card
    (``ephys-brainbridge_example-<family>``, its layer for that region, its ridge mapping and
    Brain-Score split procedure) is read from the fit cache or trained and cached; its
    recorded accuracy is the score.

    Parameters
    ----------
    assembly
        The example benchmark as loaded from its catalog (trial level, with
        ``attrs['stimulus_set']`` and a ``region`` coordinate).
    families
        See :func:`resolve_families` (default: all).
    regions
        Regions to score (default: every region of the assembly, in order).
    batch_size, device, progress
        Feature extraction settings (only used when a fit has to be trained).
    echo
        Progress lines.

    Returns
    -------
    table : pandas.DataFrame
        One row per (family, region): ``family``, ``model_id``, ``region``, ``layer``,
        ``raw_r`` (mean over splits of the median over neuroids of the held-out Pearson r),
        ``raw_r_sem`` (standard error across splits), ``ceiling`` (median internal
        consistency), ``ceiled_score`` (``raw_r**2 / ceiling``), ``time_s`` (wall time spent
        on the row in this call, including the family's feature extraction when this row
        triggered it), ``fit`` (``"trained"`` or ``"cached"``), ``train_time_s`` (how long the
        cached fit took to train, extraction included) and ``fit_key`` (its cache key).
    fits : dict
        ``{(family, region): Fit}``.
    extractors : dict
        ``{family: feature extractor}``.
    """
    from brainbridge.encoding.cache import get_or_train
    from brainbridge.encoding.errors import EncodingError
    from brainbridge.encoding.models import _catalog_checksums
    from brainbridge.encoding.registry import get_card, get_extractor

    say: Echo = echo if echo is not None else (lambda _line: None)
    names = resolve_families(families)
    stimulus_set = assembly.attrs.get("stimulus_set")
    if stimulus_set is None:
        raise EncodingError(
            "the benchmark assembly has no stimulus set; load it with brainbridge.get_assembly"
        )
    wanted_regions = list(regions) if regions is not None else _regions(assembly)
    rows: list[dict[str, Any]] = []
    fits: dict[tuple[str, str], Any] = {}
    extractors: dict[str, Any] = {}
    for family in names:
        card = get_card(MODEL_PREFIX + family)
        try:
            extractor = get_extractor(card.extractor, device=device)
        except (ImportError, EncodingError) as e:
            say(f"{FAMILIES[family]} skipped: {e}")
            continue
        extractors[family] = extractor
        family_regions = [region for region in wanted_regions if region in card.layers]
        if not family_regions:
            continue
        say(
            f"scoring {FAMILIES[family]} ({card.model_id}; layers "
            + ", ".join(f"{region}: {card.layers[region]}" for region in family_regions)
            + ")"
        )
        assembly_sha1, stimulus_sha1 = _catalog_checksums(card)
        provide = _features_provider(
            extractor,
            stimulus_set,
            list(dict.fromkeys(card.layers[r] for r in family_regions)),
            batch_size,
            progress,
            say,
            FAMILIES[family],
        )
        for region in family_regions:
            layer = card.layers[region]
            trained: list[bool] = []

            def features(layer: str = layer, trained: list[bool] = trained, provide=provide):
                trained.append(True)  # get_or_train asks for features only to train
                return provide(layer)

            started = time.perf_counter()
            fit = get_or_train(
                extractor,
                layer,
                assembly,
                roi_coord=card.roi_key.coord,
                roi=region,
                time_bin=card.time_bin,
                mapping=card.mapping,
                mapping_params=card.mapping_params,
                accuracy=card.accuracy,
                assembly_sha1=assembly_sha1,
                stimulus_sha1=stimulus_sha1,
                features=features,
                progress=progress,
            )
            elapsed = time.perf_counter() - started
            summary = fit.info.get("summary", {})
            row = {
                "family": family,
                "model_id": card.model_id,
                "region": region,
                "layer": layer,
                "raw_r": _number(summary.get("median_r")),
                "raw_r_sem": _number(summary.get("error")),
                "ceiling": _number(summary.get("ceiling")),
                "ceiled_score": _number(summary.get("ceiled_score")),
                "ceiled_score_error": _number(summary.get("ceiled_error")),
                "time_s": round(elapsed, 2),
                "fit": "trained" if trained else "cached",
                "train_time_s": _number(fit.info.get("train_time_s")),
                "fit_key": fit.key,
            }
            rows.append(row)
            fits[(family, region)] = fit
            say(
                f"  {region}: raw r {row['raw_r']:.3f}, ceiled {row['ceiled_score']:.3f} "
                f"({row['fit']}, {elapsed:.1f} s)"
            )
    return pd.DataFrame(rows, columns=_SCORE_COLUMNS), fits, extractors


def record_family_scores(
    table: pd.DataFrame, fits: Mapping[tuple[str, str], Any], assembly: xr.DataArray, store: Any = None
) -> list[int]:
    """Record the rows of :func:`score_families` in the scores store, with each fit's per-neuroid r
    and ceiling.

    Returns the new rows' ids (one transaction: all rows or none).
    """
    from brainbridge.encoding.scores_store import assembly_checksum, open_store

    identifier = str(assembly.attrs.get("identifier") or ASSEMBLY_IDENTIFIER)
    checksum = assembly_checksum(assembly)
    rows = []
    for row in table.to_dict("records"):
        fit = fits.get((row["family"], row["region"]))
        neuroids: dict[str, list] = {}
        n_splits, metric = None, "ridge_per_neuroid"
        if fit is not None:
            metric = str(fit.info.get("inputs", {}).get("mapping") or metric)
            neuroids = {
                "neuroid_id": np.asarray(fit.neuroids["neuroid_id"]).astype(str).tolist(),
                "r": np.asarray(fit.accuracy["r"], dtype=float).tolist(),
                "ceiling": np.asarray(fit.accuracy["ceiling"], dtype=float).tolist(),
            }
            n_splits = int(np.shape(fit.accuracy["r_split"])[0])
        rows.append(
            {
                "model": row["model_id"],
                "layer": row["layer"],
                "assembly": identifier,
                "assembly_checksum": checksum,
                "metric": metric,
                "region": row["region"],
                "raw": row["raw_r"],
                "raw_error": row["raw_r_sem"],
                "ceiling": row["ceiling"],
                "ceiled": row["ceiled_score"],
                "ceiled_error": row["ceiled_score_error"],
                "n_splits": n_splits,
                "source": "example job",
                "neuroids": neuroids,
            }
        )
    return open_store(store).record(rows) if rows else []


def _number(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def best_per_region(table: pd.DataFrame) -> dict[str, str]:
    """``{region: family}`` with the highest ceiled score (raw r where there is no ceiling).

    Ties go to the family listed first in ``table``.
    """
    best: dict[str, str] = {}
    for region, rows in table.groupby("region", sort=False):
        key = rows["ceiled_score"].where(rows["ceiled_score"].notna(), rows["raw_r"])
        if key.notna().any():
            # a row label; pandas-stubs types idxmax as any hashable, which .loc refuses
            best[str(region)] = str(rows.loc[key.idxmax(), "family"])  # type: ignore[index]
    return best


# --------------------------------------------------------------------------------------
# in silico responses to new images
# --------------------------------------------------------------------------------------


@renamed_parameters(show_progress="progress")
def encode_with_best(
    stimuli: Any,
    best: Mapping[str, str],
    fits: Mapping[tuple[str, str], Any],
    extractors: Mapping[str, Any],
    *,
    region_order: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
) -> NeuronRecordingAssembly:
    """In silico responses of each region's best model, in one assembly.

    Regions whose best family is the same are encoded in one pass.

    Parameters
    ----------
    stimuli
        Anything :func:`brainbridge.encoding.encode` takes (a folder, paths, a StimulusSet,
        a uint8 array).
    best
        ``{region: family}`` (see :func:`best_per_region`).
    fits, extractors
        From :func:`score_families`.
    region_order
        Order of the regions along ``neuroid`` (default: ``best``'s order).
    batch_size, progress
        Passed to :func:`~brainbridge.encoding.models.encode`.

    Returns
    -------
    NeuronRecordingAssembly
        float32 ``presentation x neuroid``: ``stimulus_id`` on ``presentation``; the fits'
        neuroid coordinates (``neuroid_id``, ``region``, ``animal``...) plus ``model_id`` on
        ``neuroid``; ``attrs`` ``models``, ``layers``, ``fit_keys`` and ``accuracy`` (JSON,
        per region) and ``description``.
    """
    from brainbridge.encoding.errors import EncodingError
    from brainbridge.encoding.models import EncodingModel, encode
    from brainbridge.encoding.registry import get_card

    order = [r for r in (region_order or list(best)) if r in best]
    by_family: dict[str, list[str]] = {}
    for region in order:
        by_family.setdefault(best[region], []).append(region)
    parts: dict[str, xr.DataArray] = {}
    stimulus_ids: np.ndarray | None = None
    for family, regions in by_family.items():
        card = get_card(MODEL_PREFIX + family)
        region_fits = {region: fits[(family, region)] for region in regions}
        model = EncodingModel(
            card=card,
            rois=regions,
            subject=None,
            extractor=extractors[family],
            fits=region_fits,
            masks={region: np.ones(fit.n_neuroids, dtype=bool) for region, fit in region_fits.items()},
        )
        responses = encode(model, stimuli, progress=progress, batch_size=batch_size)
        ids = np.asarray(responses["stimulus_id"].values).astype(str)
        if stimulus_ids is None:
            stimulus_ids = ids
        elif not np.array_equal(ids, stimulus_ids):
            raise EncodingError(f"{family} returned the stimuli in another order than the other models")
        regions_of = np.asarray(responses["region"].values).astype(str)
        for region in regions:
            parts[region] = responses.isel(neuroid=np.flatnonzero(regions_of == region))
    pieces = [parts[region] for region in order]
    names = [
        n
        for n in ("neuroid_id", "region", "animal", "x", "y", "subregion")
        if all(n in p.coords for p in pieces)
    ]
    coords: dict[str, tuple[str, np.ndarray]] = {
        "stimulus_id": ("presentation", np.asarray(stimulus_ids, dtype=object))
    }
    for name in names:
        coords[name] = ("neuroid", np.concatenate([np.asarray(p[name].values) for p in pieces]))
    coords["model_id"] = (
        "neuroid",
        np.concatenate(
            [np.full(p.sizes["neuroid"], MODEL_PREFIX + best[r], dtype=object) for r, p in zip(order, pieces)]
        ),
    )
    values = np.concatenate(
        [np.asarray(p.transpose("presentation", "neuroid").values) for p in pieces], axis=1
    )
    accuracy = {}
    for region in order:
        summary = fits[(best[region], region)].info.get("summary", {})
        accuracy[region] = {k: summary.get(k) for k in ("median_r", "error", "ceiling", "ceiled_score")}
    attrs = {
        "description": "in silico responses of the best encoding model per region (bundled example)",
        "models": json.dumps({r: MODEL_PREFIX + best[r] for r in order}),
        "layers": json.dumps({r: get_card(MODEL_PREFIX + best[r]).layers[r] for r in order}),
        "fit_keys": json.dumps({r: fits[(best[r], r)].key for r in order}),
        "accuracy": json.dumps(accuracy),
    }
    return NeuronRecordingAssembly(
        values.astype(np.float32, copy=False), dims=["presentation", "neuroid"], coords=coords, attrs=attrs
    )


def compare_with_truth(predicted: xr.DataArray, truth: xr.DataArray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-neuroid and per-region Pearson r of predicted against true responses across images.

    Parameters
    ----------
    predicted, truth
        ``presentation x neuroid`` with ``stimulus_id`` and ``neuroid_id``; matched on both
        (truth neuroids and images not predicted are ignored).

    Returns
    -------
    per_neuroid : pandas.DataFrame
        ``neuroid_id``, ``region``, ``model_id`` (when present), ``r``.
    per_region : pandas.DataFrame
        ``region``, ``model_id``, ``neuroids``, ``images``, ``median_r``, ``min_r``.

    Raises
    ------
    AssemblyError
        Stimuli or neuroids of ``predicted`` missing from ``truth``.
    """
    from brainbridge.encoding.metrics import pearson_columns
    from brainbridge.errors import AssemblyError

    p_ids = pd.Index(np.asarray(predicted["stimulus_id"].values).astype(str))
    t_ids = pd.Index(np.asarray(truth["stimulus_id"].values).astype(str))
    p_neuroids = pd.Index(np.asarray(predicted["neuroid_id"].values).astype(str))
    t_neuroids = pd.Index(np.asarray(truth["neuroid_id"].values).astype(str))
    rows, cols = t_ids.get_indexer(p_ids), t_neuroids.get_indexer(p_neuroids)
    if (rows < 0).any() or (cols < 0).any():
        raise AssemblyError(
            f"the ground truth lacks {int((rows < 0).sum())} stimuli and {int((cols < 0).sum())} neuroids "
            "of the predictions"
        )
    true_values = np.asarray(truth.transpose("presentation", "neuroid").values, dtype=np.float64)[rows][
        :, cols
    ]
    predicted_values = np.asarray(predicted.transpose("presentation", "neuroid").values, dtype=np.float64)
    r = np.atleast_1d(pearson_columns(predicted_values, true_values))
    regions = np.asarray(predicted["region"].values).astype(str)
    per_neuroid = pd.DataFrame({"neuroid_id": np.asarray(p_neuroids), "region": regions})
    if "model_id" in predicted.coords:
        per_neuroid["model_id"] = np.asarray(predicted["model_id"].values).astype(str)
    per_neuroid["r"] = r
    summary = []
    for region, group in per_neuroid.groupby("region", sort=False):
        summary.append(
            {
                "region": region,
                "model_id": group["model_id"].iloc[0] if "model_id" in group else "",
                "neuroids": len(group),
                "images": len(p_ids),
                "median_r": float(np.nanmedian(group["r"])),
                "min_r": float(np.nanmin(group["r"])),
            }
        )
    return per_neuroid, pd.DataFrame(summary)


# --------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def _family_colours(families: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {
        family: palette(list(FAMILIES).index(family) if family in FAMILIES else i)
        for i, family in enumerate(families)
    }


def plot_insilico_vs_truth(
    predicted: xr.DataArray, truth: xr.DataArray, per_neuroid: pd.DataFrame, path: str | os.PathLike
) -> Path:
    """Predicted (in silico) against true responses, one panel per region, points per neuroid.

    Each point is one (image, neuroid); the dashed line is identity. Panel titles give the
    model and the median over neuroids of the per-neuroid r across images.
    """
    true_aligned = truth.isel(
        presentation=pd.Index(np.asarray(truth["stimulus_id"].values).astype(str)).get_indexer(
            np.asarray(predicted["stimulus_id"].values).astype(str)
        ),
        neuroid=pd.Index(np.asarray(truth["neuroid_id"].values).astype(str)).get_indexer(
            np.asarray(predicted["neuroid_id"].values).astype(str)
        ),
    )
    p = np.asarray(predicted.transpose("presentation", "neuroid").values, dtype=np.float64)
    t = np.asarray(true_aligned.transpose("presentation", "neuroid").values, dtype=np.float64)
    regions = np.asarray(predicted["region"].values).astype(str)
    models = (
        np.asarray(predicted["model_id"].values).astype(str)
        if "model_id" in predicted.coords
        else np.full(len(regions), "")
    )
    order = list(pd.unique(regions))
    figure = _figure(4.6 * len(order), 4.6)
    axes = figure.subplots(1, len(order), squeeze=False)[0]
    for ax, region in zip(axes, order):
        columns = regions == region
        ax.scatter(
            t[:, columns],
            p[:, columns],
            s=7,
            alpha=0.5,
            c=np.tile(np.arange(columns.sum()), (len(t), 1)),
            cmap="viridis",
            rasterized=True,
        )
        low = np.nanmin([t[:, columns].min(), p[:, columns].min()])
        high = np.nanmax([t[:, columns].max(), p[:, columns].max()])
        ax.plot([low, high], [low, high], color="k", lw=0.8, ls="--")
        median_r = float(np.nanmedian(per_neuroid.loc[per_neuroid["region"] == region, "r"]))
        model = models[columns][0].removeprefix(MODEL_PREFIX)
        ax.set_title(f"{region}: {FAMILIES.get(model, model)}\nmedian r per neuroid = {median_r:.3f}")
        ax.set_xlabel("true (noiseless) response")
        ax.set_ylabel("in silico response")
    figure.suptitle(f"New images ({p.shape[0]}): in silico vs ground truth (colour: neuroid)")
    return _save(figure, path)


def plot_neuroid_r_vs_ceiling(fits: Mapping[tuple[str, str], Any], path: str | os.PathLike) -> Path:
    """Each neuroid's cross-validated r against its ceiling, one panel per region.

    Points are coloured by family; diamonds mark each family's medians; the dashed curve is
    ``r = sqrt(ceiling)``, the r a perfect model reaches against noisy averages.
    """
    regions = list(dict.fromkeys(region for _, region in fits))
    families = list(dict.fromkeys(family for family, _ in fits))
    colours = _family_colours(families)
    figure = _figure(4.6 * len(regions), 5.4)
    axes = figure.subplots(1, len(regions), squeeze=False)[0]
    for ax, region in zip(axes, regions):
        low, c_low, c_high = 1.0, 1.0, 0.0
        for family in families:
            fit = fits.get((family, region))
            if fit is None:
                continue
            r = np.asarray(fit.accuracy["r"], dtype=np.float64)
            c = np.asarray(fit.accuracy["ceiling"], dtype=np.float64)
            ax.scatter(
                c,
                r,
                s=12,
                alpha=0.6,
                color=colours[family],
                label=f"{FAMILIES.get(family, family)}: one neuroid",
            )
            ax.scatter(
                np.nanmedian(c),
                np.nanmedian(r),
                s=110,
                marker="D",
                color=colours[family],
                edgecolor="k",
                zorder=3,
                label=f"{FAMILIES.get(family, family)}: medians",
            )
            low = min(low, float(np.nanmin(r)))
            c_low, c_high = min(c_low, float(np.nanmin(c))), max(c_high, float(np.nanmax(c)))
        # the panel spans the data (the ceilings sit in a narrow band), with the bound across it
        c_low, c_high = max(0.0, c_low - 0.05), min(1.0, c_high + 0.05)
        grid = np.linspace(c_low, c_high, 101)
        ax.plot(grid, np.sqrt(grid), color="k", lw=0.8, ls="--", label="r = sqrt(ceiling): a perfect model")
        ax.set_xlim(c_low, c_high)
        ax.set_ylim(max(-1.0, low - 0.05), min(1.0, float(np.sqrt(c_high)) + 0.05))
        ax.set_xlabel("ceiling per neuroid (split-half, Spearman-Brown)")
        ax.set_ylabel("r per neuroid (held out, mean over splits)")
        ax.set_title(region)
    handles, labels = axes[0].get_legend_handles_labels()
    # one legend under the panels: inside them it would hide neuroids
    figure.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False, fontsize="small")
    figure.suptitle("Example benchmark: r per neuroid against its ceiling")
    return _save(figure, path)


def plot_family_scores(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Ceiled score per family and region (grouped bars), raw r written on each bar.

    Error bars: the standard error across splits of the raw r, propagated to ``r**2 /
    ceiling`` (``2 r sem / ceiling``).
    """
    regions = list(pd.unique(table["region"]))
    families = list(pd.unique(table["family"]))
    colours = _family_colours(families)
    figure = _figure(max(6.0, 1.5 + 1.1 * len(regions) * max(len(families), 1)), 4.4)
    ax = figure.subplots()
    width = 0.8 / max(len(families), 1)
    for i, family in enumerate(families):
        rows = table[table["family"] == family].set_index("region").reindex(regions)
        positions = np.arange(len(regions)) + (i - (len(families) - 1) / 2) * width
        heights = rows["ceiled_score"].to_numpy(dtype=np.float64)
        errors = rows["ceiled_score_error"].to_numpy(dtype=np.float64)  # the raw sem propagated
        ax.bar(
            positions,
            np.nan_to_num(heights),
            width,
            yerr=np.nan_to_num(errors),
            capsize=3,
            color=colours[family],
            label=FAMILIES.get(family, family),
        )
        for x, h, e, r in zip(
            positions, heights, np.nan_to_num(errors), rows["raw_r"].to_numpy(dtype=np.float64)
        ):
            if np.isfinite(h):
                ax.text(x, h + e + 0.015, f"r={r:.2f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="at the ceiling")
    ax.set_xticks(np.arange(len(regions)), regions)
    ax.set_ylim(0, max(1.15, float(np.nanmax(table["ceiled_score"])) + 0.15) if len(table) else 1.15)
    ax.set_ylabel("ceiled score (r² / ceiling)")
    ax.set_title(
        "Feature families on the example benchmark (ridge per neuroid)\n"
        "error bars: SEM over splits, propagated to r²/ceiling",
        fontsize="medium",
    )
    ax.legend(frameon=False, fontsize="small", ncols=max(1, len(families)), loc="upper center")
    return _save(figure, path)


# --------------------------------------------------------------------------------------
# the steps
# --------------------------------------------------------------------------------------


def _right_aligned(values: pd.Series, header: str, digits: int) -> pd.Series:
    """Fixed-precision strings padded to a common width (the table aligns text left)."""
    text = values.map(lambda v: f"{v:.{digits}f}")
    width = max(len(header), int(text.str.len().max()) if len(text) else 0)
    return text.str.rjust(width)


def _on_example(context: Mapping[str, Any], echo: Echo) -> bool:
    identifier = context.get("assembly_identifier", ASSEMBLY_IDENTIFIER)
    if identifier != ASSEMBLY_IDENTIFIER or context.get("assembly") is None:
        echo(
            f"encoding steps skipped: they run on the bundled example {ASSEMBLY_IDENTIFIER}, not {identifier}"
        )
        return False
    return True


def step_score_families(context: dict, echo: Echo) -> None:
    """Score each feature family per region, print the table, pick the best family per region.

    Adds ``encoding_families`` (resolved), ``encoding_scores`` (DataFrame, also saved as
    ``encoding_scores.csv``), ``encoding_fits``, ``encoding_extractors`` and
    ``encoding_best`` (``{region: family}``) to the context.
    """
    if not _on_example(context, echo):
        return
    try:
        import sklearn  # noqa: F401
    except ImportError:
        echo("encoding steps skipped: scikit-learn is not installed (pip install 'brainbridge[encoding]')")
        return
    families = resolve_families(_option(context, "encoding_families", FAMILIES_ENV))
    context["encoding_families"] = families
    echo("")
    echo(
        f"encoding: scoring {', '.join(FAMILIES[f] for f in families)} "
        f"on {context.get('assembly_identifier')} "
        "(Brain-Score: 10 stratified splits, ridge per neuroid, split-half ceiling)"
    )
    started = time.perf_counter()
    table, fits, extractors = score_families(
        context["assembly"],
        families,
        batch_size=_batch_size(context),
        device=str(_option(context, "encoding_device", default="auto")),
        progress=context.get("encoding_progress"),
        echo=echo,
    )
    context["encoding_scores"] = table
    context["encoding_fits"] = fits
    context["encoding_extractors"] = extractors
    path = Path(context["out_dir"]) / "encoding_scores.csv"
    table.to_csv(path, index=False)
    context["encoding_scores_csv"] = path
    context["encoding_scores_recorded"] = record_family_scores(table, fits, context["assembly"])
    best = best_per_region(table)
    context["encoding_best"] = best
    shown = table[
        ["family", "region", "layer", "raw_r", "raw_r_sem", "ceiling", "ceiled_score", "time_s", "fit"]
    ].copy()
    shown["family"] = shown["family"].map(lambda f: FAMILIES.get(f, f))
    shown = shown.rename(
        columns={"raw_r": "raw r", "raw_r_sem": "± sem", "ceiled_score": "ceiled score", "time_s": "time (s)"}
    )
    for column in ("raw r", "± sem", "ceiling", "ceiled score", "time (s)"):
        digits = 1 if column == "time (s)" else 3
        shown[column] = _right_aligned(shown[column], column, digits)
    echo("")
    echo(format_table(shown))
    echo("")
    for region, family in best.items():
        row = table[(table["family"] == family) & (table["region"] == region)].iloc[0]
        echo(
            f"best for {region}: {FAMILIES[family]} ({row['layer']}), ceiled score {row['ceiled_score']:.3f}"
        )
    echo(f"scored in {time.perf_counter() - started:.1f} s; saved {path}")


def step_encode_new_images(context: dict, echo: Echo) -> None:
    """Encode the example's new images with each region's best model; compare with the truth.

    Adds ``insilico`` (NeuronRecordingAssembly), ``insilico_path`` (netCDF),
    ``insilico_vs_truth`` (per-region DataFrame, saved as ``insilico_vs_truth.csv``) and
    ``insilico_r`` (per-neuroid DataFrame) to the context.
    """
    if not context.get("encoding_best"):
        echo("in silico step skipped: no feature family was scored")
        return
    from brainbridge.examples.truth import ground_truth, new_images_dir
    from brainbridge.packaging import write_netcdf

    folder = new_images_dir()
    best = context["encoding_best"]
    echo(
        f"encoding the new images in {folder} with the best model per region: "
        + ", ".join(f"{region}: {MODEL_PREFIX}{family}" for region, family in best.items())
    )
    started = time.perf_counter()
    predicted = encode_with_best(
        folder,
        best,
        context["encoding_fits"],
        context["encoding_extractors"],
        region_order=_regions(context["assembly"]),
        batch_size=_batch_size(context),
        progress=context.get("encoding_progress"),
    )
    path = Path(context["out_dir"]) / "insilico_new_images.nc"
    sha1 = write_netcdf(predicted, path)
    context["insilico"] = predicted
    context["insilico_path"] = path
    sizes = " x ".join(f"{d} {n}" for d, n in predicted.sizes.items())
    echo(
        f"in silico responses ({sizes}) in {time.perf_counter() - started:.1f} s -> {path} "
        f"(sha1 {sha1[:12]}…)"
    )

    truth = ground_truth("new_images").responses
    per_neuroid, per_region = compare_with_truth(predicted, truth)
    context["insilico_r"] = per_neuroid
    context["insilico_vs_truth"] = per_region
    context["insilico_truth"] = truth
    csv = Path(context["out_dir"]) / "insilico_vs_truth.csv"
    per_region.to_csv(csv, index=False)
    echo("")
    echo("in silico vs noiseless ground truth (Pearson r per neuroid across the new images):")
    shown = per_region.rename(columns={"median_r": "median r", "min_r": "min r"})
    for column in ("median r", "min r"):
        shown[column] = _right_aligned(shown[column], column, 3)
    echo(format_table(shown))
    echo("")


def step_encoding_plots(context: dict, echo: Echo) -> None:
    """Save the encoding plots (skipped with a note without matplotlib or without scores).

    Adds ``encoding_plots`` (``{name: path}``) to the context.
    """
    if context.get("encoding_scores") is None or not len(context["encoding_scores"]):
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        echo("encoding plots skipped: matplotlib is not installed (pip install 'brainbridge[plot]')")
        return
    out = Path(context["out_dir"])
    plots: dict[str, Path] = {
        "family_scores": plot_family_scores(context["encoding_scores"], out / "family_scores.png"),
        "neuroid_r_vs_ceiling": plot_neuroid_r_vs_ceiling(
            context["encoding_fits"], out / "neuroid_r_vs_ceiling.png"
        ),
    }
    if context.get("insilico") is not None:
        plots["insilico_vs_truth"] = plot_insilico_vs_truth(
            context["insilico"],
            context["insilico_truth"],
            context["insilico_r"],
            out / "insilico_vs_truth.png",
        )
    context["encoding_plots"] = plots
    for path in plots.values():
        echo(f"saved {path}")

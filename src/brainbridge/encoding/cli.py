"""``brainbridge score`` and the ``brainbridge encoding`` command group.

``score`` compares features (a netCDF/zarr features assembly, or a feature extractor applied
to the assembly's stimulus set) with a neural assembly (a catalog identifier or a file) and
prints a table: raw r with its standard error, the ceiling, the ceiled score and the time.

``encoding`` is the group for encoding-model commands; other modules add theirs with
:func:`add_encoding_command` (or ``encoding.add_command``). ``brainbridge encoding score`` is
the same command as ``brainbridge score``.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from brainbridge.atomic import atomic_write_text
from brainbridge.deprecation import cli_deprecated

if TYPE_CHECKING:
    import xarray as xr

    from brainbridge.encoding.features import FeatureExtractor

__all__ = ["add_encoding_command", "encoding", "resolve_extractor", "score"]

#: ``--metric`` values: :data:`brainbridge.encoding.scoring.METRICS` and its aliases (kept here so
#: ``--help`` needs no scientific imports; a test checks they agree)
METRIC_CHOICES = (
    "pls",
    "ridge",
    "ridgecv",
    "linear",
    "ridge_per_neuroid",
    "rdm",
    "rdm_cv",
    "cka",
    "cka_cv",
    "pls_cv",
    "ridge_cv",
    "linear_predictivity",
    "linear_predictivity_cv",
)
_REGRESSION_CHOICES = METRIC_CHOICES[:5] + METRIC_CHOICES[9:]


@click.group("encoding", context_settings={"help_option_names": ["-h", "--help"]})
def encoding() -> None:
    """Encoding models: score feature families, list, describe, train and encode."""


def add_encoding_command(command: click.Command) -> click.Command:
    """Register ``command`` under ``brainbridge encoding`` (usable as a decorator)."""
    encoding.add_command(command)
    return command


def resolve_extractor(name: str) -> FeatureExtractor:
    """A feature extractor by name: :func:`brainbridge.encoding.registry.get_extractor` (the one factory)."""
    from brainbridge.encoding.registry import get_extractor

    return get_extractor(name)


def _load_assembly(spec: str, *, need_stimuli: bool):
    """An assembly from a file (netCDF/zarr) or a catalog identifier."""
    from brainbridge.assemblies import NeuronRecordingAssembly

    path = Path(spec)
    if path.exists():
        assembly = NeuronRecordingAssembly.from_files(path)
        identifier = assembly.attrs.get("stimulus_set_identifier")
        if need_stimuli and "stimulus_set" not in assembly.attrs and identifier:
            from brainbridge.catalogs import get_stimulus_set

            assembly.attrs["stimulus_set"] = get_stimulus_set(str(identifier))
        return assembly
    from brainbridge.catalogs import get_assembly

    return get_assembly(spec)


def _parse_time_bin(value: str | None) -> Any:
    if value is None or value in ("average", "mean"):
        return "average"
    if re.fullmatch(r"\d+", value):
        return int(value)
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*[-:,]\s*(-?[\d.]+)\s*", value)
    if not match:
        raise click.BadParameter(
            "use 'average', a bin position (0) or 'start-end' (70-170)", param_hint="--time-bin"
        )
    start, end = (float(x) for x in match.groups())
    return (int(start) if start.is_integer() else start, int(end) if end.is_integer() else end)


@contextlib.contextmanager
def _one_line_warnings():
    """Show warnings as ``warning: <message>`` lines on stderr, not with internal file names."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001 - a signature shared by its interface
        click.echo(f"warning: {message}", err=True)

    warnings.showwarning = show
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="numpy")
            warnings.showwarning = show
            yield
    finally:
        warnings.showwarning = original


def _row(region: str, metric: str, result, elapsed: float, features_time: float) -> dict[str, Any]:
    raw = result.unceiled
    ceiling = result.ceiling
    return {
        "region": region,
        "metric": metric,
        "raw": float(raw.values),
        "raw_error": raw.raw_error,
        "ceiling": float(ceiling.values) if ceiling is not None else None,
        "ceiled": float(result.values) if ceiling is not None else None,
        "ceiled_error": result.ceiled_error if ceiling is not None else None,
        "time_s": elapsed,
        "features_time_s": features_time,
    }


def _format_table(rows: list[dict[str, Any]]) -> str:
    header = ("region", "metric", "raw r", "± raw sem", "ceiling", "ceiled", "± ceiled", "time (s)")

    def number(value, digits=3):
        return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"

    lines = [
        (
            r["region"],
            r["metric"],
            number(r["raw"]),
            number(r["raw_error"]),
            number(r["ceiling"]),
            number(r["ceiled"]),
            number(r["ceiled_error"]),
            number(r["time_s"], 1),
        )
        for r in rows
    ]
    from brainbridge.formatting import format_table

    table = format_table(lines, header)
    if rows:
        features_time = rows[0]["features_time_s"]
        total = features_time + sum(r["time_s"] for r in rows)
        table += (
            f"\ntime: {total:.1f} s in all ({features_time:.1f} s loading the data and features, "
            "shared by every row; each row's time is its scoring). "
            "± ceiled: the raw sem propagated to the ceiled score."
        )
    return table


@click.command("score", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--features",
    "features_path",
    type=click.Path(exists=True, path_type=Path),
    help="A features assembly (netCDF or zarr; presentation x neuroid with stimulus_id).",
)
@click.option(
    "--model",
    "model_name",
    help="A feature extractor applied to the assembly's stimulus set "
    "(gabor_v1, efficientnet_lite0, random_cnn_seed<N>, or a registered model id).",
)
@click.option("--layer", "layers", multiple=True, help="Layer(s) of the model or features (repeatable).")
@click.option("--assembly", "assembly_spec", required=True, help="A catalog identifier or a .nc/.zarr file.")
@click.option(
    "--metric",
    type=click.Choice(METRIC_CHOICES),
    default="pls",
    show_default=True,
    help="Brain-Score's metric of that name, computed as Brain-Score does (ridge = Ridge(alpha=1)); "
    "ridge_per_neuroid: brainbridge's ridge with one leave-one-out penalty per neuroid (recommended).",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="Region(s) to score, one row each (default: every region of the assembly).",
)
@click.option(
    "--time-bin",
    "time_bin",
    default="average",
    show_default=True,
    help="'average', a bin position (0) or 'start-end' (70-170).",
)
@click.option("--n-splits", type=click.IntRange(1), default=10, show_default=True)
@click.option(
    "--stratification-coord",
    default="object_name",
    show_default=True,
    help="Coordinate to stratify splits by ('none' for plain shuffle splits).",
)
@click.option("--ceiling/--no-ceiling", "with_ceiling", default=True, show_default=True)
@click.option(
    "--ceiling-formula",
    type=click.Choice(["r2", "legacy"]),
    default="r2",
    show_default=True,
    help="r2: r**2/ceiling (Brain-Score since 2026); legacy: (r/ceiling)**2.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save predicted-vs-measured and r-vs-ceiling plots here (one file per region).",
)
@click.option(
    "--json",
    "json_path",
    is_flag=False,
    flag_value="-",
    default=None,
    metavar="",
    help="Print the rows as JSON instead of the table (--json PATH, writing a file, is deprecated).",
)
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run the cross-validation splits on this Dask scheduler.",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="Run the splits on a local Dask cluster with this many worker processes.",
)
@click.option(
    "--record/--no-record",
    default=True,
    show_default=True,
    help="Record the scores in the scores store under BRAINBRIDGE_HOME (the leaderboard of "
    "`brainbridge serve`).",
)
def score(
    features_path: Path | None,
    model_name: str | None,
    layers: tuple[str, ...],
    assembly_spec: str,
    metric: str,
    regions: tuple[str, ...],
    time_bin: str,
    n_splits: int,
    stratification_coord: str,
    with_ceiling: bool,
    ceiling_formula: str,
    plot_path: Path | None,
    json_path: str | None,
    progress: bool | None,
    scheduler: str | None = None,
    workers: int | None = None,
    record: bool = True,
) -> None:
    """Score features or a model against neural data (Brain-Score's procedure).

    \b
    Examples:
      brainbridge score --model gabor_v1 --assembly brainbridge.example.neural --metric ridge_per_neuroid
      brainbridge score --features feats.nc --assembly data.nc --metric pls --plot score.png
    """
    from brainbridge.assemblies import ModelFeaturesAssembly
    from brainbridge.encoding.scoring import score as score_function

    if (features_path is None) == (model_name is None):
        raise click.UsageError("give exactly one of --features FILE or --model EXTRACTOR")
    if plot_path is not None and metric not in _REGRESSION_CHOICES:
        raise click.UsageError(f"--plot needs a regression metric ({', '.join(_REGRESSION_CHOICES[:5])})")
    started = time.perf_counter()
    source: FeatureExtractor | xr.DataArray
    extractor = resolve_extractor(model_name) if model_name else None
    if extractor is not None:
        source = extractor
    else:
        assert features_path is not None  # exactly one of the two (checked above)
        source = ModelFeaturesAssembly.from_files(features_path)
    target = _load_assembly(assembly_spec, need_stimuli=model_name is not None)
    if extractor is not None and target.attrs.get("stimulus_set") is not None:
        from brainbridge.encoding.cache import cached_features

        # once for every region, and once for every run: features are cached under a content hash
        source = cached_features(
            extractor, target.attrs["stimulus_set"], list(layers) or None, progress=progress
        )
    features_time = time.perf_counter() - started
    if not regions and "region" in target.coords and target["region"].dims == ("neuroid",):
        regions = tuple(dict.fromkeys(np.asarray(target["region"].values).astype(str)))
    strat = None if stratification_coord.lower() in ("none", "") else stratification_coord
    layer_arg = (list(layers) or None) if features_path is not None else None

    if scheduler and workers:
        raise click.UsageError("give --scheduler or --workers, not both")
    client = None
    if scheduler or workers:
        from brainbridge.parallel import get_client

        # one client for every region: the cluster starts once
        client = get_client(scheduler=scheduler, workers=workers)
    rows, results = [], []
    try:
        with _one_line_warnings():
            for region in regions or (None,):
                started = time.perf_counter()
                result = score_function(
                    source,
                    target,
                    metric,
                    layer=layer_arg,
                    stratification_coord=strat,
                    n_splits=n_splits,
                    ceiling=with_ceiling,
                    ceiling_formula=ceiling_formula,
                    time_bin=_parse_time_bin(time_bin),
                    region=region,
                    progress=progress,
                    client=client,
                )
                rows.append(
                    _row(region or "all", metric, result, time.perf_counter() - started, features_time)
                )
                results.append((region, result))
    finally:
        if client is not None:  # also on errors: a --workers cluster must not outlive the command
            client.close()
    store_path = None
    if record:
        store_path = _record(
            results,
            target,
            assembly_spec,
            metric,
            source=model_name or Path(str(features_path)).name,
            layer=",".join(layers) or None,
        )

    if json_path == "-":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_format_table(rows))
        if store_path is not None:
            click.echo(f"recorded in the scores store {store_path} (see them with: brainbridge serve)")
        if json_path is not None:
            cli_deprecated("brainbridge score --json PATH", "--json (JSON on standard output) > PATH")
            atomic_write_text(Path(json_path), json.dumps(rows, indent=2))
    if plot_path is not None:
        source_name = model_name or Path(str(features_path)).name  # one of the two is given
        _save_plots(plot_path, results, source=source_name, assembly=str(assembly_spec))


def _record(
    results: list, target, assembly_spec: str, metric: str, *, source: str, layer: str | None
) -> Path:
    """Write the scores to the scores store, all regions in one transaction."""
    from brainbridge.encoding.scores_store import assembly_checksum, open_store, score_rows
    from brainbridge.encoding.scoring import resolve_metric

    identifier = str(target.attrs.get("identifier") or Path(assembly_spec).name)
    checksum: str | None
    if Path(assembly_spec).is_file():  # a netCDF file: its SHA-1, as a catalog would list it
        from brainbridge.hashing import sha1_hash

        checksum = f"sha1:{sha1_hash(assembly_spec)}"
    else:
        checksum = assembly_checksum(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # 'ridge' already warned when scoring
        metric = resolve_metric(metric)
    rows = []
    for region, result in results:
        rows += score_rows(
            result,
            model=source,
            assembly=identifier,
            metric=metric,
            region=region,
            layer=layer,
            checksum=checksum,
            source="brainbridge score",
        )
    store = open_store()
    store.record(rows)
    return store.path


def _save_plots(plot_path: Path, results: list, *, source: str, assembly: str) -> None:
    import matplotlib.pyplot as plt

    from brainbridge.encoding.plots import plot_score
    from brainbridge.paths import safe_component

    for region, result in results:
        # region names come from the assembly: one plain file-name part each
        path = (
            plot_path
            if len(results) == 1
            else plot_path.with_name(
                f"{plot_path.stem}-{safe_component(region, 'region name')}{plot_path.suffix}"
            )
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        title = f"{source} vs {Path(assembly).name}" + (f", {region}" if region else "")
        plt.close(plot_score(result, path, title=title))
        click.echo(f"plot: {path}")


encoding.add_command(score)

# the registry commands (list, describe, train, encode) live in their own module, which does not
# import this one (no cycle): the group is assembled here
from brainbridge.encoding.models_cli import COMMANDS as _MODEL_COMMANDS  # noqa: E402

for _command in _MODEL_COMMANDS:
    encoding.add_command(_command)

"""``brainbridge ecephys``: project tables, sessions, plots and packaging from the command line."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd

from brainbridge.deprecation import cli_deprecated, deprecated_alias_command

__all__ = ["ecephys"]

_SOURCE = click.option(
    "--source",
    envvar="BRAINBRIDGE_ECEPHYS_SOURCE",
    help="Project location: a folder, http(s):// or s3:// URL (env BRAINBRIDGE_ECEPHYS_SOURCE).",
)
_MANIFEST = click.option("--manifest", type=click.Path(dir_okay=False), help="Cache manifest file.")
_OFFLINE = click.option("--offline", is_flag=True, help="Use only cached files (never fetch).")


def _FORMAT(function):
    """``--json`` / ``--csv`` (default: a table), and the deprecated ``--format``."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")
    @click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
    @click.option(
        "--format",
        "old_format",
        type=click.Choice(["table", "csv", "json"]),
        default=None,
        hidden=True,
        help="Deprecated: use --json or --csv.",
    )
    @functools.wraps(function)
    def wrapper(*args, as_json: bool, as_csv: bool, old_format: str | None, **kwargs):
        fmt = "json" if as_json else "csv" if as_csv else "table"
        if old_format is not None:
            cli_deprecated("--format", "--json or --csv")
            fmt = old_format
        return function(*args, fmt=fmt, **kwargs)

    return wrapper


def _cache(source: str | None, manifest: str | None, offline: bool):
    from brainbridge.ecephys.project import EcephysProjectCache

    if source is None and manifest is None:
        raise click.UsageError("give --source (or BRAINBRIDGE_ECEPHYS_SOURCE) or --manifest")
    if offline or source is None:
        return EcephysProjectCache.fixed(manifest=manifest, source=source)
    return EcephysProjectCache.from_source(source, manifest=manifest)


def _emit(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.reset_index().to_json(orient="records", default_handler=str))
    else:
        with pd.option_context("display.max_rows", 500, "display.max_columns", 40, "display.width", 200):
            click.echo(frame.to_string())


#: most bins ``--bin-edges`` may ask for (a typo such as 0:1:1e-9 must not exhaust memory)
MAX_BINS = 100_000


def _parse_edges(text: str) -> np.ndarray:
    """``start:stop:step`` (stop included when on the grid) or comma-separated edges.

    Raises
    ------
    click.BadParameter
        Unparseable text, a step that is not positive, stop not after start, more than
        :data:`MAX_BINS` bins, or edges that are not finite and strictly increasing.
    """
    from brainbridge.ecephys.counts import check_bin_edges
    from brainbridge.errors import ValidationError

    usage = "use start:stop:step (e.g. 0:0.25:0.05) or comma-separated increasing edges"
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if not all(np.isfinite([start, stop, step])) or step <= 0 or stop <= start:
                raise click.BadParameter(f"{text!r}: the step must be > 0 and stop > start; {usage}")
            n = int(round((stop - start) / step))
            if n < 1 or n > MAX_BINS:
                raise click.BadParameter(f"{text!r} gives {n} bins; between 1 and {MAX_BINS} are allowed")
            edges = start + step * np.arange(n + 1)
        else:
            edges = np.array([float(x) for x in text.split(",")])
        return check_bin_edges(edges)
    except (ValueError, ValidationError) as e:
        if isinstance(e, click.BadParameter):
            raise
        raise click.BadParameter(
            f"{text!r}: {e}; {usage}" if isinstance(e, ValidationError) else f"{text!r}: {usage}"
        ) from e


@click.group()
def ecephys():
    """Electrophysiology projects over NWB (AllenSDK's EcephysProjectCache, for any project)."""


@ecephys.command()
@_SOURCE
@_MANIFEST
@_OFFLINE
@_FORMAT
def sessions(source, manifest, offline, fmt):
    """List the project's sessions with unit, channel and probe counts."""
    _emit(_cache(source, manifest, offline).get_session_table(), fmt)


@ecephys.command()
@_SOURCE
@_MANIFEST
@_OFFLINE
@_FORMAT
@click.option("--session-id", "session_ids", multiple=True, help="Only these sessions (repeatable).")
@click.option("--all-units", is_flag=True, help="No quality filters at all.")
@click.option("--amplitude-cutoff-maximum", type=float, default=None, help="Default 0.1.")
@click.option("--presence-ratio-minimum", type=float, default=None, help="Default 0.95.")
@click.option("--isi-violations-maximum", type=float, default=None, help="Default 0.5.")
def units(source, manifest, offline, fmt, session_ids, all_units, **thresholds):
    """List the project's units that pass the quality filters (AllenSDK's defaults)."""
    cache = _cache(source, manifest, offline)
    kwargs = {k: v for k, v in thresholds.items() if v is not None}
    if all_units:
        kwargs = dict.fromkeys(
            ("amplitude_cutoff_maximum", "presence_ratio_minimum", "isi_violations_maximum")
        )
        kwargs["filter_out_of_brain_units"] = False
    table = cache.get_units(filter_by_validity=not all_units, **kwargs)
    if session_ids:
        wanted = {str(s) for s in session_ids}
        table = table[table["ecephys_session_id"].astype(str).isin(wanted).to_numpy()]
    _emit(table, fmt)


@ecephys.command("describe")
@click.argument("session")
@_SOURCE
@_MANIFEST
@_OFFLINE
@click.option(
    "--presentations", default=None, help="Interval table(s) used as presentations (comma-separated)."
)
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False), help="Write a raster/PSTH of a unit here."
)
@click.option("--unit", "unit_id", default=None, help="Unit to plot (default: the one with most spikes).")
@click.option(
    "--window", nargs=2, type=float, default=(-0.1, 0.5), show_default=True, help="Seconds around onset."
)
@click.option("--bin-size", type=float, default=0.01, show_default=True)
@click.option("--stimulus-name", default=None, help="Align only to presentations of this stimulus.")
@click.option(
    "--align-to",
    default="start_time",
    show_default=True,
    help="Presentation column to align to (any event time column, e.g. stop_time).",
)
def describe(
    session,
    source,
    manifest,
    offline,
    presentations,
    plot_path,
    unit_id,
    window,
    bin_size,
    stimulus_name,
    align_to,
):
    """Describe a session (a project session id, or the path of an NWB file)."""
    from brainbridge.ecephys.session import EcephysSession

    tables = presentations.split(",") if presentations else None
    if Path(session).suffix == ".nwb" or Path(session).is_file():
        sess = EcephysSession.from_nwb(session, presentations=tables)
    else:
        sess = _cache(source, manifest, offline).get_session_data(session, presentations=tables)
    with sess:
        pres = sess.stimulus_presentations
        trains = sess.spike_trains
        click.echo(f"session {sess.session_id}")
        for key, value in sess.metadata.items():
            if key != "session_id":
                click.echo(f"  {key}: {value}")
        click.echo(f"  units: {len(trains)} ({int(trains.n_spikes.sum())} spikes)")
        click.echo(f"  probes: {', '.join(map(str, sess.probes['description'])) or '-'}")
        click.echo(f"  presentations: {len(pres)}")
        if len(pres):
            counts = pres["stimulus_name"].value_counts(sort=False)
            for name, n in counts.items():
                conditions = pres.loc[pres["stimulus_name"] == name, "stimulus_condition_id"].nunique()
                click.echo(f"    {name}: {n} presentations, {conditions} conditions")
        intervals = ", ".join(sorted(sess.nwbfile.intervals)) or "-"
        click.echo(f"  interval tables: {intervals}")
        if plot_path:
            from brainbridge.ecephys.plots import plot_unit

            if unit_id is None:
                if not len(trains):
                    raise click.ClickException("the session has no units to plot")
                chosen = trains.unit_ids[int(np.argmax(trains.n_spikes))]
            else:
                chosen = _match_id(unit_id, trains.unit_ids)
            ids = None
            if stimulus_name is not None:
                ids = pres.index[(pres["stimulus_name"] == stimulus_name).to_numpy()]
                if not len(ids):
                    raise click.ClickException(f"no presentations of {stimulus_name!r}")
            plot_unit(
                sess,
                chosen,
                stimulus_presentation_ids=ids,
                window=tuple(window),
                bin_size=bin_size,
                path=plot_path,
                align_to=align_to,
            )
            click.echo(f"wrote {plot_path} (unit {chosen})")


def _match_id(text: str, ids: np.ndarray):
    for candidate in ids.tolist():
        if str(candidate) == text:
            return candidate
    raise click.ClickException(f"no unit {text}; units: {ids[:20].tolist()}")


@ecephys.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--catalog", "catalog_name", required=True, help="Catalog to add the rows to (created if needed)."
)
@click.option("--identifier", default=None, help="Assembly identifier (default: from the session id).")
@click.option(
    "--bin-edges",
    default="0:0.25:0.05",
    show_default=True,
    help="start:stop:step or comma-separated (s).",
    callback=lambda _ctx, _param, value: _parse_edges(value),
)
@click.option(
    "--presentations", default=None, help="Interval table(s) used as presentations (comma-separated)."
)
@click.option("--half-open", is_flag=True, help="Half-open [a, b) bins instead of AllenSDK's closed bins.")
@click.option("--store", default=None, help="Where the packaged files go (default: the catalog's folder).")
@click.option(
    "--align-to",
    default="start_time",
    show_default=True,
    help="Presentation column the bin edges are relative to (any event time column).",
)
def package(paths, catalog_name, identifier, bin_edges, presentations, half_open, store, align_to):
    """Package NWB session(s) (files or folders) as assemblies + stimulus sets in a catalog."""
    from brainbridge.ecephys.convert import package_nwb

    rows = package_nwb(
        list(paths),
        catalog_name=catalog_name,
        bin_edges=bin_edges,
        assembly_identifier=identifier,
        presentations=presentations.split(",") if presentations else None,
        closed=not half_open,
        store=store,
        align_to=align_to,
    )
    for row in rows:
        click.echo(f"{row['lookup_type']}\t{row['identifier']}\t{row['location']}\t{row['catalog']}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(ecephys())


ecephys.add_command(
    deprecated_alias_command(describe, "brainbridge ecephys session", "brainbridge ecephys describe")
)

"""``brainbridge data``: describe training-data files read through ``load_data``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
import numpy as np
import pandas as pd

from brainbridge.deprecation import deprecated_alias_command


@click.group()
def data():
    """Training data for machine learning (CEBRA-compatible)."""


@data.command("describe")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--key", default=None, help="Entry to load (npz name, HDF5 path, sheet, MAT variable, dict key)."
)
@click.option("--columns", default=None, help="Comma-separated columns (tables) or keypoints (DeepLabCut).")
@click.option("--allow-pickle", is_flag=True, help="Allow formats that unpickle (only for trusted files).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def describe(file, key, columns, allow_pickle, as_json):
    """Show the shape, dtype and value range of the array FILE holds.

    For files holding several entries (.npz, .mat, .h5, .nwb, .nc) without --key, list every
    entry with its shape and dtype, marking the one loaded by default.
    """
    from brainbridge.data.errors import UnsafeFormatError
    from brainbridge.data.load import _LISTERS, list_entries, load_data

    cols = [c.strip() for c in columns.split(",")] if columns else None
    try:
        if key is None and cols is None and Path(file).suffix.lower() in _LISTERS:
            _print_entries(file, list_entries(file, allow_pickle=allow_pickle), as_json)
            return
        array = load_data(file, key=key, columns=cols, allow_pickle=allow_pickle)
    except UnsafeFormatError as e:  # name the CLI's opt-in, not the Python one
        raise click.ClickException(str(e).replace("allow_pickle=True", "--allow-pickle")) from e
    info = {"file": str(file), "key": key, "shape": list(array.shape), "dtype": str(array.dtype)}
    if array.dtype.kind in "biuf" and array.size:
        finite = np.isfinite(array) if array.dtype.kind == "f" else np.ones(array.shape, bool)
        info["nan"] = int((~finite).sum())
        if finite.any():
            info["min"] = float(np.min(array[finite]))
            info["max"] = float(np.max(array[finite]))
    if as_json:
        click.echo(json.dumps(info))
        return
    for name, value in info.items():
        if value is not None:
            click.echo(f"{name}: {value}")


def _print_entries(file, entries, as_json: bool) -> None:
    rows = [dataclasses.asdict(e) | {"shape": list(e.shape)} for e in entries]
    if as_json:
        click.echo(json.dumps({"file": str(file), "entries": rows}))
        return
    click.echo(f"file: {file}")
    if not rows:
        click.echo("no entries")
        return
    table = pd.DataFrame(
        {
            "": ["*" if r["default"] else "" for r in rows],
            "key": ["(values)" if r["name"] is None else r["name"] for r in rows],
            "shape": [str(tuple(r["shape"])) for r in rows],
            "dtype": [r["dtype"] for r in rows],
            "kind": [r["kind"] for r in rows],
            "loads": ["yes" if r["loadable"] else "no" for r in rows],
        }
    )
    click.echo(table.to_string(index=False))
    if any(r["default"] for r in rows):
        click.echo("* loaded without --key")
    else:
        click.echo("pass --key to load one")


data.add_command(deprecated_alias_command(describe, "brainbridge data inspect", "brainbridge data describe"))

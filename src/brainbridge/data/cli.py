"""``brainbridge data``: inspect training-data files through ``load_data``."""

from __future__ import annotations

import json

import click
import numpy as np


@click.group()
def data():
    """Training data for machine learning (CEBRA-compatible)."""


@data.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", default=None, help="Entry to load (npz name, HDF5 path, sheet, MAT variable, dict key).")
@click.option("--columns", default=None, help="Comma-separated columns (tables) or keypoints (DeepLabCut).")
@click.option("--allow-pickle", is_flag=True, help="Allow formats that unpickle (only for trusted files).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def inspect(file, key, columns, allow_pickle, as_json):
    """Show the shape, dtype and value range of the array FILE holds."""
    from brainbridge.data.errors import UnsafeFormatError
    from brainbridge.data.load import load_data

    cols = [c.strip() for c in columns.split(",")] if columns else None
    try:
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

"""``brainbridge encoding list|describe|train|encode``: the encoding-model registry on the command line.

:mod:`brainbridge.encoding.cli` adds :data:`COMMANDS` to its ``encoding`` group.

* ``list``: the registered model ids (``--json`` for the cards).
* ``describe MODEL_ID``: the card and a usage example.
* ``train --assembly ID --extractor NAME --layer LAYER``: fit (and cache) an encoding model
  on any catalogued assembly, print its accuracy per ROI, and save its card as a user model.
* ``encode MODEL_ID STIMULI --out FILE.nc``: in silico responses to a folder / image files /
  a catalogued stimulus set, written incrementally into a netCDF assembly (an interrupted run
  resumes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from brainbridge.deprecation import cli_deprecated
from brainbridge.formatting import format_table

__all__ = ["COMMANDS", "describe_command", "encode_command", "list_command", "train_command"]


def _accuracy_table(model) -> str:
    def fmt(value):
        return "-" if value is None else f"{value:.3f}"

    rows = [
        {
            "region": roi,
            "layer": info["layer"],
            "neuroids": info["n_neuroids"],
            "median r": fmt(info["accuracy"]["median_r"]),
            "ceiling": fmt(info["accuracy"]["ceiling"]),
            "ceiled": fmt(info["accuracy"]["ceiled_score"]),
        }
        for roi, info in model.metadata()["rois"].items()
    ]
    return format_table(rows)


def _selection(card, values: tuple[str, ...]) -> dict | None:
    return {card.roi_key.name: list(values)} if values else None


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the model cards as JSON.")
def list_command(as_json: bool) -> None:
    """List the registered encoding models."""
    from brainbridge.encoding.registry import list_cards

    cards = list_cards()
    if as_json:
        click.echo(json.dumps([card.to_dict() for card in cards], indent=2, default=str))
        return
    click.echo(
        format_table(
            [
                {
                    "model": card.model_id,
                    "extractor": card.extractor,
                    "regions": f"{card.roi_key.name}: {', '.join(card.roi_key.valid_values)}",
                }
                for card in cards
            ]
        )
    )


@click.command("describe")
@click.argument("model_id")
def describe_command(model_id: str) -> None:
    """Show a model's card and how to use it."""
    from brainbridge.encoding.models import describe

    info = describe(model_id)
    usage = info.pop("usage")
    click.echo(json.dumps(info, indent=2, default=str))
    click.echo("\n" + usage)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.]+", "_", text.lower()).strip("_.") or "model"


@click.command("train")
@click.option(
    "--assembly", "assembly_id", required=True, help="Catalog identifier of the benchmark assembly."
)
@click.option(
    "--extractor",
    default="gabor_v1",
    show_default=True,
    help="Feature extractor: gabor_v1, efficientnet_lite0, random_cnn_seed<N>.",
)
@click.option("--layer", required=True, help="The extractor's layer (used for every region).")
@click.option(
    "--region-coord", default="region", show_default=True, help="Neuroid coordinate holding the region."
)
@click.option("--roi-coord", default=None, hidden=True, help="Deprecated: use --region-coord.")
@click.option("--subject-coord", default=None, help="Neuroid coordinate holding the subject (e.g. animal).")
@click.option(
    "--mapping",
    type=click.Choice(["ridge_per_neuroid", "pls"]),
    default="ridge_per_neuroid",
    show_default=True,
    help="ridge_per_neuroid: one leave-one-out ridge penalty per neuroid.",
)
@click.option(
    "--model", "model_name", default=None, help="Model name in the id (default: from the extractor)."
)
@click.option("--modality", default="ephys", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a user card with the same id.")
def train_command(
    assembly_id,
    extractor,
    layer,
    region_coord,
    roi_coord,
    subject_coord,
    mapping,
    model_name,
    modality,
    overwrite,
):
    """Train (and cache) an encoding model on a catalogued assembly; save it as a user model."""
    if roi_coord is not None:
        cli_deprecated("brainbridge encoding train --roi-coord", "--region-coord")
        region_coord = roi_coord
    roi_coord = region_coord
    import numpy as np
    import pandas as pd

    from brainbridge.catalogs import get_assembly
    from brainbridge.encoding.models import get_encoding_model
    from brainbridge.encoding.registry import ModelCard, SelectionKey, get_extractor, save_user_card

    resolved = get_extractor(extractor, device="auto")
    resolved.resolve_layers([layer])  # fail fast, listing the valid layers
    assembly = get_assembly(assembly_id)
    for coord in filter(None, (roi_coord, subject_coord)):
        if coord not in assembly.coords or assembly[coord].dims != ("neuroid",):
            raise click.UsageError(f"assembly {assembly_id} has no neuroid coordinate {coord!r}")
    rois = [str(v) for v in pd.unique(np.asarray(assembly[roi_coord].values).astype(str))]
    subjects = (
        ()
        if subject_coord is None
        else tuple(str(v) for v in pd.unique(np.asarray(assembly[subject_coord].values).astype(str)))
    )
    card = ModelCard(
        modality=modality,
        train_dataset=_slug(assembly_id),
        model=_slug(model_name or f"{extractor}_{layer}"),
        species=str(assembly.attrs.get("species", "unknown")),
        stimuli="images",
        description=f"{extractor} layer {layer} + {mapping}, trained on {assembly_id}",
        extractor=extractor,
        layers=dict.fromkeys(rois, layer),
        assembly=assembly_id,
        roi_key=SelectionKey(roi_coord, roi_coord, tuple(rois)),
        subjects=subjects,
        subject_coord=subject_coord,
        mapping=mapping,
    )
    path = save_user_card(card, overwrite=overwrite)
    model = get_encoding_model(card.model_id, progress=None)
    click.echo(f"model {card.model_id} (card: {path})")
    click.echo(_accuracy_table(model))


@click.command("encode")
@click.argument("model_id")
@click.argument("stimuli")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="Output .nc file.")
@click.option("--region", "rois", multiple=True, help="Region(s) to predict (default: all); repeatable.")
@click.option("--roi", "old_rois", multiple=True, hidden=True, help="Deprecated: use --region.")
@click.option("--subject", default=None, help="Subject (default: all).")
@click.option("--batch-size", type=int, default=None)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--overwrite", is_flag=True, help="Replace an output made for another model or other stimuli.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def encode_command(
    model_id, stimuli, out_path, rois, old_rois, subject, batch_size, device, overwrite, progress
):
    """In silico responses of MODEL_ID to STIMULI (a folder, an image, or a stimulus set id)."""
    if old_rois:
        cli_deprecated("brainbridge encoding encode --roi", "--region")
        rois = (*rois, *old_rois)
    from brainbridge.encoding.insilico import generate_insilico_responses
    from brainbridge.encoding.models import get_encoding_model
    from brainbridge.encoding.registry import get_card

    card = get_card(model_id)
    source = stimuli
    if not Path(stimuli).exists():
        from brainbridge.catalogs import get_stimulus_set

        source = get_stimulus_set(stimuli)
    model = get_encoding_model(
        model_id, selection=_selection(card, rois), subject=subject, device=device, progress=progress
    )
    generate_insilico_responses(
        model, source, out_path, batch_size=batch_size, progress=progress, overwrite=overwrite
    )
    click.echo(f"{out_path}: {model.n_neuroids} neuroids ({', '.join(model.rois)}) from {model_id}")
    click.echo(_accuracy_table(model))


#: the commands of this module, in help order
COMMANDS = (list_command, describe_command, train_command, encode_command)

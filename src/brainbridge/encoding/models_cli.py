"""``brainbridge encoding list|describe|train|encode``: the encoding-model registry on the command line.

:mod:`brainbridge.encoding.cli` adds :data:`COMMANDS` to its ``encoding`` group.

* ``list``: the registered model ids (``--json`` for the cards).
* ``describe MODEL_ID``: the card and a usage example.
* ``train --assembly ID --extractor NAME --layer LAYER``: fit (and cache) an encoding model
  on any catalogued assembly, print its accuracy per ROI, and save its card as a user model.
  ``--mapping linearising`` trains NED's and BERG's recipe (features -> StandardScaler -> PCA(k)
  -> OLS/ridge) on an fMRI (``VoxelAssembly``) or EEG/MEG (``EEGAssembly``) assembly.
* ``encode MODEL_ID STIMULI --out FILE.nc``: in silico responses to a folder / image files /
  a catalogued stimulus set, written incrementally into a netCDF assembly (an interrupted run
  resumes); a linearising model writes NED's shapes (fMRI ``presentation x voxel``, EEG
  ``presentation x repetition x channel x time_bin``).
* ``export-ned MODEL_ID --ned-dir DIR``: write a linearising model in NED's layout (so
  ``brainbridge.ned.NED`` and tools that read NED's folders load it) and, with ``--images``,
  pre-generate its responses to those images into NED's h5 files, resumably.
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


def _stimuli(stimuli: str):
    """A folder or image path as given, else a catalogued stimulus set identifier."""
    if Path(stimuli).exists():
        return stimuli
    from brainbridge.catalogs import get_stimulus_set

    return get_stimulus_set(stimuli)


def _linearising_summary(model) -> str:
    rows = [
        {
            "roi" if model.modality == "fmri" else "outputs": roi,
            "fit": fit["fit_key"][:12],
            "images": fit["n_train"],
            "components": fit["recipe"]["n_components"],
            "regression": fit["recipe"]["regression"],
            "output shape": " x ".join(map(str, fit["output_shape"])),
        }
        for roi, fit in model.metadata()["fits"].items()
    ]
    return format_table(rows)


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
    type=click.Choice(["ridge_per_neuroid", "pls", "linearising"]),
    default="ridge_per_neuroid",
    show_default=True,
    help="ridge_per_neuroid: one leave-one-out ridge penalty per neuroid; linearising: NED's and BERG's "
    "StandardScaler -> PCA -> OLS/ridge on an fMRI or EEG/MEG assembly.",
)
@click.option(
    "--n-components", type=int, default=250, show_default=True, help="linearising: principal components kept."
)
@click.option(
    "--regression",
    type=click.Choice(["ols", "ridge"]),
    default="ols",
    show_default=True,
    help="linearising: the regression on the components.",
)
@click.option("--alpha", type=float, default=1.0, show_default=True, help="linearising: the ridge penalty.")
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
    n_components,
    regression,
    alpha,
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
    if mapping == "linearising":
        from brainbridge.encoding.linearising import LinearisingRecipe, linearising_card

        card = linearising_card(
            assembly,
            assembly_identifier=assembly_id,
            train_dataset=_slug(assembly_id),
            model=_slug(model_name or f"{extractor}_{layer}"),
            extractor=extractor,
            layers=layer,
            recipe=LinearisingRecipe(n_components=n_components, regression=regression, alpha=alpha),
            species=str(assembly.attrs.get("species", "human")),
        )
        path = save_user_card(card, overwrite=overwrite)
        model = get_encoding_model(card.model_id, progress=None)
        click.echo(f"model {card.model_id} (card: {path})")
        click.echo(_linearising_summary(model))
        return
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
@click.option(
    "--channel", "channels", multiple=True, help="EEG/MEG: channel(s) to predict (default: all); repeatable."
)
@click.option("--subject", default=None, help="Subject (default: all).")
@click.option("--batch-size", type=int, default=None)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--overwrite", is_flag=True, help="Replace an output made for another model or other stimuli.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def encode_command(
    model_id, stimuli, out_path, rois, old_rois, channels, subject, batch_size, device, overwrite, progress
):
    """In silico responses of MODEL_ID to STIMULI (a folder, an image, or a stimulus set id)."""
    if old_rois:
        cli_deprecated("brainbridge encoding encode --roi", "--region")
        rois = (*rois, *old_rois)
    from brainbridge.encoding.insilico import generate_insilico_responses
    from brainbridge.encoding.models import get_encoding_model
    from brainbridge.encoding.registry import get_card

    card = get_card(model_id)
    source = _stimuli(stimuli)
    if card.mapping == "linearising":
        _encode_linearising(
            card, source, out_path, rois or channels, subject, batch_size, device, overwrite, progress
        )
        return
    if channels:
        raise click.UsageError(f"--channel selects EEG/MEG outputs; {model_id} selects by --region")
    model = get_encoding_model(
        model_id, selection=_selection(card, rois), subject=subject, device=device, progress=progress
    )
    generate_insilico_responses(
        model, source, out_path, batch_size=batch_size, progress=progress, overwrite=overwrite
    )
    click.echo(f"{out_path}: {model.n_neuroids} neuroids ({', '.join(model.rois)}) from {model_id}")
    click.echo(_accuracy_table(model))


def _encode_linearising(card, source, out_path, values, subject, batch_size, device, overwrite, progress):
    """NED's shapes, labelled, into one netCDF file (written aside and renamed into place)."""
    from brainbridge.encoding.linearising import load_linearising_model
    from brainbridge.formats.netcdf import write_netcdf

    if Path(out_path).exists() and not overwrite:
        raise click.UsageError(f"{out_path} exists; pass --overwrite to replace it")
    model = load_linearising_model(
        card, selection=_selection(card, values), subject=subject, device=device, progress=progress
    )
    assembly = model.encode_assembly(source, batch_size=batch_size, progress=progress)
    write_netcdf(assembly, out_path)
    shape = " x ".join(f"{dim} {size}" for dim, size in zip(assembly.dims, assembly.shape))
    click.echo(f"{out_path}: {shape} from {card.model_id}")
    click.echo(_linearising_summary(model))


@click.command("export-ned")
@click.argument("model_id")
@click.option(
    "--ned-dir", type=click.Path(path_type=Path), required=True, help="The NED folder (created if needed)."
)
@click.option("--subject", default=None, help="The card's subject to export (NED keeps one per file).")
@click.option(
    "--ned-subject", type=int, default=None, help="NED's sub-XX number (default: the subject name's digits)."
)
@click.option("--region", "rois", multiple=True, help="fMRI: ROI(s) to export (default: all); repeatable.")
@click.option("--train-dataset", default=None, help="NED's train_dataset-* name (default: the card's).")
@click.option("--model-name", default=None, help="NED's model-* name (default: the card's).")
@click.option(
    "--images", default=None, help="Pre-generate responses to these images (folder or stimulus set id)."
)
@click.option(
    "--imageset", default=None, help="NED's imageset-* name of --images (default: the folder's name)."
)
@click.option("--batch-size", type=int, default=None)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def export_ned_command(
    model_id,
    ned_dir,
    subject,
    ned_subject,
    rois,
    train_dataset,
    model_name,
    images,
    imageset,
    batch_size,
    device,
    progress,
):
    """Write a linearising MODEL_ID in NED's layout (NED reads it); --images pre-generates responses.

    Pre-generation writes NED's ``synthetic_neural_responses_sub-XX[_roi-R].h5`` batch by batch
    and resumes after an interruption.
    """
    from brainbridge.encoding.linearising import load_linearising_model
    from brainbridge.encoding.ned_export import export_ned_model, pregenerate_ned
    from brainbridge.encoding.registry import get_card

    card = get_card(model_id)
    if card.mapping != "linearising":
        raise click.UsageError(
            f"{model_id} is not a linearising model (mapping {card.mapping!r}); NED's layout holds "
            "linearising models: train one with `brainbridge encoding train --mapping linearising`"
        )
    if card.subjects and subject is None and len(card.subjects) > 1:
        raise click.UsageError(
            f"NED keeps one subject per file: pass --subject (one of {list(card.subjects)})"
        )
    if images is not None and imageset is None and not Path(images).is_dir():
        raise click.UsageError("--images that is not a folder needs --imageset NAME")
    model = load_linearising_model(
        card, selection=_selection(card, rois), subject=subject, device=device, progress=progress
    )
    dataset, name = train_dataset or card.train_dataset, model_name or card.model
    # NED numbers subjects: the given number, else the subject name's digits, else 1 for a one-subject model
    number = ned_subject if ned_subject is not None else subject or (card.subjects[0] if card.subjects else 1)
    for path in export_ned_model(model, ned_dir, train_dataset=dataset, model_name=name, subject=number):
        click.echo(f"wrote {path}")
    if images is not None:
        source = _stimuli(images)
        imageset = imageset or Path(images).name
        for roi in model.rois if model.modality == "fmri" else [None]:
            path = pregenerate_ned(
                model,
                source,
                ned_dir,
                train_dataset=dataset,
                model_name=name,
                imageset=imageset,
                subject=number,
                roi=roi,
                batch_size=batch_size,
                progress=progress,
            )
            click.echo(f"pre-generated {path}")


#: the commands of this module, in help order
COMMANDS = (list_command, describe_command, train_command, encode_command, export_ned_command)

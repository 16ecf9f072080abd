"""Pre-generated in silico responses (NED's ``load_insilico_neural_responses``), done right.

:func:`generate_insilico_responses` runs an encoding model over a whole stimulus set (or any
stimuli :func:`~brainbridge.encoding.images.image_source` takes) and writes the responses into
a netCDF-4/HDF5 assembly file **incrementally**: one batch at a time, recording progress in
the file (``n_done``), so memory stays bounded and an interrupted run resumes where it stopped.
The file is an ordinary brainbridge/BrainIO assembly (``data`` variable ``presentation x
neuroid`` with ``stimulus_id``, ``neuroid_id``, ``region``... coordinates).

:func:`load_insilico_neural_responses` opens it **lazily** (values are read on access) as a
:class:`~brainbridge.assemblies.NeuronRecordingAssembly`, with the metadata stored in the file
(model card, per-ROI accuracy, noise ceiling, the splits used) as a JSON attribute — no
pickled ``.npy`` metadata. Given a model id and a catalogued stimulus set it finds (or
generates, then caches) the file under ``<BRAINBRIDGE_HOME>/insilico/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from brainbridge import config
from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.atomic import atomic_path
from brainbridge.deprecation import renamed_parameters
from brainbridge.encoding.errors import EncodingError, InsilicoIncompleteError, InvalidParameterError
from brainbridge.encoding.images import image_source
from brainbridge.hashing import json_digest, text_digest
from brainbridge.paths import path_within, safe_component
from brainbridge.stimuli import StimulusSet

__all__ = [
    "InsilicoIncompleteError",
    "generate_insilico_responses",
    "insilico_path",
    "load_insilico_neural_responses",
    "open_insilico_responses",
]

_METADATA_ATTR = "brainbridge_insilico_metadata"


def _signature(model, stimulus_ids: list[str]) -> str:
    described = json.dumps(
        {
            "model_id": model.model_id,
            "rois": model.rois,
            "subject": model.subject,
            "fits": {roi: model.fits[roi].key for roi in model.rois},
        },
        sort_keys=True,
    )
    # the same bytes as before the hashing helpers existed: files written then still resume
    return text_digest(described + "\x1f".join(stimulus_ids))


def _string_or_numeric(values: np.ndarray) -> tuple[Any, np.ndarray]:
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        return h5py.string_dtype(), np.asarray(arr.astype(str), dtype=object)
    return arr.dtype, arr


def _create(path: Path, model, source, signature: str, stimulus_set_identifier: str | None) -> None:
    import h5netcdf

    coords = model.neuroid_coords()
    n, m = len(source), model.n_neuroids
    with atomic_path(path) as tmp, h5netcdf.File(tmp, "w") as f:
        f.dimensions = {"presentation": n, "neuroid": m}
        data = f.create_variable(
            "data",
            ("presentation", "neuroid"),
            np.float32,
            chunks=(max(1, min(n, 1024)), m),
            fillvalue=np.nan,
        )
        names = ["stimulus_id"]
        f.create_variable(
            "stimulus_id",
            ("presentation",),
            dtype=h5py.string_dtype(),
            data=np.asarray(source.stimulus_ids, dtype=object),
        )
        for name, (_dim, values) in coords.items():
            dtype, arr = _string_or_numeric(values)
            f.create_variable(name, ("neuroid",), dtype=dtype, data=arr)
            names.append(name)
        data.attrs["coordinates"] = " ".join(names)
        f.attrs["model_id"] = model.model_id
        f.attrs["signature"] = signature
        f.attrs["n_total"] = n
        f.attrs["n_done"] = 0
        f.attrs["description"] = f"in silico responses of {model.model_id}"
        if stimulus_set_identifier:
            f.attrs["stimulus_set_identifier"] = stimulus_set_identifier
        f.attrs[_METADATA_ATTR] = json.dumps(model.metadata())


@renamed_parameters(show_progress="progress")
def generate_insilico_responses(
    model: Any,
    stimuli: Any,
    path: str | os.PathLike,
    *,
    batch_size: int | None = None,
    progress: bool | None = None,
    overwrite: bool = False,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    storage_options: dict | None = None,
) -> Path:
    """Write ``model``'s responses to ``stimuli`` into a netCDF-4 assembly, batch by batch.

    Parameters
    ----------
    model
        An :class:`~brainbridge.encoding.models.EncodingModel`.
    stimuli
        A StimulusSet, folder, list of paths or uint8 array-like ``(N, 3, H, W)``.
    path
        The ``.nc`` file. When it exists and was started for the same model, selection and
        stimuli, generation resumes after the last written batch (a finished file is left
        as is).
    batch_size
        Images per batch (default: the extractor's); each batch is written and recorded
        before the next is computed.
    progress
        Progress bar (``None``: on a terminal).
    overwrite
        Replace a file made for another model or other stimuli (otherwise an error).
    client, scheduler, workers
        Generate on Dask (see :func:`brainbridge.parallel.get_client`): ``path`` must then be
        a zarr store (``*.zarr``, a folder or an fsspec URL every worker reaches). Each task
        computes ``chunk_size`` stimuli and writes them into its own chunks of the store
        directly; a rerun skips the chunks already written. A ``*.zarr`` path without a
        client is filled the same way in this process.
    chunk_size
        Stimuli per task and per zarr chunk (default 256).
    storage_options
        fsspec options for a URL store.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import h5netcdf

    from brainbridge.encoding.models import iter_encode
    from brainbridge.formats.zarr import is_zarr_store

    if client is not None or scheduler is not None or workers is not None or is_zarr_store(path):
        return _generate_zarr(
            model,
            stimuli,
            path,
            batch_size=batch_size,
            progress=progress,
            overwrite=overwrite,
            client=client,
            scheduler=scheduler,
            workers=workers,
            chunk_size=chunk_size,
            storage_options=storage_options,
        )
    path = Path(path)
    source = image_source(stimuli)
    signature = _signature(model, source.stimulus_ids)
    identifier = stimuli.identifier if isinstance(stimuli, StimulusSet) else None
    if path.exists():
        try:
            with h5netcdf.File(path, "r") as f:
                same = f.attrs.get("signature") == signature
        except OSError as e:
            if not overwrite:
                raise EncodingError(f"{path} exists and is not a readable response file: {e}") from e
            same = False
        if not same:
            if not overwrite:
                raise EncodingError(
                    f"{path} holds responses of another model, selection or stimulus list; "
                    "pass overwrite=True to replace it"
                )
            path.unlink()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path, model, source, signature, identifier)
    with h5netcdf.File(path, "r") as f:
        done = int(f.attrs["n_done"])
    if done >= len(source):
        return path  # finished: not even opened for writing (a lazy reader may hold it open)
    with h5netcdf.File(path, "a") as f:
        data = f.variables["data"]
        position = done
        for ids, predicted in iter_encode(
            model, source.subset(done), batch_size=batch_size, progress=progress
        ):
            data[position : position + len(ids)] = predicted
            position += len(ids)
            f.attrs["n_done"] = position  # after the values: a crash never over-counts
            f.flush()
    return path


def _region_source(source, start: int, stop: int):
    """The images ``start:stop`` of an image source, without reading pixels of the others."""
    from brainbridge.encoding.images import ImageSource

    if source.paths is not None:
        return ImageSource(source.stimulus_ids[start:stop], paths=source.paths[start:stop], kind=source.kind)
    return ImageSource(
        source.stimulus_ids[start:stop], array=np.asarray(source.array[start:stop]), kind=source.kind
    )


def _insilico_region(start: int, stop: int, *, model, source, batch_size) -> dict[str, np.ndarray]:
    """Responses to the stimuli ``start:stop`` (runs on a Dask worker)."""
    from brainbridge.encoding.models import iter_encode

    out = np.empty((stop - start, model.n_neuroids), dtype=np.float32)
    position = 0
    for ids, predicted in iter_encode(
        model, _region_source(source, start, stop), batch_size=batch_size, progress=False
    ):
        out[position : position + len(ids)] = predicted
        position += len(ids)
    return {"data": out}


def _generate_zarr(
    model,
    stimuli,
    path,
    *,
    batch_size,
    progress,
    overwrite,
    client,
    scheduler,
    workers,
    chunk_size,
    storage_options,
) -> Path:
    """:func:`generate_insilico_responses` into a zarr store, region by region, resumable."""
    import fsspec
    import zarr

    from brainbridge.parallel import ArraySpec, write_zarr_regions

    text = os.fspath(path)
    if not text.rstrip("/").endswith(".zarr") and "://" not in text and Path(text).suffix:
        raise InvalidParameterError(f"distributed generation writes a zarr store (a *.zarr path), got {text}")
    source = image_source(stimuli)
    signature = _signature(model, source.stimulus_ids)
    fs, root = fsspec.core.url_to_fs(text, **(storage_options or {}))
    if fs.exists(f"{root.rstrip('/')}/zarr.json"):
        options = {"storage_options": storage_options} if storage_options and "://" in text else {}
        existing = zarr.open_group(text, mode="r", **options).attrs.get("signature")
        if existing != signature:
            if not overwrite:
                raise EncodingError(
                    f"{text} holds responses of another model, selection or stimulus list; "
                    "pass overwrite=True to replace it"
                )
            fs.rm(root, recursive=True)
    coords = {"stimulus_id": ("presentation", np.asarray(source.stimulus_ids, dtype=object))}
    coords.update(
        {name: ("neuroid", np.asarray(values)) for name, (_dim, values) in model.neuroid_coords().items()}
    )
    attrs = {
        "model_id": model.model_id,
        "signature": signature,
        "n_total": len(source),
        "description": f"in silico responses of {model.model_id}",
        _METADATA_ATTR: json.dumps(model.metadata()),
    }
    if isinstance(stimuli, StimulusSet) and stimuli.identifier:
        attrs["stimulus_set_identifier"] = stimuli.identifier
    spec = ArraySpec(
        (model.n_neuroids,),
        np.dtype(np.float32),
        dims=("presentation", "neuroid"),
        attrs={"coordinates": " ".join(coords)},
    )
    write_zarr_regions(
        text,
        _insilico_region,
        len(source),
        {"data": spec},
        chunk_size=int(chunk_size or 256),
        client=client,
        scheduler=scheduler,
        workers=workers,
        broadcast={"model": model, "source": source, "batch_size": batch_size},
        attrs=attrs,
        coords=coords,
        storage_options=storage_options,
        progress=progress,
    )
    return Path(text) if "://" not in text else text


def insilico_path(model_id: str, imageset: str, selection: dict | None = None, subject: Any = None) -> Path:
    """Where :func:`load_insilico_neural_responses` keeps the file for these arguments."""
    tag = json_digest({"selection": selection, "subject": subject}, length=16)
    # model ids and image set names come from cards and catalogs: each stays one folder name
    return path_within(
        config.home() / "insilico",
        safe_component(model_id, "model id"),
        safe_component(imageset, "image set"),
        f"responses_{tag}.nc",
        what="in silico responses file",
    )


def open_insilico_responses(
    path: str | os.PathLike, *, return_metadata: bool = True
) -> NeuronRecordingAssembly | tuple[NeuronRecordingAssembly, dict[str, Any]]:
    """Open an in silico response file lazily (values are read on access).

    Raises
    ------
    InsilicoIncompleteError
        The generation has not finished (run :func:`generate_insilico_responses` again to resume).
    """
    import h5netcdf

    path = Path(path)
    try:
        with h5netcdf.File(path, "r") as f:
            done, total = int(f.attrs["n_done"]), int(f.attrs["n_total"])
            metadata = json.loads(f.attrs[_METADATA_ATTR])
    except (OSError, KeyError) as e:
        raise EncodingError(f"{path} is not an in silico response file: {e}") from e
    if done < total:
        raise InsilicoIncompleteError(
            f"{path} is incomplete ({done} of {total} stimuli); resume with generate_insilico_responses"
        )
    assembly = NeuronRecordingAssembly.from_files(path)
    assembly.attrs.pop(_METADATA_ATTR, None)
    return (assembly, metadata) if return_metadata else assembly


@renamed_parameters(show_progress="progress")
def load_insilico_neural_responses(
    model: str | os.PathLike | Any,
    imageset: str | None = None,
    *,
    selection: dict | None = None,
    subject: Any = None,
    return_metadata: bool = True,
    generate: bool = True,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> NeuronRecordingAssembly | tuple[NeuronRecordingAssembly, dict[str, Any]]:
    """In silico responses of a model to a catalogued stimulus set, opened lazily (NED's call).

    Parameters
    ----------
    model
        A model id (with ``imageset``), an :class:`~brainbridge.encoding.models.EncodingModel`
        (with ``imageset``), or the path of a response file (``imageset`` not needed).
    imageset
        A catalogued stimulus set identifier, e.g. ``"brainbridge.example.stimuli"``.
    selection, subject
        As in :func:`~brainbridge.encoding.models.get_encoding_model` (model ids only).
    return_metadata
        Also return the metadata: card, per-ROI accuracy (r per neuroid, median), noise
        ceiling and the splits.
    generate
        Generate (or finish) the file under ``<BRAINBRIDGE_HOME>/insilico/`` when needed;
        ``False`` raises instead.
    batch_size, progress
        For the generation.

    Returns
    -------
    NeuronRecordingAssembly or (NeuronRecordingAssembly, dict)
        Lazily loaded ``presentation x neuroid`` responses.
    """
    from brainbridge.encoding.models import EncodingModel, get_encoding_model

    if isinstance(model, (str, os.PathLike)) and Path(model).suffix == ".nc" and Path(model).exists():
        return open_insilico_responses(model, return_metadata=return_metadata)
    if imageset is None:
        raise InvalidParameterError(
            "imageset (a catalogued stimulus set identifier) is required with a model"
        )
    if isinstance(model, EncodingModel):
        loaded, model_id = model, model.model_id
        selection = {model.card.roi_key.name: model.rois}
        subject = model.subject
    else:
        loaded, model_id = None, str(model)
    from brainbridge.catalogs import get_stimulus_set

    if loaded is None:
        loaded = get_encoding_model(model_id, selection=selection, subject=subject, progress=progress)
    stimulus_set = get_stimulus_set(imageset)
    path = insilico_path(model_id, imageset, selection, subject)
    if not generate:
        signature = _signature(loaded, image_source(stimulus_set).stimulus_ids)
        if not path.exists() or _file_signature(path) != signature:
            raise InsilicoIncompleteError(
                f"no in silico responses for these fits at {path}; pass generate=True"
            )
    else:
        # the managed file is ours: a stale one (other fits) is replaced, a partial one resumed
        generate_insilico_responses(
            loaded, stimulus_set, path, batch_size=batch_size, progress=progress, overwrite=True
        )
    return open_insilico_responses(path, return_metadata=return_metadata)


def _file_signature(path: Path) -> str | None:
    import h5netcdf

    try:
        with h5netcdf.File(path, "r") as f:
            return f.attrs.get("signature")
    except OSError:
        return None

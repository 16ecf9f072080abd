"""brainbridge-trained linearising models and their pre-generated responses, in NED's layout.

So that code written for a Neural Encoding Dataset folder (NED's own ``NED`` class, or
``brainbridge.ned.NED``) reads models trained here:

``encoding_models/modality-{m}/train_dataset-{d}/model-{name}/``
    ``encoding_models_weights/StandardScaler_param.npy``, ``pca_param.npy``,
    ``LinearRegression_param_sub-XX.npy`` (``{'rep-1': {coef_, intercept_}, ...}``), as NED's
    ViT-B/32 EEG models; when another subject's scaler or PCA differs (other training
    images), that subject's get ``StandardScaler_param_sub-XX.npy`` / ``pca_param_sub-XX.npy``.
    fMRI (a layout NED has no linearising model for) adds the ROI: ``..._sub-XX_roi-R.npy``,
    always per subject and ROI.
    ``metadata/metadata_sub-XX[_roi-R].npy``: NED's dict (``{'eeg': {ch_names, times}}`` or
    ``{'fmri': {ncsnr...}}``, ``'encoding_models'``) plus ``'brainbridge'`` (extractor, layers,
    fit key), from which ``brainbridge.ned.NED`` rebuilds the feature extractor.

``pregenerated_insilico_neural_responses/modality-{m}/train_dataset-{d}/model-{name}/imageset-{s}/``
    ``synthetic_neural_responses_sub-XX[_roi-R].h5`` (dataset ``synthetic_neural_responses``,
    float32, ``(N, ...)`` as ``encode``) and ``synthetic_neural_responses_metadata_sub-XX[_roi-R].npy``.

Parameter and metadata files are ``np.save``-d dicts of arrays, strings and numbers (what NED
writes); brainbridge reads them back with its restricted unpickler. Pre-generation writes
batch by batch into ``<name>.h5.partial`` (contiguous dataset, no timestamps), records
progress in the file, and renames it into place when complete: a killed run resumes from the
last recorded batch and ends with the same bytes as an uninterrupted one; memory holds one
batch. :func:`open_ned_responses` opens the result lazily as an assembly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from brainbridge.atomic import atomic_path, promote_partial
from brainbridge.encoding.errors import EncodingError, InvalidParameterError
from brainbridge.encoding.linearising import LinearisingFit, LinearisingModel, ned_metadata
from brainbridge.hashing import json_digest
from brainbridge.paths import path_within, safe_component
from brainbridge.progress import progress_bar

__all__ = ["export_ned_model", "ned_subject", "open_ned_responses", "pregenerate_ned", "responses_path"]

_DATASET = "synthetic_neural_responses"
_SIGNATURE = "brainbridge_signature"
_DONE = "brainbridge_n_done"


def ned_subject(subject: Any) -> int:
    """NED's integer subject number for a brainbridge subject name (``'subj01'`` -> 1, ``3`` -> 3)."""
    if isinstance(subject, (int, np.integer)) and not isinstance(subject, bool):
        return int(subject)
    match = re.search(r"(\d+)$", str(subject))
    if match is None:
        raise InvalidParameterError(
            f"cannot number subject {subject!r} for NED's sub-XX names; pass subject=<int>"
        )
    return int(match.group(1))


def _suffix(subject: int, roi: str | None) -> str:
    return f"sub-{subject:02d}" + (f"_roi-{safe_component(roi, 'ROI')}" if roi is not None else "")


def _folder(root: Path, *parts: str) -> Path:
    return path_within(
        root, os.path.join(*[safe_component(p, "NED folder name") for p in parts]), what="NED folder"
    )


def _save_npy(path: Path, value: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(value, dtype=object) if isinstance(value, dict) else value, allow_pickle=True)


def _same_npy(path: Path, value: dict) -> bool:
    from brainbridge.safe_pickle import load_npy

    if not path.is_file():
        return False
    stored = load_npy(path)
    return set(stored) == set(value) and all(
        np.array_equal(np.asarray(stored[k]), np.asarray(value[k])) for k in value
    )


def export_ned_model(
    model: LinearisingModel,
    ned_dir: str | os.PathLike,
    *,
    train_dataset: str,
    model_name: str,
    subject: Any = None,
) -> list[Path]:
    """Write a linearising model's parameters and metadata in NED's layout; returns the files.

    Parameters
    ----------
    model
        A :class:`~brainbridge.encoding.linearising.LinearisingModel` of one subject (fMRI:
        one file set per selected ROI).
    ned_dir
        The NED folder (created if needed).
    train_dataset, model_name
        The ``train_dataset-*`` and ``model-*`` folder names.
    subject
        NED's integer subject (default: the digits at the end of the model's subject name).
    """
    number = ned_subject(subject if subject is not None else model.subject)
    modality = model.modality
    base = _folder(
        Path(ned_dir),
        "encoding_models",
        f"modality-{modality}",
        f"train_dataset-{train_dataset}",
        f"model-{model_name}",
    )
    weights, meta_dir = base / "encoding_models_weights", base / "metadata"
    weights.mkdir(parents=True, exist_ok=True)
    meta_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for roi, fit in model.fits.items():
        fmri_roi = roi if modality == "fmri" else None
        suffix = _suffix(number, fmri_roi)
        scaler, pca, regressions = fit.ned_parameters()
        if modality == "fmri":
            names = (f"StandardScaler_param_{suffix}.npy", f"pca_param_{suffix}.npy")
        else:
            shared = (weights / "StandardScaler_param.npy", weights / "pca_param.npy")
            first = not shared[0].exists()
            if first or (_same_npy(shared[0], scaler) and _same_npy(shared[1], pca)):
                names = ("StandardScaler_param.npy", "pca_param.npy")
            else:  # this subject's training images differ: its own scaler and PCA
                names = (f"StandardScaler_param_{suffix}.npy", f"pca_param_{suffix}.npy")
        for name, value in zip(names, (scaler, pca)):
            _save_npy(weights / name, value)
            written.append(weights / name)
        _save_npy(weights / f"LinearRegression_param_{suffix}.npy", regressions)
        metadata = ned_metadata(
            fit,
            {
                "brainbridge": {
                    "fit_key": fit.key,
                    "extractor": model.extractor.identifier,
                    "layers": list(model.layers),
                    "extractor_fingerprint": model.extractor.fingerprint(model.layers),
                    "model_id": model.model_id,
                    "subject": model.subject,
                }
            },
        )
        _save_npy(meta_dir / f"metadata_{suffix}.npy", metadata)
        written += [weights / f"LinearRegression_param_{suffix}.npy", meta_dir / f"metadata_{suffix}.npy"]
    return written


def responses_path(
    ned_dir: str | os.PathLike,
    *,
    modality: str,
    train_dataset: str,
    model_name: str,
    imageset: str,
    subject: int,
    roi: str | None = None,
) -> Path:
    """Where NED keeps the pre-generated responses of one subject (and ROI)."""
    folder = _folder(
        Path(ned_dir),
        "pregenerated_insilico_neural_responses",
        f"modality-{modality}",
        f"train_dataset-{train_dataset}",
        f"model-{model_name}",
        f"imageset-{imageset}",
    )
    return folder / f"{_DATASET}_{_suffix(subject, roi if modality == 'fmri' else None)}.h5"


def _fit_of(model: LinearisingModel, roi: str | None) -> tuple[str, LinearisingFit]:
    if model.modality != "fmri":
        return "all", model.fits["all"]
    if roi is None:
        if len(model.rois) != 1:
            raise InvalidParameterError(f"NED keeps one file per ROI: pass roi= (one of {model.rois})")
        roi = model.rois[0]
    if roi not in model.fits:
        raise InvalidParameterError(f"roi {roi!r} is not selected in this model; selected: {model.rois}")
    return roi, model.fits[roi]


def pregenerate_ned(
    model: LinearisingModel,
    stimuli: Any,
    ned_dir: str | os.PathLike,
    *,
    train_dataset: str,
    model_name: str,
    imageset: str,
    subject: Any = None,
    roi: str | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> Path:
    """Pre-generate ``model``'s responses to ``stimuli`` into NED's h5 layout, resumably.

    Batches of predictions go straight into the file (memory: one batch of images, features
    and predictions); after each batch the count of finished images is recorded. Rerunning
    after a crash continues from there; a finished file is left alone. The file appears under
    its final name only when complete.

    Returns
    -------
    pathlib.Path
        The ``synthetic_neural_responses_sub-XX[_roi-R].h5`` file.
    """
    import h5py

    from brainbridge.encoding.images import image_source

    number = ned_subject(subject if subject is not None else model.subject)
    roi, fit = _fit_of(model, roi)
    fmri_roi = roi if model.modality == "fmri" else None
    path = responses_path(
        ned_dir,
        modality=model.modality,
        train_dataset=train_dataset,
        model_name=model_name,
        imageset=imageset,
        subject=number,
        roi=fmri_roi,
    )
    source = image_source(stimuli)
    ids = [str(s) for s in source.stimulus_ids]
    signature = json_digest(
        {
            "fit": fit.key,
            "layers": model.layers,
            "channels": None if model.channels is None else model.channels.tolist(),
            "timepoints": None if model.timepoints is None else model.timepoints.tolist(),
            "stimulus_ids": ids,
        }
    )
    if path.exists():
        with h5py.File(path, "r") as f:
            if f[_DATASET].attrs.get(_SIGNATURE) != signature:
                raise EncodingError(
                    f"{path} holds other responses (another model or image list); remove it first"
                )
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    out_shape = fit.output_shape  # an EEG fit is already restricted to the selected channels and times
    done = 0
    if partial.exists():
        try:
            with h5py.File(partial, "r") as f:
                dataset = f[_DATASET]
                if dataset.attrs.get(_SIGNATURE) == signature and dataset.shape == (len(ids), *out_shape):
                    done = int(dataset.attrs[_DONE])
                else:
                    done = -1
        except (OSError, KeyError):
            done = -1
        if done < 0:  # another run's leftovers or a file broken before its first record: start again
            partial.unlink()
            done = 0
    if not partial.exists():
        with h5py.File(partial, "w", track_order=False) as f:
            # contiguous storage at fixed offsets and no timestamps: the bytes depend only on the values
            dataset = f.create_dataset(
                _DATASET, shape=(len(ids), *out_shape), dtype=np.float32, track_times=False
            )
            dataset.attrs[_SIGNATURE] = signature
            dataset.attrs[_DONE] = np.int64(0)
    if done < len(ids):
        with (
            h5py.File(partial, "r+") as f,
            progress_bar(
                total=len(ids),
                initial=done,
                desc=f"pre-generating {path.name}",
                unit="img",
                progress=progress,
            ) as bar,
        ):
            dataset = f[_DATASET]
            position = done
            for batch_ids, features, _ in model.extractor.iter_features(
                source.subset(done), layers=model.layers, batch_size=batch_size, progress=False
            ):
                predicted = (
                    fit.predict(features) if model.modality == "fmri" else model.predict_features(features)
                )
                dataset[position : position + len(batch_ids)] = predicted
                position += len(batch_ids)
                f.flush()
                dataset.attrs[_DONE] = np.int64(position)  # after the values: a crash never over-counts
                f.flush()
                bar.update(len(batch_ids))
    metadata = ned_metadata(
        fit,
        {
            "brainbridge": {
                "fit_key": fit.key,
                "stimulus_id": ids,
                "imageset": imageset,
                "model_id": model.model_id,
                "subject": model.subject,
            }
        },
    )
    _save_npy(path.with_name(f"{_DATASET}_metadata_{_suffix(number, fmri_roi)}.npy"), metadata)
    promote_partial(partial, path)
    return path


def open_ned_responses(path: str | os.PathLike, metadata: Mapping[str, Any] | None = None):
    """Open pre-generated NED responses lazily as an assembly (dask-backed: values read on access).

    ``(presentation, voxel)`` for fMRI or ``(presentation, repetition, channel, time_bin)`` for
    EEG, with ``stimulus_id`` (from the brainbridge metadata; ``0..N-1`` otherwise), channel
    names and times. The metadata file beside ``path`` is read with the restricted unpickler
    unless ``metadata`` is given.
    """
    import dask.array as da
    import h5py

    from brainbridge.assemblies import DataAssembly
    from brainbridge.safe_pickle import load_npy

    path = Path(path)
    if metadata is None:
        sidecar = path.with_name(path.name.replace(f"{_DATASET}_", f"{_DATASET}_metadata_")).with_suffix(
            ".npy"
        )
        metadata = load_npy(sidecar) if sidecar.is_file() else {}
    handle = h5py.File(path, "r")
    if _DATASET not in handle:
        handle.close()
        raise EncodingError(f"{path} has no {_DATASET!r} dataset")
    dataset = handle[_DATASET]
    values = da.from_array(dataset, chunks=(min(len(dataset), 1024), *dataset.shape[1:]))
    n = dataset.shape[0]
    ids = (metadata.get("brainbridge") or {}).get("stimulus_id") or [str(i) for i in range(n)]
    coords: dict[str, Any] = {"stimulus_id": ("presentation", np.asarray(ids, dtype=object))}
    if dataset.ndim == 2:
        dims = ["presentation", "voxel"]
        for key, value in (metadata.get("fmri") or {}).items():
            if np.ndim(value) == 1 and len(value) == dataset.shape[1]:
                coords[str(key)] = ("voxel", np.asarray(value))
    else:
        dims = ["presentation", "repetition", "channel", "time_bin"]
        eeg = metadata.get("eeg") or metadata.get("meg") or {}
        if "ch_names" in eeg:
            coords["channel_name"] = ("channel", np.asarray(eeg["ch_names"], dtype=object))
        if "times" in eeg:
            coords["time"] = ("time_bin", np.asarray(eeg["times"], dtype=np.float64))
    return DataAssembly(values, dims=dims, coords=coords, attrs={"source": str(path)})

"""BERG-compatible access (``from brainbridge.berg import BERG``): BERG's calls and id scheme.

``BERG(berg_dir)`` lists brainbridge's own models (Gabor, random CNN, EfficientNet-lite0 on the
bundled example) together with the models found in a BERG folder, all under BERG's ids
``{modality}-{train_dataset}-{model}``:

- linearising models (``encoding_models/modality-M/train_dataset-D/model-X/encoding_models_weights/
  weights_subject-XX.npy`` and ``metadata/metadata_subject-XX.npy``). BERG's fsaverage surface
  models (``lh_reg_param`` / ``rh_reg_param`` weights) return the tuple ``(lh, rh)`` and select
  ``{'roi': name}`` (the metadata's ``lh/rh_fsaverage_rois``) or
  ``{'lh_vertices': mask, 'rh_vertices': mask}``; EEG models select ``channels`` and a
  ``timepoints`` mask; every selection is applied to the weights;
- the fwRF (``fmri-nsd-fwrf``: ``.../model-fwrf/encoding_models_weights/weights_sub-XX_roi-R[_split-k].pt``
  and ``metadata/metadata_sub-XX_roi-R.npy``), one checkpoint per subject and ROI, selected with
  ``selection={'roi': R}`` and run by :mod:`brainbridge.encoding.fwrf` (the implementation
  :class:`~brainbridge.encoding.ned.NED` uses too).

Differences from BERG, on purpose (``shared/reference/encoding-models.md`` sections 2 and 7):

- BERG's pickled ``.npy`` files are read with :func:`brainbridge.safe_pickle.load_npy` (no code runs);
- every error, including bad ROI/channels/masks and a missing ``subject``, is a
  :class:`~brainbridge.encoding.errors.EncodingError` (one base) whose message lists valid values;
- ``encode(..., return_metadata=True)`` always returns ``(responses, metadata)``, never silently drops it;
- the ViT-B/32 features need a ``feature_extractor=`` callable (weights are never downloaded);
- the Brain-Score gateway ids (``brainscore_vision``, ``brainscore_vision-<model>``) run on the
  models brainbridge builds offline, trained on the bundled example or a catalogued Brain-Score
  assembly (:mod:`brainbridge.encoding.brainscore_gateway`, which this class only routes to).
- fwRF checkpoints load with ``torch.load(weights_only=True)`` and an allow-list (BERG allows any
  pickle), and its ``encode`` also takes a folder or a list of image files.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from brainbridge.encoding import brainscore_gateway as gateway
from brainbridge.encoding import models as bb_models
from brainbridge.encoding.errors import (
    EncodingError,
    InvalidParameterError,
    InvalidSelectionError,
    InvalidSubjectError,
    ModelNotFoundError,
)
from brainbridge.encoding.images import image_source, load_image
from brainbridge.encoding.ned import (
    ROIS,
    SUBJECTS,
    VIT_WEIGHTS_HINT,
    MissingWeightsError,
    check_ned_images,
    linearising_predict,
)
from brainbridge.encoding.selection import binary_mask_indices, check_selection_keys, required_roi
from brainbridge.errors import valid_values_message
from brainbridge.paths import safe_component
from brainbridge.progress import progress_bar
from brainbridge.safe_pickle import load_npy

__all__ = ["BERG", "BERGFwrfModel", "BERGLinearModel"]

DEVICES = ["cpu", "cuda", "auto"]
IMAGE_SIZE = 224
FWRF_ID = "fmri-nsd-fwrf"
# weights_sub-01_roi-V1.pt, weights_sub-01_roi-lateral_split-1.pt
_FWRF_FILE = re.compile(r"weights_sub-(\d+)_roi-(.+?)(?:_split-\d+)?\.pt")


def _resolve_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class _ImageFiles:
    """Image files read when sliced: a list of uint8 ``(3, H, W)`` arrays at their own sizes."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: slice) -> list[np.ndarray]:
        return [
            np.asarray(load_image(p).convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
            for p in self.paths[key]
        ]


class BERGFwrfModel:
    """BERG's ``fmri-nsd-fwrf`` for one subject and ROI (both halves of ``lateral``/``ventral``)."""

    def __init__(self, model_id: str, folder: Path, subject: int, roi: str, device: str):
        from brainbridge.encoding.fwrf import checkpoint_names, load_fwrf

        self.model_id, self.folder, self.subject, self.roi = model_id, folder, subject, roi
        self.device = _resolve_device(device)
        paths = [folder / "encoding_models_weights" / name for name in checkpoint_names(subject, roi)]
        for path in paths:
            if not path.is_file():
                raise EncodingError(f"the BERG folder has no fwRF checkpoint: {path} is missing")
        self.model = load_fwrf(paths, subject, device=self.device)

    @property
    def n_voxels(self) -> int:
        return self.model.n_voxels

    def generate_response(
        self,
        stimulus: Any,
        progress: bool | None = None,
        batch_size: int = 100,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """In silico fMRI responses ``(N, voxels)`` float32 to a uint8 array, a folder or image files.

        Arrays must be uint8 ``(N, 3, H, W)`` and square, as BERG's; files are read one batch at a
        time. Every image is resized to 227 x 227 the way BERG's torchvision ``Resize`` does.
        ``show_progress`` is BERG's name for ``progress`` (BERG's own fwRF lacks it: a TypeError).
        """
        progress = show_progress if progress is None else progress
        if isinstance(stimulus, np.ndarray):
            images: Any = check_ned_images(stimulus)
        else:
            source = image_source(stimulus)
            if source.paths is None:
                images = check_ned_images(np.asarray(source.array))
            else:
                images = _ImageFiles(source.paths)
        return self.model.predict(images, batch_size=batch_size, progress=progress)

    def get_metadata(self) -> dict:
        return _fwrf_metadata(self.folder, self.subject, self.roi)


def _fwrf_metadata(folder: Path, subject: int, roi: str) -> dict:
    path = folder / "metadata" / f"metadata_sub-{subject:02d}_roi-{roi}.npy"
    if not path.is_file():
        raise EncodingError(f"the BERG folder has no metadata file: {path} is missing")
    return load_npy(path)


class BERGLinearModel:
    """A BERG linearising model (features -> scaler -> PCA -> linear map per repetition), selected."""

    def __init__(
        self,
        model_id: str,
        folder: Path,
        subject: int,
        selection: Mapping[str, Any] | None,
        feature_extractor: Callable[[np.ndarray], np.ndarray] | None,
        device: str,
    ):
        self.model_id, self.folder, self.subject, self.device = model_id, folder, subject, device
        self.modality = model_id.split("-")[0]
        self.metadata_ = load_npy(folder / "metadata" / f"metadata_subject-{subject:02d}.npy")
        weights_path = folder / "encoding_models_weights" / f"weights_subject-{subject:02d}.npy"
        weights = load_npy(weights_path)
        #: fsaverage models (BERG's ``fmri-nsd_fsaverage-vit_b_32``): one map per hemisphere,
        #: ``encode`` returns the tuple ``(lh, rh)``; ``None`` for every other model
        self.hemisphere_sizes: tuple[int, int] | None = None
        hemispheres = isinstance(weights, dict) and "lh_reg_param" in weights
        needed = ["scaler_param", "pca_param"] + (
            ["lh_reg_param", "rh_reg_param"] if hemispheres else ["reg_param"]
        )
        if not isinstance(weights, dict) or any(k not in weights for k in needed):
            found = sorted(weights) if isinstance(weights, dict) else type(weights).__name__
            raise EncodingError(f"{weights_path} is not a BERG weights file: it needs {needed}, has {found}")
        self.scaler, self.pca = weights["scaler_param"], weights["pca_param"]
        if hemispheres:
            self.regressions = [self._select_vertices(weights, selection)]
            if feature_extractor is None:
                raise MissingWeightsError(VIT_WEIGHTS_HINT.replace("NED's vit_b_32", f"BERG's {model_id}"))
            self.feature_extractor = feature_extractor
            return
        reg = weights["reg_param"]
        fits = (
            [reg[k] for k in sorted(reg, key=lambda k: int(str(k).split("-")[-1]))]
            if "coef_" not in reg
            else [reg]
        )
        if self.modality == "eeg":
            self.ch_names = [str(c) for c in self.metadata_["eeg"]["ch_names"]]
            self.times = np.asarray(self.metadata_["eeg"]["times"])
            self.channel_indices, self.timepoints = self._eeg_selection(selection)
            fits = [self._select_eeg(f) for f in fits]
        elif selection:
            check_selection_keys(selection, [])
        self.regressions = fits
        if feature_extractor is None:
            raise MissingWeightsError(VIT_WEIGHTS_HINT.replace("NED's vit_b_32", f"BERG's {model_id}"))
        self.feature_extractor = feature_extractor

    def _eeg_selection(self, selection: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
        selection = dict(selection or {})
        selection = check_selection_keys(selection, ["channels", "timepoints"])
        channels = selection.get("channels", self.ch_names)
        if isinstance(channels, str) or not all(isinstance(c, str) for c in channels) or not channels:
            raise InvalidSelectionError(
                f"'channels' must be a non-empty list of channel names from {self.ch_names}"
            )
        unknown = [c for c in channels if c not in self.ch_names]
        if unknown:
            raise InvalidSelectionError(valid_values_message("channels", unknown, self.ch_names))
        mask = selection.get("timepoints", np.ones(len(self.times), dtype=bool))
        timepoints = binary_mask_indices(mask, len(self.times))
        return np.array([self.ch_names.index(c) for c in channels]), timepoints

    def _select_vertices(self, weights: Mapping[str, Any], selection: Mapping[str, Any] | None) -> dict:
        """fsaverage: the selected vertices of both hemispheres' maps, side by side (applied to the weights).

        ``{'roi': name}`` takes the ROI's vertices from the metadata's ``lh_fsaverage_rois`` /
        ``rh_fsaverage_rois``; otherwise ``lh_vertices`` / ``rh_vertices`` are binary masks of one
        value per vertex (a hemisphere without one keeps every vertex), as BERG's card says.
        """
        selection = dict(selection or {})
        selection = check_selection_keys(selection, ["roi", "lh_vertices", "rh_vertices"])
        maps = {h: weights[f"{h}_reg_param"] for h in ("lh", "rh")}
        sizes = {h: len(np.asarray(m["intercept_"])) for h, m in maps.items()}
        chosen: dict[str, np.ndarray] = {}
        if selection.get("roi") is not None:
            fmri = self.metadata_.get("fmri", {}) if isinstance(self.metadata_, dict) else {}
            rois = {h: fmri.get(f"{h}_fsaverage_rois") or {} for h in ("lh", "rh")}
            names = sorted(set(rois["lh"]) & set(rois["rh"]))
            roi = selection["roi"]
            if roi not in names:
                raise InvalidSelectionError(
                    f"Invalid ROI: {roi!r}. " + valid_values_message("roi", roi, names)
                )
            for h in ("lh", "rh"):
                chosen[h] = np.asarray(rois[h][roi], dtype=np.intp)
                if chosen[h].size and (chosen[h].min() < 0 or chosen[h].max() >= sizes[h]):
                    raise EncodingError(f"the metadata's {h} vertices of ROI {roi!r} lie outside the weights")
        else:
            for h in ("lh", "rh"):
                mask = selection.get(f"{h}_vertices")
                chosen[h] = (
                    np.arange(sizes[h])
                    if mask is None
                    else binary_mask_indices(mask, sizes[h], f"{h}_vertices", f"{h.upper()} vertex")
                )
        self.hemisphere_sizes = (len(chosen["lh"]), len(chosen["rh"]))
        return {
            "coef_": np.concatenate([np.asarray(maps[h]["coef_"])[chosen[h]] for h in ("lh", "rh")]),
            "intercept_": np.concatenate(
                [np.asarray(maps[h]["intercept_"])[chosen[h]] for h in ("lh", "rh")]
            ),
        }

    def _select_eeg(self, fit: Mapping[str, Any]) -> dict:
        # applied to the weights: unselected outputs are never computed
        n_ch, n_t = len(self.ch_names), len(self.times)
        coef = np.asarray(fit["coef_"]).reshape(n_ch, n_t, -1)[self.channel_indices][:, self.timepoints]
        intercept = np.asarray(fit["intercept_"]).reshape(n_ch, n_t)[self.channel_indices][:, self.timepoints]
        return {"coef_": coef.reshape(-1, coef.shape[-1]), "intercept_": intercept.reshape(-1)}

    def generate_response(
        self,
        stimulus: Any,
        show_progress: bool | None = None,
        progress: bool | None = None,
        batch_size: int = 100,
    ):
        """Responses: EEG ``(N, reps, channels, time)`` (selected), fsaverage the tuple
        ``((N, lh vertices), (N, rh vertices))`` as BERG, else ``(N, outputs)``.

        Images are read and encoded one batch at a time (``show_progress`` is BERG's name for
        ``progress``: a bar on a terminal, log lines otherwise, by default).
        """
        progress = show_progress if progress is None else progress
        if isinstance(stimulus, np.ndarray):
            images_all = check_ned_images(stimulus)
            total = len(images_all)
            batches: Any = (images_all[i : i + batch_size] for i in range(0, total, batch_size))
        else:
            source = image_source(stimulus)
            total = len(source)
            batches = (b for _, b in source.batches(batch_size, IMAGE_SIZE))
        out = []
        bar = progress_bar(total=total, desc=f"encoding with {self.model_id}", unit="img", progress=progress)
        for images in batches:
            bar.update(len(images))
            pred = linearising_predict(
                np.asarray(self.feature_extractor(images)), self.scaler, self.pca, self.regressions, None
            )
            if self.modality == "eeg":
                pred = pred.reshape(
                    len(images), len(self.regressions), len(self.channel_indices), len(self.timepoints)
                )
            elif pred.shape[1] == 1:
                pred = pred[:, 0]
            out.append(pred)
        bar.close()
        responses = np.concatenate(out, axis=0)
        if self.hemisphere_sizes is not None:
            n_lh = self.hemisphere_sizes[0]
            return responses[:, :n_lh], responses[:, n_lh:]
        return responses

    def get_metadata(self) -> dict:
        return self.metadata_


class BERG:
    """BERG's entry point over brainbridge's models and a BERG folder.

    Parameters
    ----------
    berg_dir
        Path to the ``brain-encoding-response-generator`` folder (like BERG, no I/O here).
    """

    def __init__(self, berg_dir: str | os.PathLike):
        self.berg_dir = str(berg_dir)

    # -- catalogue ---------------------------------------------------------------------------------
    def _disk_models(self) -> dict[str, Path]:
        root = Path(self.berg_dir) / "encoding_models"
        found: dict[str, Path] = {}
        if not root.is_dir():
            return found
        for folder in sorted(root.glob("modality-*/train_dataset-*/model-*")):
            if any((folder / "encoding_models_weights").glob("weights_subject-*.npy")) or self._is_fwrf(
                folder
            ):
                parts = [p.split("-", 1)[1] for p in folder.relative_to(root).parts]
                found["-".join(parts)] = folder
        return found

    def list_models(
        self, expand_brainscore_vision: bool = False, expand_brainscore_language: bool = False
    ) -> list[str]:
        """Sorted ids: brainbridge's registered models, the BERG folder's linearising models and the
        Brain-Score gateway.

        Parameters
        ----------
        expand_brainscore_vision
            List ``brainscore_vision-<model>`` for every model brainbridge builds offline instead
            of the gateway id ``brainscore_vision``.
        expand_brainscore_language
            brainbridge has no language models: warns and lists nothing for ``brainscore_language``.
        """
        gateway_ids = gateway.list_gateway_ids(expand_brainscore_vision, expand_brainscore_language)
        return sorted(set(bb_models.list_models()) | set(self._disk_models()) | set(gateway_ids))

    def get_model_catalog(self, print_format: bool = False) -> dict[str, list[str]]:
        """``{modality: sorted training datasets}`` (printed as a tree with ``print_format=True``)."""
        catalog: dict[str, set[str]] = {}
        for model_id in self.list_models():
            if gateway.is_gateway_id(model_id):  # BERG registers the gateway as ephys / BrainScore_Vision
                modality, dataset = "ephys", "BrainScore_Vision"
            else:
                modality, dataset = model_id.split("-")[:2]
            catalog.setdefault(modality, set()).add(dataset)
        result = {m: sorted(d) for m, d in sorted(catalog.items())}
        if print_format:
            for modality, datasets in result.items():
                print(modality)
                for d in datasets:
                    print(f"  └── {d}")
        return result

    def _check_id(self, model_id: Any) -> None:
        if not isinstance(model_id, str) or model_id not in self.list_models():
            raise ModelNotFoundError(f"Model {model_id!r} not found. Available models: {self.list_models()}")

    def _subjects(self, folder: Path) -> list[int]:
        if self._is_fwrf(folder):
            found = {int(m.group(1)) for m in self._fwrf_files(folder)}
            return sorted(found | set(SUBJECTS[("fmri", "nsd")] if self._is_nsd(folder) else []))
        names = (folder / "encoding_models_weights").glob("weights_subject-*.npy")
        return sorted(int(p.stem.split("-")[-1]) for p in names if p.stem.split("-")[-1].isdigit())

    # -- fwRF (one checkpoint per subject and ROI) -------------------------------------------------
    @staticmethod
    def _fwrf_files(folder: Path) -> list[re.Match]:
        weights = folder / "encoding_models_weights"
        if not weights.is_dir():
            return []
        return [m for p in sorted(weights.iterdir()) for m in [_FWRF_FILE.fullmatch(p.name)] if m]

    def _is_fwrf(self, folder: Path) -> bool:
        return bool(self._fwrf_files(folder))

    @staticmethod
    def _is_nsd(folder: Path) -> bool:
        return folder.parent.name == "train_dataset-nsd" and folder.parent.parent.name == "modality-fmri"

    def _rois(self, folder: Path) -> list[str]:
        """BERG's 23 NSD ROIs, then any other ROI the folder has a checkpoint for."""
        own = list(ROIS["nsd"]) if self._is_nsd(folder) else []
        found = sorted({m.group(2) for m in self._fwrf_files(folder)} - set(own))
        return own + found

    def _fwrf_subject(self, folder: Path, subject: Any) -> int:
        subjects = self._subjects(folder)
        if subject is None:
            raise InvalidParameterError(f"Required parameters missing: subject (one of {subjects})")
        if type(subject) is not int or subject not in subjects:
            raise InvalidSubjectError(f"Subject must be one of {subjects}, got {subject!r}")
        return subject

    def _fwrf_roi(self, folder: Path, roi: Any) -> str:
        return self._fwrf_selection(folder, {"roi": roi})

    def _fwrf_selection(self, folder: Path, selection: Mapping[str, Any] | None) -> str:
        return safe_component(required_roi(selection, self._rois(folder), model="the fwRF"), "ROI")

    def _fwrf_card(self, model_id: str, folder: Path) -> dict[str, Any]:
        rois = self._rois(folder)
        modality, dataset, model = model_id.split("-")
        return {
            "model_id": model_id,
            "modality": modality,
            "training_dataset": dataset,
            "model_type": "Feature-weighted receptive field (fwRF)",
            "description": "gnet8x convolutional encoder trained end to end with a feature-weighted "
            "receptive field readout per voxel (St-Yves & Naselaris 2018), one checkpoint per subject "
            "and ROI; inputs resized to 227 x 227 and centred on the training images' mean",
            "input": {
                "type": "numpy.ndarray, a folder or a list of image files",
                "shape": ["batch_size", 3, "height", "width"],
                "constraints": ["uint8 values in [0, 255]", "square arrays (height == width)"],
            },
            "output": {"type": "numpy.ndarray", "shape": ["batch_size", "n_voxels"]},
            "parameters": {
                "subject": {
                    "type": "int",
                    "required": True,
                    "valid_values": self._subjects(folder),
                    "function": "get_encoding_model",
                },
                "selection": {
                    "type": "dict",
                    "required": True,
                    "function": "get_encoding_model",
                    "properties": {"roi": {"type": "str", "valid_values": rois, "example": rois[0]}},
                },
                "device": {"type": "str", "valid_values": DEVICES, "default": "auto"},
            },
            "on_disk": sorted({(int(m.group(1)), m.group(2)) for m in self._fwrf_files(folder)}),
            "references": [
                "fwRF model (St-Yves & Naselaris 2018): https://doi.org/10.1016/j.neuroimage.2017.06.035",
                "NSD (Allen et al. 2022): https://doi.org/10.1038/s41593-021-00962-x",
            ],
            "usage": f"model = berg.get_encoding_model({model_id!r}, subject=1, "
            f"selection={{'roi': {rois[0]!r}}})\n"
            "responses = berg.encode(model, images)  # numpy (N, voxels)",
        }

    def describe(self, model_id: str) -> dict[str, Any]:
        """The model card as a dict (also printed, like BERG)."""
        if gateway.is_gateway_id(model_id):
            card = gateway.describe_gateway(model_id)
            for key, value in card.items():
                print(f"{key}: {value}")
            return card
        self._check_id(model_id)
        disk = self._disk_models()
        if model_id not in disk:
            card = bb_models.describe(model_id)
        elif self._is_fwrf(disk[model_id]):
            card = self._fwrf_card(model_id, disk[model_id])
        else:
            modality, dataset, model = model_id.split("-")
            card = {
                "model_id": model_id,
                "modality": modality,
                "training_dataset": dataset,
                "model_type": model,
                "description": "linearising model: frozen features -> StandardScaler -> PCA -> linear map "
                "(one per training repetition for EEG)",
                "parameters": {
                    "subject": {
                        "type": "int",
                        "required": True,
                        "valid_values": self._subjects(disk[model_id]),
                    },
                    "selection": {
                        "properties": ["channels", "timepoints"]
                        if modality == "eeg"
                        else ["roi", "lh_vertices", "rh_vertices"]
                        if "fsaverage" in dataset  # BERG's surface models: (lh, rh) outputs
                        else []
                    },
                    "feature_extractor": {"required": True, "description": VIT_WEIGHTS_HINT},
                },
                "usage": f"model = berg.get_encoding_model({model_id!r}, subject=1, feature_extractor=f)\n"
                "responses = berg.encode(model, images)",
            }
        for key, value in card.items():
            print(f"{key}: {value}")
        return card

    # -- models ----------------------------------------------------------------------------------
    def get_encoding_model(
        self, model_id: str, device: str = "auto", selection: Mapping[str, Any] | None = None, **kwargs: Any
    ):
        """Load a model; ``subject`` (and, for linearising models, ``feature_extractor``) travel in kwargs.

        A Brain-Score gateway id ``brainscore_vision-<model>`` needs ``selection={'roi': R}`` and
        takes ``benchmark=`` and ``time_bin=`` (see
        :func:`brainbridge.encoding.brainscore_gateway.load_gateway_model`).
        """
        if gateway.is_gateway_id(model_id):
            return gateway.get_gateway_model(model_id, device=device, selection=selection, **kwargs)
        self._check_id(model_id)
        if device not in DEVICES:
            raise InvalidParameterError(valid_values_message("device", device, DEVICES))
        if selection is not None and not isinstance(selection, Mapping):
            raise InvalidSelectionError(f"selection must be a dict, got {type(selection).__name__}")
        disk = self._disk_models()
        if model_id not in disk:
            return bb_models.get_encoding_model(
                model_id, selection=selection, subject=kwargs.pop("subject", None), device=device, **kwargs
            )
        if self._is_fwrf(disk[model_id]):
            subject = self._fwrf_subject(disk[model_id], kwargs.pop("subject", None))
            roi = self._fwrf_selection(disk[model_id], selection)
            if kwargs:
                raise InvalidParameterError(f"Unknown parameters {sorted(kwargs)}. Valid: ['subject']")
            safe_component(model_id, "model id")
            return BERGFwrfModel(model_id, disk[model_id], subject, roi, device)
        subjects = self._subjects(disk[model_id])
        subject = kwargs.pop("subject", None)
        if subject is None:
            raise InvalidParameterError(f"Required parameters missing: subject (one of {subjects})")
        if type(subject) is not int or subject not in subjects:
            raise InvalidSubjectError(f"Subject must be one of {subjects}, got {subject!r}")
        feature_extractor = kwargs.pop("feature_extractor", None)
        if kwargs:
            raise InvalidParameterError(
                f"Unknown parameters {sorted(kwargs)}. Valid: ['subject', 'feature_extractor']"
            )
        safe_component(model_id, "model id")
        return BERGLinearModel(model_id, disk[model_id], subject, selection, feature_extractor, device)

    def encode(self, model: Any, stimulus: Any, return_metadata: bool = False, **kwargs: Any):
        """Responses as numpy (and the metadata dict with ``return_metadata=True``)."""
        if isinstance(model, gateway.BrainScoreVisionModel):
            return model.encode(stimulus, return_metadata=return_metadata, **kwargs)
        if isinstance(model, (BERGLinearModel, BERGFwrfModel)):
            accepted = sorted(set(inspect.signature(model.generate_response).parameters) - {"stimulus"})
            unknown = sorted(set(kwargs) - set(accepted))
            if unknown:  # BERG lets these through to a TypeError deep inside
                raise InvalidParameterError(
                    f"Unknown parameters {unknown} for {model.model_id}. Valid: {accepted}"
                )
            responses = model.generate_response(stimulus, **kwargs)
            return (responses, model.get_metadata()) if return_metadata else responses
        if isinstance(model, bb_models.EncodingModel):
            if return_metadata:
                assembly, metadata = bb_models.encode(model, stimulus, return_metadata=True, **kwargs)
                return np.asarray(assembly.values), metadata
            return np.asarray(bb_models.encode(model, stimulus, return_metadata=False, **kwargs).values)
        raise InvalidParameterError(
            f"model must come from BERG.get_encoding_model(...), got {type(model).__name__}"
        )

    def get_model_variants(self, model_id: str) -> list[str]:
        """Pretrained variants of a model (newer BERG); brainbridge's models have none: ``[]``."""
        self._check_id(model_id)
        return []

    def get_model_metadata(self, model_id: str, **kwargs: Any) -> dict:
        """Metadata without loading weights.

        Linearising models read ``metadata_subject-XX.npy``; the fwRF ``metadata_sub-XX_roi-R.npy``
        (``subject=`` and ``roi=``, as BERG, or ``selection={'roi': R}``). A gateway model's metadata
        comes from its cached fit (trained on first use): benchmark, region, layer, fit key and the
        measured accuracy.
        """
        if gateway.is_gateway_id(model_id):
            return gateway.gateway_metadata(model_id, **kwargs)
        self._check_id(model_id)
        disk = self._disk_models()
        if model_id not in disk:
            return bb_models.get_metadata(
                model_id, selection=kwargs.get("selection"), subject=kwargs.get("subject")
            )
        if self._is_fwrf(disk[model_id]):
            folder = disk[model_id]
            roi = kwargs.get("roi")
            if roi is None and isinstance(kwargs.get("selection"), Mapping):
                roi = kwargs["selection"].get("roi")
            missing = [
                name for name, value in (("subject", kwargs.get("subject")), ("roi", roi)) if value is None
            ]
            if missing:
                raise InvalidParameterError(f"Required parameters missing: {', '.join(missing)}")
            fwrf_subject = self._fwrf_subject(folder, kwargs.get("subject"))
            return _fwrf_metadata(folder, fwrf_subject, self._fwrf_roi(folder, roi))
        subjects = self._subjects(disk[model_id])
        subject = kwargs.get("subject")
        if type(subject) is not int or subject not in subjects:
            raise InvalidSubjectError(f"Subject must be one of {subjects}, got {subject!r}")
        path = disk[model_id] / "metadata" / f"metadata_subject-{subject:02d}.npy"
        if not path.is_file():
            raise EncodingError(f"the BERG folder has no metadata file: {path} is missing")
        return load_npy(path)

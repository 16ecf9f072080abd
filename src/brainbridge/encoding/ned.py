"""NED-compatible access to a Neural Encoding Dataset folder (``from brainbridge.ned import NED``).

Same method names, argument names, defaults, validation (``TypeError`` for a wrong type,
``ValueError`` listing the valid values) and return types as NED's ``ned.ned.NED``
(``shared/reference/encoding-models.md`` section 1). Both of NED's models encode: the fMRI
fwRF (``fmri``/``nsd``/``fwrf``, :mod:`brainbridge.encoding.fwrf`: NED's gnet8x encoder and
layer-wise readout, ``(N, voxels)``) and the EEG ViT-B/32 linearising model
(``eeg``/``things_eeg_2``/``vit_b_32``, ``(N, repetitions, channels, times)``). Differences on
purpose:

- NED's pickled ``.npy`` metadata and parameter files are read with
  :func:`brainbridge.safe_pickle.load_npy`, which cannot run code (NED calls
  ``np.load(allow_pickle=True)``); fwRF checkpoints load with ``torch.load(weights_only=True)``
  and an allow-list of numpy types, ``OrderedDict`` and ``argparse.Namespace``
  (:func:`brainbridge.encoding.fwrf.load_checkpoint`); anything else is refused, never run.
- ``encode`` rejects float and non-square images with a clear message (NED's dtype check lets
  floats through).
- The fwRF output is always ``(N, voxels)`` (NED's readout transposes a one-voxel ROI), and its
  readout runs in voxel chunks, so memory stays bounded.
- Nothing is downloaded: the ViT-B/32 feature extractor NED builds from torchvision's
  downloaded weights must be given (``feature_extractor=``), else a one-line error names the file.

One extension: besides NED's own datasets, models, subjects and ROIs, the folder's own
``train_dataset-*`` / ``model-*`` folders and ``sub-XX`` / ``roi-R`` file names are valid values,
so models that brainbridge trained and wrote in NED's layout
(:mod:`brainbridge.encoding.ned_export`) load and encode through the same calls: any model
folder with ``StandardScaler_param*.npy`` is a linearising model (fMRI: ``(N, voxels)``; EEG:
``(N, repetitions, channels, times)``), and its feature extractor is rebuilt from the
``'brainbridge'`` entry of its metadata (a bundled extractor, never downloaded).

A second extension: brainbridge's registered encoding models (the bundled Gabor, random-CNN and
EfficientNet-lite0 models on the example's ``ephys`` benchmark, and any card a user registered,
such as a linearising fMRI/EEG card) are listed and usable through the same calls: their
modality, training dataset and model name come from the id ``{modality}-{train_dataset}-{model}``,
subjects are numbered ``1..n`` in the card's order (NED's subjects are integers), ``roi`` selects
the card's ROI (required for fMRI as in NED, optional otherwise: ``None`` is every ROI), and
``encode`` returns numpy as NED does.

Errors are brainbridge errors that are also the built-in NED raises
(:class:`NEDTypeError` is a ``TypeError``, :class:`~brainbridge.encoding.errors.InvalidParameterError`
a ``ValueError``), so NED users' ``except`` clauses keep working.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from brainbridge.encoding.errors import (
    EncodingError,
    InvalidParameterError,
    MissingWeightsError,
    NEDTypeError,
    StimulusError,
)
from brainbridge.safe_pickle import load_npy

__all__ = ["NED", "NEDTypeError", "MissingWeightsError", "check_ned_images", "linearising_predict"]

MODALITIES = ["fmri", "eeg"]
TRAIN_DATASETS = {"fmri": ["nsd"], "eeg": ["things_eeg_2"]}
MODELS = {("fmri", "nsd"): ["fwrf"], ("eeg", "things_eeg_2"): ["vit_b_32"]}
SUBJECTS = {("fmri", "nsd"): list(range(1, 9)), ("eeg", "things_eeg_2"): list(range(1, 11))}
ROIS = {
    "nsd": [
        "V1",
        "V2",
        "V3",
        "hV4",
        "EBA",
        "FBA-2",
        "OFA",
        "FFA-1",
        "FFA-2",
        "PPA",
        "RSC",
        "OPA",
        "OWFA",
        "VWFA-1",
        "VWFA-2",
        "mfs-words",
        "early",
        "midventral",
        "midlateral",
        "midparietal",
        "parietal",
        "lateral",
        "ventral",
    ],
}
IMAGESETS = ["nsd", "imagenet_val", "things"]
DEVICES = ["cpu", "cuda", "auto"]
# NED's ViT recipe keeps the first 250 principal components
VIT_PCS = 250
VIT_WEIGHTS_HINT = (
    "NED's vit_b_32 model needs torchvision's ViT-B/32 ImageNet weights file vit_b_32-d86f8d99.pth "
    "(what torchvision.models.vit_b_32(weights='DEFAULT') downloads from "
    "https://download.pytorch.org/models/vit_b_32-d86f8d99.pth into ~/.cache/torch/hub/checkpoints/, "
    "where brainbridge looks for it, as in <BRAINBRIDGE_HOME>/weights/); brainbridge never downloads it: "
    "copy the file there or pass feature_extractor=<callable images -> (N, 460800) features> "
    "to get_encoding_model"
)


def _check_type(name: str, value: Any, kind: type) -> None:
    # NED compares type() exactly; bool is not an int subject here either
    if type(value) is not kind:
        raise NEDTypeError(f"'{name}' must be of type {kind.__name__}!")


def _check_value(name: str, value: Any, valid: list, prefix: str = "") -> None:
    if value not in valid:
        raise InvalidParameterError(f"{prefix}'{name}' value must be one of the following: {valid}!")


def check_ned_images(images: Any) -> np.ndarray:
    """Validate NED's image input: a uint8 numpy array ``(N, 3, H, W)`` with ``H == W``.

    Unlike NED, float arrays are refused (NED's check lets them through and then rescales wrongly).
    """
    if not isinstance(images, np.ndarray):
        raise NEDTypeError(
            f"'images' must be a numpy array of dtype uint8, with values in the range 0/255! "
            f"Got {type(images).__name__}"
        )
    if images.dtype != np.uint8:
        raise StimulusError(
            f"'images' must be of dtype uint8 with values in the range 0/255, got dtype {images.dtype} "
            "(convert with np.clip(x, 0, 255).astype(np.uint8) if your floats are in 0..255)"
        )
    if images.ndim != 4:
        raise StimulusError(
            f"'images' must be a 4-D array of shape (Batch size x 3 RGB Channels x Width x Height)! "
            f"Got shape {images.shape}"
        )
    if images.shape[1] != 3:
        raise StimulusError(f"'images' must have 3 RGB channels! Got shape {images.shape}")
    if images.shape[2] != images.shape[3]:
        raise StimulusError(
            "'images' must be squared (i.e., equal width and height)! "
            f"Got {images.shape[2]}x{images.shape[3]}"
        )
    if images.shape[0] == 0:
        raise StimulusError("'images' holds no image (N = 0)")
    return images


def linearising_predict(
    features: np.ndarray, scaler: dict, pca: dict, regressions: list[dict], n_components: int | None
) -> np.ndarray:
    """Frozen features -> StandardScaler -> PCA -> one linear map per fit: ``(N, n_fits, n_outputs)``.

    ``scaler``, ``pca`` and each of ``regressions`` are the attribute dicts NED saves
    (``mean_``/``scale_``; ``mean_``/``components_``; ``coef_`` ``(outputs, pcs)``/``intercept_``).
    """
    x = np.asarray(features, dtype=np.float64)
    scale = np.asarray(scaler["scale_"], dtype=np.float64)
    x = (x - np.asarray(scaler["mean_"], dtype=np.float64)) / np.where(scale == 0, 1.0, scale)
    components = np.asarray(pca["components_"], dtype=np.float64)
    if n_components is not None:
        components = components[:n_components]
    x = (x - np.asarray(pca["mean_"], dtype=np.float64)) @ components.T
    if pca.get("whiten"):
        x /= np.sqrt(np.asarray(pca["explained_variance_"], dtype=np.float64)[: components.shape[0]])
    x = x.astype(np.float32)  # NED casts the PCs to float32 before the regression
    out = [
        x @ np.asarray(r["coef_"], dtype=np.float32).T + np.asarray(r["intercept_"], dtype=np.float32)
        for r in regressions
    ]
    return np.stack(out, axis=1).astype(np.float32)


def _subject_tag(subject: int) -> str:
    return f"sub-{subject:02d}"


def _registered_cards() -> dict[tuple[str, str, str], Any]:
    """brainbridge's registered model cards by ``(modality, train_dataset, model)``."""
    from brainbridge.encoding.registry import list_cards

    return {(c.modality, c.train_dataset, c.model): c for c in list_cards()}


class NED:
    """A Neural Encoding Dataset folder, read with NED's calls.

    Parameters
    ----------
    ned_dir
        Path to the ``neural_encoding_dataset`` folder. Like NED, nothing is read until a call needs it.
    """

    def __init__(self, ned_dir: str | os.PathLike):
        self.ned_dir = str(ned_dir)

    # -- what the folder holds besides NED's own (models written by brainbridge) -----------------
    def _roots(self) -> list[Path]:
        return [
            Path(self.ned_dir) / "encoding_models",
            Path(self.ned_dir) / "pregenerated_insilico_neural_responses",
        ]

    def _found(self, *parts: str, prefix: str) -> list[str]:
        names: set[str] = set()
        for root in self._roots():
            folder = root.joinpath(*parts)
            if folder.is_dir():
                names.update(
                    p.name[len(prefix) :]
                    for p in folder.iterdir()
                    if p.is_dir() and p.name.startswith(prefix)
                )
        return sorted(names)

    def _files(self, modality: str, train_dataset: str) -> list[str]:
        names: list[str] = []
        for root in self._roots():
            folder = root / f"modality-{modality}" / f"train_dataset-{train_dataset}"
            if folder.is_dir():
                names += [p.name for p in folder.rglob("*sub-*") if p.is_file()]
        return names

    def _modalities(self) -> list[str]:
        return MODALITIES + sorted({m for m, _, _ in _registered_cards()} - set(MODALITIES))

    def _train_datasets(self, modality: str) -> list[str]:
        own = list(TRAIN_DATASETS.get(modality, []))
        found = self._found(f"modality-{modality}", prefix="train_dataset-")
        registered = sorted({d for m, d, _ in _registered_cards() if m == modality})
        return own + [d for d in dict.fromkeys(found + registered) if d not in own]

    def _models(self, modality: str, train_dataset: str) -> list[str]:
        own = MODELS.get((modality, train_dataset), [])
        found = self._found(f"modality-{modality}", f"train_dataset-{train_dataset}", prefix="model-")
        registered = sorted(x for m, d, x in _registered_cards() if (m, d) == (modality, train_dataset))
        return own + [m for m in dict.fromkeys(found + registered) if m not in own]

    def _card(self, modality: str, train_dataset: str, model: str) -> Any:
        """The registered card NED's call names (``None``: a model of NED's own or of the folder)."""
        if model in MODELS.get((modality, train_dataset), []):
            return None
        if self._model_dir(modality, train_dataset, model).is_dir():
            return None  # the folder's own model (NED's layout) comes first
        return _registered_cards().get((modality, train_dataset, model))

    def _subjects(self, modality: str, train_dataset: str, model: str | None = None) -> list[int]:
        if (modality, train_dataset) in SUBJECTS:
            return list(SUBJECTS[(modality, train_dataset)])
        card = self._card(modality, train_dataset, model) if model is not None else None
        if card is not None:
            return list(range(1, len(card.subjects) + 1)) or [1]
        found = {
            int(m.group(1))
            for name in self._files(modality, train_dataset)
            for m in [re.search(r"sub-(\d+)", name)]
            if m
        }
        return sorted(found)

    def _rois(self, train_dataset: str, modality: str = "fmri", model: str | None = None) -> list[str]:
        if train_dataset in ROIS:
            return list(ROIS[train_dataset])
        card = self._card(modality, train_dataset, model) if model is not None else None
        if card is not None:
            return list(card.roi_key.valid_values)
        registered = [
            card
            for (m, d, _), card in _registered_cards().items()
            if (m, d) == (modality, train_dataset) and not self._model_dir(m, d, card.model).is_dir()
        ]
        if modality != "fmri" or registered:
            return sorted({roi for card in registered for roi in card.roi_key.valid_values})
        found = {
            m.group(1)
            for name in self._files("fmri", train_dataset)
            for m in [re.search(r"_roi-(.+?)(?:_split-\d+)?\.(?:npy|h5|pt)$", name)]
            if m
        }
        return sorted(found)

    # -- catalogue -----------------------------------------------------------------------------
    def which_modalities(self) -> list[str]:
        """``['fmri', 'eeg']``, then the modalities of brainbridge's registered models (``'ephys'``)."""
        return self._modalities()

    def which_train_datasets(self, modality: str) -> list[str]:
        """The datasets the models of ``modality`` were trained on."""
        self._modality(modality)
        return self._train_datasets(modality)

    def which_models(self, modality: str, train_dataset: str) -> list[str]:
        """The model types trained on ``modality`` / ``train_dataset``."""
        self._dataset(modality, train_dataset)
        return self._models(modality, train_dataset)

    def which_subjects(self, modality: str, train_dataset: str) -> list[int]:
        """The subjects with a model for ``modality`` / ``train_dataset``."""
        self._dataset(modality, train_dataset)
        if (modality, train_dataset) in SUBJECTS:
            return self._subjects(modality, train_dataset)
        # the folder's subject files and registered models' subjects, over every model of the dataset
        models = self._models(modality, train_dataset)
        return sorted({s for m in models for s in self._subjects(modality, train_dataset, m)})

    def which_subject_names(self, modality: str, train_dataset: str, model: str) -> dict[int, str]:
        """(brainbridge) NED's subject numbers of a registered model and the card's subject names."""
        self._dataset(modality, train_dataset)
        _check_type("model", model, str)
        _check_value("model", model, self._models(modality, train_dataset))
        card = self._card(modality, train_dataset, model)
        if card is None:
            return {n: _subject_tag(n) for n in self._subjects(modality, train_dataset, model)}
        return {i + 1: name for i, name in enumerate(card.subjects)}

    def which_rois(self, train_dataset: str) -> list[str]:
        """The ROIs of an fMRI training dataset."""
        _check_type("train_dataset", train_dataset, str)
        _check_value("train_dataset", train_dataset, self._train_datasets("fmri"), "For 'fmri' modality ")
        return self._rois(train_dataset)

    # -- validation (NED's order and wording) ------------------------------------------------------
    def _modality(self, modality: Any) -> None:
        _check_type("modality", modality, str)
        _check_value("modality", modality, self._modalities())

    def _dataset(self, modality: Any, train_dataset: Any) -> None:
        self._modality(modality)
        _check_type("train_dataset", train_dataset, str)
        _check_value(
            "train_dataset", train_dataset, self._train_datasets(modality), f"For '{modality}' modality "
        )

    def _model_args(self, modality: Any, train_dataset: Any, model: Any, subject: Any, roi: Any) -> None:
        self._dataset(modality, train_dataset)
        _check_type("model", model, str)
        _check_value("model", model, self._models(modality, train_dataset))
        _check_type("subject", subject, int)
        _check_value("subject", subject, self._subjects(modality, train_dataset, model))
        # NED: required for fMRI (ignored otherwise); a registered model's ROI is optional
        if modality == "fmri" or (roi is not None and self._card(modality, train_dataset, model) is not None):
            _check_type("roi", roi, str)
            _check_value("roi", roi, self._rois(train_dataset, modality, model))

    @staticmethod
    def _device(device: Any) -> str:
        _check_type("device", device, str)
        _check_value("device", device, DEVICES)
        if device == "auto":
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        return device

    # -- paths -----------------------------------------------------------------------------------
    def _model_dir(self, modality: str, train_dataset: str, model: str) -> Path:
        return (
            Path(self.ned_dir)
            / "encoding_models"
            / f"modality-{modality}"
            / f"train_dataset-{train_dataset}"
            / f"model-{model}"
        )

    @staticmethod
    def _suffix(modality: str, subject: int, roi: str | None) -> str:
        return _subject_tag(subject) + (f"_roi-{roi}" if modality == "fmri" else "")

    @staticmethod
    def _require(path: Path, what: str) -> Path:
        if not path.is_file():
            raise EncodingError(f"the NED folder has no {what}: {path} is missing")
        return path

    @staticmethod
    def _card_selection(card: Any, subject: int, roi: str | None) -> dict[str, Any]:
        """brainbridge's ``selection`` and ``subject`` for NED's ``subject`` number and ``roi``."""
        return {
            "selection": None if roi is None else {card.roi_key.name: roi},
            "subject": card.subjects[subject - 1] if card.subjects else None,
        }

    # -- metadata ----------------------------------------------------------------------------------
    def get_metadata(
        self, modality: str, train_dataset: str, model: str, subject: int, roi: str | None = None
    ) -> dict:
        """The metadata dict of one encoding model (NED's ``metadata/metadata_sub-XX[_roi-R].npy``)."""
        self._model_args(modality, train_dataset, model, subject, roi)
        card = self._card(modality, train_dataset, model)
        if card is not None:  # a registered brainbridge model: its card, fits and accuracy
            from brainbridge.encoding.models import get_metadata

            return get_metadata(card.model_id, **self._card_selection(card, subject, roi))
        path = (
            self._model_dir(modality, train_dataset, model)
            / "metadata"
            / f"metadata_{self._suffix(modality, subject, roi)}.npy"
        )
        return load_npy(self._require(path, "metadata file"))

    # -- models --------------------------------------------------------------------------------
    def get_encoding_model(
        self,
        modality: str,
        train_dataset: str,
        model: str,
        subject: int,
        roi: str | None = None,
        device: str = "auto",
        *,
        feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> dict:
        """Load one encoding model; returns a plain dict with ``'args'`` like NED.

        Parameters
        ----------
        feature_extractor
            (brainbridge only) for ``vit_b_32``: a callable mapping uint8 images ``(N, 3, H, W)`` to
            NED's flattened ViT-B/32 block outputs ``(N, 460800)``. Needed because the weights cannot
            be downloaded here; without it a :class:`MissingWeightsError` names the file.
        """
        self._model_args(modality, train_dataset, model, subject, roi)
        device = self._device(device)
        args = {
            "modality": modality,
            "train_dataset": train_dataset,
            "model": model,
            "subject": subject,
            "roi": roi,
            "device": device,
        }
        card = self._card(modality, train_dataset, model)
        if card is not None:  # a registered brainbridge model (trained on its benchmark on first use)
            from brainbridge.encoding.models import get_encoding_model

            loaded = get_encoding_model(
                card.model_id, device=device, **self._card_selection(card, subject, roi)
            )
            return {"args": args, "brainbridge_model": loaded}
        weights = self._model_dir(modality, train_dataset, model) / "encoding_models_weights"
        if model == "vit_b_32" or any(weights.glob("StandardScaler_param*.npy")):
            return {
                "args": args,
                **self._load_linear(modality, train_dataset, model, subject, roi, feature_extractor),
            }
        return {
            "args": args,
            **self._load_fwrf(self._model_dir(modality, train_dataset, model), subject, roi, device),
        }

    def _load_linear(
        self,
        modality: str,
        train_dataset: str,
        model: str,
        subject: int,
        roi: str | None,
        feature_extractor: Callable | None,
    ) -> dict:
        weights = self._model_dir(modality, train_dataset, model) / "encoding_models_weights"
        suffix = self._suffix(modality, subject, roi)

        def params(stem: str, what: str) -> dict:
            # a subject's (and ROI's) own file first (brainbridge: other training images),
            # then NED's shared one
            own = weights / f"{stem}_{suffix}.npy"
            return load_npy(own if own.is_file() else self._require(weights / f"{stem}.npy", what))

        scaler = params("StandardScaler_param", "StandardScaler parameters")
        pca = params("pca_param", "PCA parameters")
        reg = load_npy(
            self._require(weights / f"LinearRegression_param_{suffix}.npy", "regression parameters")
        )
        reps = sorted(reg, key=lambda k: int(str(k).split("-")[-1]))
        metadata = self.get_metadata(modality, train_dataset, model, subject, roi)
        if feature_extractor is None:
            feature_extractor = _brainbridge_extractor(metadata)
        if feature_extractor is None and model == "vit_b_32":
            feature_extractor = _local_vit()
        if feature_extractor is None:
            raise MissingWeightsError(VIT_WEIGHTS_HINT)
        loaded: dict[str, Any] = {
            "feature_extractor": feature_extractor,
            "scaler": scaler,
            "pca": pca,
            "regression_weights": [reg[k] for k in reps],
            "n_components": VIT_PCS
            if model == "vit_b_32" and train_dataset in TRAIN_DATASETS[modality]
            else None,
        }
        if modality != "fmri":
            loaded["ch_names"] = list(metadata[modality]["ch_names"])
            loaded["times"] = np.asarray(metadata[modality]["times"])
        return loaded

    def _load_fwrf(self, model_dir: Path, subject: int, roi: str | None, device: str) -> dict:
        """NED's fwRF entries: ``shared_model``, ``subject_fwrfs``, ``nnv`` (``_1``/``_2`` for split ROIs)."""
        from brainbridge.encoding.fwrf import (
            RESIZE_PX,
            build_part,
            check_device,
            checkpoint_names,
            load_checkpoint,
        )

        device = check_device(device)
        weights = model_dir / "encoding_models_weights"
        names = checkpoint_names(subject, str(roi))
        loaded: dict[str, Any] = {}
        for k, name in enumerate(names, start=1):
            path = self._require(weights / name, "fwRF checkpoint")
            encoder, readout = build_part(load_checkpoint(path), subject, where=str(path))
            suffix = f"_{k}" if len(names) > 1 else ""
            loaded[f"shared_model{suffix}"] = encoder.to(device)
            loaded[f"subject_fwrfs{suffix}"] = {subject: readout.to(device)}
            loaded[f"nnv{suffix}"] = {subject: readout.nv}
        loaded["resize_px"] = RESIZE_PX
        return loaded

    # -- encoding ------------------------------------------------------------------------------
    def encode(
        self,
        encoding_model: dict,
        images: np.ndarray,
        return_metadata: bool = True,
        device: str = "auto",
        *,
        progress: bool | None = None,
    ):
        """In silico responses to ``images``: fMRI ``(N, voxels)``, EEG ``(N, reps, channels, time)``.

        Parameters
        ----------
        progress
            (brainbridge only) progress of the fwRF's batches of 100 images (see
            :mod:`brainbridge.progress`).
        """
        if not isinstance(encoding_model, dict) or "args" not in encoding_model:
            raise NEDTypeError("'encoding_model' must be the dict returned by get_encoding_model!")
        images = check_ned_images(images)
        _check_type("return_metadata", return_metadata, bool)
        device = self._device(device)
        a = encoding_model["args"]
        if "brainbridge_model" in encoding_model:
            out = _encode_registered(encoding_model["brainbridge_model"], images)
            return (out, encoding_model["brainbridge_model"].metadata()) if return_metadata else out
        if "regression_weights" in encoding_model:
            features = np.asarray(encoding_model["feature_extractor"](images))
            out = linearising_predict(
                features,
                encoding_model["scaler"],
                encoding_model["pca"],
                encoding_model["regression_weights"],
                encoding_model.get("n_components", VIT_PCS),
            )
            if a["modality"] == "fmri":
                out = out[:, 0]
            else:
                out = out.reshape(
                    len(images), len(out[0]), len(encoding_model["ch_names"]), len(encoding_model["times"])
                )
        else:
            from brainbridge.encoding.fwrf import FWRFModel

            out = FWRFModel(_fwrf_parts(encoding_model), device=device).predict(images, progress=progress)
        if not return_metadata:
            return out
        return out, self.get_metadata(a["modality"], a["train_dataset"], a["model"], a["subject"], a["roi"])

    # -- pre-generated responses -----------------------------------------------------------------
    def load_insilico_neural_responses(
        self,
        modality: str,
        train_dataset: str,
        model: str,
        imageset: str,
        subject: int,
        roi: str | None = None,
        return_metadata: bool = True,
    ):
        """NED's pre-generated responses: an open, lazy ``h5py.Dataset`` (and the metadata dict)."""
        import h5py

        self._dataset(modality, train_dataset)
        _check_type("model", model, str)
        _check_value("model", model, self._models(modality, train_dataset))
        _check_type("imageset", imageset, str)
        imagesets = IMAGESETS + [
            s
            for s in self._found(
                f"modality-{modality}", f"train_dataset-{train_dataset}", f"model-{model}", prefix="imageset-"
            )
            if s not in IMAGESETS
        ]
        _check_value("imageset", imageset, imagesets)
        _check_type("subject", subject, int)
        _check_value("subject", subject, self._subjects(modality, train_dataset))
        if modality == "fmri":
            _check_type("roi", roi, str)
            _check_value("roi", roi, self._rois(train_dataset))
        _check_type("return_metadata", return_metadata, bool)
        folder = (
            Path(self.ned_dir)
            / "pregenerated_insilico_neural_responses"
            / f"modality-{modality}"
            / f"train_dataset-{train_dataset}"
            / f"model-{model}"
            / f"imageset-{imageset}"
        )
        suffix = self._suffix(modality, subject, roi)
        path = self._require(folder / f"synthetic_neural_responses_{suffix}.h5", "pre-generated responses")
        handle = h5py.File(path, "r")
        if "synthetic_neural_responses" not in handle:
            handle.close()
            raise EncodingError(f"{path} has no 'synthetic_neural_responses' dataset")
        responses = handle["synthetic_neural_responses"]
        if not return_metadata:
            return responses
        meta = folder / f"synthetic_neural_responses_metadata_{suffix}.npy"
        return responses, load_npy(self._require(meta, "pre-generated responses metadata"))


def _encode_registered(model: Any, images: np.ndarray) -> np.ndarray:
    """A registered brainbridge model's responses as NED returns them: float32 numpy."""
    from brainbridge.encoding.linearising import LinearisingModel
    from brainbridge.encoding.models import iter_encode

    if isinstance(model, LinearisingModel):  # fMRI (N, voxels), EEG (N, repetitions, channels, times)
        return model.encode(images, progress=False)
    return np.concatenate([values for _, values in iter_encode(model, images, progress=False)], axis=0)


def _brainbridge_extractor(metadata: dict) -> Callable[[np.ndarray], np.ndarray] | None:
    """For a model brainbridge wrote: its bundled feature extractor as NED's images -> features callable."""
    info = metadata.get("brainbridge") if isinstance(metadata, dict) else None
    if not isinstance(info, dict) or not info.get("extractor"):
        return None
    from brainbridge.encoding.registry import get_extractor

    extractor = get_extractor(str(info["extractor"]), device="cpu")
    layers = [str(layer) for layer in info.get("layers") or extractor.default_layers]
    fingerprint = info.get("extractor_fingerprint")
    if fingerprint and extractor.fingerprint(layers) != fingerprint:
        raise EncodingError(
            f"the model was trained on {info['extractor']} features with another fingerprint "
            "(other weights, preprocessing or brainbridge version); its features would not match"
        )

    def features(images: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [f for _, f, _ in extractor.iter_features(images, layers=layers, progress=False)]
        )

    return features


def _local_vit() -> Callable[[np.ndarray], np.ndarray] | None:
    """NED's ViT-B/32 features (12 blocks, 460,800 per image) when torchvision's weights file is local."""
    from brainbridge.encoding.local_weights import VIT_LAYERS, find_weights, vit_b_32

    path = find_weights("vit_b_32")
    if path is None:
        return None
    extractor = vit_b_32(path, device="cpu")

    def features(images: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [f for _, f, _ in extractor.iter_features(images, layers=VIT_LAYERS, progress=False)]
        )

    return features


def _fwrf_parts(encoding_model: dict) -> list[tuple[Any, Any]]:
    """``(encoder, readout)`` pairs of NED's fwRF dict, in split order."""
    subject = encoding_model["args"]["subject"]
    suffixes = ["_1", "_2"] if "shared_model_1" in encoding_model else [""]
    try:
        return [
            (encoding_model[f"shared_model{s}"], encoding_model[f"subject_fwrfs{s}"][subject])
            for s in suffixes
        ]
    except KeyError as exc:
        raise NEDTypeError(
            f"'encoding_model' must be the dict returned by get_encoding_model! (it lacks {exc})"
        ) from None

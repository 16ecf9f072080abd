"""The BERG/NED-style API: pick an encoding model by id, select ROIs and a subject, encode images.

>>> from brainbridge.encoding import list_models, get_encoding_model, encode   # doctest: +SKIP
>>> list_models()                                                              # doctest: +SKIP
['ephys-brainbridge_example-efficientnet_lite0', 'ephys-brainbridge_example-gabor_v1', ...]
>>> model = get_encoding_model("ephys-brainbridge_example-gabor_v1",
...                            selection={"region": "V1"}, subject="monkey_a")  # doctest: +SKIP
>>> responses = encode(model, "path/to/images")                                # doctest: +SKIP
>>> responses.dims, responses["stimulus_id"].values[:2]                        # doctest: +SKIP
(('presentation', 'neuroid'), array(['cat', 'dog'], dtype=object))

Differences from the references, on purpose (``shared/reference/encoding-models.md`` section 7):

* ``encode`` always returns a :class:`~brainbridge.assemblies.NeuronRecordingAssembly`
  (``presentation x neuroid``, ``stimulus_id`` on ``presentation``, the training assembly's
  neuroid coordinates on ``neuroid``); with ``return_metadata=True`` it returns
  ``(assembly, metadata)`` and a metadata failure is an error, never a silently dropped value.
* every argument error is an :class:`~brainbridge.encoding.errors.EncodingError` subclass whose
  message lists the valid values;
* fits are trained on the card's benchmark on first use and cached under a content hash
  (:mod:`brainbridge.encoding.cache`), never pickled;
* the preprocessing is the extractor's own, identical at fit and predict time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.deprecation import renamed_parameters
from brainbridge.encoding.cache import Fit, cached_features, get_or_train
from brainbridge.encoding.errors import InvalidParameterError
from brainbridge.encoding.images import image_source
from brainbridge.encoding.registry import ModelCard, get_card, get_extractor, list_cards

if TYPE_CHECKING:
    from brainbridge.encoding.features import FeatureExtractor

__all__ = [
    "EncodingModel",
    "describe",
    "encode",
    "get_encoding_model",
    "get_metadata",
    "iter_encode",
    "list_models",
    "load_encoding_model",
]


def list_models() -> list[str]:
    """Ids of every registered encoding model, sorted (``{modality}-{train_dataset}-{model}``)."""
    return [card.model_id for card in list_cards()]


def describe(model_id: str) -> dict[str, Any]:
    """The model card of ``model_id`` as a dict, plus a usage example.

    Raises
    ------
    ModelNotFoundError
        Unknown id (the message lists the registered ids).
    """
    card = get_card(model_id)
    data = card.to_dict()
    roi = card.roi_key
    subject = f", subject={card.subjects[0]!r}" if card.subjects else ""
    data["usage"] = (
        "from brainbridge.encoding import get_encoding_model, encode\n"
        f"model = get_encoding_model({card.model_id!r}, "
        f"selection={{{roi.name!r}: {roi.valid_values[0]!r}}}{subject})\n"
        "responses = encode(model, 'path/to/images')  # NeuronRecordingAssembly (presentation x neuroid)"
    )
    return data


def _catalog_checksums(card: ModelCard) -> tuple[str | None, str | None]:
    """The catalog sha1 of the card's assembly file and of its stimulus set (CSV + ZIP)."""
    from brainbridge.catalogs import lookup_assembly, lookup_stimulus_set

    row = lookup_assembly(card.assembly)
    stimulus_sha1 = None
    if row.get("stimulus_set_identifier"):
        csv_row, zip_row = lookup_stimulus_set(str(row["stimulus_set_identifier"]))
        stimulus_sha1 = f"{csv_row['sha1']}+{zip_row['sha1']}"
    return str(row["sha1"]), stimulus_sha1


@dataclass
class EncodingModel:
    """A loaded encoding model: the card, the selection, the extractor and one fit per ROI.

    Build it with :func:`get_encoding_model`; use it with :func:`encode`.

    Attributes
    ----------
    card
        The validated :class:`~brainbridge.encoding.registry.ModelCard`.
    rois
        The selected ROIs, in output order.
    subject
        The selected subject (``None``: all).
    extractor
        The feature extractor (shared by all ROIs).
    fits
        ``{roi: Fit}``.
    masks
        ``{roi: boolean mask}`` of the fit's neuroids kept by the subject selection.
    """

    card: ModelCard
    rois: list[str]
    subject: str | None
    extractor: FeatureExtractor
    fits: dict[str, Fit]
    masks: dict[str, np.ndarray]

    @property
    def model_id(self) -> str:
        return self.card.model_id

    @property
    def layers(self) -> list[str]:
        """The distinct layers the selected ROIs read, in first-use order."""
        return list(dict.fromkeys(self.card.layers[roi] for roi in self.rois))

    @property
    def n_neuroids(self) -> int:
        return int(sum(mask.sum() for mask in self.masks.values()))

    def neuroid_coords(self) -> dict[str, tuple[str, np.ndarray]]:
        """The output's ``neuroid`` coordinates (those every selected ROI's fit has)."""
        names = [
            n for n in self.fits[self.rois[0]].neuroids if all(n in self.fits[r].neuroids for r in self.rois)
        ]
        return {
            name: ("neuroid", np.concatenate([self.fits[r].neuroids[name][self.masks[r]] for r in self.rois]))
            for name in names
        }

    def metadata(self) -> dict[str, Any]:
        """Card, selection, extractor identity, per-ROI fits and accuracy (JSON-serialisable)."""
        rois = {}
        for roi in self.rois:
            fit, mask = self.fits[roi], self.masks[roi]
            r = fit.accuracy["r"][mask]
            ceiling = fit.accuracy["ceiling"][mask]
            with np.errstate(invalid="ignore", divide="ignore"):
                ceiled = (
                    float(np.nanmedian(r) ** 2 / np.nanmedian(ceiling))
                    if np.isfinite(ceiling).any()
                    else None
                )
            rois[roi] = {
                "layer": self.card.layers[roi],
                "fit_key": fit.key,
                "n_neuroids": int(mask.sum()),
                "neuroid_id": fit.neuroids["neuroid_id"][mask].tolist(),
                "accuracy": {
                    "median_r": float(np.nanmedian(r)),
                    "ceiling": float(np.nanmedian(ceiling)) if np.isfinite(ceiling).any() else None,
                    "ceiled_score": ceiled,
                    "r": r.tolist(),
                    "noise_ceiling": ceiling.tolist(),
                    "all_subjects": fit.info.get("summary", {}),
                },
                "splits": fit.info.get("splits", {}),
                "training": {k: fit.info.get(k) for k in ("inputs", "train_time_s", "created")},
            }
        return {
            "model_id": self.model_id,
            "card": self.card.to_dict(),
            "selection": {self.card.roi_key.name: list(self.rois)},
            "subject": self.subject,
            "extractor": {
                "identifier": self.extractor.identifier,
                "fingerprints": {layer: self.extractor.fingerprint([layer]) for layer in self.layers},
                "preprocessing": self.extractor.preprocessing.to_dict(),
            },
            "output_dims": list(self.card.output_dims),
            "rois": rois,
        }

    def _repr_html_(self) -> str:
        """Jupyter's display: the card, the selection and each selected ROI's accuracy."""
        from brainbridge.encoding.registry import card_html

        accuracy = {}
        for roi in self.rois:
            fit, mask = self.fits[roi], self.masks[roi]
            r, ceiling = fit.accuracy["r"][mask], fit.accuracy["ceiling"][mask]
            with np.errstate(invalid="ignore", divide="ignore"):
                finite = bool(np.isfinite(ceiling).any())
                median_r = float(np.nanmedian(r))
                median_ceiling = float(np.nanmedian(ceiling)) if finite else None
            accuracy[roi] = {
                "median_r": median_r,
                "ceiling": median_ceiling,
                "ceiled_score": median_r**2 / median_ceiling if median_ceiling else None,
            }
        return card_html(self.card, rois=list(self.rois), accuracy=accuracy)

    def __repr__(self) -> str:
        return (
            f"EncodingModel({self.model_id!r}, {self.card.roi_key.name}={self.rois}, "
            f"subject={self.subject!r}, {self.n_neuroids} neuroids)"
        )


@renamed_parameters(show_progress="progress")
def get_encoding_model(
    model_id: str,
    selection: Mapping[str, Any] | None = None,
    subject: Any = None,
    device: str = "auto",
    *,
    progress: bool | None = None,
) -> EncodingModel:
    """Load an encoding model, training its fits on the card's benchmark on first use.

    Parameters
    ----------
    model_id
        A registered id (see :func:`list_models`).
    selection
        ``{roi_key: value or [values]}``, e.g. ``{"region": "V1"}``; ``None`` selects every ROI.
    subject
        One of the card's subjects (``None``: all subjects' neuroids).
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"`` for torch extractors.
    progress
        Progress bars while training (``None``: on a terminal).

    Raises
    ------
    ModelNotFoundError, InvalidSelectionError, InvalidSubjectError, InvalidParameterError
        Unknown id, bad selection key/value, unknown subject, bad device (messages list the
        valid values).
    """
    return load_encoding_model(
        get_card(model_id), selection=selection, subject=subject, device=device, progress=progress
    )


def load_encoding_model(
    card: ModelCard,
    selection: Mapping[str, Any] | None = None,
    subject: Any = None,
    device: str = "auto",
    *,
    assembly: Any = None,
    progress: bool | None = None,
) -> EncodingModel:
    """Load the encoding model a card describes, registered or not (see :func:`get_encoding_model`).

    The one training path of card-built models: the fits are read from the content-hashed
    cache (:func:`brainbridge.encoding.cache.get_or_train`) or trained on the card's catalogued
    benchmark on first use. The Brain-Score gateway
    (:mod:`brainbridge.encoding.brainscore_gateway`) builds its cards on the fly and loads them
    here.

    Parameters
    ----------
    card
        A validated :class:`~brainbridge.encoding.registry.ModelCard`.
    selection, subject, device, progress
        As :func:`get_encoding_model`.
    assembly
        The card's benchmark assembly when the caller has already loaded it (``None``: loaded
        from the catalog by ``card.assembly`` when a fit needs it).
    """
    from brainbridge.catalogs import get_assembly

    if card.mapping == "linearising":  # NED/BERG's recipe on fMRI/EEG assemblies: its own model class
        from brainbridge.encoding.linearising import load_linearising_model

        linear = load_linearising_model(
            card, selection=selection, subject=subject, device=device, progress=progress
        )
        return linear  # type: ignore[return-value]  # a linearising card returns its own model class
    rois = card.resolve_selection(selection)
    subject_name = card.resolve_subject(subject)
    extractor = get_extractor(card.extractor, device=device)
    assembly_sha1, stimulus_sha1 = _catalog_checksums(card)
    fits: dict[str, Fit] = {}
    masks: dict[str, np.ndarray] = {}
    extracted: dict[str, Any] = {}

    def features_of(layer: str):
        # one extraction per layer, shared by the ROIs that read it; only when a fit is trained
        def provide():
            assert assembly is not None  # loaded before the first fit is trained
            if layer not in extracted:
                extracted[layer] = cached_features(
                    extractor,
                    assembly.attrs["stimulus_set"],
                    [layer],
                    stimulus_sha1=stimulus_sha1,
                    progress=progress,
                )
            return extracted[layer]

        return provide

    for roi in rois:
        layer = card.layers[roi]
        if layer not in extractor.layers:
            raise InvalidParameterError(
                f"card {card.model_id} asks layer {layer!r} of {extractor.identifier}; "
                f"valid layers: {extractor.layers}"
            )
        if assembly is None:
            assembly = get_assembly(card.assembly)
        fit = get_or_train(
            extractor,
            layer,
            assembly,
            roi_coord=card.roi_key.coord,
            roi=roi,
            time_bin=card.time_bin,
            mapping=card.mapping,
            mapping_params=card.mapping_params,
            accuracy=card.accuracy,
            assembly_sha1=assembly_sha1,
            stimulus_sha1=stimulus_sha1,
            features=features_of(layer),
            progress=progress,
        )
        mask = np.ones(fit.n_neuroids, dtype=bool)
        if subject_name is not None:
            assert card.subject_coord is not None  # a card with subjects names their coordinate
            mask = np.asarray(fit.neuroids[card.subject_coord]).astype(str) == subject_name
        fits[roi] = fit
        masks[roi] = mask
    return EncodingModel(
        card=card, rois=rois, subject=subject_name, extractor=extractor, fits=fits, masks=masks
    )


def _check_model(model: Any) -> EncodingModel:
    if not isinstance(model, EncodingModel):
        raise InvalidParameterError(
            f"model must be an EncodingModel from get_encoding_model(...), got {type(model).__name__}"
        )
    return model


@renamed_parameters(show_progress="progress")
def iter_encode(
    model: EncodingModel, stimulus: Any, *, batch_size: int | None = None, progress: bool | None = None
) -> Iterator[tuple[list[str], np.ndarray]]:
    """Stream predictions: ``(stimulus_ids, float32 (B, n_neuroids))`` batch by batch."""
    model = _check_model(model)
    source = image_source(stimulus)
    layers = model.layers
    offsets: dict[str, slice] | None = None
    for ids, features, shapes in model.extractor.iter_features(
        source, layers=layers, batch_size=batch_size, progress=progress
    ):
        if offsets is None:
            offsets, start = {}, 0
            for layer, shape in shapes:
                size = int(np.prod(shape))
                offsets[layer] = slice(start, start + size)
                start += size
        out = np.empty((len(ids), model.n_neuroids), dtype=np.float32)
        column = 0
        for roi in model.rois:
            fit, mask = model.fits[roi], model.masks[roi]
            predicted = np.asarray(fit.mapping.predict(features[:, offsets[model.card.layers[roi]]]))
            predicted = predicted.reshape(len(ids), -1)[:, mask]
            out[:, column : column + predicted.shape[1]] = predicted
            column += predicted.shape[1]
        yield ids, out


@overload
def encode(
    model: EncodingModel,
    stimulus: Any,
    return_metadata: Literal[False] = False,
    progress: bool | None = None,
    batch_size: int | None = None,
) -> NeuronRecordingAssembly: ...


@overload
def encode(
    model: EncodingModel,
    stimulus: Any,
    return_metadata: Literal[True],
    progress: bool | None = None,
    batch_size: int | None = None,
) -> tuple[NeuronRecordingAssembly, dict[str, Any]]: ...


@overload
def encode(
    model: EncodingModel,
    stimulus: Any,
    return_metadata: bool = False,
    progress: bool | None = None,
    batch_size: int | None = None,
) -> NeuronRecordingAssembly | tuple[NeuronRecordingAssembly, dict[str, Any]]: ...


@renamed_parameters(show_progress="progress")
def encode(
    model: EncodingModel,
    stimulus: Any,
    return_metadata: bool = False,
    progress: bool | None = None,
    batch_size: int | None = None,
) -> NeuronRecordingAssembly | tuple[NeuronRecordingAssembly, dict[str, Any]]:
    """In silico responses of ``model`` to ``stimulus``.

    Parameters
    ----------
    model
        From :func:`get_encoding_model`.
    stimulus
        A folder, an image path, a list of image paths, a StimulusSet, or a uint8 array
        ``(N, 3, H, W)`` (any size: the extractor's preprocessing resizes it).
    return_metadata
        Also return :func:`get_metadata`'s dict.
    progress
        Progress bar (``None``: on a terminal).
    batch_size
        Images per forward pass (default: the extractor's).

    Returns
    -------
    NeuronRecordingAssembly or (NeuronRecordingAssembly, dict)
        float32 ``presentation x neuroid``: ``stimulus_id`` on ``presentation``; the training
        assembly's neuroid coordinates (``neuroid_id``, ``region``, ``animal``...) on
        ``neuroid``; ``attrs`` hold the model id and selection. Always this type.
    """
    from brainbridge.encoding.linearising import LinearisingModel

    if isinstance(
        model, LinearisingModel
    ):  # fMRI (presentation x voxel) / EEG (x repetition x channel x time_bin)
        assembly = model.encode_assembly(stimulus, batch_size=batch_size, progress=progress)
        return (assembly, model.metadata()) if return_metadata else assembly
    model = _check_model(model)
    source = image_source(stimulus)
    values = np.empty((len(source), model.n_neuroids), dtype=np.float32)
    position = 0
    for ids, predicted in iter_encode(model, source, batch_size=batch_size, progress=progress):
        values[position : position + len(ids)] = predicted
        position += len(ids)
    coords = {"stimulus_id": ("presentation", np.asarray(source.stimulus_ids, dtype=object))}
    coords.update(model.neuroid_coords())
    attrs = {
        "model_id": model.model_id,
        "selection": json.dumps({model.card.roi_key.name: model.rois}),
        "subject": model.subject or "",
        "fit_keys": json.dumps({roi: model.fits[roi].key for roi in model.rois}),
        "description": f"in silico responses of {model.model_id}",
    }
    assembly = NeuronRecordingAssembly(values, dims=["presentation", "neuroid"], coords=coords, attrs=attrs)
    if return_metadata:
        return assembly, model.metadata()
    return assembly


@renamed_parameters(show_progress="progress")
def get_metadata(
    model: EncodingModel | str,
    selection: Mapping[str, Any] | None = None,
    subject: Any = None,
    *,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Metadata of a model: card, selection, extractor identity and accuracy per ROI.

    ``model`` is a loaded :class:`EncodingModel` or a model id (its fits are loaded from the
    cache, or trained on first use: accuracy is always present).
    """
    from brainbridge.encoding.linearising import LinearisingModel

    if isinstance(model, (EncodingModel, LinearisingModel)):
        return model.metadata()
    return get_encoding_model(
        model, selection=selection, subject=subject, device="cpu", progress=progress
    ).metadata()

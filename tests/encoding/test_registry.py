"""Model cards, the registry and the encoding error hierarchy."""

from __future__ import annotations

import json

import pytest

from brainbridge.encoding.errors import (
    EncodingError,
    InvalidParameterError,
    InvalidSelectionError,
    InvalidSubjectError,
    ModelCardError,
    ModelNotFoundError,
)
from brainbridge.encoding.models import describe, list_models
from brainbridge.encoding.registry import (
    ModelCard,
    SelectionKey,
    get_card,
    get_extractor,
    list_cards,
    register_model,
    save_user_card,
    unregister_model,
    user_cards_dir,
)
from brainbridge.errors import BrainbridgeError

BUILTIN = {
    "ephys-brainbridge_example-gabor_v1",
    "ephys-brainbridge_example-random_cnn",
    "ephys-brainbridge_example-efficientnet_lite0",
}


def _card(**changes) -> ModelCard:
    data = {
        "modality": "ephys",
        "train_dataset": "toy",
        "model": "gabor_small",
        "species": "macaque",
        "stimuli": "images",
        "description": "test card",
        "extractor": "gabor_v1",
        "layers": {"V1": "energy", "V4": "linear"},
        "assembly": "toy.assembly",
        "roi_key": SelectionKey("region", "region", ("V1", "V4")),
        "subjects": ("m1", "m2"),
        "subject_coord": "animal",
    }
    data.update(changes)
    return ModelCard(**data)


def test_builtin_cards_one_per_feature_family():
    assert set(list_models()) >= BUILTIN
    assert list_models() == sorted(list_models())
    extractors = {get_card(model_id).extractor for model_id in BUILTIN}
    assert extractors == {"gabor_v1", "random_cnn_seed0", "efficientnet_lite0"}
    for card in list_cards():
        assert card.model_id == f"{card.modality}-{card.train_dataset}-{card.model}"
        assert set(card.layers) == set(card.roi_key.valid_values)
        assert card.output_dims == ("presentation", "neuroid")


def test_card_round_trips_through_json_and_rejects_unknown_fields():
    card = _card()
    data = json.loads(json.dumps(card.to_dict()))
    assert data["model_id"] == "ephys-toy-gabor_small"
    assert ModelCard.from_dict(data) == card
    with pytest.raises(ModelCardError, match=r"unknown model card fields \['roi'\]"):
        ModelCard.from_dict({**data, "roi": "V1"})
    with pytest.raises(ModelCardError, match="does not match its fields"):
        ModelCard.from_dict({**data, "model_id": "ephys-toy-other"})
    del data["assembly"]
    with pytest.raises(ModelCardError, match=r"lacks required fields \['assembly'\]"):
        ModelCard.from_dict(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"modality": "smell"}, r"Invalid modality: 'smell'. Valid values are: \['ephys'"),
        (
            {"mapping": "lasso"},
            r"Invalid mapping: 'lasso'. Valid values are: \['ridge_per_neuroid', 'pls', 'linearising'\]",
        ),
        ({"layers": {"V1": "energy"}}, r"one layer per ROI.*missing \['V4'\]"),
        ({"model": "Gabor V1"}, "lowercase"),
        ({"subject_coord": None}, "without 'subject_coord'"),
        ({"output_dims": ("neuroid",)}, "output_dims"),
    ],
)
def test_card_validation_names_the_field(changes, message):
    with pytest.raises(ModelCardError, match=message) as info:
        _card(**changes)
    assert isinstance(info.value, ValueError) and isinstance(info.value, EncodingError)


def test_selection_and_subject_errors_list_valid_values():
    card = _card()
    assert card.resolve_selection(None) == ["V1", "V4"]
    assert card.resolve_selection({"region": "V4"}) == ["V4"]
    assert card.resolve_selection({"region": ["V4", "V1", "V4"]}) == ["V4", "V1"]
    # BERG's and NED's key for the area is taken too
    assert card.resolve_selection({"roi": ["V4", "V1"]}) == ["V4", "V1"]
    with pytest.raises(InvalidSelectionError, match="names the area twice"):
        card.resolve_selection({"roi": "V1", "region": "V4"})
    with pytest.raises(
        InvalidSelectionError, match=r"Invalid selection key: 'area'. Valid keys are: \['region', 'roi'\]"
    ):
        card.resolve_selection({"area": "V1"})
    with pytest.raises(InvalidSelectionError, match=r"Invalid region: 'V7'"):
        card.resolve_selection({"roi": "V7"})
    with pytest.raises(
        InvalidSelectionError, match=r"Invalid region: 'V7'. Valid values are: \['V1', 'V4'\]"
    ):
        card.resolve_selection({"region": "V7"})
    with pytest.raises(InvalidSelectionError, match="must be a dict"):
        card.resolve_selection("V1")
    assert card.resolve_subject("m2") == "m2"
    with pytest.raises(InvalidSubjectError, match=r"Subject must be one of \['m1', 'm2'\], got 9"):
        card.resolve_subject(9)
    # one hierarchy: every error is a BrainbridgeError and a ValueError
    for error in (InvalidSelectionError, InvalidSubjectError, ModelCardError):
        assert issubclass(error, InvalidParameterError) or issubclass(error, ModelCardError)
        assert issubclass(error, BrainbridgeError) and issubclass(error, ValueError)


def test_unknown_model_lists_ids_and_is_a_key_error():
    with pytest.raises(ModelNotFoundError) as info:
        get_card("fmri-nsd-fwrf")
    assert isinstance(info.value, KeyError) and isinstance(info.value, BrainbridgeError)
    assert "is a NED/BERG model: load it over your NED or BERG folder" in str(info.value)
    assert "Unknown model id: 'fmri-nsd-fwrf'" in str(info.value)
    assert "ephys-brainbridge_example-gabor_v1" in str(info.value)
    with pytest.raises(ModelNotFoundError, match="Valid values are"):
        describe("nope")


def test_register_and_user_cards():
    card = _card()
    register_model(card)
    try:
        assert "ephys-toy-gabor_small" in list_models()
        with pytest.raises(ModelCardError, match="already registered"):
            register_model(card)
    finally:
        unregister_model(card.model_id)
    assert "ephys-toy-gabor_small" not in list_models()
    with pytest.raises(ModelCardError, match="built-in"):
        unregister_model("ephys-brainbridge_example-gabor_v1")

    path = save_user_card(_card(model="saved"))
    assert path.parent == user_cards_dir() and path.exists()
    assert "ephys-toy-saved" in list_models()  # seen through BRAINBRIDGE_HOME, no registration
    with pytest.raises(ModelCardError, match="exists"):
        save_user_card(_card(model="saved"))
    (user_cards_dir() / "broken.json").write_text(json.dumps({"modality": "ephys"}))
    with pytest.raises(ModelCardError, match="broken.json is invalid"):
        list_models()


def test_describe_and_extractors_by_name():
    info = describe("ephys-brainbridge_example-gabor_v1")
    assert info["layers"] == {"V1": "energy", "IT": "energy"}
    assert info["roi_key"]["valid_values"] == ("V1", "IT")
    assert "get_encoding_model('ephys-brainbridge_example-gabor_v1'" in info["usage"]
    gabor = get_extractor("gabor_v1")
    assert gabor is get_extractor("ephys-brainbridge_example-gabor_v1")  # built once, by card too
    assert get_extractor("random_cnn_seed3", device="cpu").identifier == "random_cnn_seed3"
    with pytest.raises(ModelNotFoundError, match=r"Valid values are: \['gabor_v1'"):
        get_extractor("resnet50")

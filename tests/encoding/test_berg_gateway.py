"""BERG's Brain-Score gateway (``brainscore_vision-<model>``) on brainbridge's offline models.

The predictions are checked against an independent implementation written here: scikit-learn's
``PLSRegression(n_components=25, scale=False)`` in float64, fitted on the extractor's features of
the benchmark's stimuli and the region's responses averaged over repetitions (pandas), sorted by
``stimulus_id`` (Brain-Score's ``pls`` mapping, ``shared/reference/encoding-models.md`` section 4).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.cross_decomposition import PLSRegression

from brainbridge.berg import BERG
from brainbridge.encoding import brainscore_gateway as gateway
from brainbridge.encoding.errors import EncodingError, MissingWeightsError
from brainbridge.examples import ground_truth, new_images_dir

GABOR = "brainscore_vision-gabor_v1"
OFFLINE = [
    "brainscore_vision-efficientnet_lite0",
    "brainscore_vision-gabor_v1",
    "brainscore_vision-random_cnn",
]


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One home for the module: the example is built and the gabor V1 fit trained once."""
    return tmp_path_factory.mktemp("gateway-home")


@pytest.fixture
def home(shared_home, monkeypatch, tmp_path):
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(shared_home))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no weights file from the machine's cache
    return shared_home


@pytest.fixture
def berg(home, tmp_path):
    return BERG(tmp_path / "brain-encoding-response-generator")


@pytest.fixture
def v1_model(berg):
    return berg.get_encoding_model(GABOR, selection={"roi": "V1"}, device="cpu", show_progress=False)


def _independent_pls(assembly, region: str, extractor, layer: str, new_features: np.ndarray) -> np.ndarray:
    """sklearn's PLS(25, scale=False), float64, on repetition-averaged responses sorted by stimulus_id."""
    in_region = np.asarray(assembly["region"].values) == region
    values = np.asarray(assembly.values, dtype=np.float64)
    values = values.reshape(values.shape[0], values.shape[1], -1).mean(axis=2)[:, in_region]  # time bins
    responses = pd.DataFrame(values).groupby(np.asarray(assembly["stimulus_id"].values).astype(str)).mean()
    responses = responses.sort_index()
    features = extractor.extract(assembly.attrs["stimulus_set"], layers=[layer])
    order = np.argsort(np.asarray(features["stimulus_id"].values).astype(str))
    ids = np.asarray(features["stimulus_id"].values).astype(str)[order]
    assert list(ids) == list(responses.index)
    X = np.asarray(features.values, dtype=np.float64)[order]
    pls = PLSRegression(n_components=25, scale=False).fit(X, responses.values)
    return pls.predict(np.asarray(new_features, dtype=np.float64))


def _features_of_folder(extractor, folder, layer: str) -> np.ndarray:
    from brainbridge.encoding.images import image_source

    return np.concatenate(
        [f for _, f, _ in extractor.iter_features(image_source(folder), layers=[layer], progress=False)]
    )


# --------------------------------------------------------------------------------------
# listing, catalog, describe
# --------------------------------------------------------------------------------------


def test_the_listing_has_the_gateway_and_expands_to_the_offline_models(berg, home):
    ids = berg.list_models()
    assert "brainscore_vision" in ids and ids == sorted(ids)
    assert not any(i.startswith("brainscore_vision-") for i in ids)
    assert "ephys-brainbridge_example-gabor_v1" in ids
    expanded = berg.list_models(expand_brainscore_vision=True)
    assert "brainscore_vision" not in expanded and expanded == sorted(expanded)
    assert [
        i for i in expanded if i.startswith("brainscore_vision-")
    ] == OFFLINE  # no weights: no alexnet/vit
    # a local weights file adds its model (found where local_weights.find_weights looks)
    weights = home / "weights"
    weights.mkdir(exist_ok=True)
    (weights / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    try:
        assert "brainscore_vision-alexnet" in berg.list_models(expand_brainscore_vision=True)
        assert "brainscore_vision-vit_b_32" not in berg.list_models(expand_brainscore_vision=True)
    finally:
        (weights / "alexnet-owt-7be5be79.pth").unlink()
    # brainbridge has no language models: said, and nothing listed
    with pytest.warns(UserWarning, match="no Brain-Score language models"):
        both = berg.list_models(expand_brainscore_vision=True, expand_brainscore_language=True)
    assert both == expanded and not any("language" in i for i in both)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        berg.list_models()  # no warning without the language expansion
    # gateway cards stay out of brainbridge's own registry
    from brainbridge.encoding import list_models

    assert not any("brainscore_vision" in i for i in list_models())


def test_the_catalog_and_describe_accept_gateway_ids(berg, capsys):
    catalog = berg.get_model_catalog()
    assert catalog["ephys"] == ["BrainScore_Vision", "brainbridge_example"]
    for model_id in ("brainscore_vision", GABOR):
        card = berg.describe(model_id)
        assert card["model_id"] == model_id
        assert (card["modality"], card["training_dataset"], card["species"]) == (
            "ephys",
            "BrainScore",
            "Macaque",
        )
        for section in ("description", "input", "output", "parameters", "performance", "references", "usage"):
            assert card[section]
        selection = card["parameters"]["selection"]
        assert selection["required"] is True
        assert selection["properties"]["roi"]["valid_values"] == ["V1", "V2", "V4", "IT"]
        assert card["output"]["shape"] == ["batch_size", "n_units"]
        assert "expand_brainscore_vision=True" in card["usage"] and "selection={'roi': 'IT'}" in card["usage"]
        assert card["models"] == OFFLINE
    assert "training_dataset: BrainScore" in capsys.readouterr().out  # printed, like BERG
    gabor = berg.describe(GABOR)
    assert gabor["layers"] == {"V1": "energy", "V2": "energy", "V4": "energy", "IT": "energy"}
    alexnet = berg.describe("brainscore_vision-alexnet")
    assert alexnet["layers"] == {
        "V1": "features.2",
        "V2": "features.7",
        "V4": "features.7",
        "IT": "features.12",
    }
    assert (
        alexnet["weights"]["available"] is False and "alexnet-owt-7be5be79.pth" in alexnet["weights"]["hint"]
    )
    assert gateway.COMMITMENTS["random_cnn"].layers == {
        "V1": "relu2",
        "V2": "relu2",
        "V4": "relu3",
        "IT": "relu4",
    }
    assert gateway.COMMITMENTS["efficientnet_lite0"].layers == {
        "V1": "_blocks.3",
        "V2": "_blocks.6",
        "V4": "_blocks.10",
        "IT": "_blocks.15",
    }


def test_every_committed_layer_exists_in_its_extractor():
    from brainbridge.encoding.registry import get_extractor

    for name in ("gabor_v1", "random_cnn", "efficientnet_lite0"):
        commitment = gateway.COMMITMENTS[name]
        layers = get_extractor(commitment.extractor, device="cpu").layers
        assert set(commitment.layers.values()) <= set(layers), name
    from brainbridge.encoding.local_weights import VIT_LAYERS

    assert set(gateway.COMMITMENTS["vit_b_32"].layers.values()) <= set(VIT_LAYERS)
    alexnet_layers = {f"features.{i}" for i in range(13)}
    assert set(gateway.COMMITMENTS["alexnet"].layers.values()) <= alexnet_layers


# --------------------------------------------------------------------------------------
# the model: predictions, cache, stimuli, metadata
# --------------------------------------------------------------------------------------


def test_predictions_equal_sklearn_pls_on_the_repetition_averaged_benchmark(v1_model, berg):
    from brainbridge.catalogs import get_assembly
    from brainbridge.encoding.registry import get_extractor

    responses = berg.encode(v1_model, new_images_dir(), show_progress=False)
    assert isinstance(responses, np.ndarray) and responses.dtype == np.float32
    assembly = get_assembly("brainbridge.example.neural")
    n_v1 = int((np.asarray(assembly["region"].values) == "V1").sum())
    assert responses.shape == (24, n_v1)
    extractor = get_extractor("gabor_v1", device="cpu")
    expected = _independent_pls(
        assembly, "V1", extractor, "energy", _features_of_folder(extractor, new_images_dir(), "energy")
    )
    # same float32 features, same float64 NIPALS on the same averaged targets: only the summation
    # order of the averages and the float32 output differ (measured: 3e-8 of the response scale);
    # 1e-5 of the scale leaves room for that and nothing else (measured: 24 components differ by
    # 3e-2 of the scale, scale=True by 5e-2; wrong targets or order by far more)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(responses, expected, rtol=1e-5, atol=1e-5 * scale)
    # columns are the region's neuroids in the assembly's order
    in_v1 = np.asarray(assembly["region"].values) == "V1"
    metadata = berg.get_model_metadata(GABOR, selection={"roi": "V1"})
    assert metadata["benchmark"]["neuroid_id"] == list(np.asarray(assembly["neuroid_id"].values)[in_v1])


def test_the_second_load_reuses_the_cached_fit(v1_model, berg, home, monkeypatch):
    from brainbridge.encoding import cache

    entries = sorted(
        p.name for p in cache.cache_root().iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    assert v1_model.fit_key in entries

    def no_training(*args, **kwargs):
        raise AssertionError("the cached fit was trained again")

    monkeypatch.setattr(cache, "train_fit", no_training)
    again = berg.get_encoding_model(GABOR, selection={"roi": "V1"}, device="cpu", show_progress=False)
    assert again.fit_key == v1_model.fit_key
    assert (
        sorted(p.name for p in cache.cache_root().iterdir() if p.is_dir() and not p.name.startswith("."))
        == entries
    )
    images = np.ascontiguousarray(ground_truth("new_images").images.transpose(0, 3, 1, 2))[:3]
    np.testing.assert_array_equal(berg.encode(again, images), berg.encode(v1_model, images))
    # the entry is arrays and JSON keyed on content (weights, layer, data checksums, mapping), no pickle
    folder = cache.cache_root() / v1_model.fit_key
    assert sorted(p.name for p in folder.iterdir()) == [
        "accuracy.npz",
        "checksums.json",
        "fit.json",
        "mapping.npz",
        "neuroids.npz",
    ]
    assert not list(Path(home).rglob("*.pkl"))
    inputs = json.loads((folder / "fit.json").read_text())["inputs"]
    from brainbridge.catalogs import lookup_assembly

    assert inputs["assembly_sha1"] == lookup_assembly("brainbridge.example.neural")["sha1"]
    assert inputs["mapping"] == "pls" and inputs["mapping_params"] == {"n_components": 25, "scale": False}
    assert inputs["layer"] == "energy" and inputs["roi"] == "V1" and inputs["extractor_fingerprint"]


def test_folders_path_lists_and_uint8_arrays_give_the_same_responses(v1_model, berg):
    folder = new_images_dir()
    from_folder = berg.encode(v1_model, str(folder))
    paths = sorted(str(p) for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    np.testing.assert_array_equal(berg.encode(v1_model, paths), from_folder)
    images = np.stack([np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1) for p in paths])
    from_array = berg.encode(v1_model, images.astype(np.uint8))
    assert from_array.shape == from_folder.shape and from_array.dtype == np.float32
    np.testing.assert_allclose(
        from_array, from_folder, rtol=1e-5, atol=1e-5 * float(np.abs(from_folder).max())
    )
    with pytest.raises(EncodingError):
        berg.encode(v1_model, images.astype(np.float64))
    with pytest.raises(EncodingError, match=r"Unknown parameters \['subject'\] for encode"):
        berg.encode(v1_model, images, subject=1)


def test_the_metadata_says_benchmark_region_layer_fit_and_accuracy(v1_model, berg):
    responses, metadata = berg.encode(v1_model, new_images_dir(), return_metadata=True, show_progress=False)
    assert isinstance(responses, np.ndarray) and responses.shape[1] == metadata["output"]["n_units"]
    assert metadata["model_id"] == GABOR and metadata["brainscore_model"] == "gabor_v1"
    assert metadata["benchmark"]["assembly"] == "brainbridge.example.neural"
    assert metadata["region"] == metadata["benchmark"]["region"] == "V1" and metadata["layer"] == "energy"
    assert metadata["fit_key"] == v1_model.fit_key and len(metadata["fit_key"]) == 64
    assert metadata["mapping"]["name"] == "pls" and metadata["mapping"]["n_components"] == 25
    assert metadata["mapping"]["scale"] is False
    accuracy = metadata["accuracy"]
    # the Gabor energy model generated the example's V1: near its ceiling (~0.85)
    assert 0.75 < accuracy["ceiling"] < 0.95 and accuracy["median_r"] > 0.8 and accuracy["ceiled_score"] > 0.8
    assert len(accuracy["r"]) == responses.shape[1]
    assert (
        metadata["splits"]["n_splits"] == 10
        and metadata["splits"]["stratification_coord_used"] == "object_name"
    )
    assert metadata["stimulus_id"] == [f"new_{i:02d}" for i in range(1, 25)]
    json.dumps(metadata)  # JSON-serialisable
    stored = berg.get_model_metadata(GABOR, selection={"roi": "V1"})
    assert stored["fit_key"] == metadata["fit_key"] and stored["accuracy"] == accuracy


def test_the_default_benchmark_regions_are_what_describe_says(home):
    from brainbridge.catalogs import get_assembly

    regions = set(np.asarray(get_assembly(gateway.DEFAULT_BENCHMARK)["region"].values).astype(str))
    assert regions == set(gateway.DEFAULT_BENCHMARK_REGIONS)


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


def test_every_gateway_error_is_an_encoding_error_with_a_clear_message(berg):
    def load(model_id=GABOR, **kwargs):
        return lambda: berg.get_encoding_model(model_id, **kwargs)

    cases = [
        (load(), r"Parameter 'selection' is required.*\['V1', 'V2', 'V4', 'IT'\]"),
        (load(selection={}), r"needs the key 'roi'"),
        (load(selection="IT"), "selection must be a dict"),
        (load(selection={"region": "V1"}), r"Invalid selection key: 'region'. Valid keys are: \['roi'\]"),
        (load(selection={"roi": "V7"}), r"Invalid ROI: 'V7'. Valid values are: \['V1', 'V2', 'V4', 'IT'\]"),
        (load(selection={"roi": 1}), "ROI parameter must be a string"),
        (
            load(selection={"roi": "V4"}),
            r"ROI 'V4' has no benchmark: the default benchmark 'brainbridge.example.neural' .*"
            r"\['IT', 'V1'\].*benchmark=",
        ),
        (load("brainscore_vision", selection={"roi": "IT"}), "is the Brain-Score gateway, not a model"),
        (load("brainscore_vision-resnet50", selection={"roi": "IT"}), r"Unknown Brain-Score gateway model"),
        (load("brainscore_language-gpt2", selection={"roi": "IT"}), "no Brain-Score language models"),
        (load(selection={"roi": "IT"}, subject=1), r"Unknown parameters \['subject'\]"),
        (load(selection={"roi": "IT"}, device="tpu"), "Valid values are"),
        (load(selection={"roi": "IT"}, benchmark=3), "benchmark must be"),
        (load(selection={"roi": "IT"}, benchmark={"V5": "x"}), "Invalid benchmark ROI"),
        (load(selection={"roi": "IT"}, benchmark="no.such.assembly"), "is not a catalogued assembly"),
        (load(selection={"roi": "IT"}, time_bin="70-170"), r"time_bin must be a \(start, end\) pair"),
        (
            load(selection={"roi": "V1"}, time_bin=(0, 1)),
            r"Invalid time_bin of brainbridge.example.neural: \(0.0, 1.0\). "
            r"Valid values are: \[\(70.0, 170.0\)\]",
        ),
        (lambda: berg.get_model_metadata(GABOR), "Parameter 'selection' is required"),
    ]
    for call, pattern in cases:
        with pytest.raises(EncodingError, match=pattern):
            call()
    with pytest.raises(MissingWeightsError, match="alexnet-owt-7be5be79.pth"):
        berg.get_encoding_model("brainscore_vision-alexnet", selection={"roi": "IT"}, device="cpu")
    with pytest.raises(EncodingError, match="'brainscore_vision' is the Brain-Score gateway"):
        berg.get_model_metadata("brainscore_vision", selection={"roi": "IT"})


# --------------------------------------------------------------------------------------
# a user's catalogued Brain-Score assembly
# --------------------------------------------------------------------------------------


@pytest.fixture
def user_benchmark(home, tmp_path):
    """A small catalogued assembly in Brain-Score's form: region V4, 3 repetitions, a stimulus set."""
    from brainbridge import catalogs
    from brainbridge.assemblies import NeuronRecordingAssembly
    from brainbridge.catalogs import Catalog
    from brainbridge.encoding.registry import get_extractor
    from brainbridge.packaging import package_data_assembly, package_stimulus_set
    from brainbridge.stimuli import StimulusSet

    name = f"test-gateway-{tmp_path.name}"
    catalogs.register(Catalog.create(name, tmp_path / "catalog" / "lookup.csv"))
    rng = np.random.default_rng(7)
    folder = tmp_path / "images"
    folder.mkdir()
    ids = [f"im{i:02d}" for i in range(40)]
    images = rng.integers(0, 256, size=(40, 48, 48, 3), dtype=np.uint8)
    stimuli = StimulusSet({"stimulus_id": ids})
    stimuli.stimulus_paths = {}
    for sid, image in zip(ids, images):
        Image.fromarray(image).save(folder / f"{sid}.png")
        stimuli.stimulus_paths[sid] = folder / f"{sid}.png"
    package_stimulus_set(name, stimuli, "test.gateway.stimuli")
    features = (
        get_extractor("gabor_v1", device="cpu").extract(images.transpose(0, 3, 1, 2), layers="energy").values
    )
    truth = features @ rng.normal(size=(features.shape[1], 6)) / np.sqrt(features.shape[1])
    reps = 3
    values = np.concatenate([truth + 0.3 * truth.std() * rng.normal(size=truth.shape) for _ in range(reps)])
    assembly = NeuronRecordingAssembly(
        values.astype(np.float32),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids * reps),
            "repetition": ("presentation", np.repeat(np.arange(reps), len(ids))),
            "neuroid_id": ("neuroid", [f"v4_{i}" for i in range(6)]),
            "region": ("neuroid", ["V4"] * 6),
        },
    )
    package_data_assembly(name, assembly, "MajajHong2015.public", "test.gateway.stimuli")
    yield "MajajHong2015.public", images
    catalogs.unregister(name)


def test_a_catalogued_brainscore_assembly_trains_the_gateway(berg, user_benchmark, tmp_path):
    from brainbridge.catalogs import get_assembly
    from brainbridge.encoding.registry import get_extractor

    identifier, _ = user_benchmark
    model = berg.get_encoding_model(
        GABOR, selection={"roi": "V4"}, device="cpu", benchmark={"V4": identifier}, show_progress=False
    )
    new = np.random.default_rng(11).integers(0, 256, size=(5, 3, 48, 48), dtype=np.uint8)
    responses, metadata = berg.encode(model, new, return_metadata=True)
    assert responses.shape == (5, 6) and responses.dtype == np.float32
    assert metadata["benchmark"]["assembly"] == identifier and metadata["region"] == "V4"
    assert metadata["splits"]["stratification_coord_used"] is None  # no object_name: shuffle splits
    extractor = get_extractor("gabor_v1", device="cpu")
    new_features = extractor.extract(new, layers="energy").values
    expected = _independent_pls(get_assembly(identifier), "V4", extractor, "energy", new_features)
    np.testing.assert_allclose(responses, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))
    # the same model and region on another benchmark is another fit (the key is the content)
    assert model.fit_key != berg.get_model_metadata(GABOR, selection={"roi": "V1"})["fit_key"]
    with pytest.raises(EncodingError, match=r"records no neuroid in region 'IT'; its regions: \['V4'\]"):
        berg.get_encoding_model(GABOR, selection={"roi": "IT"}, benchmark=identifier)
    with pytest.raises(EncodingError, match="has no time bins"):
        berg.get_encoding_model(GABOR, selection={"roi": "V4"}, benchmark=identifier, time_bin=(70, 170))

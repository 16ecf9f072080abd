"""get_encoding_model / encode on the bundled example benchmark, and the registry CLI."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.cli import main
from brainbridge.encoding.errors import (
    InvalidParameterError,
    InvalidSelectionError,
    InvalidSubjectError,
    ModelNotFoundError,
    StimulusError,
)
from brainbridge.encoding.models import encode, get_encoding_model, get_metadata
from brainbridge.examples import ground_truth, new_images_dir

GABOR = "ephys-brainbridge_example-gabor_v1"
RANDOM = "ephys-brainbridge_example-random_cnn"


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One home for the module: the example data is built and each fit trained once."""
    return tmp_path_factory.mktemp("encode-home")


@pytest.fixture
def home(shared_home, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(shared_home))
    return shared_home


@pytest.fixture
def v1_model(home):
    # both ROIs trained in one go on first use (one feature extraction), then read from the cache
    get_encoding_model(GABOR, progress=False)
    return get_encoding_model(GABOR, selection={"region": "V1"}, subject="monkey_a", progress=False)


def _pearson_columns(a, b):
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))


def test_encode_a_folder_of_new_images(v1_model):
    responses = encode(v1_model, new_images_dir(), progress=False)
    assert type(responses) is NeuronRecordingAssembly
    assert responses.dims == ("presentation", "neuroid")
    assert list(responses["stimulus_id"].values) == [f"new_{i:02d}" for i in range(1, 25)]
    assert set(responses["region"].values) == {"V1"} and set(responses["animal"].values) == {"monkey_a"}
    assert responses.sizes["neuroid"] == 20
    # unseen images: the predictions follow the noiseless ground truth of the example model
    truth = ground_truth("new_images").responses
    ids = list(responses["neuroid_id"].values)
    expected = truth.isel(neuroid=[list(truth["neuroid_id"].values).index(i) for i in ids]).values
    assert np.median(_pearson_columns(responses.values.astype(float), expected)) > 0.9


def test_array_and_files_give_the_same_responses(v1_model):
    from_files = encode(v1_model, new_images_dir(), progress=False)
    images = np.ascontiguousarray(ground_truth("new_images").images.transpose(0, 3, 1, 2))
    from_array = encode(v1_model, images, progress=False, batch_size=7)
    assert from_array["stimulus_id"].values[0] == "img_00000"
    np.testing.assert_allclose(from_array.values, from_files.values, rtol=1e-5, atol=1e-4)


def test_metadata_right_family_near_ceiling_wrong_region_far_below(v1_model):
    responses, metadata = encode(v1_model, new_images_dir(), return_metadata=True, progress=False)
    assert isinstance(responses, NeuronRecordingAssembly)
    v1 = metadata["rois"]["V1"]
    assert v1["layer"] == "energy" and v1["n_neuroids"] == 20
    assert v1["accuracy"]["ceiled_score"] > 0.85  # Gabor energy is how V1 was generated
    assert 0.75 < v1["accuracy"]["ceiling"] < 0.95  # the example's reliability is ~0.85
    assert len(v1["accuracy"]["r"]) == 20
    assert v1["splits"]["n_splits"] == 10 and v1["splits"]["stratification_coord_used"] == "object_name"
    assert metadata["extractor"]["preprocessing"]["size"] == 64
    it = get_metadata(GABOR, selection={"region": "IT"})["rois"]["IT"]
    assert it["accuracy"]["ceiled_score"] < 0.5 * v1["accuracy"]["ceiled_score"]


@pytest.mark.slow
def test_random_cnn_is_clearly_worse_on_v1(home, v1_model):
    random_v1 = get_metadata(RANDOM, selection={"region": "V1"}, subject="monkey_a")["rois"]["V1"]
    gabor_v1 = v1_model.metadata()["rois"]["V1"]
    assert random_v1["accuracy"]["ceiled_score"] < gabor_v1["accuracy"]["ceiled_score"] - 0.1


def test_argument_errors_list_valid_values(home, v1_model):
    with pytest.raises(ModelNotFoundError, match="Valid values are"):
        get_encoding_model("fmri-nsd-fwrf")
    with pytest.raises(InvalidSelectionError, match=r"Valid keys are: \['region', 'roi'\]"):
        get_encoding_model(GABOR, selection={"area": "V1"})
    # BERG's key: the same model as selection={"region": "V1"}
    by_roi = get_encoding_model(GABOR, selection={"roi": "V1"}, subject="monkey_a", progress=False)
    assert by_roi.rois == v1_model.rois and by_roi.fits["V1"].key == v1_model.fits["V1"].key
    with pytest.raises(
        InvalidSelectionError, match=r"Invalid region: 'V4'. Valid values are: \['V1', 'IT'\]"
    ):
        get_encoding_model(GABOR, selection={"region": "V4"})
    with pytest.raises(InvalidSubjectError, match=r"\['monkey_a', 'monkey_b'\]"):
        get_encoding_model(GABOR, subject="monkey_z")
    with pytest.raises(InvalidParameterError, match="Invalid device"):
        get_encoding_model(RANDOM, device="tpu")
    with pytest.raises(StimulusError, match="uint8"):
        encode(v1_model, np.zeros((2, 3, 64, 64), np.float32))
    with pytest.raises(InvalidParameterError, match="get_encoding_model"):
        encode("ephys-brainbridge_example-gabor_v1", new_images_dir())


def test_cli_list_describe_encode(home, v1_model, tmp_path):
    runner = CliRunner()
    listed = runner.invoke(main, ["encoding", "list"])
    assert listed.exit_code == 0, listed.output
    assert GABOR in listed.output and RANDOM in listed.output
    described = runner.invoke(main, ["encoding", "describe", GABOR])
    assert described.exit_code == 0 and '"extractor": "gabor_v1"' in described.output
    missing = runner.invoke(main, ["encoding", "describe", "nope"])
    assert missing.exit_code != 0 and "Unknown model id" in missing.output
    out = tmp_path / "responses.nc"
    result = runner.invoke(
        main,
        [
            "encoding",
            "encode",
            GABOR,
            str(new_images_dir()),
            "--out",
            str(out),
            "--region",
            "V1",
            "--subject",
            "monkey_a",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "20 neuroids" in result.output
    written = NeuronRecordingAssembly.from_files(out)
    np.testing.assert_allclose(written.values, encode(v1_model, new_images_dir(), progress=False).values)


def test_cli_train_on_a_catalogued_assembly(home, v1_model):
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "encoding",
            "train",
            "--assembly",
            "brainbridge.example.neural",
            "--extractor",
            "gabor_v1",
            "--layer",
            "energy",
            "--subject-coord",
            "animal",
            "--model",
            "gabor_energy",
            "--overwrite",
        ],
    )
    assert result.exit_code == 0, result.output
    model_id = "ephys-brainbridge.example.neural-gabor_energy"
    assert model_id in result.output and "V1" in result.output and "IT" in result.output
    listed = runner.invoke(main, ["encoding", "list"])
    assert model_id in listed.output
    model = get_encoding_model(model_id, selection={"region": "V1"}, subject="monkey_b")
    assert model.card.layers == {"V1": "energy", "IT": "energy"}
    # same extractor, layer, data, ROI and mapping as the built-in Gabor model: the same cached fit
    assert model.fits["V1"].key == v1_model.fits["V1"].key
    bad = runner.invoke(
        main, ["encoding", "train", "--assembly", "brainbridge.example.neural", "--layer", "nope"]
    )
    assert bad.exit_code != 0 and "Valid values are" in bad.output

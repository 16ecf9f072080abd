"""In silico responses: incremental, resumable generation and lazy loading with metadata."""

from __future__ import annotations

import numpy as np
import pytest

from brainbridge.encoding import insilico
from brainbridge.encoding.errors import EncodingError
from brainbridge.encoding.insilico import (
    InsilicoIncompleteError,
    generate_insilico_responses,
    load_insilico_neural_responses,
    open_insilico_responses,
)
from brainbridge.encoding.models import encode, get_encoding_model
from brainbridge.examples import ground_truth

GABOR = "ephys-brainbridge_example-gabor_v1"


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("insilico-home")


@pytest.fixture
def model(shared_home, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(shared_home))
    return get_encoding_model(GABOR, selection={"region": "V1"}, progress=False)


@pytest.fixture(scope="module")
def images():
    return np.ascontiguousarray(ground_truth("new_images").images.transpose(0, 3, 1, 2))  # 24 images


class Interrupting:
    """An image array that fails after ``limit`` batch reads (a crash mid-generation)."""

    def __init__(self, array, limit=None):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        self.limit, self.reads = limit, []

    def __getitem__(self, key):
        if self.limit is not None and len(self.reads) >= self.limit:
            raise KeyboardInterrupt("simulated interruption")
        self.reads.append((key.start, key.stop))
        return self.array[key]


def test_generation_resumes_after_an_interruption(model, images, tmp_path):
    path = tmp_path / "responses.nc"
    crashing = Interrupting(images, limit=2)
    with pytest.raises(KeyboardInterrupt):
        generate_insilico_responses(model, crashing, path, batch_size=5, progress=False)
    with pytest.raises(InsilicoIncompleteError, match="10 of 24"):
        open_insilico_responses(path)
    resumed = Interrupting(images)
    generate_insilico_responses(model, resumed, path, batch_size=5, progress=False)
    assert resumed.reads == [(10, 15), (15, 20), (20, 24)]  # only images 10..23 were read again
    assembly, metadata = open_insilico_responses(path)
    expected = encode(model, images, progress=False)
    np.testing.assert_allclose(assembly.values, expected.values, rtol=1e-6)
    assert list(assembly["stimulus_id"].values) == list(expected["stimulus_id"].values)
    assert list(assembly["neuroid_id"].values) == list(expected["neuroid_id"].values)
    # a finished file is left alone
    again = Interrupting(images)
    generate_insilico_responses(model, again, path, batch_size=5, progress=False)
    assert again.reads == []


def test_loading_is_lazy_and_carries_the_metadata(model, images, tmp_path):
    path = generate_insilico_responses(model, images, tmp_path / "r.nc", progress=False)
    assembly, metadata = open_insilico_responses(path)
    assert not isinstance(assembly.variable._data, np.ndarray)  # values not read yet
    assert assembly.sizes == {"presentation": 24, "neuroid": 40}
    assert set(assembly["region"].values) == {"V1"}
    accuracy = metadata["rois"]["V1"]["accuracy"]
    assert accuracy["ceiled_score"] > 0.85 and 0.75 < accuracy["ceiling"] < 0.95
    assert metadata["rois"]["V1"]["splits"]["n_splits"] == 10
    assert metadata["model_id"] == GABOR
    assert float(assembly.isel(presentation=3).mean()) == pytest.approx(
        float(encode(model, images[3:4], progress=False).mean()), rel=1e-5
    )


def test_a_file_for_other_stimuli_is_not_silently_reused(model, images, tmp_path):
    path = generate_insilico_responses(model, images[:6], tmp_path / "r.nc", progress=False)
    with pytest.raises(EncodingError, match="overwrite=True"):
        generate_insilico_responses(model, images[:8], path, progress=False)
    generate_insilico_responses(model, images[:8], path, progress=False, overwrite=True)
    assert open_insilico_responses(path, return_metadata=False).sizes["presentation"] == 8


@pytest.mark.slow
def test_ned_style_loading_of_a_catalogued_stimulus_set(model, monkeypatch):
    assembly, metadata = load_insilico_neural_responses(
        GABOR, "brainbridge.example.stimuli", selection={"region": "V1"}, progress=False
    )
    assert assembly.sizes == {"presentation": 400, "neuroid": 40}
    assert assembly.attrs["stimulus_set_identifier"] == "brainbridge.example.stimuli"
    assert metadata["rois"]["V1"]["accuracy"]["median_r"] > 0.8
    # the second call opens the cached file without computing anything
    monkeypatch.setattr(insilico, "_create", lambda *a, **k: pytest.fail("regenerated"))
    monkeypatch.setattr("brainbridge.encoding.models.iter_encode", lambda *a, **k: pytest.fail("re-encoded"))
    again = load_insilico_neural_responses(
        GABOR,
        "brainbridge.example.stimuli",
        selection={"region": "V1"},
        return_metadata=False,
        progress=False,
    )
    np.testing.assert_array_equal(again.values, assembly.values)
    with pytest.raises(InsilicoIncompleteError, match="generate=True"):
        load_insilico_neural_responses(
            GABOR, "brainbridge.example.stimuli", selection={"region": "IT"}, generate=False, progress=False
        )

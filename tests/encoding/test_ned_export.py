"""brainbridge-trained models and pre-generated responses written in NED's layout, read back by NED."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from brainbridge.assemblies import EEGAssembly, VoxelAssembly
from brainbridge.encoding.linearising import LinearisingModel, LinearisingRecipe, get_or_train_linearising
from brainbridge.encoding.ned_export import export_ned_model, open_ned_responses, pregenerate_ned
from brainbridge.encoding.registry import get_extractor
from brainbridge.ned import NED

N_TRAIN, N_TEST = 30, 12


def images(seed, n):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3, 24, 24), dtype=np.uint8)


@pytest.fixture(scope="module")
def gabor():
    return get_extractor("gabor_v1")


def eeg_model(gabor, root, n_train=N_TRAIN):
    train = images(0, n_train)
    features = gabor.extract(train, layers="energy", progress=False)
    rng = np.random.default_rng(1)
    signal = np.einsum("nf,fct->nct", features.values[:, :40], rng.normal(size=(40, 3, 6)))
    reps = 4
    trials = signal[None] + rng.normal(size=(reps, n_train, 3, 6))
    eeg = EEGAssembly.from_arrays(
        trials.reshape(reps * n_train, 3, 6),
        stimulus_id=list(features["stimulus_id"].values) * reps,
        channel_name=["O1", "Oz", "O2"],
        time=np.arange(6) * 0.02 - 0.02,
        subject="sub-01",
    )
    fit = get_or_train_linearising(
        eeg,
        extractor=gabor,
        layers="energy",
        features=features,
        recipe=LinearisingRecipe(n_components=8),
        root=root,
    )
    return LinearisingModel(
        card=None, rois=["all"], subject="sub-01", extractor=gabor, layers=["energy"], fits={"all": fit}
    )


def fmri_model(gabor, root):
    train = images(2, N_TRAIN)
    features = gabor.extract(train, layers="energy", progress=False)
    rng = np.random.default_rng(3)
    signal = features.values[:, :40] @ rng.normal(size=(40, 5))
    trials = np.concatenate([signal + rng.normal(size=signal.shape) for _ in range(2)])
    voxels = VoxelAssembly.from_arrays(
        trials,
        stimulus_id=list(features["stimulus_id"].values) * 2,
        subject="subj02",
        rois={"V1": [1, 1, 1, 0, 0], "FFA": [0, 0, 1, 1, 1]},
        ncsnr=np.linspace(0.1, 0.9, 5),
    )
    fits = {
        roi: get_or_train_linearising(
            voxels,
            extractor=gabor,
            layers="energy",
            features=features,
            roi=roi,
            subject="subj02",
            recipe=LinearisingRecipe(n_components=8),
            root=root,
        )
        for roi in ("V1", "FFA")
    }
    return LinearisingModel(
        card=None, rois=["V1", "FFA"], subject="subj02", extractor=gabor, layers=["energy"], fits=fits
    )


def test_eeg_model_round_trips_through_ned(gabor, tmp_path):
    model = eeg_model(gabor, tmp_path / "fits")
    ned_dir = tmp_path / "ned"
    export_ned_model(model, ned_dir, train_dataset="bb_things", model_name="gabor_lin")
    weights = (
        ned_dir
        / "encoding_models/modality-eeg/train_dataset-bb_things/model-gabor_lin/encoding_models_weights"
    )
    assert sorted(p.name for p in weights.iterdir()) == [
        "LinearRegression_param_sub-01.npy",
        "StandardScaler_param.npy",
        "pca_param.npy",
    ]
    ned = NED(str(ned_dir))
    assert ned.which_train_datasets("eeg") == ["things_eeg_2", "bb_things"]
    assert ned.which_models("eeg", "bb_things") == ["gabor_lin"]
    assert ned.which_subjects("eeg", "bb_things") == [1]
    loaded = ned.get_encoding_model("eeg", "bb_things", "gabor_lin", 1, device="cpu")
    test = images(9, N_TEST)
    out, metadata = ned.encode(loaded, test, device="cpu")
    assert out.shape == (N_TEST, 4, 3, 6) and out.dtype == np.float32
    np.testing.assert_allclose(out, model.encode(test), rtol=1e-4, atol=1e-5)
    assert metadata["eeg"]["ch_names"] == ["O1", "Oz", "O2"]
    with pytest.raises(ValueError, match="'subject' value must be one of the following: \\[1\\]"):
        ned.get_encoding_model("eeg", "bb_things", "gabor_lin", 2)
    # a second subject with other training images gets its own scaler and PCA
    other = eeg_model(gabor, tmp_path / "fits", n_train=N_TRAIN - 4)
    export_ned_model(other, ned_dir, train_dataset="bb_things", model_name="gabor_lin", subject=2)
    assert (weights / "StandardScaler_param_sub-02.npy").is_file()
    out2 = ned.encode(ned.get_encoding_model("eeg", "bb_things", "gabor_lin", 2), test, return_metadata=False)
    np.testing.assert_allclose(out2, other.encode(test), rtol=1e-4, atol=1e-5)


def test_fmri_model_per_roi_round_trips_through_ned(gabor, tmp_path):
    model = fmri_model(gabor, tmp_path / "fits")
    ned_dir = tmp_path / "ned"
    export_ned_model(model, ned_dir, train_dataset="bb_nsd", model_name="gabor_lin")
    ned = NED(str(ned_dir))
    assert ned.which_rois("bb_nsd") == ["FFA", "V1"] and ned.which_subjects("fmri", "bb_nsd") == [2]
    test = images(9, N_TEST)
    expected = model.encode(test)
    ffa = ned.encode(
        ned.get_encoding_model("fmri", "bb_nsd", "gabor_lin", 2, roi="FFA"), test, return_metadata=False
    )
    assert ffa.shape == (N_TEST, 3)
    np.testing.assert_allclose(ffa, expected[:, 3:], rtol=1e-4, atol=1e-5)
    meta = ned.get_metadata("fmri", "bb_nsd", "gabor_lin", 2, roi="V1")
    np.testing.assert_allclose(meta["fmri"]["ncsnr"], [0.1, 0.3, 0.5])


def test_pregenerated_responses_load_lazily_through_ned_and_as_an_assembly(gabor, tmp_path):
    model = eeg_model(gabor, tmp_path / "fits")
    test = images(5, N_TEST)
    path = pregenerate_ned(
        model,
        test,
        tmp_path / "ned",
        train_dataset="bb_things",
        model_name="gabor_lin",
        imageset="bb_images",
        batch_size=5,
    )
    assert path.name == "synthetic_neural_responses_sub-01.h5"
    assert not path.with_name(path.name + ".partial").exists()
    responses, metadata = NED(str(tmp_path / "ned")).load_insilico_neural_responses(
        "eeg", "bb_things", "gabor_lin", "bb_images", 1
    )
    assert isinstance(responses, h5py.Dataset) and responses.shape == (N_TEST, 4, 3, 6)
    np.testing.assert_allclose(responses[2:4], model.encode(test)[2:4], rtol=1e-4, atol=1e-6)
    assert metadata["eeg"]["ch_names"] == ["O1", "Oz", "O2"]
    responses.file.close()
    assembly = open_ned_responses(path)
    assert assembly.dims == ("presentation", "repetition", "channel", "time_bin")
    assert type(assembly.variable._data).__module__.startswith("dask")  # lazy: nothing read yet
    assert assembly["channel_name"].values.tolist() == ["O1", "Oz", "O2"]
    assert assembly["stimulus_id"].values[0] == metadata["brainbridge"]["stimulus_id"][0]
    np.testing.assert_allclose(assembly.values, model.encode(test), rtol=1e-4, atol=1e-6)
    # finished: a rerun leaves it alone
    before = path.read_bytes()
    pregenerate_ned(
        model,
        test,
        tmp_path / "ned",
        train_dataset="bb_things",
        model_name="gabor_lin",
        imageset="bb_images",
        batch_size=5,
    )
    assert path.read_bytes() == before


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_ned_export import eeg_model, images
    from brainbridge.encoding.ned_export import pregenerate_ned
    from brainbridge.encoding.registry import get_extractor

    model = eeg_model(get_extractor("gabor_v1"), {fits!r})
    calls = []
    predict = model.predict_features

    def dying(features):
        calls.append(1)
        if len(calls) == 4:  # three batches written and recorded: killed while computing the fourth
            os.kill(os.getpid(), signal.SIGKILL)
        return predict(features)

    model.predict_features = dying
    pregenerate_ned(model, images(5, {n}), {ned!r}, train_dataset="bb_things", model_name="gabor_lin",
                    imageset="bb_images", batch_size=2)
""")


def test_a_killed_pregeneration_resumes_to_the_same_bytes(gabor, tmp_path):
    n = 11
    fits = str(tmp_path / "fits")
    model = eeg_model(gabor, fits)
    whole = pregenerate_ned(
        model,
        images(5, n),
        tmp_path / "whole",
        train_dataset="bb_things",
        model_name="gabor_lin",
        imageset="bb_images",
        batch_size=2,
    )
    script = KILLED_RUN.format(tests=os.path.dirname(__file__), fits=fits, n=n, ned=str(tmp_path / "resumed"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == -9, result.stderr[-2000:]
    final = tmp_path / "resumed" / whole.relative_to(tmp_path / "whole")
    partial = final.with_name(final.name + ".partial")
    assert not final.exists() and partial.exists()
    with h5py.File(partial, "r") as f:
        assert int(f["synthetic_neural_responses"].attrs["brainbridge_n_done"]) == 6
    resumed = pregenerate_ned(
        model,
        images(5, n),
        tmp_path / "resumed",
        train_dataset="bb_things",
        model_name="gabor_lin",
        imageset="bb_images",
        batch_size=2,
    )
    assert resumed == final and not partial.exists()
    assert resumed.read_bytes() == whole.read_bytes()
    np.testing.assert_allclose(
        open_ned_responses(resumed).values, model.encode(images(5, n)), rtol=1e-4, atol=1e-6
    )

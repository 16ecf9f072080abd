"""``brainbridge.ned.NED`` on a small NED folder written in NED's documented layout."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler
from tests.support.fwrf_checkpoints import reference_predict, save_ned_checkpoint
from tests.support.sklearn_params import attrs

from brainbridge.errors import BrainbridgeError
from brainbridge.ned import NED, MissingWeightsError, NEDTypeError

CH, T, REPS, F = ["Fp1", "Cz", "Oz"], np.linspace(-0.1, 0.6, 4), 2, 12
rng = np.random.default_rng(0)
W_FEAT = rng.normal(size=(3 * 32 * 32, F))


def fake_features(images: np.ndarray) -> np.ndarray:
    """A stand-in for NED's ViT-B/32 features: a fixed projection of the downsampled pixels."""
    small = images[:, :, ::2, ::2].astype(np.float64) / 255.0
    return small.reshape(len(images), -1) @ W_FEAT


@pytest.fixture(scope="module")
def ned_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("neural_encoding_dataset")
    # --- EEG vit_b_32: fit NED's recipe with scikit-learn and save its attributes as NED does
    images = rng.integers(0, 256, size=(40, 3, 64, 64), dtype=np.uint8)
    feats = fake_features(images)
    scaler = StandardScaler().fit(feats)
    pca = PCA(n_components=8, random_state=20200220).fit(scaler.transform(feats))
    pcs = pca.transform(scaler.transform(feats)).astype(np.float32)
    regs = [LinearRegression().fit(pcs, rng.normal(size=(40, len(CH) * T.size))) for _ in range(REPS)]
    eeg = root / "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"
    (eeg / "encoding_models_weights").mkdir(parents=True)
    (eeg / "metadata").mkdir()
    np.save(
        eeg / "encoding_models_weights/StandardScaler_param.npy",
        attrs(scaler, ["scale_", "mean_", "var_", "n_features_in_", "n_samples_seen_"]),
    )
    np.save(
        eeg / "encoding_models_weights/pca_param.npy",
        attrs(
            pca,
            [
                "components_",
                "explained_variance_",
                "explained_variance_ratio_",
                "singular_values_",
                "mean_",
                "n_components_",
                "n_samples_",
                "noise_variance_",
                "n_features_in_",
            ],
        ),
    )
    np.save(
        eeg / "encoding_models_weights/LinearRegression_param_sub-01.npy",
        {f"rep-{r + 1}": attrs(reg, ["coef_", "intercept_", "n_features_in_"]) for r, reg in enumerate(regs)},
    )
    eeg_meta = {
        "eeg": {"ch_names": CH, "times": T},
        "encoding_models": {"correlation_single_repetitions": np.zeros((REPS, len(CH), T.size))},
    }
    np.save(eeg / "metadata/metadata_sub-01.npy", eeg_meta)
    # --- fMRI fwrf: a checkpoint as NED's training script saves it (Namespace, numpy inside)
    fw = root / "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"
    (fw / "encoding_models_weights").mkdir(parents=True)
    (fw / "metadata").mkdir()
    fwrf_best = save_ned_checkpoint(
        fw / "encoding_models_weights/weights_sub-01_roi-V1.pt", 1, "V1", 5, seed=7
    )
    fmri_meta = {"fmri": {"ncsnr": np.linspace(0.1, 1, 5)}, "encoding_models": {"r2": np.ones(5)}}
    np.save(fw / "metadata/metadata_sub-01_roi-V1.npy", fmri_meta)
    # --- pre-generated responses
    pre = root / "pregenerated_insilico_neural_responses"
    f_dir = pre / "modality-fmri/train_dataset-nsd/model-fwrf/imageset-things"
    e_dir = pre / "modality-eeg/train_dataset-things_eeg_2/model-vit_b_32/imageset-nsd"
    for d, suffix, shape in ((f_dir, "sub-01_roi-V1", (7, 5)), (e_dir, "sub-01", (7, REPS, len(CH), T.size))):
        d.mkdir(parents=True)
        with h5py.File(d / f"synthetic_neural_responses_{suffix}.h5", "w") as h:
            h["synthetic_neural_responses"] = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        np.save(d / f"synthetic_neural_responses_metadata_{suffix}.npy", {"imageset": d.name, "n": shape[0]})
    return root, (scaler, pca, regs), fwrf_best


def test_the_catalogue_calls_match_ned(ned_dir):
    ned = NED(ned_dir[0])
    # NED's own two, then brainbridge's registered models' modality
    assert ned.which_modalities() == ["fmri", "eeg", "ephys"]
    assert ned.which_train_datasets(modality="eeg") == ["things_eeg_2"]
    assert ned.which_models(modality="fmri", train_dataset="nsd") == ["fwrf"]
    assert ned.which_subjects(modality="eeg", train_dataset="things_eeg_2") == list(range(1, 11))
    assert ned.which_subjects("fmri", "nsd") == list(range(1, 9))
    rois = ned.which_rois(train_dataset="nsd")
    assert len(rois) == 23 and rois[0] == "V1" and rois[-1] == "ventral"


def test_validation_raises_ned_types_and_lists_valid_values(ned_dir):
    ned = NED(ned_dir[0])
    with pytest.raises(TypeError, match="'modality' must be of type str!") as info:
        ned.which_train_datasets(1)
    assert isinstance(info.value, NEDTypeError) and isinstance(info.value, BrainbridgeError)
    with pytest.raises(
        ValueError, match=r"'modality' value must be one of the following: \['fmri', 'eeg', 'ephys'\]!"
    ):
        ned.which_models("meg", "nsd")
    with pytest.raises(ValueError, match=r"For 'eeg' modality 'train_dataset' .*\['things_eeg_2'\]"):
        ned.which_subjects("eeg", "nsd")
    with pytest.raises(TypeError, match="'subject' must be of type int!"):
        ned.get_metadata("eeg", "things_eeg_2", "vit_b_32", subject="1")
    with pytest.raises(ValueError, match=r"'subject' value must be one of the following: \[1, 2"):
        ned.get_metadata("fmri", "nsd", "fwrf", subject=9, roi="V1")
    with pytest.raises(TypeError, match="'roi' must be of type str!"):
        ned.get_metadata("fmri", "nsd", "fwrf", subject=1)
    with pytest.raises(ValueError, match=r"'roi' value must be one of the following: \['V1'"):
        ned.get_metadata("fmri", "nsd", "fwrf", subject=1, roi="V7")
    with pytest.raises(ValueError, match=r"'device' value .*\['cpu', 'cuda', 'auto'\]"):
        ned.get_encoding_model("fmri", "nsd", "fwrf", 1, "V1", device="tpu")
    with pytest.raises(ValueError, match=r"'imageset' value .*\['nsd', 'imagenet_val', 'things'\]"):
        ned.load_insilico_neural_responses("fmri", "nsd", "fwrf", "coco", 1, "V1")
    with pytest.raises(TypeError, match="'return_metadata' must be of type bool!"):
        ned.load_insilico_neural_responses("fmri", "nsd", "fwrf", "things", 1, "V1", return_metadata=1)


def test_get_metadata_reads_ned_pickled_dicts(ned_dir):
    ned = NED(ned_dir[0])
    meta = ned.get_metadata(modality="eeg", train_dataset="things_eeg_2", model="vit_b_32", subject=1)
    assert meta["eeg"]["ch_names"] == CH
    np.testing.assert_array_equal(meta["eeg"]["times"], T)
    fmeta = ned.get_metadata("fmri", "nsd", "fwrf", 1, roi="V1")
    np.testing.assert_allclose(fmeta["fmri"]["ncsnr"], np.linspace(0.1, 1, 5))
    with pytest.raises(BrainbridgeError, match="metadata_sub-02.npy is missing"):
        ned.get_metadata("eeg", "things_eeg_2", "vit_b_32", 2)


def test_eeg_encode_matches_sklearn_and_has_ned_shape(ned_dir):
    root, (scaler, pca, regs), _ = ned_dir
    ned = NED(ned_dir=root)
    model = ned.get_encoding_model(
        modality="eeg",
        train_dataset="things_eeg_2",
        model="vit_b_32",
        subject=1,
        roi=None,
        device="cpu",
        feature_extractor=fake_features,
    )
    assert model["args"]["subject"] == 1 and model["ch_names"] == CH
    images = rng.integers(0, 256, size=(5, 3, 64, 64), dtype=np.uint8)
    out, meta = ned.encode(encoding_model=model, images=images, return_metadata=True, device="auto")
    assert out.shape == (5, REPS, len(CH), T.size) and out.dtype == np.float32
    assert meta["eeg"]["ch_names"] == CH
    # NED's own computation with scikit-learn objects
    pcs = pca.transform(scaler.transform(fake_features(images)))[:, :250].astype(np.float32)
    expected = np.stack([r.predict(pcs).reshape(5, len(CH), T.size) for r in regs], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    only = ned.encode(model, images, return_metadata=False)
    assert isinstance(only, np.ndarray)


def test_encode_rejects_float_and_non_square_images(ned_dir):
    ned = NED(ned_dir[0])
    model = ned.get_encoding_model("eeg", "things_eeg_2", "vit_b_32", 1, feature_extractor=fake_features)
    with pytest.raises(ValueError, match="dtype uint8.*float32"):
        ned.encode(model, np.zeros((2, 3, 64, 64), dtype=np.float32))
    with pytest.raises(ValueError, match="squared.*64x32"):
        ned.encode(model, np.zeros((2, 3, 64, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="3 RGB channels"):
        ned.encode(model, np.zeros((2, 1, 64, 64), dtype=np.uint8))
    with pytest.raises(TypeError, match="numpy array"):
        ned.encode(model, [[0]])


def test_vit_without_weights_fails_with_one_line_naming_the_file(ned_dir):
    with pytest.raises(MissingWeightsError) as info:
        NED(ned_dir[0]).get_encoding_model("eeg", "things_eeg_2", "vit_b_32", 1)
    message = str(info.value)
    assert "\n" not in message and "vit_b_32-d86f8d99.pth" in message and "never downloads" in message


def test_fwrf_loads_and_encodes_as_ned(ned_dir):
    root, _, best = ned_dir
    ned = NED(root)
    model = ned.get_encoding_model("fmri", "nsd", "fwrf", 1, roi="V1", device="cpu")
    assert set(model) == {"args", "shared_model", "subject_fwrfs", "nnv", "resize_px"}
    assert model["nnv"] == {1: 5} and model["resize_px"] == 227
    assert isinstance(model["shared_model"], torch.nn.Module) and not model["shared_model"].training
    images = rng.integers(0, 256, size=(3, 3, 227, 227), dtype=np.uint8)
    out, meta = ned.encode(model, images, return_metadata=True, device="cpu", progress=False)
    assert out.shape == (3, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, reference_predict(images, best, 1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(meta["fmri"]["ncsnr"], np.linspace(0.1, 1, 5))
    with pytest.raises(ValueError, match="dtype uint8.*float64"):
        ned.encode(model, images.astype(np.float64))
    with pytest.raises(ValueError, match="squared"):
        ned.encode(model, images[:, :, :200])


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_ned_files_are_refused_without_running(ned_dir, tmp_path):
    import shutil

    root = tmp_path / "ned"
    shutil.copytree(ned_dir[0], root)
    marker = tmp_path / "marker"
    meta = root / "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32/metadata"
    np.save(meta / "metadata_sub-01.npy", {"eeg": {"ch_names": _Payload(marker)}}, allow_pickle=True)
    ckpt = root / "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf/encoding_models_weights"
    torch.save({"best_params": _Payload(marker)}, ckpt / "weights_sub-01_roi-V1.pt")
    ned = NED(root)
    with pytest.raises(BrainbridgeError, match="refused.*system"):
        ned.get_metadata("eeg", "things_eeg_2", "vit_b_32", 1)
    with pytest.raises(BrainbridgeError, match="refused to load fwRF checkpoint"):
        ned.get_encoding_model("fmri", "nsd", "fwrf", 1, "V1")
    assert not marker.exists()


def test_load_insilico_neural_responses_is_lazy_h5py(ned_dir):
    ned = NED(ned_dir[0])
    fmri, meta = ned.load_insilico_neural_responses(
        modality="fmri",
        train_dataset="nsd",
        model="fwrf",
        imageset="things",
        subject=1,
        roi="V1",
        return_metadata=True,
    )
    assert isinstance(fmri, h5py.Dataset) and fmri.shape == (7, 5) and fmri.dtype == np.float32
    np.testing.assert_array_equal(fmri[2], np.arange(10, 15, dtype=np.float32))
    assert meta == {"imageset": "imageset-things", "n": 7}
    eeg = ned.load_insilico_neural_responses(
        "eeg", "things_eeg_2", "vit_b_32", "nsd", 1, return_metadata=False
    )
    assert isinstance(eeg, h5py.Dataset) and eeg.shape == (7, REPS, len(CH), T.size)
    with pytest.raises(BrainbridgeError, match="missing"):
        ned.load_insilico_neural_responses("eeg", "things_eeg_2", "vit_b_32", "things", 1)


def test_brainbridge_registered_models_are_listed_and_encode_through_ned(tmp_path):
    from brainbridge.encoding import encode, get_encoding_model

    ned = NED(str(tmp_path / "empty_ned"))
    assert ned.which_train_datasets("ephys") == ["brainbridge_example"]
    assert ned.which_models("ephys", "brainbridge_example") == [
        "efficientnet_lite0",
        "gabor_v1",
        "random_cnn",
    ]
    assert ned.which_subjects("ephys", "brainbridge_example") == [1, 2]
    assert ned.which_subject_names("ephys", "brainbridge_example", "gabor_v1") == {
        1: "monkey_a",
        2: "monkey_b",
    }
    with pytest.raises(ValueError, match=r"'roi' value must be one of the following: \['V1', 'IT'\]!"):
        ned.get_encoding_model("ephys", "brainbridge_example", "gabor_v1", 1, roi="V4")
    with pytest.raises(ValueError, match=r"'subject' value must be one of the following: \[1, 2\]!"):
        ned.get_encoding_model("ephys", "brainbridge_example", "gabor_v1", 3)
    model = ned.get_encoding_model(
        "ephys", "brainbridge_example", "gabor_v1", subject=2, roi="IT", device="cpu"
    )
    images = np.random.default_rng(5).integers(0, 256, size=(3, 3, 48, 48), dtype=np.uint8)
    out, metadata = ned.encode(model, images, device="cpu")
    same = encode(
        get_encoding_model("ephys-brainbridge_example-gabor_v1", {"region": "IT"}, "monkey_b"), images
    )
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == same.shape
    np.testing.assert_array_equal(out, same.values)
    assert metadata["subject"] == "monkey_b" and metadata["selection"] == {"region": ["IT"]}
    assert set(np.asarray(same["animal"].values)) == {"monkey_b"}
    with pytest.raises(ValueError, match="dtype uint8"):
        ned.encode(model, images.astype(np.float32))
    # roi is optional for a registered (non-fMRI) model: every ROI, both subjects' numbers work
    both = ned.encode(ned.get_encoding_model("ephys", "brainbridge_example", "gabor_v1", 1), images, False)
    assert both.shape[0] == 3 and both.shape[1] > out.shape[1]
    meta = ned.get_metadata("ephys", "brainbridge_example", "gabor_v1", 2, roi="IT")
    assert meta["rois"]["IT"]["fit_key"] == metadata["rois"]["IT"]["fit_key"]


def _positional(method):
    import inspect

    return [
        (p.name, p.default if p.default is not inspect.Parameter.empty else "required")
        for p in list(inspect.signature(method).parameters.values())[1:]
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def test_the_calls_have_neds_and_bergs_own_argument_names_and_defaults():
    """Written from NED's ``nest/nest.py`` and BERG's ``berg/core/berg.py``: same order, names and
    defaults; brainbridge's additions are keyword-only, so NED's and BERG's positional calls keep working."""
    from brainbridge.berg import BERG

    ned = {
        "which_modalities": [],
        "which_train_datasets": [("modality", "required")],
        "which_models": [("modality", "required"), ("train_dataset", "required")],
        "which_subjects": [("modality", "required"), ("train_dataset", "required")],
        "which_rois": [("train_dataset", "required")],
        "get_encoding_model": [
            ("modality", "required"),
            ("train_dataset", "required"),
            ("model", "required"),
            ("subject", "required"),
            ("roi", None),
            ("device", "auto"),
        ],
        "encode": [
            ("encoding_model", "required"),
            ("images", "required"),
            ("return_metadata", True),
            ("device", "auto"),
        ],
        "get_metadata": [
            ("modality", "required"),
            ("train_dataset", "required"),
            ("model", "required"),
            ("subject", "required"),
            ("roi", None),
        ],
        "load_insilico_neural_responses": [
            ("modality", "required"),
            ("train_dataset", "required"),
            ("model", "required"),
            ("imageset", "required"),
            ("subject", "required"),
            ("roi", None),
            ("return_metadata", True),
        ],
    }
    berg = {
        "get_model_catalog": [("print_format", False)],
        "get_encoding_model": [("model_id", "required"), ("device", "auto"), ("selection", None)],
        "encode": [("model", "required"), ("stimulus", "required"), ("return_metadata", False)],
        "get_model_metadata": [("model_id", "required")],
        "describe": [("model_id", "required")],
        "get_model_variants": [("model_id", "required")],
    }
    for cls, calls in ((NED, ned), (BERG, berg)):
        for name, expected in calls.items():
            assert _positional(getattr(cls, name)) == expected, f"{cls.__name__}.{name}"
    assert BERG(berg_dir="x").get_model_variants(model_id="ephys-brainbridge_example-gabor_v1") == []

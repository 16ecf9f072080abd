"""``brainbridge.berg.BERG`` on a small BERG folder in BERG's layout, and on brainbridge's own models."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler
from tests.support.sklearn_params import attrs, block_features

from brainbridge.berg import BERG
from brainbridge.encoding.errors import EncodingError
from brainbridge.errors import BrainbridgeError

EEG_ID = "eeg-things_eeg_2-vit_b_32"
GABOR = "ephys-brainbridge_example-gabor_v1"
CH = ["Fp1", "Fz", "Cz", "Oz"]
T = np.linspace(-0.1, 0.6, 5)
REPS = 3
rng = np.random.default_rng(1)
W = rng.normal(size=(3 * 8 * 8, 10))


def features(images: np.ndarray) -> np.ndarray:
    """A stand-in for ViT-B/32 features: 8 x 8 block means of the image, projected."""
    return block_features(images, 8, W)


@pytest.fixture(scope="module")
def berg_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("brain-encoding-response-generator")
    train = rng.integers(0, 256, size=(30, 3, 64, 64), dtype=np.uint8)
    feats = features(train)
    scaler = StandardScaler().fit(feats)
    pca = PCA(n_components=6).fit(scaler.transform(feats))
    pcs = pca.transform(scaler.transform(feats)).astype(np.float32)
    regs = [LinearRegression().fit(pcs, rng.normal(size=(30, len(CH) * T.size))) for _ in range(REPS)]
    folder = root / "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"
    (folder / "encoding_models_weights").mkdir(parents=True)
    (folder / "metadata").mkdir()
    np.save(
        folder / "encoding_models_weights/weights_subject-01.npy",
        {
            "scaler_param": attrs(scaler, ["scale_", "mean_", "var_", "n_features_in_", "n_samples_seen_"]),
            "pca_param": attrs(pca, ["components_", "explained_variance_", "mean_", "n_components_"]),
            "reg_param": {
                f"rep-{r + 1}": attrs(g, ["coef_", "intercept_", "n_features_in_"])
                for r, g in enumerate(regs)
            },
        },
    )
    np.save(folder / "metadata/metadata_subject-01.npy", {"eeg": {"ch_names": CH, "times": T}})
    return root, (scaler, pca, regs)


def _expected(images, sk):
    scaler, pca, regs = sk
    pcs = pca.transform(scaler.transform(features(images))).astype(np.float32)
    return np.stack([g.predict(pcs).reshape(len(images), len(CH), T.size) for g in regs], axis=1)


def test_catalogue_lists_berg_folder_and_brainbridge_models(berg_dir):
    berg = BERG(berg_dir=berg_dir[0])
    ids = berg.list_models()
    assert EEG_ID in ids and GABOR in ids and ids == sorted(ids)
    assert any("random_cnn" in i for i in ids) and any("efficientnet_lite0" in i for i in ids)
    catalog = berg.get_model_catalog(print_format=False)
    assert catalog["eeg"] == ["things_eeg_2"] and "brainbridge_example" in catalog["ephys"]
    card = berg.describe(EEG_ID)
    assert card["parameters"]["subject"]["valid_values"] == [1]
    assert berg.get_model_metadata(EEG_ID, subject=1)["eeg"]["ch_names"] == CH


def test_eeg_encode_shape_and_values_match_sklearn(berg_dir):
    root, sk = berg_dir
    berg = BERG(root)
    model = berg.get_encoding_model(EEG_ID, device="cpu", subject=1, feature_extractor=features)
    images = rng.integers(0, 256, size=(4, 3, 64, 64), dtype=np.uint8)
    out = berg.encode(model, images)
    assert isinstance(out, np.ndarray) and out.shape == (4, REPS, len(CH), T.size) and out.dtype == np.float32
    np.testing.assert_allclose(out, _expected(images, sk), rtol=1e-4, atol=1e-4)
    out2, meta = berg.encode(model, images, return_metadata=True)
    np.testing.assert_array_equal(out, out2)
    assert meta["eeg"]["ch_names"] == CH
    # BERG's show_progress; batches of 3 give the same responses; an unknown argument is named
    np.testing.assert_allclose(
        berg.encode(model, images, show_progress=False, batch_size=3), out, rtol=1e-5, atol=1e-6
    )
    with pytest.raises(
        EncodingError, match=r"Unknown parameters \['roi'\] .* Valid: \['batch_size', 'progress'"
    ):
        berg.encode(model, images, roi="V1")


def test_selection_by_channels_and_time_mask_is_applied_to_the_weights(berg_dir):
    root, sk = berg_dir
    berg = BERG(root)
    mask = np.array([0, 1, 1, 0, 1])
    model = berg.get_encoding_model(
        EEG_ID,
        selection={"channels": ["Oz", "Fz"], "timepoints": mask},
        subject=1,
        feature_extractor=features,
    )
    assert model.regressions[0]["coef_"].shape[0] == 2 * 3  # only the selected outputs are kept
    images = rng.integers(0, 256, size=(3, 3, 64, 64), dtype=np.uint8)
    out = berg.encode(model, images)
    full = _expected(images, sk)
    np.testing.assert_allclose(out, full[:, :, [3, 1]][:, :, :, [1, 2, 4]], rtol=1e-4, atol=1e-4)


def test_folders_and_path_lists_are_accepted(berg_dir, tmp_path):
    root, sk = berg_dir
    berg = BERG(root)
    model = berg.get_encoding_model(EEG_ID, subject=1, feature_extractor=features)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)).save(
            tmp_path / f"im{i}.png"
        )
    from_folder = berg.encode(model, str(tmp_path))
    from_list = berg.encode(model, [str(tmp_path / "im0.png"), str(tmp_path / "im1.png")])
    arr = np.stack([np.asarray(Image.open(tmp_path / f"im{i}.png")).transpose(2, 0, 1) for i in range(2)])
    np.testing.assert_allclose(from_folder, _expected(arr, sk), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(from_folder, from_list)


def test_berg_validation_errors_share_one_base_and_list_valid_values(berg_dir):
    berg = BERG(berg_dir[0])
    cases = [
        (lambda: berg.get_encoding_model("fmri-nsd-nothing"), "Available models"),
        (lambda: berg.get_encoding_model(EEG_ID, feature_extractor=features), "subject"),
        (
            lambda: berg.get_encoding_model(EEG_ID, subject=9, feature_extractor=features),
            r"one of \[1\], got 9",
        ),
        (
            lambda: berg.get_encoding_model(
                EEG_ID, subject=1, selection={"region": "V1"}, feature_extractor=features
            ),
            r"Invalid selection key: 'region'. Valid keys are: \['channels', 'timepoints'\]",
        ),
        (
            lambda: berg.get_encoding_model(
                EEG_ID, subject=1, selection={"channels": ["Pz"]}, feature_extractor=features
            ),
            "Invalid channels: \\['Pz'\\]",
        ),
        (
            lambda: berg.get_encoding_model(
                EEG_ID, subject=1, selection={"timepoints": [1, 0]}, feature_extractor=features
            ),
            "binary mask of 5",
        ),
        (lambda: berg.get_encoding_model(EEG_ID, device="tpu", subject=1), "Valid values are"),
        (lambda: berg.get_encoding_model(EEG_ID, subject=1), "vit_b_32-d86f8d99.pth"),
    ]
    for call, pattern in cases:
        with pytest.raises(EncodingError, match=pattern):
            call()
    model = berg.get_encoding_model(EEG_ID, subject=1, feature_extractor=features)
    with pytest.raises(BrainbridgeError, match="uint8"):
        berg.encode(model, np.zeros((1, 3, 64, 64), dtype=np.float64))


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_weights_file_is_refused(tmp_path):
    folder = tmp_path / "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"
    (folder / "encoding_models_weights").mkdir(parents=True)
    (folder / "metadata").mkdir()
    marker = tmp_path / "marker"
    np.save(folder / "metadata/metadata_subject-01.npy", {"eeg": {"ch_names": CH, "times": T}})
    np.save(folder / "encoding_models_weights/weights_subject-01.npy", {"reg_param": _Payload(marker)})
    with pytest.raises(BrainbridgeError, match="refused"):
        BERG(tmp_path).get_encoding_model(EEG_ID, subject=1, feature_extractor=features)
    assert not marker.exists()


def test_brainbridge_models_work_through_berg(tmp_path_factory, monkeypatch):
    from brainbridge.examples import new_images_dir

    monkeypatch.setenv("BRAINBRIDGE_HOME", str(tmp_path_factory.mktemp("berg-home")))
    berg = BERG(tmp_path_factory.mktemp("empty"))
    model = berg.get_encoding_model(GABOR, selection={"region": "V1"}, subject="monkey_a", progress=False)
    out, meta = berg.encode(model, new_images_dir(), return_metadata=True, progress=False)
    assert isinstance(out, np.ndarray) and out.ndim == 2 and out.dtype == np.float32
    assert out.shape[1] == meta["rois"]["V1"]["n_neuroids"] > 0


# -- fmri-nsd-fwrf: one NED-format checkpoint per subject and ROI ---------------------------------

FWRF_ID = "fmri-nsd-fwrf"


@pytest.fixture(scope="module")
def fwrf_berg_dir(tmp_path_factory):
    from tests.support.fwrf_checkpoints import save_ned_checkpoint

    root = tmp_path_factory.mktemp("berg-fwrf")
    folder = root / "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"
    (folder / "encoding_models_weights").mkdir(parents=True)
    (folder / "metadata").mkdir()
    save_ned_checkpoint(folder / "encoding_models_weights/weights_sub-01_roi-V1.pt", 1, "V1", 4, seed=3)
    np.save(folder / "metadata/metadata_sub-01_roi-V1.npy", {"fmri": {"ncsnr": np.ones(4)}})
    return root


def test_fwrf_is_listed_described_and_encodes(fwrf_berg_dir):
    berg = BERG(fwrf_berg_dir)
    assert FWRF_ID in berg.list_models() and berg.get_model_catalog()["fmri"] == ["nsd"]
    card = berg.describe(FWRF_ID)
    assert card["parameters"]["selection"]["required"] is True
    assert card["parameters"]["selection"]["properties"]["roi"]["valid_values"][:3] == ["V1", "V2", "V3"]
    assert card["on_disk"] == [(1, "V1")] and "selection={'roi': 'V1'}" in card["usage"]
    model = berg.get_encoding_model(FWRF_ID, device="cpu", selection={"roi": "V1"}, subject=1)
    images = rng.integers(0, 256, size=(2, 3, 227, 227), dtype=np.uint8)
    out = berg.encode(model, images, progress=False)
    assert isinstance(out, np.ndarray) and out.shape == (2, 4) and out.dtype == np.float32
    # BERG's own fwRF has no show_progress (a TypeError there); here it is the same switch
    np.testing.assert_array_equal(berg.encode(model, images, show_progress=False), out)
    assert berg.get_model_metadata(FWRF_ID, subject=1, roi="V1")["fmri"]["ncsnr"].shape == (4,)
    assert berg.get_model_metadata(FWRF_ID, subject=1, selection={"roi": "V1"})["fmri"]["ncsnr"].shape == (4,)


def test_fwrf_validation_uses_bergs_wording_under_one_base(fwrf_berg_dir):
    berg = BERG(fwrf_berg_dir)
    v1 = {"roi": "V1"}
    cases = [
        (lambda: berg.get_encoding_model(FWRF_ID, subject=1), r"'selection' is required.*\['V1', 'V2'"),
        (
            lambda: berg.get_encoding_model(FWRF_ID, subject=1, selection={"region": "V1"}),
            r"Invalid selection key: 'region'. Valid keys are: \['roi'\]",
        ),
        (
            lambda: berg.get_encoding_model(FWRF_ID, subject=1, selection={"roi": "V7"}),
            r"Invalid ROI: 'V7'. Valid values are: \['V1', 'V2', 'V3', 'hV4'",
        ),
        (lambda: berg.get_encoding_model(FWRF_ID, subject=1, selection={"roi": 1}), "must be a string"),
        (lambda: berg.get_encoding_model(FWRF_ID, subject=1, selection={}), "needs the key 'roi'"),
        (
            lambda: berg.get_encoding_model(FWRF_ID, subject=9, selection=v1),
            r"Subject must be one of \[1, 2, 3, 4, 5, 6, 7, 8\], got 9",
        ),
        (lambda: berg.get_encoding_model(FWRF_ID, selection=v1), "Required parameters missing: subject"),
        (lambda: berg.get_encoding_model(FWRF_ID, subject=2, selection=v1), "sub-02_roi-V1.pt is missing"),
        (lambda: berg.get_encoding_model(FWRF_ID, subject=1, selection=v1, seed=1), "Unknown parameters"),
        (lambda: berg.get_model_metadata(FWRF_ID, subject=1), "Required parameters missing: roi"),
        (
            lambda: berg.get_model_metadata(FWRF_ID, subject=1, roi="V2"),
            "metadata_sub-01_roi-V2.npy is missing",
        ),
        (lambda: berg.get_encoding_model(FWRF_ID, device="tpu", subject=1, selection=v1), "Valid values are"),
    ]
    for call, pattern in cases:
        with pytest.raises(EncodingError, match=pattern):
            call()


def test_a_malicious_fwrf_checkpoint_is_refused(tmp_path):
    import torch

    folder = tmp_path / "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf/encoding_models_weights"
    folder.mkdir(parents=True)
    marker = tmp_path / "marker"
    torch.save({"best_params": _Payload(marker)}, folder / "weights_sub-01_roi-V1.pt")
    with pytest.raises(BrainbridgeError, match="refused to load fwRF checkpoint"):
        BERG(tmp_path).get_encoding_model(FWRF_ID, subject=1, selection={"roi": "V1"})
    assert not marker.exists()

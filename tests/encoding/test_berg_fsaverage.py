"""BERG's fsaverage surface model (``fmri-nsd_fsaverage-vit_b_32``) in BERG's layout: one map per
hemisphere, ``encode`` returns ``(lh, rh)``, selection by ROI or by vertex masks on the weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler
from tests.support.sklearn_params import attrs, block_features

from brainbridge.berg import BERG
from brainbridge.encoding.errors import EncodingError

FS_ID = "fmri-nsd_fsaverage-vit_b_32"
N_LH, N_RH, P = 40, 30, 48
rng = np.random.default_rng(7)
W = rng.normal(size=(3 * 4 * 4, P))
ROIS_LH = {"V1v": np.array([0, 3, 5, 7]), "FFA-1": np.array([10, 11, 39])}
ROIS_RH = {"V1v": np.array([1, 2]), "FFA-1": np.array([20, 29, 4])}


def features(images: np.ndarray) -> np.ndarray:
    """A stand-in for ViT-B/32 features: 4 x 4 block means of the image, projected."""
    return block_features(images, 4, W)


@pytest.fixture(scope="module")
def fsaverage_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("brain-encoding-response-generator")
    train = rng.integers(0, 256, size=(40, 3, 32, 32), dtype=np.uint8)
    feats = features(train)
    scaler = StandardScaler().fit(feats)
    pca = PCA(n_components=10).fit(scaler.transform(feats))
    pcs = pca.transform(scaler.transform(feats)).astype(np.float32)
    lh = LinearRegression().fit(pcs, rng.normal(size=(40, N_LH)))
    rh = LinearRegression().fit(pcs, rng.normal(size=(40, N_RH)))
    folder = root / "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32"
    (folder / "encoding_models_weights").mkdir(parents=True)
    (folder / "metadata").mkdir()
    pca_names = ["components_", "explained_variance_", "explained_variance_ratio_", "singular_values_"]
    # the keys BERG's training script saves (berg_creation_code/.../nsd_fsaverage/.../train_encoding.py)
    np.save(
        folder / "encoding_models_weights/weights_subject-01.npy",
        {
            "scaler_param": attrs(scaler, ["scale_", "mean_", "var_", "n_features_in_", "n_samples_seen_"]),
            "pca_param": attrs(pca, [*pca_names, "mean_", "n_components_", "n_samples_", "noise_variance_"]),
            "lh_reg_param": attrs(lh, ["coef_", "intercept_", "n_features_in_"]),
            "rh_reg_param": attrs(rh, ["coef_", "intercept_", "n_features_in_"]),
        },
    )
    np.save(
        folder / "metadata/metadata_subject-01.npy",
        {"fmri": {"lh_fsaverage_rois": ROIS_LH, "rh_fsaverage_rois": ROIS_RH}},
    )
    return root, (scaler, pca, lh, rh)


def _expected(images, sk):
    scaler, pca, lh, rh = sk
    pcs = pca.transform(scaler.transform(features(images))).astype(np.float32)
    return lh.predict(pcs), rh.predict(pcs)


def test_fsaverage_encodes_both_hemispheres_as_berg(fsaverage_dir):
    root, sk = fsaverage_dir
    berg = BERG(root)
    assert FS_ID in berg.list_models()
    assert berg.describe(FS_ID)["parameters"]["selection"]["properties"] == [
        "roi",
        "lh_vertices",
        "rh_vertices",
    ]
    model = berg.get_encoding_model(FS_ID, subject=1, feature_extractor=features, device="cpu")
    images = rng.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
    lh, rh = berg.encode(model, images)
    assert lh.shape == (5, N_LH) and rh.shape == (5, N_RH) and lh.dtype == rh.dtype == np.float32
    want_lh, want_rh = _expected(images, sk)
    np.testing.assert_allclose(lh, want_lh, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rh, want_rh, rtol=1e-4, atol=1e-4)
    (lh2, _), metadata = berg.encode(model, images, return_metadata=True)
    np.testing.assert_array_equal(lh, lh2)
    assert set(metadata["fmri"]["lh_fsaverage_rois"]) == {"V1v", "FFA-1"}

    # an ROI: the metadata's vertices of both hemispheres, selected on the weights
    roi = berg.get_encoding_model(FS_ID, subject=1, selection={"roi": "FFA-1"}, feature_extractor=features)
    assert len(roi.regressions[0]["intercept_"]) == 6
    lh_roi, rh_roi = berg.encode(roi, images)
    np.testing.assert_allclose(lh_roi, want_lh[:, ROIS_LH["FFA-1"]], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rh_roi, want_rh[:, ROIS_RH["FFA-1"]], rtol=1e-4, atol=1e-4)

    # vertex masks: a hemisphere without one keeps every vertex
    mask = np.zeros(N_LH, dtype=int)
    mask[[2, 9, 33]] = 1
    masked = berg.get_encoding_model(
        FS_ID, subject=1, selection={"lh_vertices": mask}, feature_extractor=features
    )
    lh_m, rh_m = berg.encode(masked, images)
    np.testing.assert_allclose(lh_m, want_lh[:, [2, 9, 33]], rtol=1e-4, atol=1e-4)
    assert rh_m.shape == (5, N_RH)


def test_fsaverage_selection_errors_list_the_valid_values(fsaverage_dir):
    berg = BERG(fsaverage_dir[0])
    cases = [
        (
            {"region": "V1"},
            r"Invalid selection key: 'region'. Valid keys are: \['roi', 'lh_vertices', 'rh_vertices'\]",
        ),
        ({"roi": "V7"}, r"Invalid ROI: 'V7'.*\['FFA-1', 'V1v'\]"),
        ({"lh_vertices": np.ones(N_LH - 1)}, f"'lh_vertices' must be a binary mask of {N_LH} values"),
        ({"rh_vertices": np.zeros(N_RH)}, "at least one selected"),
    ]
    for selection, pattern in cases:
        with pytest.raises(EncodingError, match=pattern):
            berg.get_encoding_model(FS_ID, subject=1, selection=selection, feature_extractor=features)


def test_a_weights_file_without_berg_keys_is_named(tmp_path):
    folder = tmp_path / "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32"
    (folder / "encoding_models_weights").mkdir(parents=True)
    (folder / "metadata").mkdir()
    np.save(folder / "metadata/metadata_subject-01.npy", {"fmri": {}})
    np.save(folder / "encoding_models_weights/weights_subject-01.npy", {"lh_reg_param": {}})
    with pytest.raises(EncodingError, match=r"not a BERG weights file: it needs \['scaler_param'"):
        BERG(tmp_path).get_encoding_model(FS_ID, subject=1, feature_extractor=features)

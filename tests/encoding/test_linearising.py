"""The linearising recipe (StandardScaler -> PCA(k) -> OLS/ridge) against scikit-learn in float64."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from brainbridge.assemblies import EEGAssembly, ModelFeaturesAssembly, VoxelAssembly
from brainbridge.encoding.errors import EncodingError, InvalidParameterError
from brainbridge.encoding.linearising import (
    LinearisingFit,
    LinearisingRecipe,
    fit_linearising,
    get_or_train_linearising,
    load_linearising,
)


def sklearn_predictions(x_train, y_train, x_test, k, regression="ols", alpha=1.0):
    """The independent implementation: sklearn's pipeline in float64, one per repetition."""
    reg = LinearRegression() if regression == "ols" else Ridge(alpha=alpha)
    pipe = make_pipeline(StandardScaler(), PCA(k, svd_solver="full"), reg)
    return pipe.fit(x_train.astype(np.float64), y_train.astype(np.float64)).predict(x_test.astype(np.float64))


def make_data(n=60, p=40, reps=3, outputs=7, seed=0):
    rng = np.random.default_rng(seed)
    # a decaying spectrum, so the top-k subspace is well defined
    x = rng.normal(size=(n + 20, p)) * np.geomspace(5, 0.1, p)
    x[:, 3] = 2.0  # a constant feature: StandardScaler keeps scale 1
    w = rng.normal(size=(p, outputs))
    y = x[:n] @ w
    y = y[:, None, :] + rng.normal(size=(n, reps, outputs))
    return x[:n], y, x[n:]


@pytest.mark.parametrize("p", [40, 150])  # more images than features, and fewer
@pytest.mark.parametrize("regression", ["ols", "ridge"])
def test_fit_matches_sklearn_pipeline_per_repetition(p, regression):
    x, y, x_test = make_data(p=p)
    recipe = LinearisingRecipe(n_components=12, regression=regression, alpha=3.0)
    arrays = fit_linearising(x, y, recipe)
    fit = LinearisingFit(key="k", modality="eeg", recipe=recipe, output_shape=(3, 7), outputs={}, **arrays)
    got = fit.predict(x_test)
    assert got.shape == (20, 3, 7) and got.dtype == np.float32
    for rep in range(3):
        expected = sklearn_predictions(x, y[:, rep], x_test, 12, regression, 3.0)
        np.testing.assert_allclose(got[:, rep], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_recipe_validation_and_bad_inputs():
    with pytest.raises(InvalidParameterError, match="Valid values are"):
        LinearisingRecipe(regression="lasso")
    with pytest.raises(InvalidParameterError):
        LinearisingRecipe(n_components=0)
    x, y, _ = make_data()
    y[0, 0, 0] = np.nan
    with pytest.raises(EncodingError, match="finite"):
        fit_linearising(x, y)
    assert [name for name, _ in LinearisingRecipe().sklearn_pipeline().steps] == [
        "scaler",
        "pca",
        "regression",
    ]


def features_assembly(ids, x):
    return ModelFeaturesAssembly(
        x.astype(np.float32),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", list(ids)),
            "neuroid_id": ("neuroid", [f"f{i}" for i in range(x.shape[1])]),
        },
    )


def test_fmri_fit_per_subject_and_roi_is_cached_and_matches_sklearn(tmp_path):
    rng = np.random.default_rng(1)
    n, p = 50, 30
    ids = [f"s{i:03d}" for i in range(n)]
    x = rng.normal(size=(n, p))
    responses = np.concatenate([x @ rng.normal(size=(p, 6)) + rng.normal(size=(n, 6)) for _ in range(2)])
    voxels = VoxelAssembly.from_arrays(
        responses,
        stimulus_id=ids * 2,
        subject=["s1"] * 4 + ["s2"] * 2,
        rois={"V1": [1, 1, 0, 0, 1, 0], "V4": [0, 1, 1, 1, 0, 1]},
    )
    features = features_assembly(ids[::-1], x[::-1])  # another order: aligned on stimulus_id
    recipe = LinearisingRecipe(n_components=8)
    fit = get_or_train_linearising(
        voxels, features=features, subject="s1", roi="V4", recipe=recipe, root=tmp_path
    )
    assert fit.output_shape == (3,) and fit.outputs["voxel_id"].tolist() == ["s1_v1", "s1_v2", "s1_v3"]
    x_test = rng.normal(size=(5, p))
    target = (responses[:n] + responses[n:])[:, [1, 2, 3]] / 2
    np.testing.assert_allclose(
        fit.predict(x_test), sklearn_predictions(x, target, x_test, 8), rtol=1e-4, atol=1e-4
    )
    # a second call reads the cache; another subject/ROI is another key
    again = get_or_train_linearising(
        voxels, features=features, subject="s1", roi="V4", recipe=recipe, root=tmp_path
    )
    assert again.key == fit.key and again.path == fit.path
    np.testing.assert_array_equal(again.predict(x_test), fit.predict(x_test))
    other = get_or_train_linearising(
        voxels, features=features, subject="s2", roi="V4", recipe=recipe, root=tmp_path
    )
    assert other.key != fit.key and other.output_shape == (1,)
    # a damaged entry is a warned miss, trained again
    (fit.path / "linearising.npz").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="changed since it was written"):
        retrained = get_or_train_linearising(
            voxels, features=features, subject="s1", roi="V4", recipe=recipe, root=tmp_path
        )
    np.testing.assert_array_equal(retrained.predict(x_test), fit.predict(x_test))
    assert load_linearising(fit.key, tmp_path) is not None
    with pytest.raises(InvalidParameterError, match="Valid values are"):
        get_or_train_linearising(voxels, features=features, subject="s9", recipe=recipe, root=tmp_path)
    with pytest.raises(InvalidParameterError, match="V7"):
        get_or_train_linearising(voxels, features=features, roi="V7", recipe=recipe, root=tmp_path)


def test_eeg_fit_one_regression_per_training_repetition(tmp_path):
    rng = np.random.default_rng(2)
    n, p, reps, ch, t = 40, 25, 4, 3, 5
    ids = [f"img{i}" for i in range(n)]
    x = rng.normal(size=(n, p))
    trials = np.einsum("np,pct->nct", x, rng.normal(size=(p, ch, t)))[:, None] + rng.normal(
        size=(n, reps, ch, t)
    )
    eeg = EEGAssembly.from_arrays(
        trials.transpose(1, 0, 2, 3).reshape(reps * n, ch, t),
        stimulus_id=ids * reps,
        channel_name=["O1", "Oz", "O2"],
        time=np.arange(t) * 0.01 - 0.01,
    )
    fit = get_or_train_linearising(
        eeg, features=features_assembly(ids, x), recipe=LinearisingRecipe(n_components=10), root=tmp_path
    )
    x_test = rng.normal(size=(6, p))
    got = fit.predict(x_test)
    assert got.shape == (6, reps, ch, t)
    assert fit.outputs["channel_name"].tolist() == ["O1", "Oz", "O2"]
    for r in range(reps):
        expected = sklearn_predictions(x, trials[:, r].reshape(n, -1), x_test, 10).reshape(6, ch, t)
        np.testing.assert_allclose(got[:, r], expected, rtol=1e-4, atol=1e-4)
    scaler, pca, regressions = fit.ned_parameters()
    assert sorted(regressions) == ["rep-1", "rep-2", "rep-3", "rep-4"]
    assert regressions["rep-2"]["coef_"].shape == (ch * t, 10) and pca["components_"].shape == (10, p)


# --------------------------------------------------------------------------------------
# cards: a user's catalogued assembly -> get_encoding_model -> encode
# --------------------------------------------------------------------------------------


def test_a_card_trains_on_a_catalogued_assembly_and_encodes_ned_shapes(fmri_catalog):
    from brainbridge import catalogs
    from brainbridge.encoding import encode, get_encoding_model
    from brainbridge.encoding.errors import InvalidSelectionError, InvalidSubjectError
    from brainbridge.encoding.linearising import LinearisingModel, linearising_card
    from brainbridge.encoding.registry import get_extractor, register_model, unregister_model

    _, folder, images = fmri_catalog
    assembly = catalogs.get_assembly("test.lin.fmri")
    card = linearising_card(
        assembly,
        assembly_identifier="test.lin.fmri",
        train_dataset="user_nsd",
        model="gabor_lin",
        extractor="gabor_v1",
        layers="energy",
        recipe=LinearisingRecipe(n_components=6),
    )
    assert card.model_id == "fmri-user_nsd-gabor_lin" and card.output_dims == ("presentation", "voxel")
    assert card.subjects == ("a", "b") and set(card.roi_key.valid_values) == {"V1", "FFA"}
    register_model(card)
    try:
        model = get_encoding_model(card.model_id, selection={"roi": ["V1", "FFA"]}, subject="a", device="cpu")
        assert isinstance(model, LinearisingModel)
        values = model.encode(folder)
        assert values.shape == (24, 4) and values.dtype == np.float32  # V1: a_v0, a_v1; FFA: a_v1, a_v2
        labelled = encode(model, folder)
        assert labelled.dims == ("presentation", "voxel")
        assert labelled["voxel_id"].values.tolist() == ["a_v0", "a_v1", "a_v1", "a_v2"]
        np.testing.assert_array_equal(labelled.values, values)
        # the same as the fit applied to the extractor's features of the same images
        features = get_extractor("gabor_v1").extract(images.transpose(0, 3, 1, 2), layers="energy").values
        np.testing.assert_allclose(values[:, :2], model.fits["V1"].predict(features), rtol=1e-5, atol=1e-6)
        with pytest.raises(InvalidSelectionError, match="Valid keys"):
            get_encoding_model(card.model_id, selection={"region": "V1"})
        with pytest.raises(InvalidSubjectError):
            get_encoding_model(card.model_id, subject="z")
    finally:
        unregister_model(card.model_id)


def test_an_eeg_card_selects_channels_and_a_timepoints_mask_on_the_weights(eeg_catalog):
    from brainbridge import catalogs
    from brainbridge.encoding import encode, get_encoding_model
    from brainbridge.encoding.errors import InvalidSelectionError
    from brainbridge.encoding.linearising import linearising_card
    from brainbridge.encoding.registry import register_model, unregister_model

    card = linearising_card(
        catalogs.get_assembly("test.lin.eeg"),
        assembly_identifier="test.lin.eeg",
        train_dataset="user_eeg",
        model="gabor_lin",
        extractor="gabor_v1",
        layers="energy",
        recipe=LinearisingRecipe(n_components=6),
    )
    register_model(card)
    try:
        whole = get_encoding_model(card.model_id, device="cpu")
        full = whole.encode(eeg_catalog)
        assert full.shape == (20, 2, 3, 5)
        mask = np.array([0, 1, 1, 0, 1])
        chosen = get_encoding_model(
            card.model_id, selection={"channels": ["O2", "O1"], "timepoints": mask}, device="cpu"
        )
        got = chosen.encode(eeg_catalog)
        expected = full[:, :, [2, 0]][:, :, :, [1, 2, 4]]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        # applied to the weights: the selected fit holds only the 2 x 3 chosen outputs per repetition
        fit = chosen.fits["all"]
        assert fit.coef.shape == (2, 6, 6) and fit.output_shape == (2, 2, 3)
        assert fit.key == whole.fits["all"].key  # one cached fit serves every selection
        labelled = encode(chosen, eeg_catalog)
        assert labelled["channel_name"].values.tolist() == ["O2", "O1"]
        np.testing.assert_allclose(labelled["time"].values, [0.0, 0.01, 0.03], atol=1e-12)
        selection = chosen.metadata()["selection"]
        assert selection["channels"] == ["O2", "O1"]
        np.testing.assert_allclose(selection["timepoints"], [0.0, 0.01, 0.03], atol=1e-12)
        boolean = get_encoding_model(card.model_id, selection={"timepoints": mask.astype(bool)})
        np.testing.assert_allclose(
            boolean.encode(eeg_catalog), full[:, :, :, [1, 2, 4]], rtol=1e-5, atol=1e-6
        )
        for bad in ([1, 0, 1], [0, 0, 0, 0, 0], [0, 2, 1, 0, 1], ["a"] * 5):
            with pytest.raises(InvalidSelectionError, match="binary mask of 5 values"):
                get_encoding_model(card.model_id, selection={"timepoints": bad})
        valid = r"Valid keys are: \['channels', 'timepoints'\]"
        with pytest.raises(InvalidSelectionError, match=r"Invalid selection key: 'roi'. " + valid):
            get_encoding_model(card.model_id, selection={"roi": "V1"})
    finally:
        unregister_model(card.model_id)

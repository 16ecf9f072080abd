"""Brain-Score neural predictivity, ceiling, RDM/CKA: the exact procedure and ground truth."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import pearsonr, spearmanr
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from brainbridge.assemblies import ModelFeaturesAssembly, NeuronRecordingAssembly
from brainbridge.encoding.errors import InvalidParameterError
from brainbridge.encoding.metrics import cka, pearson_columns, rdm_similarity, spearman_brown
from brainbridge.encoding.scoring import (
    Score,
    ScoringError,
    brainscore_splits,
    ceiling,
    internal_consistency,
    neural_predictivity,
    score,
    split_predictivity,
)

N_STIMULI, N_FEATURES, N_NEUROIDS, N_REPS, N_OBJECTS = 240, 30, 12, 6, 8


def _dataset(seed=0, noise=1.0, time_bins=False):
    """Responses = features @ W + noise per repetition: the features are the true model."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(N_STIMULI, N_FEATURES))
    signal = features @ rng.normal(size=(N_FEATURES, N_NEUROIDS)) / np.sqrt(N_FEATURES)
    ids = np.array([f"im{i:04d}" for i in range(N_STIMULI)])
    objects = np.array([f"obj{i % N_OBJECTS}" for i in range(N_STIMULI)])
    # presentations in a shuffled order, as recorded
    order = rng.permutation(N_STIMULI * N_REPS)
    stim = np.tile(np.arange(N_STIMULI), N_REPS)[order]
    reps = np.repeat(np.arange(N_REPS), N_STIMULI)[order]
    values = signal[stim] + noise * rng.normal(size=(len(stim), N_NEUROIDS))
    dims = ["presentation", "neuroid"]
    if time_bins:
        values = np.stack([values, values + 5.0 * rng.normal(size=values.shape)], axis=2)
        dims.append("time_bin")
    coords = {
        "stimulus_id": ("presentation", ids[stim]),
        "object_name": ("presentation", objects[stim]),
        "repetition": ("presentation", reps),
        "neuroid_id": ("neuroid", [f"n{i}" for i in range(N_NEUROIDS)]),
        "region": ("neuroid", ["V4"] * 6 + ["IT"] * 6),
    }
    if time_bins:
        coords["time_bin_start"] = ("time_bin", [70, 170])
        coords["time_bin_end"] = ("time_bin", [170, 270])
    target = NeuronRecordingAssembly(values, dims=dims, coords=coords)
    model = ModelFeaturesAssembly(
        features[::-1].astype(np.float32),  # reversed: scoring must align on stimulus_id
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids[::-1]),
            "neuroid_id": ("neuroid", [f"f{i}" for i in range(N_FEATURES)]),
            "layer": ("neuroid", ["a"] * 20 + ["b"] * 10),
        },
    )
    return model, target


@pytest.fixture(scope="module")
def data():
    return _dataset()


def _averaged_frame(target):
    frame = pd.DataFrame(target.values, index=target["stimulus_id"].values)
    objects = pd.Series(target["object_name"].values, index=target["stimulus_id"].values)
    mean = frame.groupby(level=0).mean().sort_index()
    return mean, objects.groupby(level=0).first().sort_index()


def test_pls_predictivity_reproduces_brainscore_procedure(data):
    """An independent re-implementation with sklearn/scipy gives the same per-split values."""
    model, target = data
    ours = score(model, target, "pls", ceiling=False, mapping_params={"n_components": 10}, region=None)
    mean, objects = _averaged_frame(target)
    X = pd.DataFrame(np.asarray(model.values, dtype=float), index=model["stimulus_id"].values).loc[mean.index]
    splitter = StratifiedShuffleSplit(n_splits=10, train_size=0.9, random_state=1)
    expected = []
    for train, test in splitter.split(np.zeros(len(mean)), objects.values):
        prediction = (
            PLSRegression(10, scale=False).fit(X.values[train], mean.values[train]).predict(X.values[test])
        )
        expected.append([pearsonr(prediction[:, j], mean.values[test, j])[0] for j in range(N_NEUROIDS)])
    expected = np.asarray(expected)
    raw = ours.raw  # split x neuroid
    assert raw.dims == ("split", "neuroid") and raw.shape == (10, N_NEUROIDS)
    np.testing.assert_allclose(raw.values, expected, rtol=1e-8, atol=1e-10)
    medians = np.median(expected, axis=1)
    assert float(ours) == pytest.approx(medians.mean())
    assert ours.error == pytest.approx(medians.std(ddof=0) / np.sqrt(10))  # SEM formula
    assert list(raw["neuroid_id"].values) == [f"n{i}" for i in range(N_NEUROIDS)]
    assert ours.attrs["n_splits"] == 10
    # held-out predictions, one row per stimulus, sorted by stimulus_id
    predictions = ours.attrs["predictions"]
    assert list(predictions["stimulus_id"].values) == sorted(mean.index)
    np.testing.assert_allclose(ours.attrs["measured"].values, mean.values)


def test_ceiling_reproduces_internal_consistency(data):
    _, target = data
    ours = ceiling(target, region=None)
    frame = pd.DataFrame(target.values)
    frame["stimulus_id"] = target["stimulus_id"].values
    frame["repetition"] = target["repetition"].values
    repetitions = np.unique(frame["repetition"])
    expected = []
    for first, second in ShuffleSplit(n_splits=10, train_size=0.5, random_state=1).split(
        np.zeros(len(repetitions))
    ):
        halves = [
            frame[frame["repetition"].isin(repetitions[h])]
            .groupby("stimulus_id")
            .mean()
            .drop(columns="repetition")
            for h in (first, second)
        ]
        r = np.array([pearsonr(halves[0][j], halves[1][j])[0] for j in range(N_NEUROIDS)])
        expected.append(2 * r / (1 + r))  # Spearman-Brown
    expected = np.asarray(expected)
    np.testing.assert_allclose(ours.raw.values, expected, rtol=1e-10)
    medians = np.median(expected, axis=1)
    assert float(ours) == pytest.approx(medians.mean())
    assert ours.error == pytest.approx(medians.std(ddof=0) / np.sqrt(10))
    assert ours.per_neuroid().dims == ("neuroid",)


def test_ceiled_score_formulas_and_ground_truth(data):
    model, target = data
    ceiled = score(model, target, "ridge_per_neuroid", region=None)
    raw_r, c = float(ceiled.unceiled), float(ceiled.ceiling)
    assert float(ceiled) == pytest.approx(raw_r**2 / c)
    assert ceiled.error == ceiled.unceiled.error  # copied unscaled, as Brain-Score
    legacy = score(
        model, target, "ridge_per_neuroid", ceiling_formula="legacy", ceiling=ceiled.ceiling, region=None
    )
    assert float(legacy) == pytest.approx((raw_r / c) ** 2)
    assert ceiled.attrs["ceiling_formula"] == "r2"
    # the features are the true model: r^2 / ceiling ~ 1 (the ceiling is the reliability)
    assert 0.9 < float(ceiled) < 1.1
    # wrong features: shuffled rows, or random ones
    rng = np.random.default_rng(1)
    shuffled = model.copy(data=rng.permutation(model.values))
    random_features = model.copy(data=rng.normal(size=model.shape).astype(np.float32))
    for wrong in (shuffled, random_features):
        assert float(score(wrong, target, "ridge_per_neuroid", ceiling=ceiled.ceiling, region=None)) < 0.1
    # a given number works as a ceiling; ceiling=False returns the raw score
    assert float(score(model, target, "ridge_per_neuroid", ceiling=0.5, region=None)) == pytest.approx(
        raw_r**2 / 0.5
    )
    assert score(model, target, "ridge_per_neuroid", ceiling=False, region=None).ceiling is None


def test_splits_are_stratified_and_sized():
    labels = np.repeat([f"o{i}" for i in range(8)], 50)
    splits = brainscore_splits(400, labels)
    assert len(splits) == 10
    for train, test in splits:
        assert len(train) == 360 and len(test) == 40 and not set(train) & set(test)
        assert set(pd.Series(labels[test]).value_counts()) == {5}  # every object equally
    expected = list(StratifiedShuffleSplit(10, train_size=0.9, random_state=1).split(np.zeros(400), labels))
    for (a, b), (c, d) in zip(splits, expected):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    unstratified = brainscore_splits(400, None, n_splits=3)
    expected = list(ShuffleSplit(3, train_size=0.9, random_state=1).split(np.zeros(400)))
    np.testing.assert_array_equal(unstratified[2][1], expected[2][1])
    folds = brainscore_splits(400, labels, n_splits=5, kfold=True)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(400))
    with pytest.raises(ScoringError, match="splits"):
        brainscore_splits(10, ["a"] * 9 + ["b"])  # a class with a single member


def test_missing_stratification_coord(data):
    model, target = data
    from brainbridge.assemblies import walk_coords

    plain = NeuronRecordingAssembly(
        target.values,
        dims=target.dims,
        coords={name: (dims, values) for name, dims, values in walk_coords(target) if name != "object_name"},
    )
    with pytest.warns(UserWarning, match="object_name"):
        s = score(model, plain, "ridge_per_neuroid", ceiling=False, region=None)
    with pytest.raises(ScoringError, match="category"):
        score(model, target, "ridge_per_neuroid", stratification_coord="category", ceiling=False, region=None)
    assert 0.8 < float(s) <= 1


def test_time_bins_layers_regions_and_errors():
    model, target = _dataset(seed=2, time_bins=True)
    first_bin = score(model, target, "ridge_per_neuroid", time_bin=0, ceiling=False, region=None)
    averaged = score(
        model, target, "ridge_per_neuroid", ceiling=False, region=None
    )  # average over bins: the noisy bin hurts
    assert float(first_bin) > float(averaged)
    by_window = score(model, target, "ridge_per_neuroid", time_bin=(70, 170), ceiling=False, region=None)
    assert float(by_window) == pytest.approx(float(first_bin))
    only_it = score(model, target, "ridge_per_neuroid", region="IT", time_bin=0, ceiling=False)
    assert list(np.unique(only_it.raw["region"].values)) == ["IT"]
    layer_a = score(model, target, "ridge_per_neuroid", layer="a", time_bin=0, ceiling=False, region=None)
    assert float(layer_a) < float(first_bin)  # a third of the true features are missing
    with pytest.raises(ScoringError, match="Valid values"):
        score(model, target, "ridge_per_neuroid", layer="conv9", region=None)
    with pytest.raises(InvalidParameterError, match="Valid values"):
        score(model, target, "svm", region=None)
    with pytest.raises(InvalidParameterError, match="Valid values"):
        score(model, target, "pls", ceiling_formula="ratio", region=None)
    with pytest.raises(InvalidParameterError, match="split options"):
        score(model, target, "pls", trainsize=0.5, region=None)
    with pytest.raises(ScoringError, match="source"):
        score(np.zeros((3, 3)), target)


def test_no_repetitions_warns_and_returns_raw(data):
    model, target = data
    single = target.isel(presentation=np.flatnonzero(target["repetition"].values == 0))
    with pytest.warns(UserWarning, match="no ceiling"):
        s = score(model, single, "ridge_per_neuroid")
    assert s.ceiling is None and s.attrs["metric"] == "ridge_per_neuroid"
    with pytest.raises(ScoringError, match="repetition"):
        internal_consistency(single)


class _FakeExtractor:
    """The extractor contract: extract(stimuli, layers=...) -> features assembly."""

    identifier = "fake"

    def __init__(self, features):
        self.features = features
        self.calls = []

    def extract(self, stimuli, *, layers=None, batch_size=None, progress=None):
        self.calls.append((stimuli, layers))
        ids = list(stimuli["stimulus_id"])
        return self.features.sel(presentation=self.features["stimulus_id"].isin(ids))


def test_extractor_source_is_applied_to_the_stimulus_set(data):
    model, target = data
    stimulus_set = pd.DataFrame({"stimulus_id": np.unique(target["stimulus_id"].values)})
    target = target.copy()
    target.attrs["stimulus_set"] = stimulus_set
    extractor = _FakeExtractor(model)
    via_extractor = score(extractor, target, "ridge_per_neuroid", layer="a", ceiling=False, region=None)
    assert extractor.calls[0][1] == ["a"] and extractor.calls[0][0] is stimulus_set
    assert float(via_extractor) == pytest.approx(
        float(score(model, target, "ridge_per_neuroid", ceiling=False, region=None))
    )
    del target.attrs["stimulus_set"]
    with pytest.raises(ScoringError, match="stimulus_set"):
        score(extractor, target, "ridge_per_neuroid", region=None)


def test_split_loop_fans_out_to_processes(data):
    model, target = data
    serial = score(model, target, "ridge_per_neuroid", ceiling=False, region=None)
    with ProcessPoolExecutor(2) as pool:
        parallel = score(model, target, "ridge_per_neuroid", ceiling=False, map_fn=pool.map, region=None)
    np.testing.assert_allclose(parallel.raw.values, serial.raw.values)
    X, Y = np.ones((5, 2)), np.ones((5, 1))
    assert pickle.loads(pickle.dumps(split_predictivity)) is split_predictivity
    with pytest.raises(InvalidParameterError):
        split_predictivity(X, Y, np.arange(3), np.arange(3, 5), "ridge_per_neuroid", {"alphas": [-1.0]})


def test_rdm_and_cka_scores(data):
    model, target = data
    for metric in ("rdm_cv", "cka_cv"):
        ceiled = score(model, target, metric, region=None)
        assert ceiled.raw.raw.dims == ("split",) and ceiled.raw.raw.size == 10
        assert float(ceiled) == pytest.approx(float(ceiled.unceiled) / float(ceiled.ceiling))
        assert ceiled.ceiling.raw.dims == ("split",)
        wrong = model.copy(data=np.random.default_rng(3).permutation(model.values))
        assert float(score(wrong, target, metric, ceiling=False, region=None)) < float(ceiled.unceiled) - 0.2


def test_rdm_metric_sanity():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 10))
    assert rdm_similarity(a, a) == pytest.approx(1.0)
    # invariant to a per-presentation affine change (1 - Pearson ignores it) and to extra features
    assert rdm_similarity(a, 3 * a + 1) == pytest.approx(1.0)
    assert rdm_similarity(a, np.hstack([a, a])) == pytest.approx(1.0)
    b = rng.normal(size=(30, 10))
    upper = np.triu_indices(30, k=1)
    expected = spearmanr((1 - np.corrcoef(a))[upper], (1 - np.corrcoef(b))[upper])[0]
    assert rdm_similarity(a, b) == pytest.approx(expected)
    assert abs(expected) < 0.3


def _hsic_unbiased_reference(K, L):
    """Song et al. (2012) unbiased HSIC, written as in the paper."""
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    ones = np.ones(n)
    term = np.trace(K @ L) + (ones @ K @ ones) * (ones @ L @ ones) / ((n - 1) * (n - 2))
    term -= 2 / (n - 2) * ones @ K @ L @ ones
    return term / (n * (n - 3))


def test_cka_metric_sanity():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 8))
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    for unbiased in (True, False):
        assert cka(a, a, unbiased=unbiased) == pytest.approx(1.0)
        assert cka(a, 2.5 * a @ q, unbiased=unbiased) == pytest.approx(1.0)  # rotation + isotropic scale
        assert cka(a, a + 7.0, unbiased=unbiased) == pytest.approx(1.0)  # centring removes offsets
    b = rng.normal(size=(40, 8))
    K, L = a @ a.T, b @ b.T
    expected = _hsic_unbiased_reference(K, L) / np.sqrt(
        _hsic_unbiased_reference(K, K) * _hsic_unbiased_reference(L, L)
    )
    assert cka(a, b) == pytest.approx(expected)
    # independent wide features: the biased estimator is inflated, the unbiased one is not
    wide_a, wide_b = rng.normal(size=(20, 500)), rng.normal(size=(20, 500))
    assert cka(wide_a, wide_b, unbiased=False) > 0.7
    assert abs(cka(wide_a, wide_b)) < 0.1
    with pytest.raises(InvalidParameterError):
        cka(a[:3], a[:3])


def test_pearson_and_spearman_brown_helpers():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    expected = [pearsonr(a[:, j], b[:, j])[0] for j in range(3)]
    np.testing.assert_allclose(pearson_columns(a, b), expected)
    a[3, 1] = np.nan
    keep = np.arange(50) != 3
    assert pearson_columns(a, b)[1] == pytest.approx(pearsonr(a[keep, 1], b[keep, 1])[0])
    assert np.isnan(pearson_columns(np.ones((5, 1)), b[:5, :1])[0])
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.5, n=3) == pytest.approx(1.5 / 2)


def test_score_object_and_neural_predictivity_directly(data):
    model, target = data
    from brainbridge.assemblies import average_repetitions

    raw = neural_predictivity(
        model, average_repetitions(target), mapping="ridge_per_neuroid", stratification_coord=None
    )
    assert isinstance(raw, Score) and raw.unceiled is raw and raw.per_split().dims == ("split", "neuroid")
    assert "ridge_per_neuroid" in repr(raw) and "±" in repr(raw)
    assert isinstance(raw.raw, xr.DataArray)
    with pytest.raises(ScoringError, match="dims"):
        neural_predictivity(model, target.expand_dims("x"))


def test_top_level_score_and_ceiling_are_the_scoring_functions(data):
    import brainbridge

    model, target = data
    top = brainbridge.score(model, target, "ridge_per_neuroid", region=None)
    direct = score(model, target, "ridge_per_neuroid", region=None)
    assert float(top) == pytest.approx(float(direct)) and float(top.ceiling) == pytest.approx(
        float(direct.ceiling)
    )
    np.testing.assert_array_equal(top.unceiled.raw.values, direct.unceiled.raw.values)
    assert float(brainbridge.ceiling(target, region=None)) == pytest.approx(
        float(ceiling(target, region=None))
    )
    with pytest.raises(InvalidParameterError, match="metric"):
        brainbridge.score(model, target, "nope", region=None)

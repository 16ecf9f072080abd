"""Metric names mean what they mean in Brain-Score: each one against an independent re-implementation.

The references are written here from ``shared/reference/brainscore-metrics.md`` with
scikit-learn, scipy and pandas (float64), not with brainbridge's code.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from brainbridge.assemblies import ModelFeaturesAssembly, NeuronRecordingAssembly
from brainbridge.encoding.metrics import cka
from brainbridge.encoding.scoring import Score, ScoringError, ceiling, score

N_STIM, N_FEAT, N_REPS = 120, 16, 4

# Brain-Score's ALPHA_LIST, from the reference notes
ALPHA_LIST = np.concatenate(
    [[0.01, 0.1, 0.5, 1.0], np.linspace(10, 100, 4, endpoint=False)]
    + [np.linspace(10**k, 10 ** (k + 1), 18, endpoint=False) for k in (2, 3, 4, 5)]
    + [np.linspace(1e6, 1e7, 19)]
)


def _data(seed=0, n_stim=N_STIM, noise=1.5, regions=("V1",) * 4 + ("IT",) * 4):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_stim, N_FEAT))
    n = len(regions)
    signal = features @ rng.normal(size=(N_FEAT, n)) / 4
    ids = np.array([f"s{i:03d}" for i in range(n_stim)])
    stim = np.tile(np.arange(n_stim), N_REPS)
    reps = np.repeat(np.arange(N_REPS), n_stim)
    values = signal[stim] + noise * rng.normal(size=(len(stim), n))
    target = NeuronRecordingAssembly(
        values,
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids[stim]),
            "repetition": ("presentation", reps),
            "object_name": ("presentation", np.array([f"o{i % 4}" for i in range(n_stim)])[stim]),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(n)]),
            "region": ("neuroid", list(regions)),
        },
    )
    model = ModelFeaturesAssembly(
        features,
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids),
            "neuroid_id": ("neuroid", [f"f{i}" for i in range(N_FEAT)]),
        },
    )
    return model, target


@pytest.fixture(scope="module")
def data():
    return _data()


def _averaged(target, neuroids=None):
    frame = pd.DataFrame(target.values, index=target["stimulus_id"].values)
    if neuroids is not None:
        frame = frame.iloc[:, neuroids]
    mean = frame.groupby(level=0).mean().sort_index()
    objects = pd.Series(target["object_name"].values, index=target["stimulus_id"].values)
    return mean, objects.groupby(level=0).first().loc[mean.index]


def _reference_regression(model, target, estimator, neuroids):
    mean, objects = _averaged(target, neuroids)
    X = pd.DataFrame(model.values, index=model["stimulus_id"].values).loc[mean.index].to_numpy()
    medians = []
    for train, test in StratifiedShuffleSplit(n_splits=10, train_size=0.9, random_state=1).split(X, objects):
        prediction = estimator().fit(X[train], mean.values[train]).predict(X[test])
        r = [pearsonr(prediction[:, j], mean.values[test, j])[0] for j in range(mean.shape[1])]
        medians.append(np.nanmedian(r))
    return np.mean(medians), np.std(medians) / np.sqrt(10)


@pytest.mark.parametrize(
    ("metric", "estimator"),
    [
        ("ridge", lambda: Ridge(alpha=1.0)),
        ("ridgecv", lambda: RidgeCV(alphas=ALPHA_LIST)),
        ("linear", LinearRegression),
        ("linear_predictivity", LinearRegression),
    ],
)
def test_regression_names_compute_brainscores_estimators(data, metric, estimator):
    model, target = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ours = score(model, target, metric, region="V1", ceiling=False)
    expected, error = _reference_regression(model, target, estimator, [0, 1, 2, 3])
    assert float(ours) == pytest.approx(expected, abs=1e-10)
    assert ours.raw_error == pytest.approx(error, abs=1e-10)


def test_ridge_is_not_the_per_neuroid_ridge_and_says_so(data):
    model, target = data
    with pytest.warns(FutureWarning, match="ridge_per_neuroid"):
        brainscore_ridge = score(model, target, "ridge", region="IT", ceiling=False)
    per_neuroid = score(model, target, "ridge_per_neuroid", region="IT", ceiling=False)
    assert float(per_neuroid) != pytest.approx(float(brainscore_ridge), abs=1e-6)


def _rdm_reference(a, b):
    upper = np.triu_indices(len(a), k=1)
    return spearmanr((1 - np.corrcoef(a))[upper], (1 - np.corrcoef(b))[upper])[0]


def test_rdm_cv_and_cka_cv_score_the_test_part_of_test_size_09_splits(data):
    model, target = data
    mean, objects = _averaged(target, [4, 5, 6, 7])
    X = pd.DataFrame(model.values, index=model["stimulus_id"].values).loc[mean.index].to_numpy()
    splits = list(StratifiedShuffleSplit(n_splits=10, test_size=0.9, random_state=1).split(X, objects))
    assert all(len(test) == 108 for _, test in splits)
    expected_rdm = [_rdm_reference(X[test], mean.values[test]) for _, test in splits]
    ours = score(model, target, "rdm_cv", region="IT", ceiling=False)
    np.testing.assert_allclose(ours.raw.values, expected_rdm, atol=1e-12)
    assert ours.raw_error == pytest.approx(np.std(expected_rdm) / np.sqrt(10), abs=1e-12)
    expected_cka = [cka(X[test], mean.values[test]) for _, test in splits]
    np.testing.assert_allclose(
        score(model, target, "cka_cv", region="IT", ceiling=False).raw.values, expected_cka
    )
    # rdm: one comparison over every stimulus, no error
    whole = score(model, target, "rdm", region="IT", ceiling=False)
    assert (
        float(whole) == pytest.approx(_rdm_reference(X, mean.values), abs=1e-12) and whole.raw_error is None
    )


def test_ceiling_drops_neuroids_with_missing_half_means_like_brainscore():
    model, target = _data(seed=3)
    values = target.values.copy()
    stim = target["stimulus_id"].values
    reps = target["repetition"].values
    values[(stim == "s007") & (reps < 2), 1] = np.nan  # half means of neuroid 1 missing for some halvings
    holed = target.copy(data=values)
    with pytest.warns(UserWarning, match="1 of 8 neuroids left out"):
        ours = ceiling(holed, region=None)
    # Brain-Score: NaN for that neuroid in that split, skipped by the median
    unique = np.arange(N_REPS)
    codes = pd.factorize(stim, sort=True)[0]
    medians = []
    for first, second in ShuffleSplit(n_splits=10, train_size=0.5, random_state=1).split(unique):
        h = [
            pd.DataFrame(values[np.isin(reps, unique[p])]).groupby(codes[np.isin(reps, unique[p])]).mean()
            for p in (first, second)
        ]
        r = np.array(
            [
                pearsonr(h[0][c], h[1][c])[0] if h[0][c].notna().all() and h[1][c].notna().all() else np.nan
                for c in range(8)
            ]
        )
        medians.append(np.nanmedian(2 * r / (1 + r)))
    assert float(ours) == pytest.approx(np.mean(medians), abs=1e-14)
    assert ours.attrs["n_neuroids_dropped"].max() == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairwise = ceiling(holed, region=None, nan_policy="pairwise")
    assert pairwise.attrs["n_neuroids_dropped"].sum() == 0


def test_ceiled_score_exposes_raw_and_propagated_errors(data):
    model, target = data
    s = score(model, target, "ridge_per_neuroid", region="V1")
    r, c = float(s.unceiled), float(s.ceiling)
    assert float(s) == pytest.approx(r**2 / c)
    assert s.raw_error == s.error == s.unceiled.raw_error  # Brain-Score's error: the raw SEM
    assert s.ceiled_error == pytest.approx(2 * r / c * s.raw_error)
    assert s.value_error == s.ceiled_error
    assert f"± {s.ceiled_error:.4f}" in repr(s) and f"raw {r:.4f} ± {s.raw_error:.4f}" in repr(s)


def test_score_scores_each_region_by_default_and_pools_only_when_asked(data):
    model, target = data
    per_region = score(model, target, "ridge_per_neuroid")
    assert per_region.dims == ("region",) and list(per_region.regions) == ["V1", "IT"]
    for name in ("V1", "IT"):
        alone = score(model, target, "ridge_per_neuroid", region=name)
        assert float(per_region.regions[name]) == float(alone)
        assert float(per_region.sel(region=name)) == float(alone)
    pooled = score(model, target, "ridge_per_neuroid", region=None)
    assert pooled.ndim == 0 and float(pooled) not in [float(s) for s in per_region.regions.values()]
    with pytest.raises(ScoringError, match="one value per region"):
        float(per_region)
    ceilings = ceiling(target)
    assert float(ceilings.regions["IT"]) == float(ceiling(target, region="IT"))
    # a per-region ceiling is used region by region
    again = score(model, target, "ridge_per_neuroid", ceiling=ceilings)
    assert float(again.regions["IT"]) == float(per_region.regions["IT"])


def test_too_few_stimuli_fail_with_one_line_saying_what_is_needed():
    model, target = _data(n_stim=10)
    with pytest.raises(ScoringError, match=r"at least 3 held-out stimuli per split.*hold 1.*at least 30"):
        score(model, target, "pls", region=None, stratification_coord=None)


def test_a_ceiling_that_is_not_positive_fails_loudly():
    rng = np.random.default_rng(5)
    model, target = _data(seed=5)
    noise = target.copy(data=rng.normal(size=target.shape))  # repetitions that do not agree at all
    with (  # noqa: PT012 - the loop searches for a failing draw
        pytest.raises(ScoringError, match=r"ceiling is -?[0-9.]+ \(not positive.*ceiling=False"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        for seed in range(20):  # find noise whose ceiling comes out <= 0 (about half do)
            noise = target.copy(data=np.random.default_rng(seed).normal(size=target.shape))
            score(model, noise, "ridge_per_neuroid", region=None)
    raw = score(model, noise, "ridge_per_neuroid", region=None, ceiling=False)
    assert isinstance(raw, Score) and np.isfinite(float(raw))

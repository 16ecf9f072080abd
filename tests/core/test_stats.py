"""brainbridge.stats: the one home of neural statistics, against independent references."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr
from sklearn.model_selection import ShuffleSplit

from brainbridge import stats
from brainbridge.errors import ValidationError


def test_stats_is_numpy_only():
    tree = ast.parse(Path(stats.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert imported <= {"__future__", "math", "dataclasses", "numpy", "brainbridge.errors"}, imported


@pytest.mark.parametrize(
    ("n", "kwargs"),
    [
        (10, {"train_size": 0.5}),
        (7, {"train_size": 0.5}),
        (240, {"train_size": 0.9}),
        (240, {"test_size": 0.9}),
        (33, {}),
        (50, {"train_size": 20, "test_size": 5}),
    ],
)
def test_shuffle_split_equals_sklearn(n, kwargs):
    ours = stats.shuffle_split(n, n_splits=10, random_state=1, **kwargs)
    theirs = list(ShuffleSplit(n_splits=10, random_state=1, **kwargs).split(np.zeros(n)))
    assert len(ours) == len(theirs)
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


def test_shuffle_split_too_small_says_what_is_needed():
    with pytest.raises(ValidationError, match="cannot split 1 items"):
        stats.shuffle_split(1, train_size=0.5)


def test_group_means_equal_pandas_and_skip_nan():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(60, 4))
    values[[3, 7], 1] = np.nan
    codes = rng.integers(0, 9, size=60)
    expected = pd.DataFrame(values).groupby(codes).mean().reindex(range(10)).to_numpy()
    np.testing.assert_allclose(stats.group_means(values, codes, 10), expected, rtol=1e-14, equal_nan=True)
    # along another axis, integer input
    ints = rng.integers(0, 5, size=(3, 60))
    np.testing.assert_allclose(
        stats.group_means(ints, codes, 9, axis=1), pd.DataFrame(ints.T).groupby(codes).mean().to_numpy().T
    )


def test_mean_over_axis_skips_nan_without_warnings():
    values = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
    with np.errstate(all="raise"):
        out = stats.mean_over_axis(values, axis=1)
    np.testing.assert_array_equal(out, [2.0, np.nan])


def test_pearson_columns_nan_policies_match_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    a[4, 1] = np.nan
    pairwise = stats.pearson_columns(a, b)
    keep = np.isfinite(a[:, 1])
    assert pairwise[1] == pytest.approx(pearsonr(a[keep, 1], b[keep, 1])[0], abs=1e-14)
    assert pairwise[0] == pytest.approx(pearsonr(a[:, 0], b[:, 0])[0], abs=1e-14)
    propagated = stats.pearson_columns(a, b, nan_policy="propagate")
    assert np.isnan(propagated[1]) and propagated[2] == pytest.approx(pairwise[2])
    with pytest.raises(ValidationError, match="nan_policy"):
        stats.pearson_columns(a, b, nan_policy="omit")


def _brainscore_ceiling(data, stimulus, repetition):
    """Brain-Score's InternalConsistency, written from the reference notes with sklearn/pandas/scipy."""
    unique = np.unique(repetition)
    medians = []
    for first, second in ShuffleSplit(n_splits=10, train_size=0.5, random_state=1).split(unique):
        halves = []
        for part in (unique[first], unique[second]):
            mask = np.isin(repetition, part)
            halves.append(pd.DataFrame(data[mask]).groupby(stimulus[mask]).mean().sort_index())
        h1, h2 = halves[0].align(halves[1], join="inner", axis=0)
        r = np.array(
            [
                pearsonr(h1[c], h2[c])[0] if h1[c].notna().all() and h2[c].notna().all() else np.nan
                for c in h1.columns
            ]
        )
        medians.append(np.nanmedian(2 * r / (1 + r)))
    return np.mean(medians), np.std(medians) / np.sqrt(len(medians))


def test_split_half_reliability_equals_brainscore_formula_with_nan_trials():
    rng = np.random.default_rng(2)
    n_stim, n_rep, n_neuroids = 40, 6, 8
    truth = rng.normal(size=(n_stim, n_neuroids))
    stimulus = np.repeat(np.arange(n_stim), n_rep)
    repetition = np.tile(np.arange(n_rep), n_stim)
    data = truth[stimulus] + 0.7 * rng.normal(size=(len(stimulus), n_neuroids))
    # neuroid 2 misses every trial of stimulus 5 in repetitions 0-2: some halves have no mean there
    data[(stimulus == 5) & (repetition < 3), 2] = np.nan
    # neuroid 4 misses one trial: the half mean skips it (never missing)
    data[(stimulus == 9) & (repetition == 1), 4] = np.nan
    result = stats.split_half_reliability(data, stimulus, repetition)
    expected, expected_error = _brainscore_ceiling(data, stimulus, repetition)
    assert result.value == pytest.approx(expected, abs=1e-14)
    assert result.error == pytest.approx(expected_error, abs=1e-14)
    assert result.n_dropped.max() == 1 and result.n_dropped.min() == 0  # neuroid 2, in some splits only
    assert np.isfinite(result.per_split[:, 4]).all()
    pairwise = stats.split_half_reliability(data, stimulus, repetition, nan_policy="pairwise")
    assert pairwise.n_dropped.sum() == 0 and pairwise.value != result.value


def test_ceiled_error_is_the_propagated_raw_error():
    r, sem, c = 0.9013, 0.0038, 0.85
    # numeric derivative of each formula with the ceiling fixed
    for formula in ("r2", "legacy", "ratio"):
        h = 1e-6
        slope = (stats.ceiled_value(r + h, c, formula) - stats.ceiled_value(r - h, c, formula)) / (2 * h)
        assert stats.ceiled_error(r, sem, c, formula) == pytest.approx(abs(slope) * sem, rel=1e-6)
    assert stats.ceiled_error(r, sem, c) == pytest.approx(0.0080, abs=1e-4)  # the example

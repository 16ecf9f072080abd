"""Neural statistics, in one place and in numpy only.

Every table, plot and score of brainbridge computes these quantities here, so the same
thing always gets the same number:

* :func:`group_means`: the mean of the rows of each group (repetition averages, split
  halves), float64 sums in index order, NaN skipped;
* :func:`mean_over_axis`: the NaN-skipping float64 mean over one axis (time bins);
* :func:`pearson_columns`: Pearson r of matching columns (per neuroid), with Brain-Score's
  NaN behaviour (``'propagate'``) or pairwise deletion;
* :func:`spearman_brown`: the reliability of ``n`` times the data from a correlation;
* :func:`shuffle_split` / :func:`repetition_halves`: scikit-learn's ``ShuffleSplit``
  (same indices for the same seed), without needing scikit-learn;
* :func:`split_half_reliability`: Brain-Score's internal-consistency ceiling
  (``metrics/internal_consistency``) and its per-neuroid values;
* :func:`sem` and :func:`ceiled_error`: standard errors of scores and of ceiled scores;
* :func:`ncsnr_noise_ceiling` / :func:`noise_normalised_explained_variance`: NSD's fMRI noise
  ceiling from ``ncsnr`` and NED's per-voxel explained variance; :func:`ncsnr` computes it
  from single trials;
* :func:`split_half_ceilings`: NED's EEG (THINGS-EEG2) lower and upper noise ceilings and
  accuracy per output (channel x time), over random halvings of the repetitions.

Array conventions: rows are presentations (samples), columns are neuroids (targets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from brainbridge.errors import valid_values_message

__all__ = [
    "NAN_POLICIES",
    "SplitHalfCeilings",
    "SplitHalfReliability",
    "ceiled_error",
    "ceiled_value",
    "group_means",
    "mean_over_axis",
    "ncsnr",
    "ncsnr_noise_ceiling",
    "noise_normalised_explained_variance",
    "pearson_columns",
    "repetition_halves",
    "repetition_numbers",
    "sem",
    "shuffle_split",
    "spearman_brown",
    "split_half_ceilings",
    "split_half_reliability",
]

#: how a ceiling treats a neuroid whose split-half mean is missing for some stimulus:
#: ``'propagate'`` (Brain-Score: that neuroid is NaN in that split and left out of its
#: median) or ``'pairwise'`` (correlate over the stimuli present in both halves)
NAN_POLICIES = ("propagate", "pairwise")


def _invalid(message: str) -> Exception:
    from brainbridge.errors import ValidationError

    return ValidationError(message)


# --------------------------------------------------------------------------------------
# group means and averages
# --------------------------------------------------------------------------------------

#: the most bytes of input rows gathered at once by :func:`accumulate_in_order`
_BLOCK_BYTES = 64 << 20


def _occurrence_order(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions sorted by occurrence number within their group, then by group.

    Returns ``(positions, their codes, bounds)``: ``positions[bounds[k]:bounds[k + 1]]`` are the
    ``k``-th occurrences of every group that has more than ``k`` members, in increasing group
    order, so no group appears twice in a rank. Adding rank after rank adds each group's
    members in index order (the sequential sum a sorted ``np.add.reduceat`` computes) while
    every step is one vectorised gather and add over whole rows.
    """
    n = len(codes)
    if n == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), np.zeros(1, dtype=np.intp)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    by_rank = np.argsort(rank, kind="stable")  # stable: group order kept within a rank
    bounds = np.r_[0, np.cumsum(np.bincount(rank))]
    return order[by_rank], sorted_codes[by_rank], bounds


def accumulate_in_order(
    sums: np.ndarray, counts: np.ndarray | None, rows: np.ndarray, codes: np.ndarray
) -> None:
    """Add the rows of a 2-D array into ``sums`` (and valid counts into ``counts``), in place.

    ``sums[g] += rows[i]`` for every row ``i`` of group ``codes[i]``, in index order, with the
    input converted exactly to the accumulator's dtype (float64 / complex128). When ``counts``
    is given, NaN entries are skipped (added as 0) and the non-NaN entries counted.
    """
    positions, position_codes, bounds = _occurrence_order(codes)
    row_bytes = max(1, rows.shape[1] * rows.dtype.itemsize)
    step = max(1, _BLOCK_BYTES // row_bytes)
    for k in range(len(bounds) - 1):
        for lo in range(int(bounds[k]), int(bounds[k + 1]), step):
            hi = min(lo + step, int(bounds[k + 1]))
            groups = position_codes[lo:hi]
            # groups are increasing within a rank: a run without gaps is a slice (in-place add)
            target = slice(groups[0], groups[-1] + 1) if groups[-1] - groups[0] == hi - lo - 1 else groups
            block = rows.take(positions[lo:hi], axis=0)
            if counts is not None:
                valid = ~np.isnan(block)
                block = np.where(valid, block, 0)
                counts[target] += valid
            sums[target] += block


def accumulator_dtype(dtype: np.dtype) -> np.dtype:
    """float64 (complex128 for complex data): the dtype sums are accumulated in."""
    return np.dtype(np.complex128) if np.dtype(dtype).kind == "c" else np.dtype(np.float64)


def result_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of a mean: the input's floating dtype, float64 for integers."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def group_means(
    values: np.ndarray, codes: np.ndarray, n_groups: int | None = None, *, axis: int = 0, skipna: bool = True
) -> np.ndarray:
    """The mean of each group of entries along ``axis``.

    Sums are accumulated in float64 with each group's members added in index order, so the
    result does not depend on how the data is chunked or stored. A group without (valid)
    members is NaN.

    Parameters
    ----------
    values
        Any array; ``values.shape[axis] == len(codes)``.
    codes
        Integer group of every entry along ``axis`` (``0 .. n_groups - 1``).
    n_groups
        Number of groups (default ``codes.max() + 1``).
    axis
        The axis to reduce.
    skipna
        Ignore NaN entries (a group whose members are all NaN stays NaN).

    Returns
    -------
    ndarray
        ``values`` with ``axis`` of length ``n_groups``, in the input's floating dtype (float64
        for integer input).
    """
    values = np.asarray(values)
    codes = np.asarray(codes, dtype=np.intp)
    if codes.ndim != 1 or values.shape[axis] != len(codes):
        raise _invalid(
            f"need one group code per entry along axis {axis}: {len(codes)} codes for shape {values.shape}"
        )
    if n_groups is None:
        n_groups = int(codes.max()) + 1 if len(codes) else 0
    moved = np.moveaxis(values, axis, 0)
    n, rest = moved.shape[0], moved.shape[1:]
    rows = moved.reshape(n, -1)
    sums = np.zeros((n_groups, rows.shape[1]), dtype=accumulator_dtype(values.dtype))
    counts: np.ndarray = np.bincount(codes, minlength=n_groups).astype(np.float64)[:, None]
    accumulate_in_order(sums, None, rows, codes)
    # NaN handling costs nothing without NaN: redo the sums only when one came out NaN
    if skipna and values.dtype.kind == "f" and np.isnan(sums).any():
        sums[...] = 0
        counts = np.zeros(sums.shape, dtype=np.int64)
        accumulate_in_order(sums, counts, rows, codes)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return np.moveaxis(
        means.reshape((n_groups, *rest)).astype(result_dtype(values.dtype), copy=False), 0, axis
    )


def mean_over_axis(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The float64 mean over ``axis``, NaN entries skipped (NaN where all are NaN).

    Used to average responses over time bins. Unlike :func:`numpy.nanmean` it warns about
    nothing: an all-NaN slice is simply NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    total = np.where(valid, values, 0.0).sum(axis=axis)
    count = valid.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# --------------------------------------------------------------------------------------
# correlation and reliability
# --------------------------------------------------------------------------------------


def pearson_columns(a: np.ndarray, b: np.ndarray, *, nan_policy: str = "pairwise") -> np.ndarray | float:
    """Pearson correlation between matching columns of ``a`` and ``b`` (float64).

    Parameters
    ----------
    a, b : ndarray of shape (n_samples, n_columns) or (n_samples,)
    nan_policy
        ``'pairwise'``: rows where either value is NaN are left out of that column's
        correlation. ``'propagate'``: a column with any NaN is NaN (what
        :func:`scipy.stats.pearsonr` gives, and so Brain-Score).

    Returns
    -------
    ndarray of shape (n_columns,) (a float for 1-D inputs)
        NaN for a column with zero variance or fewer than two valid rows.
    """
    if nan_policy not in NAN_POLICIES:
        raise _invalid(valid_values_message("nan_policy", nan_policy, list(NAN_POLICIES)))
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise _invalid(f"cannot correlate arrays of shapes {a.shape} and {b.shape}")
    one_d = a.ndim == 1
    if one_d:
        a, b = a[:, None], b[:, None]
    valid = np.isfinite(a) & np.isfinite(b)
    incomplete = ~valid.all(axis=0)
    if not incomplete.any():
        ac = a - a.mean(axis=0)
        bc = b - b.mean(axis=0)
    else:
        count = valid.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            a_mean = np.where(valid, a, 0).sum(axis=0) / count
            b_mean = np.where(valid, b, 0).sum(axis=0) / count
        ac = np.where(valid, a - a_mean, 0.0)
        bc = np.where(valid, b - b_mean, 0.0)
    numerator = np.sum(ac * bc, axis=0)
    denominator = np.sqrt(np.sum(ac * ac, axis=0) * np.sum(bc * bc, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)
    r = np.clip(r, -1.0, 1.0)
    if nan_policy == "propagate":
        r[incomplete] = np.nan
    return float(r[0]) if one_d else r


def spearman_brown(r: np.ndarray | float, n: float = 2) -> np.ndarray | float:
    """Spearman-Brown prediction: reliability of ``n`` times the data from a correlation ``r``.

    ``n r / (1 + (n - 1) r)``; with ``n = 2`` it turns a split-half correlation into the
    reliability of the full data.
    """
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        corrected = n * r / (1 + (n - 1) * r)
    return float(corrected) if corrected.ndim == 0 else corrected


def shuffle_split(
    n: int,
    *,
    n_splits: int = 10,
    train_size: float | int | None = None,
    test_size: float | int | None = None,
    random_state: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's ``ShuffleSplit(n_splits, test_size, train_size, random_state)`` of ``n`` items.

    The same ``(train, test)`` index arrays as scikit-learn for the same arguments (one
    ``RandomState(random_state).permutation`` per split, test first), without importing it.
    Sizes are fractions (``test``: rounded up, ``train``: rounded down) or counts; with
    neither given the test part is 10 %.
    """
    if n_splits < 1:
        raise _invalid(f"n_splits must be at least 1, got {n_splits}")
    if test_size is None and train_size is None:
        test_size = 0.1

    def count(size, rounding) -> int | None:
        if size is None:
            return None
        if isinstance(size, (float, np.floating)):
            if not 0 < size < 1:
                raise _invalid(f"a split fraction must be between 0 and 1, got {size}")
            return int(rounding(size * n))
        return int(size)

    n_test = count(test_size, math.ceil)
    n_train = count(train_size, math.floor)
    if n_train is None:
        assert n_test is not None  # test_size defaults to 10 % when both sizes are None
        n_train = n - n_test
    elif n_test is None:
        n_test = n - n_train
    if n_train < 1 or n_test < 1 or n_train + n_test > n:
        raise _invalid(
            f"cannot split {n} items into {n_train} training and {n_test} test items; "
            "more items or other split sizes are needed"
        )
    rng = np.random.RandomState(random_state)
    splits = []
    for _ in range(n_splits):
        permutation = rng.permutation(n)
        splits.append((permutation[n_test : n_test + n_train], permutation[:n_test]))
    return splits


def repetition_numbers(stimulus_codes: np.ndarray) -> np.ndarray:
    """Number each stimulus's presentations 0, 1, 2... in order (what ``repetition`` means)."""
    codes = np.asarray(stimulus_codes, dtype=np.intp)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = (
        np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(codes) else np.empty(0, int)
    )
    rank = np.arange(len(codes)) - np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    out = np.empty(len(codes), dtype=np.intp)
    out[order] = rank
    return out


def repetition_halves(
    repetitions: np.ndarray, *, n_splits: int = 10, random_state: int | None = 1
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brain-Score's halvings of the unique repetition values.

    ``ShuffleSplit(n_splits, train_size=0.5, random_state)`` over the sorted unique values
    (Brain-Score's ``CrossValidationSingle(train_size=0.5, unique_split_values=True)``).

    Returns
    -------
    list of (first_half_values, second_half_values)
    """
    unique = np.unique(np.asarray(repetitions))
    if len(unique) < 2:
        raise _invalid(f"need at least 2 distinct repetitions to split in halves, got {len(unique)}")
    return [
        (unique[first], unique[second])
        for first, second in shuffle_split(
            len(unique), n_splits=n_splits, train_size=0.5, random_state=random_state
        )
    ]


def sem(values: np.ndarray) -> float:
    """Standard error of the mean across splits as Brain-Score computes it: ``std(ddof=0) / sqrt(n)``."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=0) / np.sqrt(len(values))) if len(values) else float("nan")


@dataclass(frozen=True)
class SplitHalfReliability:
    """The split-half internal consistency of a set of neuroids (Brain-Score's ceiling).

    Attributes
    ----------
    per_split
        ``(n_splits, n_neuroids)`` Spearman-Brown corrected split-half correlations (NaN for
        a neuroid left out of a split).
    halves
        The repetition values of each split's two halves.
    n_dropped
        Per split, the neuroids left out of that split's median (NaN: a missing split-half
        mean under ``nan_policy='propagate'``, or no variance).
    nan_policy
        See :data:`NAN_POLICIES`.
    """

    per_split: np.ndarray
    halves: list
    n_dropped: np.ndarray
    nan_policy: str

    @property
    def split_values(self) -> np.ndarray:
        """The median over neuroids of each split (NaN neuroids skipped)."""
        values = np.full(len(self.per_split), np.nan)
        for i, row in enumerate(self.per_split):
            finite = row[np.isfinite(row)]
            if len(finite):
                values[i] = np.median(finite)
        return values

    @property
    def value(self) -> float:
        """The ceiling: the mean over splits of the per-split medians."""
        return float(np.mean(self.split_values))

    @property
    def error(self) -> float:
        """Standard error of the ceiling across splits (:func:`sem`)."""
        return sem(self.split_values)

    @property
    def per_neuroid(self) -> np.ndarray:
        """Each neuroid's reliability: the mean over the splits where it is defined."""
        return mean_over_axis(self.per_split, axis=0)


def split_half_reliability(
    data: np.ndarray,
    stimulus_codes: np.ndarray,
    repetitions: np.ndarray | None = None,
    *,
    n_splits: int = 10,
    random_state: int | None = 1,
    nan_policy: str = "propagate",
) -> SplitHalfReliability:
    """Brain-Score's split-half internal consistency of every column of ``data``.

    For each of ``n_splits`` halvings of the repetition values (:func:`repetition_halves`),
    average each half per stimulus (:func:`group_means`, NaN trials skipped), correlate the
    two halves per neuroid across stimuli (:func:`pearson_columns` with ``nan_policy``) and
    apply :func:`spearman_brown` (``2 r / (1 + r)``).

    Parameters
    ----------
    data
        ``(n_presentations, n_neuroids)`` trial responses.
    stimulus_codes
        Integer stimulus of each presentation.
    repetitions
        Repetition number of each presentation (default :func:`repetition_numbers`).
    n_splits, random_state
        Brain-Score: 10 halvings with seed 1.
    nan_policy
        See :data:`NAN_POLICIES` (Brain-Score: ``'propagate'``).
    """
    if nan_policy not in NAN_POLICIES:
        raise _invalid(valid_values_message("nan_policy", nan_policy, list(NAN_POLICIES)))
    data = np.asarray(data, dtype=np.float64)
    codes = np.asarray(stimulus_codes, dtype=np.intp)
    if data.ndim != 2 or len(data) != len(codes):
        raise _invalid(
            f"need (presentations, neuroids) data with one stimulus code per row, got {data.shape}"
        )
    repetitions = repetition_numbers(codes) if repetitions is None else np.asarray(repetitions)
    n_stimuli = int(codes.max()) + 1 if len(codes) else 0
    halves = repetition_halves(repetitions, n_splits=n_splits, random_state=random_state)
    per_split = np.empty((len(halves), data.shape[1]))
    for i, (first, second) in enumerate(halves):
        in_first, in_second = np.isin(repetitions, first), np.isin(repetitions, second)
        mean1 = group_means(data[in_first], codes[in_first], n_stimuli)
        mean2 = group_means(data[in_second], codes[in_second], n_stimuli)
        # a stimulus without any trial in one half (every neuroid missing: a design imbalance, not
        # missing data of a neuroid) is left out for every neuroid, as an inner join on stimuli
        shown = ~(np.isnan(mean1).all(axis=1) | np.isnan(mean2).all(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            per_split[i] = spearman_brown(
                pearson_columns(mean1[shown], mean2[shown], nan_policy=nan_policy), n=2
            )
    n_dropped = (~np.isfinite(per_split)).sum(axis=1)
    return SplitHalfReliability(
        per_split=per_split, halves=halves, n_dropped=n_dropped, nan_policy=nan_policy
    )


# --------------------------------------------------------------------------------------
# ceiled scores
# --------------------------------------------------------------------------------------

CEILING_FORMULAS = ("r2", "legacy", "ratio")


def ceiled_value(raw: float, ceiling: float, formula: str = "r2") -> float:
    """A ceiled score: ``r**2 / c`` (``'r2'``, Brain-Score since 2026), ``(r / c)**2`` (``'legacy'``)
    or ``r / c`` (``'ratio'``, RDM and CKA)."""
    if formula == "r2":
        return raw**2 / ceiling
    if formula == "legacy":
        return (raw / ceiling) ** 2
    if formula == "ratio":
        return raw / ceiling
    raise _invalid(valid_values_message("ceiling formula", formula, list(CEILING_FORMULAS)))


def ceiled_error(raw: float, raw_error: float, ceiling: float, formula: str = "r2") -> float:
    """The raw score's standard error propagated to the ceiled score (first order).

    ``|d ceiled / d raw| * raw_error`` with the ceiling held fixed, as Brain-Score treats it:
    ``2 |r| / c`` for ``'r2'``, ``2 |r| / c**2`` for ``'legacy'``, ``1 / c`` for ``'ratio'``.
    (Brain-Score's ``Score.error`` of a ceiled score is the raw error, unscaled.)
    """
    if formula == "r2":
        slope = 2 * abs(raw) / ceiling
    elif formula == "legacy":
        slope = 2 * abs(raw) / ceiling**2
    elif formula == "ratio":
        slope = 1 / ceiling
    else:
        raise _invalid(valid_values_message("ceiling formula", formula, list(CEILING_FORMULAS)))
    return float(slope * raw_error)


def ncsnr_noise_ceiling(ncsnr: np.ndarray | float, n: float) -> np.ndarray | float:
    """NSD's noise ceiling from the noise-ceiling SNR: ``ncsnr**2 / (ncsnr**2 + 1 / n)``.

    ``n`` is the number of repetitions averaged in the target (3 for NSD's shared test images,
    30 for TVSD). Returned as a fraction in [0, 1] (NSD reports it times 100).
    """
    if not n > 0:
        raise _invalid(f"n (repetitions averaged) must be positive, got {n!r}")
    snr2 = np.square(np.asarray(ncsnr, dtype=np.float64))
    out = snr2 / (snr2 + 1.0 / n)
    return float(out) if out.ndim == 0 else out


def noise_normalised_explained_variance(r: np.ndarray, noise_ceiling: np.ndarray) -> np.ndarray:
    """NED/NSD's per-voxel explained variance in percent: ``100 * r**2 / NC``, clipped at 100.

    As NED's fwRF test script: negative ``r`` counts as 0 and a zero ceiling as ``1e-14``.
    """
    r = np.clip(np.asarray(r, dtype=np.float64), 0.0, None)
    nc = np.asarray(noise_ceiling, dtype=np.float64)
    nc = np.where(nc == 0, 1e-14, nc)
    return np.minimum(100.0 * r**2 / nc, 100.0)


def ncsnr(trials: np.ndarray, stimulus_codes: np.ndarray) -> np.ndarray:
    """NSD's noise-ceiling SNR of every column from single-trial responses (float64).

    As NSD (Allen et al. 2022): the noise variance is the mean over stimuli of the variance
    across a stimulus's repetitions (``ddof=1``, stimuli with one trial skipped); the signal
    variance is the variance over all trials minus the noise variance, floored at 0;
    ``ncsnr = sqrt(signal variance) / sqrt(noise variance)``. NSD z-scores betas per session
    first, so its total variance is 1; here the total is measured (the same for z-scored data).

    Parameters
    ----------
    trials
        ``(n_trials, n_columns)`` responses.
    stimulus_codes
        Integer stimulus of each trial.
    """
    trials = np.asarray(trials, dtype=np.float64)
    codes = np.asarray(stimulus_codes, dtype=np.intp)
    if trials.ndim != 2 or len(trials) != len(codes):
        raise _invalid(f"need (trials, columns) data with one stimulus code per trial, got {trials.shape}")
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    counts = np.bincount(codes, minlength=n_groups)
    means = group_means(trials, codes, n_groups)
    squares = group_means((trials - means[codes]) ** 2, codes, n_groups) * counts[:, None]
    repeated = counts > 1
    if not repeated.any():
        raise _invalid("ncsnr needs stimuli shown at least twice")
    noise_var = (squares[repeated] / (counts[repeated, None] - 1)).mean(axis=0)
    signal_var = np.maximum(trials.var(axis=0, ddof=1) - noise_var, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(signal_var) / np.sqrt(noise_var)


@dataclass(frozen=True)
class SplitHalfCeilings:
    """NED's THINGS-EEG2 noise ceilings (and, when predictions were given, accuracy).

    Every array has the shape of one image's response (``(channels, times)`` for EEG) and is
    the mean over the halvings; ``per_iteration`` holds each halving's values.

    Attributes
    ----------
    lower
        r(mean of half 2, mean of half 1) across images, per output.
    upper
        r(mean of all repetitions, mean of half 1).
    accuracy
        r(prediction, mean of half 1), or ``None`` without predictions.
    per_iteration
        ``{'lower'|'upper'|'accuracy': (n_iterations, ...)}``.
    halves
        The repetition indices of each halving's first half.
    """

    lower: np.ndarray
    upper: np.ndarray
    accuracy: np.ndarray | None
    per_iteration: dict
    halves: list


def split_half_ceilings(
    responses: np.ndarray,
    predictions: np.ndarray | None = None,
    *,
    n_iterations: int = 10,
    random_state: int | None = 0,
) -> SplitHalfCeilings:
    """NED's split-half noise ceilings of repeated responses, per output (EEG: channel x time).

    For each of ``n_iterations`` random halvings of the repetitions (``default_rng(random_state)``
    permutations; the first half gets ``n_reps // 2``), average each half per image and
    correlate across images, per output: the lower ceiling is r(half 2, half 1), the upper
    r(all repetitions, half 1), and the accuracy of ``predictions`` r(prediction, half 1)
    (the target NED scores against). Each is the mean over iterations.

    Parameters
    ----------
    responses
        ``(n_images, n_repetitions, *output_shape)`` (NED's EEG test data: ``(N, 80, 63, 140)``).
    predictions
        ``(n_images, *output_shape)``, e.g. a model's prediction averaged over its repetitions.
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim < 2 or responses.shape[1] < 2:
        raise _invalid(f"need (images, repetitions >= 2, ...) responses, got shape {responses.shape}")
    n_images, n_reps = responses.shape[:2]
    shape = responses.shape[2:]
    flat = responses.reshape(n_images, n_reps, -1)
    if predictions is not None:
        predictions = np.asarray(predictions, dtype=np.float64)
        if predictions.shape != (n_images, *shape):
            raise _invalid(f"predictions must have shape {(n_images, *shape)}, got {predictions.shape}")
        predictions = predictions.reshape(n_images, -1)
    rng = np.random.default_rng(random_state)
    everything = flat.mean(axis=1)
    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    accuracy: list[np.ndarray] = []
    halves: list[np.ndarray] = []
    for _ in range(n_iterations):
        order = rng.permutation(n_reps)
        first, second = order[: n_reps // 2], order[n_reps // 2 :]
        half1 = flat[:, first].mean(axis=1)
        half2 = flat[:, second].mean(axis=1)
        lower.append(np.asarray(pearson_columns(half2, half1)))
        upper.append(np.asarray(pearson_columns(everything, half1)))
        if predictions is not None:
            accuracy.append(np.asarray(pearson_columns(predictions, half1)))
        halves.append(np.sort(first))
    per_iteration: dict[str, np.ndarray] = {
        "lower": np.reshape(lower, (n_iterations, *shape)),
        "upper": np.reshape(upper, (n_iterations, *shape)),
    }
    if predictions is not None:
        per_iteration["accuracy"] = np.reshape(accuracy, (n_iterations, *shape))
    return SplitHalfCeilings(
        lower=per_iteration["lower"].mean(axis=0),
        upper=per_iteration["upper"].mean(axis=0),
        accuracy=per_iteration["accuracy"].mean(axis=0) if predictions is not None else None,
        per_iteration=per_iteration,
        halves=halves,
    )

"""Brain-Score's neural predictivity, internal-consistency ceiling, RDM and CKA scores.

Metric names mean what they mean in Brain-Score (``brain-score/vision`` 2.4.2,
``metrics/regression_correlation``, ``metrics/rdm``, ``metrics/cka``,
``metrics/internal_consistency``; see ``shared/reference/brainscore-metrics.md``):

``pls`` (= ``pls_cv``), ``ridge`` (= ``ridge_cv``), ``ridgecv``, ``linear`` (= ``linear_predictivity``)
    Cross-validated regression: the target is averaged over repetitions, both assemblies are
    aligned on ``stimulus_id`` and sorted by it; 10 ``StratifiedShuffleSplit`` splits
    (``train_size=0.9``, ``random_state=1``) stratified by ``object_name`` (``ShuffleSplit``
    without it). Per split: fit on the training stimuli, predict the held-out ones, Pearson r
    per neuroid, median over neuroids (NaN skipped). Score = mean over splits; error =
    ``std(ddof=0) / sqrt(n_splits)``. Mappings: ``PLSRegression(25, scale=False)``,
    ``Ridge(alpha=1)``, ``RidgeCV`` over Brain-Score's 99 alphas (one alpha shared by all
    neuroids), ``LinearRegression()``.
``ridge_per_neuroid``
    brainbridge's own (recommended) ridge: the same procedure, with one alpha per neuroid
    chosen by exact leave-one-out within each training split
    (:class:`~brainbridge.encoding.mappings.RidgeCVPerTarget`). Not a Brain-Score metric.
``rdm``, ``cka``
    One RDM (``1 - corrcoef``, Spearman of the upper triangles) or unbiased linear CKA
    comparison over all stimuli.
``rdm_cv``, ``cka_cv``
    The same on the **test** part of 10 ``test_size=0.9`` splits (Brain-Score's
    ``TestOnlyCrossValidation``); mean and SEM over splits.
internal-consistency ceiling
    :func:`brainbridge.stats.split_half_reliability`: 10 halvings of the ``repetition``
    values; each half averaged; Pearson r per neuroid; Spearman-Brown; median over neuroids
    (a neuroid with a missing split-half mean is NaN in that split and left out, as in
    Brain-Score); mean over splits.
ceiled score
    ``r**2 / ceiling`` (Brain-Score since 2026-01), or ``(r / ceiling)**2`` with
    ``ceiling_formula='legacy'``; RDM and CKA scores are ``score / ceiling``.

Scores are :class:`Score` objects (0-d :class:`xarray.DataArray`) that keep everything:
``attrs['raw']`` (the unceiled score, whose own ``attrs['raw']`` holds the ``split x neuroid``
values), ``attrs['error']`` (as in Brain-Score: the raw score's SEM, also for a ceiled score),
``attrs['raw_error']`` and ``attrs['ceiled_error']`` (that SEM propagated to the ceiled
value; what tables and plots show) and ``attrs['ceiling']``.

The split loop calls :func:`split_predictivity`, a pure function of arrays and indices, so it
can be fanned out with any ``map``-like callable (``map_fn``), e.g. a dask client's.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard, cast

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, StratifiedShuffleSplit

from brainbridge import stats
from brainbridge.assemblies import align, average_repetitions, average_time_bins, select
from brainbridge.deprecation import renamed_parameters
from brainbridge.encoding.errors import InvalidParameterError, ScoringError
from brainbridge.encoding.mappings import MappingEstimator, _blas_threads, make_mapping
from brainbridge.encoding.metrics import cka, rdm_similarity
from brainbridge.errors import valid_values_message
from brainbridge.progress import progress_bar
from brainbridge.stats import pearson_columns, spearman_brown

if TYPE_CHECKING:
    from brainbridge.encoding.features import Extractor

__all__ = [
    "METRICS",
    "METRIC_ALIASES",
    "PER_REGION",
    "Score",
    "ScoringError",
    "brainscore_splits",
    "ceiling",
    "internal_consistency",
    "neural_predictivity",
    "resolve_metric",
    "SCORE_TABLE_COLUMNS",
    "score",
    "score_many",
    "similarity",
    "split_predictivity",
]

#: metric name -> kind (``regression`` metrics are cross-validated mappings)
METRICS: dict[str, str] = {
    "pls": "regression",
    "ridge": "regression",
    "ridgecv": "regression",
    "linear": "regression",
    "ridge_per_neuroid": "regression",
    "rdm": "similarity",
    "rdm_cv": "similarity",
    "cka": "similarity",
    "cka_cv": "similarity",
}
#: Brain-Score's other registry names for the same metrics
METRIC_ALIASES: dict[str, str] = {
    "pls_cv": "pls",
    "ridge_cv": "ridge",
    "linear_predictivity": "linear",
    "linear_predictivity_cv": "linear",
}
CEILING_FORMULAS = ("r2", "legacy")
#: the fewest held-out stimuli a split needs for a per-neuroid Pearson r that means something
MIN_TEST_STIMULI = 3


class _PerRegion:
    """The default of ``region``: score each region separately when there are several."""

    def __repr__(self) -> str:
        return "'each'"


PER_REGION: Any = _PerRegion()


def resolve_metric(metric: str) -> str:
    """The canonical metric name (Brain-Score aliases resolved), or an error listing the valid ones."""
    name = METRIC_ALIASES.get(str(metric), str(metric))
    if name not in METRICS:
        raise InvalidParameterError(
            valid_values_message("metric", metric, sorted(METRICS) + sorted(METRIC_ALIASES))
        )
    if name == "ridge":
        warnings.warn(
            "metric 'ridge' is Brain-Score's Ridge(alpha=1) (it was brainbridge's per-neuroid "
            "leave-one-out ridge before 0.2); use 'ridge_per_neuroid' for that one",
            FutureWarning,
            stacklevel=3,
        )
    return name


# --------------------------------------------------------------------------------------
# the score object
# --------------------------------------------------------------------------------------


class Score(xr.DataArray):
    """A score: a 0-d DataArray whose ``attrs`` keep how it was obtained.

    ``attrs`` (as Brain-Score's ``Score``):

    ``raw``
        For a ceiled score, the unceiled :class:`Score`; for an unceiled one, the per-split
        values (``split x neuroid`` for regression metrics and ceilings, ``split`` otherwise).
    ``error``
        Standard error across splits (``std(ddof=0) / sqrt(n_splits)``); a ceiled score
        carries the unceiled error, unscaled, like Brain-Score (so it is *not* the error of
        the ceiled value: use :attr:`ceiled_error` for that).
    ``raw_error``
        The same raw-score SEM, under a name that says so.
    ``ceiled_error``
        The raw SEM propagated to the ceiled value (:func:`brainbridge.stats.ceiled_error`;
        ceiled scores only). Tables and plots show this one.
    ``ceiling``
        The ceiling :class:`Score` used (ceiled scores only).

    plus ``metric``, ``n_splits``, ``ceiling_formula``, ``time_s`` and, for regression
    metrics, ``predictions``/``measured`` (held-out predictions averaged over the splits that
    tested each stimulus, and the averaged measurements, ``presentation x neuroid``).
    """

    __slots__ = ()

    @property
    def error(self) -> float | None:
        """Brain-Score's ``error``: the raw score's standard error across splits (also when ceiled)."""
        return self.attrs.get("error")

    @property
    def raw_error(self) -> float | None:
        """The standard error of the raw (unceiled) score across splits."""
        return self.attrs.get("raw_error", self.attrs.get("error"))

    @property
    def ceiled_error(self) -> float | None:
        """The raw error propagated to this ceiled value (``None`` for an unceiled score)."""
        return self.attrs.get("ceiled_error")

    @property
    def value_error(self) -> float | None:
        """The error of ``float(self)``: :attr:`ceiled_error` when ceiled, else :attr:`raw_error`."""
        return self.ceiled_error if self.ceiling is not None else self.raw_error

    @property
    def regions(self) -> dict[str, Score]:
        """The per-region scores of a score computed region by region (``{}`` otherwise)."""
        return dict(self.attrs.get("per_region") or {})

    @property
    def raw(self) -> Any:
        """The unceiled score, or the per-split values of an unceiled score."""
        return self.attrs.get("raw")

    @property
    def ceiling(self) -> Score | None:
        """The ceiling used to normalise this score (``None`` when unceiled)."""
        return self.attrs.get("ceiling")

    @property
    def unceiled(self) -> Score:
        """The raw (unceiled) score: ``self`` when the score is not ceiled."""
        raw = self.attrs.get("raw")
        return raw if isinstance(raw, Score) else self

    def per_split(self) -> xr.DataArray | None:
        """The per-split values (``split x neuroid`` or ``split``) behind the unceiled score."""
        raw = self.unceiled.attrs.get("raw")
        return raw if isinstance(raw, xr.DataArray) else None

    def per_neuroid(self) -> xr.DataArray | None:
        """Mean over splits of the per-neuroid values (``None`` for RDM/CKA scores)."""
        values = self.per_split()
        if values is None or "neuroid" not in values.dims:
            return None
        return values.mean("split")

    def __float__(self) -> float:
        if self.ndim:
            raise ScoringError(
                f"this score has one value per region ({', '.join(self.regions)}): take one with "
                "score.regions['<region>'], or score with region=None to pool the regions"
            )
        return float(self.values)

    def __repr__(self) -> str:
        if self.ndim:
            inner = ", ".join(f"{name}: {float(s.values):.4f}" for name, s in self.regions.items())
            return f"<Score {self.attrs.get('metric', '')} per region {{{inner}}}>"
        parts = [f"<Score {self.attrs.get('metric', '')} {float(self.values):.4f}".replace("  ", " ")]
        if self.value_error is not None:
            parts.append(f"± {self.value_error:.4f}")
        if self.ceiling is not None:
            raw = f"raw {float(self.unceiled.values):.4f}"
            if self.raw_error is not None:
                raw += f" ± {self.raw_error:.4f}"
            parts.append(f"({raw}, ceiling {float(self.ceiling.values):.4f})")
        keys = ", ".join(sorted(map(str, self.attrs)))
        return " ".join(parts) + f"; attrs: {keys}>"

    __str__ = __repr__

    def _repr_html_(self) -> str:
        """Jupyter's display: value ± error, raw score, ceiling and the formula (not xarray's table).

        A per-region score shows one row per region.
        """
        from brainbridge.display import html_block, html_table

        metric = self.attrs.get("metric", "")
        if self.ndim:
            rows = [_summary_row(name, region) for name, region in self.regions.items()]
            return html_block(
                f"Score {metric} per region",
                html_table(rows, ["region", "score", "± error", "raw", "± raw error", "ceiling"]),
                note=_formula_note(self),
            )
        rows = [("score", _fmt(float(self.values)), _fmt(self.value_error))]
        if self.ceiling is not None:
            rows.append(("raw (unceiled)", _fmt(float(self.unceiled.values)), _fmt(self.raw_error)))
            rows.append(("ceiling", _fmt(float(self.ceiling.values)), _fmt(self.ceiling.attrs.get("error"))))
        value = f"{float(self.values):.4f}"
        if self.value_error is not None:
            value += f" ± {self.value_error:.4f}"
        table = html_table(rows, ["", "value", "± error"])
        return html_block(f"Score {metric}: {value}", table, note=_formula_note(self))


#: how each ``ceiling_formula`` turns the raw score into the ceiled one (for displays)
CEILING_FORMULA_TEXT = {
    "r2": "ceiled = r² / ceiling (Brain-Score since 2026-01)",
    "legacy": "ceiled = (r / ceiling)²",
    "ratio": "ceiled = score / ceiling",
}


def _fmt(value: Any) -> str:
    return "" if value is None else f"{float(value):.4f}"


def _summary_row(name: str, s: Score) -> tuple[str, ...]:
    ceiling = s.ceiling
    return (
        name,
        _fmt(float(s.values)),
        _fmt(s.value_error),
        _fmt(float(s.unceiled.values)),
        _fmt(s.raw_error),
        _fmt(None if ceiling is None else float(ceiling.values)),
    )


def _formula_note(s: Score) -> str:
    first = next(iter(s.regions.values()), s) if s.ndim else s
    formula = first.attrs.get("ceiling_formula")
    parts = [CEILING_FORMULA_TEXT.get(formula, str(formula))] if formula else ["not ceiled"]
    if first.attrs.get("n_splits"):
        parts.append(f"{first.attrs['n_splits']} splits; error = SEM across splits")
    return "; ".join(parts)


def _make_score(value: float, **attrs: Any) -> Score:
    return Score(np.float64(value), attrs=attrs)


def _units_attrs(target: xr.DataArray) -> dict[str, Any]:
    units = target.attrs.get("units")
    return {"units": str(units)} if units else {}


def _nanmedian_rows(values: np.ndarray) -> np.ndarray:
    """Median of each row over its finite entries (NaN for a row without any), warning-free."""
    out = np.full(len(values), np.nan)
    for i, row in enumerate(values):
        finite = row[np.isfinite(row)]
        if len(finite):
            out[i] = np.median(finite)
    return out


# --------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------


def brainscore_splits(
    n: int,
    stratify: Sequence | np.ndarray | None = None,
    *,
    n_splits: int = 10,
    train_size: float | None = 0.9,
    test_size: float | None = None,
    random_state: int | None = 1,
    kfold: bool = False,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brain-Score's cross-validation splits of ``n`` (sorted, unique) stimuli.

    ``StratifiedShuffleSplit`` when ``stratify`` labels are given, ``ShuffleSplit`` otherwise
    (``StratifiedKFold``/``KFold`` with shuffling when ``kfold``), with Brain-Score's
    defaults: 10 splits, ``train_size=0.9``, ``random_state=1``.

    Returns
    -------
    list of (train_indices, test_indices)
    """
    if n_splits < 1:
        raise InvalidParameterError(f"n_splits must be at least 1, got {n_splits}")
    if train_size is None and test_size is None:
        train_size = 0.9
    if kfold:
        splitter: Any = (
            StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
            if stratify is not None
            else KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        )
    elif stratify is not None:
        splitter = StratifiedShuffleSplit(
            n_splits=n_splits, train_size=train_size, test_size=test_size, random_state=random_state
        )
    else:
        splitter = ShuffleSplit(
            n_splits=n_splits, train_size=train_size, test_size=test_size, random_state=random_state
        )
    args = [np.asarray(stratify)] if stratify is not None else []
    try:
        return [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(np.zeros(n), *args)]
    except ValueError as e:
        raise ScoringError(f"cannot build {n_splits} cross-validation splits of {n} stimuli: {e}") from e


# --------------------------------------------------------------------------------------
# neural predictivity
# --------------------------------------------------------------------------------------


def split_predictivity(
    X: np.ndarray,
    Y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    mapping: str | MappingEstimator = "pls",
    mapping_params: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One cross-validation split: fit on ``train``, predict ``test``, Pearson r per neuroid.

    A pure function of arrays (picklable arguments), so splits can run in separate processes
    or on a dask cluster.

    Returns
    -------
    r : ndarray of shape (n_neuroids,)
    prediction : ndarray of shape (len(test), n_neuroids)
    """
    model = make_mapping(mapping, **dict(mapping_params or {}))
    with np.errstate(all="ignore"):
        model.fit(X[train], Y[train])
        prediction = np.asarray(model.predict(X[test]), dtype=np.float64).reshape(len(test), -1)
    # a constant prediction has no correlation: NaN, left out of the median like Brain-Score
    return np.asarray(pearson_columns(prediction, Y[test], nan_policy="propagate")), prediction


def _check_split_sizes(splits: list, n: int, what: str, use: str = "test") -> None:
    """One line saying what is wrong when a split holds too few stimuli to correlate over."""
    sizes = [len(test if use == "test" else train) for train, test in splits]
    smallest = min(sizes) if sizes else 0
    if smallest < MIN_TEST_STIMULI:
        raise ScoringError(
            f"{what} needs at least {MIN_TEST_STIMULI} {'held-out' if use == 'test' else 'scored'} "
            f"stimuli per split, but the splits of these {n} stimuli hold {smallest}: use more stimuli "
            f"(with the default train_size=0.9, at least {10 * MIN_TEST_STIMULI}) or a smaller train_size"
        )


def _check_pair(array: xr.DataArray, what: str) -> None:
    if not isinstance(array, xr.DataArray):
        raise ScoringError(f"the {what} must be an assembly (xarray DataArray), got {type(array).__name__}")
    if set(array.dims) != {"presentation", "neuroid"}:
        raise ScoringError(f"the {what} must have dims presentation x neuroid, got {tuple(array.dims)}")
    if "stimulus_id" not in array.coords:
        raise ScoringError(f"the {what} has no 'stimulus_id' coordinate on 'presentation'")


def _neuroid_coords(target: xr.DataArray) -> dict[str, tuple[str, np.ndarray]]:
    coords = {}
    for name in ("neuroid_id", "region", "animal", "subregion"):
        if name in target.coords and target[name].dims == ("neuroid",):
            coords[name] = ("neuroid", np.asarray(target[name].values))
    if "neuroid_id" not in coords:
        coords["neuroid_id"] = ("neuroid", np.arange(target.sizes["neuroid"]).astype(str))
    return coords


def _stratification(target: xr.DataArray, coord: str | None) -> np.ndarray | None:
    if not coord:
        return None
    if coord not in target.coords or target[coord].dims != ("presentation",):
        if coord == "object_name":  # Brain-Score's default; data without it splits unstratified
            warnings.warn(
                "the target has no 'object_name' coordinate: using unstratified ShuffleSplit "
                "(pass stratification_coord=None to silence this)",
                stacklevel=3,
            )
            return None
        available = [str(c) for c in target.coords if target[c].dims == ("presentation",)]
        raise ScoringError(f"no stratification coordinate {coord!r} on presentation; available: {available}")
    return np.asarray(target[coord].values).astype(str)


def _run_splits(
    function: Callable, argument_lists: list[tuple], map_fn: Callable | None, progress: bool | None, desc: str
) -> list:
    if map_fn is not None:
        return list(map_fn(function, *zip(*argument_lists)))
    bar = progress_bar(argument_lists, desc=desc, progress=progress, leave=False)
    return [function(*args) for args in bar]


@renamed_parameters(show_progress="progress")
def neural_predictivity(
    source: xr.DataArray,
    target: xr.DataArray,
    *,
    mapping: str | MappingEstimator = "pls",
    mapping_params: dict[str, Any] | None = None,
    stratification_coord: str | None = "object_name",
    n_splits: int = 10,
    train_size: float | None = 0.9,
    test_size: float | None = None,
    random_state: int | None = 1,
    kfold: bool = False,
    progress: bool | None = None,
    map_fn: Callable | None = None,
) -> Score:
    """Brain-Score's cross-validated neural predictivity (raw, unceiled).

    Parameters
    ----------
    source
        Features ``presentation x neuroid`` with ``stimulus_id`` (one row per stimulus).
    target
        Responses ``presentation x neuroid`` averaged over repetitions (one row per stimulus).
    mapping
        A name of :func:`~brainbridge.encoding.mappings.make_mapping` (``'pls'``, ``'ridge'``,
        ``'ridgecv'``, ``'linear'``, ``'ridge_per_neuroid'``) or an estimator instance.
    mapping_params
        Parameters for the mapping (e.g. ``{'alphas': [...]}`` or ``{'n_components': 10}``).
        ``'ridge_per_neuroid'`` chooses each neuroid's alpha by exact leave-one-out within the
        training split unless ``{'cv': 5}`` (or another splitter) is given.
    stratification_coord, n_splits, train_size, test_size, random_state, kfold
        The split (see :func:`brainscore_splits`); stratification labels come from the target.
    progress
        Progress bar over splits (``None``: on a terminal).
    map_fn
        A ``map``-like callable ``map_fn(function, *iterables)`` to run the splits, e.g.
        ``lambda f, *a: client.gather(client.map(f, *a))`` for a dask cluster.

    Returns
    -------
    Score
        Mean over splits of the median over neuroids of the held-out Pearson r.
    """
    _check_pair(source, "source")
    _check_pair(target, "target")
    started = time.perf_counter()
    source, target = align(source, target)
    stratify = _stratification(target, stratification_coord)
    n = target.sizes["presentation"]
    splits = brainscore_splits(
        n,
        stratify,
        n_splits=n_splits,
        train_size=train_size,
        test_size=test_size,
        random_state=random_state,
        kfold=kfold,
    )
    _check_split_sizes(splits, n, "neural predictivity")
    X = np.asarray(source.transpose("presentation", "neuroid").values)
    Y = np.asarray(target.transpose("presentation", "neuroid").values, dtype=np.float64)
    if not np.all(np.isfinite(Y)):
        raise ScoringError("the target has NaN or infinite responses after averaging repetitions")
    arguments = [(X, Y, train, test, mapping, mapping_params) for train, test in splits]
    results = _run_splits(split_predictivity, arguments, map_fn, progress, "neural predictivity")

    r = np.stack([result[0] for result in results])  # split x neuroid
    prediction_sum = np.zeros_like(Y)
    tested = np.zeros(n)
    for (_, test), (_, prediction) in zip(splits, results):
        prediction_sum[test] += prediction
        tested[test] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        predictions = prediction_sum / tested[:, None]
    predictions[tested == 0] = np.nan

    if not np.isfinite(r).any():
        raise ScoringError(
            "no neuroid has a defined held-out correlation in any split (constant responses or "
            "constant predictions): the target needs responses that vary across stimuli"
        )
    per_split = _nanmedian_rows(r)
    neuroid_coords = _neuroid_coords(target)
    raw = xr.DataArray(
        r,
        dims=["split", "neuroid"],
        coords={"split": np.arange(len(splits)), **neuroid_coords},
        name="pearson_r",
    )
    presentation_coords = {"stimulus_id": ("presentation", np.asarray(target["stimulus_id"].values))}
    if stratify is not None:
        presentation_coords[str(stratification_coord)] = ("presentation", stratify)
    frame: dict[str, Any] = {
        "dims": ["presentation", "neuroid"],
        "coords": {**presentation_coords, **neuroid_coords},
    }
    error = stats.sem(per_split)
    return _make_score(
        float(np.nanmean(per_split)),
        raw=raw,
        error=error,
        raw_error=error,
        n_neuroids_dropped=(~np.isfinite(r)).sum(axis=1),
        metric=mapping if isinstance(mapping, str) else type(mapping).__name__,
        n_splits=len(splits),
        predictions=xr.DataArray(predictions, name="prediction", **frame),
        measured=xr.DataArray(Y, name="measured", attrs=_units_attrs(target), **frame),
        time_s=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------
# RDM / CKA
# --------------------------------------------------------------------------------------


def similarity(
    source: xr.DataArray,
    target: xr.DataArray,
    *,
    metric: str = "rdm_cv",
    stratification_coord: str | None = "object_name",
    n_splits: int = 10,
    train_size: float | None = None,
    test_size: float | None = 0.9,
    random_state: int | None = 1,
    kfold: bool = False,
    unbiased: bool = True,
) -> Score:
    """RDM or CKA similarity, over all stimuli or cross-validated as Brain-Score does.

    ``'rdm'``/``'cka'``: one comparison over every stimulus (Brain-Score ``RDMMetric`` /
    ``CKAMetric``; no error). ``'rdm_cv'``/``'cka_cv'``: Brain-Score's
    ``TestOnlyCrossValidation(test_size=0.9)``: each split's **test** part (90 % of the
    stimuli; the 10 % training part is unused) is one subset; the score is the mean over
    subsets with the standard error across them.
    """
    if metric not in ("rdm", "cka", "rdm_cv", "cka_cv"):
        raise InvalidParameterError(
            valid_values_message("similarity metric", metric, ["cka", "cka_cv", "rdm", "rdm_cv"])
        )
    _check_pair(source, "source")
    _check_pair(target, "target")
    started = time.perf_counter()
    source, target = align(source, target)
    n = target.sizes["presentation"]
    X = np.asarray(source.transpose("presentation", "neuroid").values, dtype=np.float64)
    Y = np.asarray(target.transpose("presentation", "neuroid").values, dtype=np.float64)
    compare = _similarity_function(metric.removesuffix("_cv"), unbiased)
    if not metric.endswith("_cv"):
        if n < MIN_TEST_STIMULI + 1:
            raise ScoringError(f"{metric} needs at least {MIN_TEST_STIMULI + 1} stimuli, got {n}")
        with _blas_threads(n), np.errstate(all="ignore"):
            value = float(compare(X, Y))
        if not np.isfinite(value):
            raise ScoringError(f"{metric} is undefined on this data (constant responses?)")
        return _make_score(
            value,
            raw=None,
            error=None,
            raw_error=None,
            metric=metric,
            n_splits=0,
            time_s=time.perf_counter() - started,
        )
    stratify = _stratification(target, stratification_coord)
    splits = brainscore_splits(
        n,
        stratify,
        n_splits=n_splits,
        train_size=train_size,
        test_size=test_size,
        random_state=random_state,
        kfold=kfold,
    )
    _check_split_sizes(splits, n, metric)
    with _blas_threads(X.shape[0]), np.errstate(all="ignore"):
        values = np.array([compare(X[subset], Y[subset]) for _, subset in splits])
    if not np.isfinite(values).all():
        raise ScoringError(f"{metric} is undefined on some splits of this data (constant responses?)")
    error = stats.sem(values)
    return _make_score(
        values.mean(),
        raw=xr.DataArray(values, dims=["split"], coords={"split": np.arange(len(values))}, name=metric),
        error=error,
        raw_error=error,
        metric=metric,
        n_splits=len(values),
        time_s=time.perf_counter() - started,
    )


def _similarity_function(metric: str, unbiased: bool = True) -> Callable[[np.ndarray, np.ndarray], float]:
    if metric == "rdm":
        return rdm_similarity
    return lambda a, b: cka(a, b, unbiased=unbiased)


# --------------------------------------------------------------------------------------
# ceiling
# --------------------------------------------------------------------------------------


def _repetitions(assembly: xr.DataArray, split_coord: str, codes: np.ndarray) -> np.ndarray:
    if split_coord in assembly.coords and assembly[split_coord].dims == ("presentation",):
        return np.asarray(assembly[split_coord].values)
    if split_coord != "repetition":
        raise ScoringError(f"no {split_coord!r} coordinate on presentation to split the ceiling on")
    return stats.repetition_numbers(codes)


@renamed_parameters(show_progress="progress")
def internal_consistency(
    assembly: xr.DataArray,
    *,
    metric: str = "pearson",
    split_coord: str = "repetition",
    n_splits: int = 10,
    train_size: float = 0.5,
    random_state: int | None = 1,
    unbiased: bool = True,
    nan_policy: str = "propagate",
    progress: bool | None = None,
) -> Score:
    """Split-half internal consistency of a non-averaged assembly (Brain-Score's ceiling).

    Parameters
    ----------
    assembly
        ``presentation x neuroid`` responses with repeated ``stimulus_id`` and a
        ``repetition`` coordinate (numbered per stimulus when absent).
    metric
        ``'pearson'`` (per neuroid; for regression scores), ``'rdm'`` or ``'cka'`` (one value
        per split).
    split_coord
        The coordinate whose unique values are split into halves.
    n_splits, train_size, random_state
        ``ShuffleSplit`` of the unique ``split_coord`` values (Brain-Score: 10, 0.5, 1).
    nan_policy
        ``'propagate'`` (Brain-Score): a neuroid whose split-half mean is missing for some
        stimulus (every trial of that half NaN) is NaN in that split and left out of the
        split's median; ``'pairwise'``: correlate it over the stimuli present in both halves.
        ``attrs['n_neuroids_dropped']`` counts the neuroids left out of each split (a warning
        says so when there are any).

    Returns
    -------
    Score
        Mean over splits of the (median over neuroids of the) Spearman-Brown corrected
        split-half consistency; ``attrs['raw']`` holds the per-split (per-neuroid) values.
    """
    _check_pair(assembly, "assembly")
    if metric not in ("pearson", "rdm", "cka"):
        raise InvalidParameterError(
            valid_values_message("consistency metric", metric, ["cka", "pearson", "rdm"])
        )
    if train_size != 0.5:
        raise InvalidParameterError(
            f"the split-half ceiling splits the repetitions in halves (train_size=0.5), got {train_size}"
        )
    started = time.perf_counter()
    codes, stimulus_ids = pd.factorize(np.asarray(assembly["stimulus_id"].values).astype(str), sort=True)
    repetitions = _repetitions(assembly, split_coord, codes)
    unique = np.unique(repetitions)
    if len(unique) < 2:
        raise ScoringError(
            f"the ceiling needs at least 2 distinct {split_coord!r} values to split in halves, "
            f"got {len(unique)}"
        )
    if len(stimulus_ids) < MIN_TEST_STIMULI:
        raise ScoringError(f"the ceiling needs at least {MIN_TEST_STIMULI} stimuli, got {len(stimulus_ids)}")
    data = np.asarray(assembly.transpose("presentation", "neuroid").values, dtype=np.float64)
    with _blas_threads(len(stimulus_ids)):
        if metric == "pearson":
            result = stats.split_half_reliability(
                data, codes, repetitions, n_splits=n_splits, random_state=random_state, nan_policy=nan_policy
            )
            values, per_split, dropped = result.per_split, result.split_values, result.n_dropped
            raw = xr.DataArray(
                values,
                dims=["split", "neuroid"],
                coords={"split": np.arange(len(values)), **_neuroid_coords(assembly)},
                name="ceiling",
            )
        else:
            halves = stats.repetition_halves(repetitions, n_splits=n_splits, random_state=random_state)
            compare = _similarity_function(metric, unbiased)
            split_values: list[np.ndarray | float] = []
            for first, second in progress_bar(halves, desc="ceiling", progress=progress, leave=False):
                in1, in2 = np.isin(repetitions, first), np.isin(repetitions, second)
                half1 = stats.group_means(data[in1], codes[in1], len(stimulus_ids))
                half2 = stats.group_means(data[in2], codes[in2], len(stimulus_ids))
                shown = np.all(np.isfinite(half1), axis=1) & np.all(np.isfinite(half2), axis=1)
                with np.errstate(all="ignore"):
                    split_values.append(spearman_brown(compare(half1[shown], half2[shown]), n=2))
            per_split = np.asarray(split_values, dtype=np.float64)
            dropped = np.zeros(len(per_split), dtype=int)
            raw = xr.DataArray(
                per_split, dims=["split"], coords={"split": np.arange(len(per_split))}, name="ceiling"
            )
    if dropped.any():
        warnings.warn(
            f"ceiling: {int(dropped.max())} of {data.shape[1]} neuroids left out of a split's median "
            f"(missing split-half means or no variance; {int(dropped.sum())} neuroid-splits in all, "
            f"nan_policy={nan_policy!r})",
            stacklevel=2,
        )
    error = stats.sem(per_split)
    return _make_score(
        float(np.mean(per_split)),
        raw=raw,
        error=error,
        raw_error=error,
        metric=f"internal_consistency_{metric}",
        n_splits=len(per_split),
        n_neuroids_dropped=np.asarray(dropped),
        nan_policy=nan_policy,
        time_s=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------
# the public entry points
# --------------------------------------------------------------------------------------


def _prepare_target(
    target: xr.DataArray,
    *,
    time_bin: str | int | tuple[float, float] | None,
    region: str | Iterable[str] | None,
) -> xr.DataArray:
    """Region selection and time-bin reduction: a ``presentation x neuroid`` assembly."""
    if not isinstance(target, xr.DataArray):
        raise ScoringError(f"the target must be an assembly (xarray DataArray), got {type(target).__name__}")
    if region is not None and region is not PER_REGION:
        target = select(target, region=region)
    if "time_bin" in target.dims:
        if time_bin not in (None, "average", "mean"):
            # one bin left (the mean below drops the dim); select reports another string
            target = select(target, time_bin=cast("tuple[float, float] | int", time_bin))
        target = average_time_bins(target)
    extra = set(target.dims) - {"presentation", "neuroid"}
    if extra:
        raise ScoringError(
            f"cannot score an assembly with extra dims {sorted(map(str, extra))}; "
            "select or average them first"
        )
    return target


def _regions(target: xr.DataArray) -> list[str]:
    """The distinct regions of the target's neuroids, in order ([] without a region coordinate)."""
    if "region" not in target.coords or target["region"].dims != ("neuroid",):
        return []
    return list(dict.fromkeys(np.asarray(target["region"].values).astype(str)))


def _per_region_score(results: dict[str, Score], metric: str) -> Score:
    """One score per region, as a ``region`` vector whose ``regions`` are the full scores."""
    return Score(
        np.array([float(r.values) for r in results.values()]),
        dims=["region"],
        coords={"region": list(results)},
        attrs={"metric": metric, "per_region": results},
    )


def _is_extractor(source: Any) -> TypeGuard[Extractor]:
    return hasattr(source, "extract") and callable(source.extract) and not isinstance(source, xr.DataArray)


def _features(
    source: Extractor | xr.DataArray, target: xr.DataArray, layer: str | Sequence[str] | None, progress
) -> xr.DataArray:
    if _is_extractor(source):
        stimulus_set = target.attrs.get("stimulus_set")
        if stimulus_set is None:
            raise ScoringError(
                "cannot apply a feature extractor: the target has no attrs['stimulus_set'] "
                "(load it from a catalog, or pass a features assembly instead)"
            )
        layers = [layer] if isinstance(layer, str) else layer
        return source.extract(stimulus_set, layers=layers, progress=progress)
    if not isinstance(source, xr.DataArray):
        raise ScoringError(
            f"the source must be a features assembly or a feature extractor, got {type(source).__name__}"
        )
    if "layer" in source.coords and source["layer"].dims == ("neuroid",):
        layers_present = list(pd.unique(np.asarray(source["layer"].values)))
        if layer is not None:
            wanted = [layer] if isinstance(layer, str) else list(layer)
            unknown = [name for name in wanted if name not in layers_present]
            if unknown:
                raise ScoringError(valid_values_message("layer", unknown, layers_present))
            source = source.isel(neuroid=np.flatnonzero(np.isin(np.asarray(source["layer"].values), wanted)))
    if "time_bin" in source.dims:
        source = average_time_bins(source)
    if source.sizes.get("presentation", 0) and "stimulus_id" in source.coords:
        ids = pd.Index(np.asarray(source["stimulus_id"].values).astype(str))
        if not ids.is_unique:
            source = average_repetitions(source)
    return source


def _consistency_metric(metric: str) -> str:
    return "pearson" if METRICS[metric] == "regression" else metric.removesuffix("_cv")


@renamed_parameters(show_progress="progress")
def ceiling(
    assembly: xr.DataArray,
    metric: str = "pls",
    *,
    time_bin: str | int | tuple[float, float] | None = "average",
    region: Any = PER_REGION,
    n_splits: int = 10,
    random_state: int | None = 1,
    nan_policy: str = "propagate",
    progress: bool | None = None,
) -> Score:
    """The internal-consistency ceiling of a (non-averaged) neural assembly.

    Parameters
    ----------
    assembly
        ``presentation x neuroid [x time_bin]`` responses with repetitions.
    metric
        The score the ceiling is for: a regression metric (per-neuroid Pearson consistency),
        ``'rdm'``/``'rdm_cv'`` or ``'cka'``/``'cka_cv'``.
    time_bin, region
        As in :func:`score` (by default one ceiling per region when there are several).
    nan_policy
        See :func:`internal_consistency`.

    Returns
    -------
    Score
        See :func:`internal_consistency`; per region (:attr:`Score.regions`) when scored so.
    """
    metric = resolve_metric(metric)
    if region is PER_REGION:
        regions = _regions(assembly)
        if len(regions) > 1:
            return _per_region_score(
                {
                    name: ceiling(
                        assembly,
                        metric,
                        time_bin=time_bin,
                        region=name,
                        n_splits=n_splits,
                        random_state=random_state,
                        nan_policy=nan_policy,
                        progress=progress,
                    )
                    for name in regions
                },
                f"ceiling_{metric}",
            )
        region = None
    prepared = _prepare_target(assembly, time_bin=time_bin, region=region)
    return internal_consistency(
        prepared,
        metric=_consistency_metric(metric),
        n_splits=n_splits,
        random_state=random_state,
        nan_policy=nan_policy,
        progress=progress,
    )


@renamed_parameters(show_progress="progress")
def score(
    source: Extractor | xr.DataArray,
    target: xr.DataArray,
    metric: str = "pls",
    *,
    layer: str | Sequence[str] | None = None,
    stratification_coord: str | None = "object_name",
    n_splits: int = 10,
    ceiling: bool | float | Score | None = True,
    ceiling_formula: str = "r2",
    time_bin: str | int | tuple[float, float] | None = "average",
    region: Any = PER_REGION,
    mapping_params: dict[str, Any] | None = None,
    nan_policy: str = "propagate",
    progress: bool | None = None,
    map_fn: Callable | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    **split_options: Any,
) -> Score:
    """Score model features against neural data the Brain-Score way.

    Parameters
    ----------
    source
        A features assembly (``presentation x neuroid`` with ``stimulus_id``; a ``layer``
        coordinate is selected with ``layer``) or a feature extractor (anything with
        ``extract(stimuli, layers=...)``), applied to ``target.attrs['stimulus_set']``.
    target
        Neural responses ``presentation x neuroid [x time_bin]``, with repetitions.
    metric
        A Brain-Score metric, computed as Brain-Score does: ``'pls'``, ``'ridge'``
        (``Ridge(alpha=1)``), ``'ridgecv'`` (one alpha for all neuroids), ``'linear'``,
        ``'rdm'``, ``'rdm_cv'``, ``'cka'``, ``'cka_cv'`` (and the aliases of
        :data:`METRIC_ALIASES`); or brainbridge's ``'ridge_per_neuroid'`` (one leave-one-out
        alpha per neuroid; recommended for ridge regression).
    layer
        The layer(s) to use from the extractor or the features assembly.
    stratification_coord
        Coordinate of the target to stratify splits by (default ``object_name``; falls back
        to unstratified splits with a warning when the target lacks it); ``None``: unstratified.
    n_splits
        Number of cross-validation splits (10).
    ceiling
        ``True``: compute the internal-consistency ceiling on the non-averaged target (a
        warning and an unceiled score when the target has no repetitions; an error when the
        ceiling is not positive); a number or a ceiling :class:`Score`: use it;
        ``False``/``None``: return the raw score.
    ceiling_formula
        ``'r2'``: ``r**2 / ceiling`` (Brain-Score since 2026-01); ``'legacy'``: ``(r / ceiling)**2``.
        RDM and CKA scores are always ``score / ceiling``.
    time_bin
        ``'average'`` (default) averages over ``time_bin``; an integer position or a
        ``(start, end)`` pair selects one bin.
    region
        Default: when the target's neuroids have a ``region`` coordinate with several values,
        score each region separately (as the ``score`` command does) and return a per-region
        :class:`Score` (``s.regions['IT']``). A region name or a list: restrict the target to
        those. ``None``: pool every neuroid, whatever its region.
    mapping_params
        Passed to the mapping (``{'alphas': ...}``, ``{'n_components': ...}``).
    nan_policy
        How the ceiling treats missing split-half means (see :func:`internal_consistency`).
    progress
        Progress bars (``None``: on a terminal).
    map_fn
        A ``map``-like callable to run the splits (see :func:`neural_predictivity`).
    client, scheduler, workers
        Run the splits on Dask (see :func:`brainbridge.parallel.get_client`): a
        ``distributed.Client``, a scheduler address (``tcp://host:8786``), or a number of
        local worker processes. The features and responses are scattered once; the score is
        the same object with the same numbers as a local run.
    **split_options
        ``train_size``, ``test_size``, ``random_state``, ``kfold`` (see :func:`brainscore_splits`).

    Returns
    -------
    Score
        The ceiled score (or the raw one); see :class:`Score` for its ``attrs``. Its error is
        :attr:`Score.ceiled_error` (``s.error`` is Brain-Score's raw-score SEM).

    Raises
    ------
    ScoringError
        Data that cannot give a meaningful score (too few stimuli per split, a ceiling that is
        not positive, no defined correlation); the message says what is needed.

    Examples
    --------
    >>> from brainbridge.encoding import score  # doctest: +SKIP
    >>> s = score(features, assembly, "ridge_per_neuroid", region="IT")  # doctest: +SKIP
    >>> float(s), s.ceiled_error, s.unceiled.item(), s.raw_error, s.ceiling.item()  # doctest: +SKIP
    """
    metric = resolve_metric(metric)
    if ceiling_formula not in CEILING_FORMULAS:
        raise InvalidParameterError(
            valid_values_message("ceiling_formula", ceiling_formula, list(CEILING_FORMULAS))
        )
    unknown = set(split_options) - {"train_size", "test_size", "random_state", "kfold"}
    if unknown:
        raise InvalidParameterError(
            valid_values_message(
                "split options", sorted(unknown), ["kfold", "random_state", "test_size", "train_size"]
            )
        )
    options = dict(
        layer=layer,
        stratification_coord=stratification_coord,
        n_splits=n_splits,
        ceiling_formula=ceiling_formula,
        time_bin=time_bin,
        mapping_params=mapping_params,
        nan_policy=nan_policy,
        progress=progress,
        **split_options,
    )
    if region is PER_REGION:
        regions = _regions(target) if isinstance(target, xr.DataArray) else []
        if len(regions) > 1:
            started = time.perf_counter()
            if _is_extractor(source):  # extract once for every region
                source = _features(source, target, layer, progress)
                options["layer"] = None
            results = {}
            for name in regions:
                given = ceiling.regions.get(name, ceiling) if isinstance(ceiling, Score) else ceiling
                results[name] = score(
                    source,
                    target,
                    metric,
                    ceiling=given,
                    region=name,
                    map_fn=map_fn,
                    client=client,
                    scheduler=scheduler,
                    workers=workers,
                    **options,
                )
            combined = _per_region_score(results, metric)
            combined.attrs["time_s"] = time.perf_counter() - started
            return combined
        region = None
    if client is not None or scheduler is not None or workers is not None:
        if map_fn is not None:
            raise InvalidParameterError("give map_fn or client/scheduler/workers, not both")
        from brainbridge.parallel import distributed_map

        with distributed_map(client, scheduler, workers, progress=progress, desc="splits") as dask_map_fn:
            return score(
                source, target, metric, ceiling=ceiling, region=region, map_fn=dask_map_fn, **options
            )
    started = time.perf_counter()
    prepared = _prepare_target(target, time_bin=time_bin, region=region)
    _check_pair(prepared, "target")
    features = _features(source, target, layer, progress)
    averaged = average_repetitions(prepared)

    shared = np.intersect1d(
        np.asarray(features["stimulus_id"].values).astype(str),
        np.asarray(averaged["stimulus_id"].values).astype(str),
    )
    if 0 < len(shared) < averaged.sizes["presentation"]:
        warnings.warn(
            f"the features cover {len(shared)} of the target's {averaged.sizes['presentation']} stimuli; "
            "scoring on the shared ones",
            stacklevel=2,
        )

    if METRICS[metric] == "regression":
        raw = neural_predictivity(
            features,
            averaged,
            mapping=metric,
            mapping_params=mapping_params,
            stratification_coord=stratification_coord,
            n_splits=n_splits,
            progress=progress,
            map_fn=map_fn,
            **split_options,
        )
    else:
        raw = similarity(
            features,
            averaged,
            metric=metric,
            stratification_coord=stratification_coord,
            n_splits=n_splits,
            **split_options,
        )

    ceiling_score = _resolve_ceiling(ceiling, prepared, metric, progress, nan_policy)
    if ceiling_score is None:
        raw.attrs["time_s"] = time.perf_counter() - started
        return raw
    r, c = float(raw.values), float(ceiling_score.values)
    formula = ceiling_formula if METRICS[metric] == "regression" else "ratio"
    raw_error = raw.attrs.get("raw_error")
    return _make_score(
        stats.ceiled_value(r, c, formula),
        raw=raw,
        error=raw_error,
        raw_error=raw_error,
        ceiled_error=None if raw_error is None else stats.ceiled_error(r, raw_error, c, formula),
        ceiling=ceiling_score,
        metric=metric,
        ceiling_formula=formula,
        n_splits=raw.attrs["n_splits"],
        time_s=time.perf_counter() - started,
    )


def _resolve_ceiling(
    ceiling_option, prepared: xr.DataArray, metric: str, progress, nan_policy
) -> Score | None:
    if ceiling_option is None or ceiling_option is False:
        return None
    if isinstance(ceiling_option, Score):
        if ceiling_option.ndim:
            raise InvalidParameterError(
                "a per-region ceiling needs per-region scoring: pick one with ceiling.regions['<region>']"
            )
        ceiling_score = ceiling_option
    elif ceiling_option is not True:
        value = float(ceiling_option)
        if not value > 0:
            raise InvalidParameterError(f"a ceiling must be positive, got {value}")
        return _make_score(value, metric="given")
    else:
        try:
            ceiling_score = internal_consistency(
                prepared, metric=_consistency_metric(metric), progress=progress, nan_policy=nan_policy
            )
        except ScoringError as e:
            if "distinct" not in str(e):
                raise
            warnings.warn(f"no ceiling computed ({e}); returning the raw score", stacklevel=3)
            return None
    value = float(ceiling_score.values)
    if not value > 0:
        raise ScoringError(
            f"the internal-consistency ceiling is {value:.4g} (not positive: the repetitions do not agree "
            "on the stimuli), so a ceiled score is meaningless; more repetitions or more reliable neuroids "
            "are needed, or score with ceiling=False (--no-ceiling) for the raw score"
        )
    return ceiling_score


@renamed_parameters(show_progress="progress")
def score_many(
    sources: Mapping[str, Any],
    targets: Mapping[str, xr.DataArray],
    metric: str = "pls",
    *,
    layers: Sequence[str] | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_concurrent: int = 8,
    progress: bool | None = None,
    record: Any = True,
    as_dict: bool = False,
    **score_options: Any,
) -> pd.DataFrame | dict[tuple[str, ...], Score]:
    """Score many feature sets against many benchmarks; on Dask when asked.

    Every (source x layer x target) pair is scored with :func:`score`; with a Dask client,
    scheduler or ``workers``, the pairs run concurrently (up to ``max_concurrent`` at a time)
    and their splits are fanned out over the cluster, each pair's arrays scattered once. The
    internal-consistency ceiling of each target is computed once, not once per source.

    Parameters
    ----------
    sources
        ``{name: features assembly or feature extractor}``.
    targets
        ``{name: neural assembly}`` (non-averaged, as for :func:`score`).
    metric
        As for :func:`score`.
    layers
        Score each source on each of these layers separately (keys get the layer).
    client, scheduler, workers
        Where to run (see :func:`brainbridge.parallel.get_client`); all ``None``: here, one
        pair after the other.
    max_concurrent
        Pairs in flight at once on the cluster.
    progress
        One progress bar over the split tasks (``None``: on a terminal).
    record
        Record every score in the scores store (:mod:`brainbridge.encoding.scores_store`;
        ``True``: the one under ``BRAINBRIDGE_HOME``, or a :class:`ScoresStore` or a path;
        ``False``: do not record). Sources are recorded under their name, targets under their
        ``identifier`` attribute (their name when they have none) with their checksum.
    as_dict
        Deprecated: return the dict of brainbridge < 0.3 (``{(source, target): Score}``,
        ``{(source, layer, target): Score}`` with ``layers``) instead of the table.
    **score_options
        Passed to :func:`score` (``region``, ``time_bin``, ``n_splits``, ``ceiling``...).

    Returns
    -------
    pandas.DataFrame
        One row per model x benchmark (source x layer x target x region): ``model``,
        ``layer``, ``benchmark`` (the target's name), ``assembly``, ``region``, ``metric``,
        ``score`` (ceiled, else raw), ``error`` (its error), ``raw``, ``raw_error``,
        ``ceiling``, ``ceiled``, ``ceiled_error`` and ``result`` (the :class:`Score`, for
        per-split and per-neuroid values); the same numbers as scoring each pair with
        :func:`score`. A per-region score gives one row per region.
    """
    metric = resolve_metric(metric)
    if "map_fn" in score_options:
        raise InvalidParameterError(
            "score_many runs the splits itself: give client/scheduler/workers, not map_fn"
        )
    ceiling_option = score_options.pop("ceiling", True)
    ceilings: dict[str, Any] = {}
    for name, target in targets.items():
        if ceiling_option is True:
            # once per target instead of once per (source, target) pair
            try:
                ceilings[name] = ceiling(
                    target,
                    metric,
                    time_bin=score_options.get("time_bin", "average"),
                    region=score_options.get("region", PER_REGION),
                    progress=False,
                )
            except ScoringError as e:
                warnings.warn(f"no ceiling for {name!r} ({e}); its scores are raw", stacklevel=2)
                ceilings[name] = False
        else:
            ceilings[name] = ceiling_option
    single_layer = score_options.pop("layer", None)
    jobs = [
        (
            (source_name, layer, target_name) if layers else (source_name, target_name),
            source,
            layer,
            target_name,
        )
        for source_name, source in sources.items()
        for layer in (layers or [single_layer])
        for target_name in targets
    ]
    n_splits = int(score_options.get("n_splits", 10))
    per_job = n_splits if METRICS[metric] == "regression" else 1
    distributed = client is not None or scheduler is not None or workers is not None
    results: dict[tuple[str, ...], Score] = {}
    with progress_bar(total=len(jobs) * per_job, desc="scores", unit="task", progress=progress) as bar:
        if not distributed:
            for key, source, layer, target_name in jobs:
                results[key] = score(
                    source,
                    targets[target_name],
                    metric,
                    layer=layer,
                    ceiling=ceilings[target_name],
                    progress=False,
                    **score_options,
                )
                bar.update(per_job)
            return _score_many_result(
                results, targets, metric, layers, record, as_dict, score_options.get("region")
            )
        from concurrent.futures import ThreadPoolExecutor

        from brainbridge.parallel import dask_map, get_client

        active = get_client(client=client, scheduler=scheduler, workers=workers)
        try:
            map_fn = dask_map(active, progress=False, progress_bar=bar)

            def run(job):
                key, source, layer, target_name = job
                result = score(
                    source,
                    targets[target_name],
                    metric,
                    layer=layer,
                    ceiling=ceilings[target_name],
                    progress=False,
                    map_fn=map_fn,
                    **score_options,
                )
                if per_job == 1:
                    bar.update(1)
                return key, result

            with ThreadPoolExecutor(max_workers=max(1, int(max_concurrent))) as pool:
                for key, result in pool.map(run, jobs):
                    results[key] = result
        finally:
            if client is None:
                active.close()
    return _score_many_result(results, targets, metric, layers, record, as_dict, score_options.get("region"))


#: the columns of :func:`score_many`'s table
SCORE_TABLE_COLUMNS = [
    "model",
    "layer",
    "benchmark",
    "assembly",
    "region",
    "metric",
    "score",
    "error",
    "raw",
    "raw_error",
    "ceiling",
    "ceiled",
    "ceiled_error",
    "result",
]


def _score_many_result(
    results: dict[tuple[str, ...], Score],
    targets: Mapping[str, xr.DataArray],
    metric: str,
    layers: Sequence[str] | None,
    record: Any,
    as_dict: bool,
    region_option: Any = None,
) -> pd.DataFrame | dict[tuple[str, ...], Score]:
    """The table of :func:`score_many` (and its rows recorded in the scores store)."""
    from brainbridge.encoding import scores_store

    identifiers = {name: str(target.attrs.get("identifier") or name) for name, target in targets.items()}
    checksums = (
        {name: scores_store.assembly_checksum(target) for name, target in targets.items()} if record else {}
    )
    rows, store_rows = [], []
    for key, result in results.items():
        source_name, layer, target_name = key if layers else (key[0], None, key[1])
        pieces = list(result.regions.items()) if result.ndim else [(None, result)]
        for region, one in pieces:
            if region is None:
                region = (
                    region_option if isinstance(region_option, str) else _single_region(targets[target_name])
                )
            one_ceiling = one.ceiling
            ceiled = one_ceiling is not None
            rows.append(
                {
                    "model": source_name,
                    "layer": layer,
                    "benchmark": target_name,
                    "assembly": identifiers[target_name],
                    "region": region,
                    "metric": metric,
                    "score": float(one.values),
                    "error": one.value_error,
                    "raw": float(one.unceiled.values),
                    "raw_error": one.raw_error,
                    "ceiling": float(one_ceiling.values) if one_ceiling is not None else np.nan,
                    "ceiled": float(one.values) if ceiled else np.nan,
                    "ceiled_error": one.ceiled_error if ceiled else np.nan,
                    "result": one,
                }
            )
            if record:
                store_rows += scores_store.score_rows(
                    one,
                    model=source_name,
                    assembly=identifiers[target_name],
                    metric=metric,
                    region=region,
                    layer=layer,
                    checksum=checksums[target_name],
                    source="score_many",
                )
    if store_rows:
        scores_store.open_store(None if record is True else record).record(store_rows)
    if as_dict:
        warnings.warn(
            "score_many(as_dict=True) is deprecated: score_many returns a table "
            "(one row per model x benchmark, "
            "the Score objects in its 'result' column)",
            DeprecationWarning,
            stacklevel=3,
        )
        return results
    return pd.DataFrame(rows, columns=SCORE_TABLE_COLUMNS)


def _single_region(target: xr.DataArray) -> str:
    """The target's one region (``'all'`` when it has several or none)."""
    regions = _regions(target)
    return regions[0] if len(regions) == 1 else "all"

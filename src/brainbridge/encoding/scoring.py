"""Brain-Score's neural predictivity, internal-consistency ceiling, RDM and CKA scores.

The procedure is Brain-Score's (``brain-score/vision``, ``metrics/regression_correlation``,
``metrics/internal_consistency``), see ``shared/reference/encoding-models.md`` section 4:

neural predictivity (``metric='pls'`` or ``'ridge'``)
    The target is averaged over repetitions, both assemblies are aligned on ``stimulus_id``
    and sorted by it. 10 ``StratifiedShuffleSplit`` splits (``train_size=0.9``,
    ``random_state=1``) of the unique stimulus ids, stratified by ``object_name`` (or any
    coordinate; ``ShuffleSplit`` without one). Per split: fit the mapping on the training
    stimuli, predict the held-out ones, Pearson r per neuroid, median over neuroids. Score =
    mean over splits; error = ``std(ddof=0) / sqrt(n_splits)``.
internal-consistency ceiling
    10 ``ShuffleSplit`` halvings of the unique ``repetition`` values (``train_size=0.5``,
    ``random_state=1``) of the *non-averaged* assembly; each half averaged over its
    repetitions; Pearson r per neuroid across stimuli; Spearman-Brown ``2r / (1 + r)``;
    median over neuroids; mean over splits.
ceiled score
    ``r**2 / ceiling`` (Brain-Score since 2026-01), or ``(r / ceiling)**2`` with
    ``ceiling_formula='legacy'``. RDM and CKA scores are divided by their own split-half
    ceiling.

Scores are :class:`Score` objects (0-d :class:`xarray.DataArray`) that keep everything:
``attrs['raw']`` (the unceiled score, whose own ``attrs['raw']`` holds the ``split x neuroid``
values), ``attrs['error']`` and ``attrs['ceiling']``, as Brain-Score's ``Score`` does.

The split loop calls :func:`split_predictivity`, a pure function of arrays and indices, so it
can be fanned out with any ``map``-like callable (``map_fn``), e.g. a dask client's.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, StratifiedShuffleSplit
from tqdm.auto import tqdm

from brainbridge.assemblies import align, average_repetitions, select, walk_coords
from brainbridge.encoding.errors import EncodingError, InvalidParameterError
from brainbridge.encoding.mappings import _blas_threads, make_mapping
from brainbridge.encoding.metrics import cka, pearson_columns, rdm_similarity, spearman_brown

__all__ = [
    "METRICS",
    "Score",
    "ScoringError",
    "brainscore_splits",
    "ceiling",
    "internal_consistency",
    "neural_predictivity",
    "score",
    "score_many",
    "similarity",
    "split_predictivity",
]

#: metric name -> kind (``regression`` metrics are cross-validated mappings)
METRICS: dict[str, str] = {"pls": "regression", "ridge": "regression", "rdm": "similarity", "cka": "similarity"}
CEILING_FORMULAS = ("r2", "legacy")


class ScoringError(EncodingError, ValueError):
    """Assemblies that cannot be scored: missing coordinates, no shared stimuli, bad splits."""


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
        carries the unceiled error, unscaled, like Brain-Score.
    ``ceiling``
        The ceiling :class:`Score` used (ceiled scores only).

    plus ``metric``, ``n_splits``, ``ceiling_formula``, ``time_s`` and, for regression
    metrics, ``predictions``/``measured`` (held-out predictions averaged over the splits that
    tested each stimulus, and the averaged measurements, ``presentation x neuroid``).
    """

    __slots__ = ()

    @property
    def error(self) -> float | None:
        """Standard error across splits."""
        return self.attrs.get("error")

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
        return float(self.values)

    def __repr__(self) -> str:
        parts = [f"<Score {self.attrs.get('metric', '')} {float(self.values):.4f}".replace("  ", " ")]
        if self.error is not None:
            parts.append(f"± {self.error:.4f}")
        if self.ceiling is not None:
            parts.append(f"(raw {float(self.unceiled.values):.4f}, ceiling {float(self.ceiling.values):.4f})")
        keys = ", ".join(sorted(map(str, self.attrs)))
        return " ".join(parts) + f"; attrs: {keys}>"

    __str__ = __repr__


def _make_score(value: float, **attrs: Any) -> Score:
    return Score(np.float64(value), attrs=attrs)


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
        splitter = ShuffleSplit(n_splits=n_splits, train_size=train_size, test_size=test_size, random_state=random_state)
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
    mapping: str | Any = "pls",
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
    params = dict(mapping_params or {})
    if isinstance(mapping, str) and mapping.lower() == "ridge":
        # exact leave-one-out: one decomposition per split serves the alpha choice and the refit
        # (sklearn RidgeCV's default; ~2.5x faster than 5 inner folds at the same accuracy)
        params.setdefault("cv", "loo")
    model = make_mapping(mapping, **params)
    model.fit(X[train], Y[train])
    prediction = np.asarray(model.predict(X[test])).reshape(len(test), -1)
    return pearson_columns(prediction, Y[test]), prediction


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
    function: Callable, argument_lists: list[tuple], map_fn: Callable | None, show_progress: bool | None, desc: str
) -> list:
    if map_fn is not None:
        return list(map_fn(function, *zip(*argument_lists)))
    disable = None if show_progress is None else not show_progress
    return [function(*args) for args in tqdm(argument_lists, desc=desc, disable=disable, leave=False)]


def neural_predictivity(
    source: xr.DataArray,
    target: xr.DataArray,
    *,
    mapping: str | Any = "pls",
    mapping_params: dict[str, Any] | None = None,
    stratification_coord: str | None = "object_name",
    n_splits: int = 10,
    train_size: float | None = 0.9,
    test_size: float | None = None,
    random_state: int | None = 1,
    kfold: bool = False,
    show_progress: bool | None = None,
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
        ``'pls'`` (Brain-Score: ``PLSRegression(25, scale=False)``), ``'ridge'``
        (:class:`~brainbridge.encoding.mappings.RidgeCVPerTarget`) or an estimator instance.
    mapping_params
        Parameters for the mapping (e.g. ``{'alphas': [...]}`` or ``{'n_components': 10}``).
        ``'ridge'`` chooses each neuroid's alpha by exact leave-one-out within the training
        split unless ``{'cv': 5}`` (or another splitter) is given.
    stratification_coord, n_splits, train_size, test_size, random_state, kfold
        The split (see :func:`brainscore_splits`); stratification labels come from the target.
    show_progress
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
        n, stratify, n_splits=n_splits, train_size=train_size, test_size=test_size,
        random_state=random_state, kfold=kfold,
    )
    X = np.asarray(source.transpose("presentation", "neuroid").values)
    Y = np.asarray(target.transpose("presentation", "neuroid").values, dtype=np.float64)
    if not np.all(np.isfinite(Y)):
        raise ScoringError("the target has NaN or infinite responses after averaging repetitions")
    arguments = [(X, Y, train, test, mapping, mapping_params) for train, test in splits]
    results = _run_splits(split_predictivity, arguments, map_fn, show_progress, "neural predictivity")

    r = np.stack([result[0] for result in results])  # split x neuroid
    prediction_sum = np.zeros_like(Y)
    tested = np.zeros(n)
    for (_, test), (_, prediction) in zip(splits, results):
        prediction_sum[test] += prediction
        tested[test] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        predictions = prediction_sum / tested[:, None]
    predictions[tested == 0] = np.nan

    per_split = np.nanmedian(r, axis=1)
    neuroid_coords = _neuroid_coords(target)
    raw = xr.DataArray(
        r, dims=["split", "neuroid"], coords={"split": np.arange(len(splits)), **neuroid_coords}, name="pearson_r"
    )
    presentation_coords = {"stimulus_id": ("presentation", np.asarray(target["stimulus_id"].values))}
    if stratify is not None:
        presentation_coords[str(stratification_coord)] = ("presentation", stratify)
    frame = dict(dims=["presentation", "neuroid"], coords={**presentation_coords, **neuroid_coords})
    return _make_score(
        per_split.mean(),
        raw=raw,
        error=float(per_split.std(ddof=0) / np.sqrt(len(per_split))),
        metric=mapping if isinstance(mapping, str) else type(mapping).__name__,
        n_splits=len(splits),
        predictions=xr.DataArray(predictions, name="prediction", **frame),
        measured=xr.DataArray(Y, name="measured", **frame),
        time_s=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------
# RDM / CKA
# --------------------------------------------------------------------------------------


def similarity(
    source: xr.DataArray,
    target: xr.DataArray,
    *,
    metric: str = "rdm",
    stratification_coord: str | None = "object_name",
    n_splits: int = 10,
    train_size: float | None = 0.9,
    test_size: float | None = None,
    random_state: int | None = 1,
    kfold: bool = False,
    unbiased: bool = True,
) -> Score:
    """RDM or CKA similarity on ``n_splits`` subsets of the stimuli (Brain-Score ``rdm_cv``).

    Each split's training part (90 % of the stimuli by default) is used as one subset; the
    score is the mean over subsets with the standard error across them.
    """
    if metric not in ("rdm", "cka"):
        raise InvalidParameterError(f"Invalid similarity metric: {metric!r}. Valid values are: ['cka', 'rdm']")
    _check_pair(source, "source")
    _check_pair(target, "target")
    started = time.perf_counter()
    source, target = align(source, target)
    stratify = _stratification(target, stratification_coord)
    splits = brainscore_splits(
        target.sizes["presentation"], stratify, n_splits=n_splits, train_size=train_size,
        test_size=test_size, random_state=random_state, kfold=kfold,
    )
    X = np.asarray(source.transpose("presentation", "neuroid").values, dtype=np.float64)
    Y = np.asarray(target.transpose("presentation", "neuroid").values, dtype=np.float64)
    compare = _similarity_function(metric, unbiased)
    with _blas_threads(X.shape[0]):
        values = np.array([compare(X[subset], Y[subset]) for subset, _ in splits])
    return _make_score(
        values.mean(),
        raw=xr.DataArray(values, dims=["split"], coords={"split": np.arange(len(values))}, name=metric),
        error=float(values.std(ddof=0) / np.sqrt(len(values))),
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


def _repetitions(assembly: xr.DataArray, split_coord: str) -> np.ndarray:
    if split_coord in assembly.coords and assembly[split_coord].dims == ("presentation",):
        return np.asarray(assembly[split_coord].values)
    if split_coord != "repetition":
        raise ScoringError(f"no {split_coord!r} coordinate on presentation to split the ceiling on")
    # number the presentations of each stimulus 0, 1, 2... (what `repetition` means)
    ids = pd.Series(np.asarray(assembly["stimulus_id"].values))
    return ids.groupby(ids, sort=False).cumcount().to_numpy()


def _half_means(data: np.ndarray, codes: np.ndarray, n_stimuli: int, mask: np.ndarray) -> np.ndarray:
    """Mean over the presentations in ``mask`` of each stimulus (NaN for stimuli not shown)."""
    rows = np.flatnonzero(mask)
    order = rows[np.argsort(codes[rows], kind="stable")]
    sorted_codes = codes[order]
    out = np.full((n_stimuli, data.shape[1]), np.nan)
    if len(order) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    values = data[order]
    valid = np.isfinite(values)
    sums = np.add.reduceat(np.where(valid, values, 0.0), starts, axis=0)
    counts = np.add.reduceat(valid, starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[sorted_codes[starts]] = sums / counts
    return out


def _consistency(data, codes, n_stimuli, repetitions, first, second, metric, unbiased):
    """Spearman-Brown corrected consistency between the means of two sets of repetitions."""
    half1 = _half_means(data, codes, n_stimuli, np.isin(repetitions, first))
    half2 = _half_means(data, codes, n_stimuli, np.isin(repetitions, second))
    if metric == "pearson":
        return spearman_brown(pearson_columns(half1, half2), n=2)
    if metric not in ("rdm", "cka"):
        raise InvalidParameterError(f"Invalid consistency metric: {metric!r}. Valid values are: ['cka', 'pearson', 'rdm']")
    shown = np.all(np.isfinite(half1), axis=1) & np.all(np.isfinite(half2), axis=1)
    return spearman_brown(_similarity_function(metric, unbiased)(half1[shown], half2[shown]), n=2)


def internal_consistency(
    assembly: xr.DataArray,
    *,
    metric: str = "pearson",
    split_coord: str = "repetition",
    n_splits: int = 10,
    train_size: float = 0.5,
    random_state: int | None = 1,
    unbiased: bool = True,
    show_progress: bool | None = None,
) -> Score:
    """Split-half internal consistency of a non-averaged assembly (Brain-Score's ceiling).

    Parameters
    ----------
    assembly
        ``presentation x neuroid`` responses with repeated ``stimulus_id`` and a
        ``repetition`` coordinate (numbered per stimulus when absent).
    metric
        ``'pearson'`` (per neuroid; for ``pls``/``ridge`` scores), ``'rdm'`` or ``'cka'``
        (one value per split).
    split_coord
        The coordinate whose unique values are split into halves.
    n_splits, train_size, random_state
        ``ShuffleSplit`` of the unique ``split_coord`` values (Brain-Score: 10, 0.5, 1).

    Returns
    -------
    Score
        Mean over splits of the (median over neuroids of the) Spearman-Brown corrected
        split-half consistency; ``attrs['raw']`` holds the per-split (per-neuroid) values.
    """
    _check_pair(assembly, "assembly")
    started = time.perf_counter()
    repetitions = _repetitions(assembly, split_coord)
    unique = np.unique(repetitions)
    if len(unique) < 2:
        raise ScoringError(
            f"the ceiling needs at least 2 distinct {split_coord!r} values to split in halves, got {len(unique)}"
        )
    codes, stimulus_ids = pd.factorize(np.asarray(assembly["stimulus_id"].values).astype(str), sort=True)
    data = np.asarray(assembly.transpose("presentation", "neuroid").values, dtype=np.float64)
    splits = brainscore_splits(len(unique), None, n_splits=n_splits, train_size=train_size, random_state=random_state)
    values = []
    disable = None if show_progress is None else not show_progress
    with _blas_threads(len(stimulus_ids)):
        for first, second in tqdm(splits, desc="ceiling", disable=disable, leave=False):
            values.append(_consistency(data, codes, len(stimulus_ids), repetitions, unique[first], unique[second],
                                       metric, unbiased))
    values = np.asarray(values)
    if metric == "pearson":
        per_split = np.nanmedian(values, axis=1)
        raw = xr.DataArray(
            values, dims=["split", "neuroid"],
            coords={"split": np.arange(len(values)), **_neuroid_coords(assembly)}, name="ceiling",
        )
    elif metric in ("rdm", "cka"):
        per_split = values
        raw = xr.DataArray(values, dims=["split"], coords={"split": np.arange(len(values))}, name="ceiling")
    else:
        raise InvalidParameterError(f"Invalid consistency metric: {metric!r}. Valid values are: ['cka', 'pearson', 'rdm']")
    return _make_score(
        per_split.mean(),
        raw=raw,
        error=float(per_split.std(ddof=0) / np.sqrt(len(per_split))),
        metric=f"internal_consistency_{metric}",
        n_splits=len(per_split),
        time_s=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------
# the public entry points
# --------------------------------------------------------------------------------------


def _prepare_target(
    target: xr.DataArray, *, time_bin: str | int | tuple[float, float] | None, region: str | Iterable[str] | None
) -> xr.DataArray:
    """Region selection and time-bin reduction: a ``presentation x neuroid`` assembly."""
    if not isinstance(target, xr.DataArray):
        raise ScoringError(f"the target must be an assembly (xarray DataArray), got {type(target).__name__}")
    if region is not None:
        target = select(target, region=region)
    if "time_bin" in target.dims:
        if time_bin not in (None, "average", "mean"):
            target = select(target, time_bin=time_bin)  # one bin left; the mean below drops the dim
        target = _mean_over_time(target)
    extra = set(target.dims) - {"presentation", "neuroid"}
    if extra:
        raise ScoringError(f"cannot score an assembly with extra dims {sorted(extra)}; select or average them first")
    return target


def _mean_over_time(target: xr.DataArray) -> xr.DataArray:
    values = np.asarray(target.transpose("presentation", "neuroid", "time_bin").values, dtype=np.float64)
    coords = {
        str(name): (dims, values_)
        for name, dims, values_ in walk_coords(target)
        if "time_bin" not in dims
    }
    return xr.DataArray(
        np.nanmean(values, axis=2), dims=["presentation", "neuroid"], coords=coords, attrs=dict(target.attrs)
    )


def _is_extractor(source: Any) -> bool:
    return hasattr(source, "extract") and callable(source.extract) and not isinstance(source, xr.DataArray)


def _features(source: Any, target: xr.DataArray, layer: str | Sequence[str] | None, show_progress) -> xr.DataArray:
    if _is_extractor(source):
        stimulus_set = target.attrs.get("stimulus_set")
        if stimulus_set is None:
            raise ScoringError(
                "cannot apply a feature extractor: the target has no attrs['stimulus_set'] "
                "(load it from a catalog, or pass a features assembly instead)"
            )
        layers = [layer] if isinstance(layer, str) else layer
        return source.extract(stimulus_set, layers=layers, show_progress=show_progress)
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
                raise ScoringError(f"Invalid layer: {unknown}. Valid values are: {layers_present}")
            source = source.isel(neuroid=np.flatnonzero(np.isin(np.asarray(source["layer"].values), wanted)))
    if "time_bin" in source.dims:
        source = _prepare_target(source, time_bin="average", region=None)
    if source.sizes.get("presentation", 0) and "stimulus_id" in source.coords:
        ids = pd.Index(np.asarray(source["stimulus_id"].values).astype(str))
        if not ids.is_unique:
            source = average_repetitions(source)
    return source


def ceiling(
    assembly: xr.DataArray,
    metric: str = "pls",
    *,
    time_bin: str | int | tuple[float, float] | None = "average",
    region: str | Iterable[str] | None = None,
    n_splits: int = 10,
    random_state: int | None = 1,
    show_progress: bool | None = None,
) -> Score:
    """The internal-consistency ceiling of a (non-averaged) neural assembly.

    Parameters
    ----------
    assembly
        ``presentation x neuroid [x time_bin]`` responses with repetitions.
    metric
        The score the ceiling is for: ``'pls'``/``'ridge'`` (per-neuroid Pearson consistency),
        ``'rdm'`` or ``'cka'``.
    time_bin, region
        As in :func:`score`.

    Returns
    -------
    Score
        See :func:`internal_consistency`.
    """
    if metric not in METRICS:
        raise InvalidParameterError(f"Invalid metric: {metric!r}. Valid values are: {sorted(METRICS)}")
    prepared = _prepare_target(assembly, time_bin=time_bin, region=region)
    consistency = "pearson" if METRICS[metric] == "regression" else metric
    return internal_consistency(
        prepared, metric=consistency, n_splits=n_splits, random_state=random_state, show_progress=show_progress
    )


def score(
    source: Any,
    target: xr.DataArray,
    metric: str = "pls",
    *,
    layer: str | Sequence[str] | None = None,
    stratification_coord: str | None = "object_name",
    n_splits: int = 10,
    ceiling: bool | float | Score | None = True,
    ceiling_formula: str = "r2",
    time_bin: str | int | tuple[float, float] | None = "average",
    region: str | Iterable[str] | None = None,
    mapping_params: dict[str, Any] | None = None,
    show_progress: bool | None = None,
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
        ``'pls'`` (Brain-Score's mapping), ``'ridge'`` (per-target ridge), ``'rdm'`` or ``'cka'``.
    layer
        The layer(s) to use from the extractor or the features assembly.
    stratification_coord
        Coordinate of the target to stratify splits by (default ``object_name``; falls back
        to unstratified splits with a warning when the target lacks it); ``None``: unstratified.
    n_splits
        Number of cross-validation splits (10).
    ceiling
        ``True``: compute the internal-consistency ceiling on the non-averaged target (a
        warning and an unceiled score when the target has no repetitions); a number or a
        ceiling :class:`Score`: use it; ``False``/``None``: return the raw score.
    ceiling_formula
        ``'r2'``: ``r**2 / ceiling`` (Brain-Score since 2026-01); ``'legacy'``: ``(r / ceiling)**2``.
        RDM and CKA scores are always ``score / ceiling``.
    time_bin
        ``'average'`` (default) averages over ``time_bin``; an integer position or a
        ``(start, end)`` pair selects one bin.
    region
        Restrict the target to these region(s).
    mapping_params
        Passed to the mapping (``{'alphas': ...}``, ``{'n_components': ...}``).
    show_progress
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
        The ceiled score (or the raw one); see :class:`Score` for its ``attrs``.

    Examples
    --------
    >>> from brainbridge.encoding import score  # doctest: +SKIP
    >>> s = score(features, assembly, "ridge")  # doctest: +SKIP
    >>> float(s), s.unceiled.item(), s.ceiling.item(), s.error  # doctest: +SKIP
    """
    if metric not in METRICS:
        raise InvalidParameterError(f"Invalid metric: {metric!r}. Valid values are: {sorted(METRICS)}")
    if ceiling_formula not in CEILING_FORMULAS:
        raise InvalidParameterError(
            f"Invalid ceiling_formula: {ceiling_formula!r}. Valid values are: {list(CEILING_FORMULAS)}"
        )
    unknown = set(split_options) - {"train_size", "test_size", "random_state", "kfold"}
    if unknown:
        raise InvalidParameterError(
            f"Invalid split options: {sorted(unknown)}. Valid values are: ['kfold', 'random_state', 'test_size', 'train_size']"
        )
    if client is not None or scheduler is not None or workers is not None:
        if map_fn is not None:
            raise InvalidParameterError("give map_fn or client/scheduler/workers, not both")
        from brainbridge.parallel import distributed_map

        with distributed_map(client, scheduler, workers, show_progress=show_progress, desc="splits") as dask_map_fn:
            return score(
                source, target, metric, layer=layer, stratification_coord=stratification_coord,
                n_splits=n_splits, ceiling=ceiling, ceiling_formula=ceiling_formula, time_bin=time_bin,
                region=region, mapping_params=mapping_params, show_progress=show_progress,
                map_fn=dask_map_fn, **split_options,
            )
    started = time.perf_counter()
    prepared = _prepare_target(target, time_bin=time_bin, region=region)
    _check_pair(prepared, "target")
    features = _features(source, target, layer, show_progress)
    averaged = average_repetitions(prepared)

    shared = np.intersect1d(
        np.asarray(features["stimulus_id"].values).astype(str), np.asarray(averaged["stimulus_id"].values).astype(str)
    )
    if 0 < len(shared) < averaged.sizes["presentation"]:
        warnings.warn(
            f"the features cover {len(shared)} of the target's {averaged.sizes['presentation']} stimuli; "
            "scoring on the shared ones",
            stacklevel=2,
        )

    if METRICS[metric] == "regression":
        raw = neural_predictivity(
            features, averaged, mapping=metric, mapping_params=mapping_params,
            stratification_coord=stratification_coord, n_splits=n_splits,
            show_progress=show_progress, map_fn=map_fn, **split_options,
        )
    else:
        raw = similarity(
            features, averaged, metric=metric, stratification_coord=stratification_coord,
            n_splits=n_splits, **split_options,
        )

    ceiling_score = _resolve_ceiling(ceiling, prepared, metric, show_progress)
    if ceiling_score is None:
        raw.attrs["time_s"] = time.perf_counter() - started
        return raw
    r, c = float(raw.values), float(ceiling_score.values)
    if METRICS[metric] == "similarity":
        value = r / c
    elif ceiling_formula == "r2":
        value = r**2 / c
    else:
        value = (r / c) ** 2
    return _make_score(
        value,
        raw=raw,
        error=raw.error,
        ceiling=ceiling_score,
        metric=metric,
        ceiling_formula=ceiling_formula if METRICS[metric] == "regression" else "ratio",
        n_splits=raw.attrs["n_splits"],
        time_s=time.perf_counter() - started,
    )


def _resolve_ceiling(ceiling_option, prepared: xr.DataArray, metric: str, show_progress) -> Score | None:
    if ceiling_option is None or ceiling_option is False:
        return None
    if isinstance(ceiling_option, Score):
        return ceiling_option
    if ceiling_option is not True:
        value = float(ceiling_option)
        if not value > 0:
            raise InvalidParameterError(f"a ceiling must be positive, got {value}")
        return _make_score(value, metric="given")
    consistency = "pearson" if METRICS[metric] == "regression" else metric
    try:
        return internal_consistency(prepared, metric=consistency, show_progress=show_progress)
    except ScoringError as e:
        warnings.warn(f"no ceiling computed ({e}); returning the raw score", stacklevel=3)
        return None


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
    show_progress: bool | None = None,
    **score_options: Any,
) -> dict[tuple[str, ...], Score]:
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
    show_progress
        One progress bar over the split tasks (``None``: on a terminal).
    **score_options
        Passed to :func:`score` (``region``, ``time_bin``, ``n_splits``, ``ceiling``...).

    Returns
    -------
    dict
        ``{(source, target): Score}``, or ``{(source, layer, target): Score}`` with ``layers``;
        the same numbers as scoring each pair with :func:`score`.
    """
    if metric not in METRICS:
        raise InvalidParameterError(f"Invalid metric: {metric!r}. Valid values are: {sorted(METRICS)}")
    if "map_fn" in score_options:
        raise InvalidParameterError("score_many runs the splits itself: give client/scheduler/workers, not map_fn")
    ceiling_option = score_options.pop("ceiling", True)
    ceilings: dict[str, Any] = {}
    for name, target in targets.items():
        if ceiling_option is True:
            # once per target instead of once per (source, target) pair
            try:
                ceilings[name] = ceiling(
                    target, metric, time_bin=score_options.get("time_bin", "average"),
                    region=score_options.get("region"), show_progress=False,
                )
            except ScoringError as e:
                warnings.warn(f"no ceiling for {name!r} ({e}); its scores are raw", stacklevel=2)
                ceilings[name] = False
        else:
            ceilings[name] = ceiling_option
    single_layer = score_options.pop("layer", None)
    jobs = [
        ((source_name, layer, target_name) if layers else (source_name, target_name), source, layer, target_name)
        for source_name, source in sources.items()
        for layer in (layers or [single_layer])
        for target_name in targets
    ]
    n_splits = int(score_options.get("n_splits", 10))
    per_job = n_splits if METRICS[metric] == "regression" else 1
    disable = None if show_progress is None else not show_progress
    distributed = client is not None or scheduler is not None or workers is not None
    results: dict[tuple[str, ...], Score] = {}
    with tqdm(total=len(jobs) * per_job, desc="scores", unit="task", disable=disable) as bar:
        if not distributed:
            for key, source, layer, target_name in jobs:
                results[key] = score(
                    source, targets[target_name], metric, layer=layer, ceiling=ceilings[target_name],
                    show_progress=False, **score_options,
                )
                bar.update(per_job)
            return results
        from concurrent.futures import ThreadPoolExecutor

        from brainbridge.parallel import dask_map, get_client

        active = get_client(client=client, scheduler=scheduler, workers=workers)
        try:
            map_fn = dask_map(active, show_progress=False, progress_bar=bar)

            def run(job):
                key, source, layer, target_name = job
                result = score(
                    source, targets[target_name], metric, layer=layer, ceiling=ceilings[target_name],
                    show_progress=False, map_fn=map_fn, **score_options,
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
    return results

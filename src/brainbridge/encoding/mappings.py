"""Linear mappings from model features to neural responses: the estimator layer.

Three layers, as in himalaya:

* solvers (:mod:`brainbridge.encoding.ridge_solvers`): functions of arrays; one
  eigendecomposition per training design serves every alpha and every target, in float64,
  with numerically stable leave-one-out residuals;
* estimators (this module): scikit-learn estimators that validate their input with
  scikit-learn's own helpers (``validate_data``, ``check_is_fitted``) and pass
  ``sklearn.utils.estimator_checks`` (see ``tests/encoding/test_mappings.py``);
* storage (:mod:`brainbridge.encoding.mapping_storage`): parameters and fitted state as plain
  arrays in ``.npz`` files, never pickles.

:class:`RidgeCVPerTarget` is brainbridge's ridge with one penalty per target (metric
``ridge_per_neuroid``); :class:`PLS` is Brain-Score's ``PLSRegression(n_components=25,
scale=False)`` with array storage. :func:`make_mapping` also builds Brain-Score's other
estimators by their registry names (``ridge`` = ``Ridge(alpha=1)``, ``ridgecv``, ``linear``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted, validate_data

from brainbridge.encoding import mapping_storage, ridge_solvers
from brainbridge.encoding.errors import InvalidParameterError
from brainbridge.errors import valid_values_message
from brainbridge.threads import blas_thread_limit

__all__ = [
    "BRAINSCORE_ALPHAS",
    "DEFAULT_ALPHAS",
    "MAPPING_NAMES",
    "PLS",
    "MappingEstimator",
    "RidgeCVPerTarget",
    "load_mapping",
    "make_mapping",
    "save_mapping",
]

#: Default grid of ridge penalties: 21 values, 1e-2 .. 1e8 (half a decade apart).
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 8, 21))

#: Brain-Score's ``ALPHA_LIST`` for ``RidgeCV`` (99 values, 0.01 .. 1e7), in its order
BRAINSCORE_ALPHAS: tuple[float, ...] = tuple(
    float(a)
    for a in np.concatenate(
        [
            [0.01, 0.1, 0.5, 1.0],
            np.linspace(10, 100, 4, endpoint=False),
            np.linspace(1e2, 1e3, 18, endpoint=False),
            np.linspace(1e3, 1e4, 18, endpoint=False),
            np.linspace(1e4, 1e5, 18, endpoint=False),
            np.linspace(1e5, 1e6, 18, endpoint=False),
            np.linspace(1e6, 1e7, 19),
        ]
    )
)


@runtime_checkable
class MappingEstimator(Protocol):
    """The mapping contract: a scikit-learn regressor from features to responses.

    ``fit(X, y)`` with ``X`` of shape ``(n_samples, n_features)`` and ``y`` of shape
    ``(n_samples, n_targets)`` (or 1-D) returns the fitted estimator; ``predict(X)`` returns
    ``(n_samples, n_targets)`` (1-D after a 1-D ``y``). ``get_params``/``set_params`` let
    :func:`make_mapping` clone and configure it. :class:`RidgeCVPerTarget`, :class:`PLS` and
    scikit-learn's regressors follow it.
    """

    def fit(self, X: Any, y: Any) -> MappingEstimator: ...

    def predict(self, X: Any) -> np.ndarray: ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def set_params(self, **params: Any) -> MappingEstimator: ...


_SOLVERS = ("auto", "primal", "dual")
_DTYPES = ("float32", "float64")


#: below this decomposition size one BLAS thread is faster: multithreaded small eigh/GEMM
#: spin-wait and, on a busy machine, are up to 50x slower than single-threaded ones
_SMALL_PROBLEM = 1024


def _single_blas_thread():
    """A context limiting BLAS/LAPACK to one thread (:func:`brainbridge.threads.blas_thread_limit`).

    Used around every eigendecomposition: OpenBLAS's threaded tridiagonal reduction is slower
    than the single-threaded one at every size we use, and up to 6x slower on a busy machine
    (measured: ``eigh`` of a 2304 x 2304 float32 matrix, 3.2 s on one thread, 19 s on two).
    """
    return blas_thread_limit(1)


def _blas_threads(size: int):
    """A context limiting BLAS to one thread for small problems (no-op otherwise)."""
    return _single_blas_thread() if size < _SMALL_PROBLEM else contextlib.nullcontext()


def _validated(estimator: BaseEstimator, X: Any, y: Any = None, *, reset: bool) -> Any:
    """scikit-learn's ``validate_data``, its ``ValueError`` raised as brainbridge's error (same message)."""
    try:
        if y is None and reset:
            raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None")
        if y is None:
            return validate_data(estimator, X, reset=False, dtype=[np.float64, np.float32])
        return validate_data(
            estimator,
            X,
            y,
            reset=True,
            multi_output=True,
            y_numeric=True,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2,
        )
    except ValueError as e:
        if isinstance(e, InvalidParameterError):
            raise
        raise InvalidParameterError(str(e)) from e


# --------------------------------------------------------------------------------------
# ridge
# --------------------------------------------------------------------------------------


class RidgeCVPerTarget(RegressorMixin, BaseEstimator):
    """Ridge regression with one penalty per target, chosen by cross-validation.

    The estimator behind the ``ridge_per_neuroid`` metric. One eigendecomposition per fold
    serves every alpha and every target (:mod:`~brainbridge.encoding.ridge_solvers`); with
    ``cv='loo'`` a single one serves the exact leave-one-out choice and the refit.

    Parameters
    ----------
    alphas
        Candidate penalties (positive). Default :data:`DEFAULT_ALPHAS` (1e-2 .. 1e8).
    cv
        Number of folds (un-shuffled :class:`~sklearn.model_selection.KFold`, as scikit-learn
        does for an integer), a scikit-learn splitter, an iterable of
        ``(train_indices, test_indices)``, or ``'loo'``: exact leave-one-out (what
        ``sklearn.linear_model.RidgeCV(alpha_per_target=True)`` does), computed in a
        numerically stable form.
    fit_intercept
        Centre features and targets on the training data (as :class:`sklearn.linear_model.Ridge`).
    solver
        ``'auto'`` (primal when ``n_samples > n_features``, else dual), ``'primal'`` or ``'dual'``.
    dtype
        Dtype of the stored coefficients and of predictions (``'float32'`` by default). The
        fit itself (Gram matrices, eigendecompositions, residuals, scores) is always float64.
    target_chunk_size
        Targets handled at once (``None``: all); bounds the memory of fold predictions.
    scoring
        CV criterion per target: ``'r2'`` (default), ``'pearson'`` or
        ``'neg_mean_squared_error'``; averaged over folds.

    Attributes
    ----------
    alpha_ : ndarray of shape (n_targets,) (a float after a 1-D fit)
    coef_ : ndarray of shape (n_targets, n_features) (or (n_features,) for a 1-D target)
    intercept_ : ndarray of shape (n_targets,) (or a float for a 1-D target)
    cv_scores_ : ndarray of shape (n_alphas, n_targets)
        Mean CV score of each alpha for each target (alphas in the order given).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 30)); Y = X @ rng.normal(size=(30, 4))
    >>> model = RidgeCVPerTarget(cv=5).fit(X, Y)
    >>> model.alpha_.shape, model.predict(X).shape
    ((4,), (200, 4))
    """

    # the fitted state (set by fit; declared here for the type checker only)
    coef_: np.ndarray
    intercept_: np.ndarray | float
    alpha_: np.ndarray | float
    cv_scores_: np.ndarray

    def __init__(
        self,
        alphas: Iterable[float] = DEFAULT_ALPHAS,
        cv: int | Any = 5,
        fit_intercept: bool = True,
        solver: str = "auto",
        dtype: str | type = "float32",
        target_chunk_size: int | None = None,
        scoring: str = "r2",
    ):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.dtype = dtype
        self.target_chunk_size = target_chunk_size
        self.scoring = scoring

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # one fit serves every target
        return tags

    def _check_params(self) -> tuple[np.ndarray, np.dtype]:
        alphas = np.asarray(
            list(self.alphas) if not np.isscalar(self.alphas) else [self.alphas], dtype=np.float64
        )
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
            raise InvalidParameterError(
                f"alphas must be a non-empty list of positive numbers, got {self.alphas!r}"
            )
        if self.solver not in _SOLVERS:
            raise InvalidParameterError(valid_values_message("solver", self.solver, list(_SOLVERS)))
        if self.scoring not in ridge_solvers.SCORINGS:
            raise InvalidParameterError(
                valid_values_message("scoring", self.scoring, list(ridge_solvers.SCORINGS))
            )
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype is None or dtype.name not in _DTYPES:
            raise InvalidParameterError(valid_values_message("dtype", self.dtype, list(_DTYPES)))
        return alphas, dtype

    def fit(self, X: Any, y: Any) -> RidgeCVPerTarget:
        """Choose an alpha per target by cross-validation, then refit on all samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        alphas, dtype = self._check_params()
        X, y = _validated(self, X, y, reset=True)
        Y = np.asarray(y, dtype=np.float64)
        one_d = Y.ndim == 1
        Y = Y[:, None] if one_d else Y
        with _blas_threads(min(X.shape)):
            if isinstance(self.cv, str):
                if self.cv != "loo":
                    raise InvalidParameterError(
                        valid_values_message("cv", self.cv, "an int, a splitter, splits, 'loo'")
                    )
                decomposition = ridge_solvers.Decomposition(X, self.fit_intercept, self.solver)
                scores = ridge_solvers.loo_scores(
                    decomposition, Y, alphas, self.scoring, self.target_chunk_size
                )
            else:
                splits = self._splits(X)
                scores = np.zeros((alphas.size, Y.shape[1]))
                for train, test in splits:
                    scores += ridge_solvers.fold_scores(
                        X,
                        Y,
                        train,
                        test,
                        alphas,
                        fit_intercept=self.fit_intercept,
                        form=self.solver,
                        scoring=self.scoring,
                        target_chunk_size=self.target_chunk_size,
                    )
                scores /= len(splits)
                decomposition = ridge_solvers.Decomposition(X, self.fit_intercept, self.solver)
            # argmax with ties going to the larger alpha: scan alphas from largest to smallest
            order = np.argsort(alphas, kind="stable")[::-1]
            best = order[np.argmax(scores[order], axis=0)]
            alpha = alphas[best]
            coef = np.empty((X.shape[1], Y.shape[1]))
            intercept = np.zeros(Y.shape[1])
            for sl in ridge_solvers.chunks(Y.shape[1], self.target_chunk_size):
                y_mean = Y[:, sl].mean(axis=0) if self.fit_intercept else np.zeros(Y[:, sl].shape[1])
                coef[:, sl] = decomposition.coefficients(Y[:, sl] - y_mean, alpha[sl])
                intercept[sl] = y_mean
            if self.fit_intercept:
                intercept -= decomposition.x_mean @ coef
        self.cv_scores_ = scores
        self._predict_1d = one_d
        self.coef_ = coef.T.astype(dtype)
        self.intercept_ = intercept
        self.alpha_ = alpha
        if one_d:
            self.coef_ = self.coef_[0]
            self.intercept_ = float(intercept[0])
            self.alpha_ = float(alpha[0])
        return self

    def _splits(self, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if isinstance(self.cv, Iterable) and not hasattr(self.cv, "split"):
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in self.cv]
        else:
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in check_cv(self.cv).split(X)]
        if not splits:
            raise InvalidParameterError("cv produced no splits")
        for train, test in splits:
            if len(train) == 0 or len(test) == 0:
                raise InvalidParameterError("every CV split needs at least one training and one test sample")
        return splits

    def predict(self, X: Any) -> np.ndarray:
        """Predict targets for ``X`` (shape ``(n_samples, n_targets)``, or 1-D after a 1-D fit)."""
        check_is_fitted(self, "coef_")
        X = _validated(self, X, reset=False)
        coef = np.atleast_2d(self.coef_)
        dtype = np.result_type(X.dtype, coef.dtype)
        prediction = X.astype(dtype, copy=False) @ coef.T.astype(dtype) + np.atleast_1d(
            self.intercept_
        ).astype(dtype)
        return prediction[:, 0] if getattr(self, "_predict_1d", False) else prediction

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Parameters and fitted state as plain arrays (:mod:`~brainbridge.encoding.mapping_storage`)."""
        return mapping_storage.to_arrays(self)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> RidgeCVPerTarget:
        """Rebuild an estimator (fitted if the arrays hold a fit) from :meth:`to_arrays`."""
        return mapping_storage.from_arrays(cls, arrays)


# --------------------------------------------------------------------------------------
# PLS
# --------------------------------------------------------------------------------------


class PLS(RegressorMixin, BaseEstimator):
    """Partial least squares, 25 components, no scaling: Brain-Score's neural mapping.

    Fitting delegates to :class:`sklearn.cross_decomposition.PLSRegression` with the same
    parameters, so predictions equal ``PLSRegression(25, scale=False)``'s; only the arrays
    needed to predict are kept (``coef_``, ``intercept_``, ``x_mean_``), which makes the fit
    storable without pickles.

    Parameters
    ----------
    n_components
        Number of PLS components (Brain-Score: 25). Must not exceed the number of features
        or of training samples.
    scale
        Scale features and targets to unit variance (Brain-Score: ``False``).
    max_iter, tol
        NIPALS settings, as in scikit-learn.
    """

    def __init__(self, n_components: int = 25, scale: bool = False, max_iter: int = 500, tol: float = 1e-06):
        self.n_components = n_components
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # one fit serves every target
        return tags

    def fit(self, X: Any, y: Any) -> PLS:
        """Fit the PLS regression (see :class:`sklearn.cross_decomposition.PLSRegression`)."""
        X, y = _validated(self, X, y, reset=True)
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(y, dtype=np.float64)
        one_d = Y.ndim == 1
        limit = min(X.shape)
        if not 1 <= int(self.n_components) <= limit:
            raise InvalidParameterError(
                f"PLS with n_components={self.n_components} needs at least that many features and training "
                f"samples; got {X.shape[0]} samples x {X.shape[1]} features (use n_components <= {limit})"
            )
        with _blas_threads(min(X.shape)):
            model = PLSRegression(
                n_components=int(self.n_components), scale=self.scale, max_iter=self.max_iter, tol=self.tol
            ).fit(X, Y[:, None] if one_d else Y)
        self.coef_ = np.asarray(model.coef_, dtype=np.float64)  # (n_targets, n_features), already / x_std
        self.intercept_ = np.asarray(model.intercept_, dtype=np.float64)
        self.x_mean_ = X.mean(axis=0)
        self.n_iter_ = int(max(model.n_iter_))  # NIPALS iterations of the slowest component
        self._predict_1d = one_d
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predict targets (same values as the fitted ``PLSRegression``)."""
        check_is_fitted(self, "coef_")
        X = np.asarray(_validated(self, X, reset=False), dtype=np.float64)
        prediction = (X - self.x_mean_) @ self.coef_.T + self.intercept_
        return prediction[:, 0] if self._predict_1d else prediction

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Parameters and fitted state as plain arrays (no pickles)."""
        return mapping_storage.to_arrays(self)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> PLS:
        """Rebuild an estimator (fitted if the arrays hold a fit) from :meth:`to_arrays`."""
        return mapping_storage.from_arrays(cls, arrays)


# --------------------------------------------------------------------------------------
# the factory, and storage re-exported
# --------------------------------------------------------------------------------------

_MAPPINGS: dict[str, type[RidgeCVPerTarget] | type[PLS]] = {"RidgeCVPerTarget": RidgeCVPerTarget, "PLS": PLS}


def _brainscore_ridge() -> BaseEstimator:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=1.0)


def _brainscore_ridgecv() -> BaseEstimator:
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=BRAINSCORE_ALPHAS)


def _brainscore_linear() -> BaseEstimator:
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


#: mapping name -> factory of a fresh estimator. The Brain-Score names build exactly
#: Brain-Score's estimators (``metrics/regression_correlation``); brainbridge's own per-neuroid
#: ridge has its own name.
_FACTORIES: dict[str, Any] = {
    "pls": PLS,
    "ridge": _brainscore_ridge,
    "ridgecv": _brainscore_ridgecv,
    "linear": _brainscore_linear,
    "ridge_per_neuroid": lambda: RidgeCVPerTarget(cv="loo"),
    "RidgeCVPerTarget": RidgeCVPerTarget,
    "PLS": PLS,
}
#: the mapping names of :func:`make_mapping`
MAPPING_NAMES = ("pls", "ridge", "ridgecv", "linear", "ridge_per_neuroid")


def make_mapping(mapping: str | MappingEstimator = "pls", **params: Any) -> MappingEstimator:
    """A fresh mapping estimator by name, with ``params`` set on it.

    ``'pls'`` (Brain-Score: ``PLSRegression(25, scale=False)``, as :class:`PLS`), ``'ridge'``
    (Brain-Score: ``sklearn Ridge(alpha=1)``), ``'ridgecv'`` (Brain-Score's ``RidgeCV`` over
    :data:`BRAINSCORE_ALPHAS`, one alpha shared by all targets), ``'linear'``
    (``LinearRegression()``), ``'ridge_per_neuroid'`` (:class:`RidgeCVPerTarget` with exact
    leave-one-out: one alpha per neuroid), or a class name. An estimator instance is cloned
    (its parameters updated with ``params``).
    """
    if isinstance(mapping, BaseEstimator):
        from sklearn.base import clone

        return clone(mapping).set_params(**params)
    name = str(mapping)
    factory = _FACTORIES.get(name, _FACTORIES.get(name.lower()))
    if factory is None:
        raise InvalidParameterError(valid_values_message("mapping", mapping, list(MAPPING_NAMES)))
    return factory().set_params(**params) if params else factory()


def save_mapping(mapping: MappingEstimator, path: str | os.PathLike) -> None:
    """Store a mapping (parameters + fitted arrays) in an ``.npz`` file, without pickles.

    Raises
    ------
    FitCacheError
        A mapping other than :class:`RidgeCVPerTarget` and :class:`PLS` (not storable).
    """
    mapping_storage.write_arrays(mapping_storage.to_arrays(mapping), path)


def load_mapping(path: str | os.PathLike) -> RidgeCVPerTarget | PLS:
    """Load a mapping written by :func:`save_mapping` (never unpickles).

    Raises
    ------
    FitCacheError
        The file is unreadable or does not hold a known mapping.
    """
    cls, arrays = mapping_storage.read_arrays(path, _MAPPINGS)
    return cls.from_arrays(arrays)

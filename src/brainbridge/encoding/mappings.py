"""Linear mappings from model features to neural responses: per-target ridge and PLS.

Both are scikit-learn estimators (``fit``/``predict``/``get_params``, cloneable) and both
store their fitted state as plain arrays (:meth:`to_arrays` / :meth:`from_arrays`,
:func:`save_mapping` / :func:`load_mapping` over ``.npz`` without pickles), so a cached fit
never needs unpickling.

:class:`RidgeCVPerTarget` follows himalaya (``ridge/_random_search.py``): per CV fold, **one**
eigendecomposition of the training design serves every alpha and every target,

* primal form (``n_samples > n_features``): ``eigh(Xc^T Xc) = V diag(w) V^T`` and the
  prediction for alpha ``a`` is ``X_test V diag(1/(w+a)) V^T Xc^T Y``;
* dual (kernel) form (``n_features >= n_samples``): ``eigh(Xc Xc^T) = U diag(w) U^T`` and
  the prediction is ``X_test Xc^T U diag(1/(w+a)) U^T Y``.

Both are ``Z diag(1/(w+a)) Q`` with ``Z`` computed once per fold and ``Q`` once per target
chunk, so trying another alpha costs one matrix product and no decomposition. The alpha of
each target is the one with the best mean CV score (ties go to the larger alpha); the refit
on all data uses one more decomposition and computes every target's weights in one
broadcast.

:class:`PLS` is scikit-learn's ``PLSRegression(n_components=25, scale=False)`` -- Brain-Score's
mapping -- with the same array storage.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted

from brainbridge.encoding.errors import FitCacheError, InvalidParameterError

__all__ = [
    "DEFAULT_ALPHAS",
    "PLS",
    "RidgeCVPerTarget",
    "load_mapping",
    "make_mapping",
    "save_mapping",
]

#: Default grid of ridge penalties: 21 values, 1e-2 .. 1e8 (half a decade apart).
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 8, 21))

_SOLVERS = ("auto", "primal", "dual")
_SCORINGS = ("r2", "pearson", "neg_mean_squared_error")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _as_2d(Y: Any) -> tuple[np.ndarray, bool]:
    """``Y`` as a 2-D array and whether it was 1-D (predictions follow the input's shape)."""
    Y = np.asarray(Y)
    if Y.ndim == 1:
        return Y[:, None], True
    if Y.ndim != 2:
        raise InvalidParameterError(f"targets must be 1-D or 2-D (samples x targets), got shape {Y.shape}")
    return Y, False


def _check_X(X: Any, dtype: np.dtype) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise InvalidParameterError(f"features must be 2-D (samples x features), got shape {X.shape}")
    X = X.astype(dtype, copy=False)
    if not np.all(np.isfinite(X)):
        raise InvalidParameterError("features contain NaN or infinite values")
    return X


def _column_scores(Y: np.ndarray, P: np.ndarray, scoring: str) -> np.ndarray:
    """Per-column score of predictions ``P`` against ``Y`` (float64, vectorised)."""
    Y = Y.astype(np.float64, copy=False)
    P = P.astype(np.float64, copy=False)
    if scoring == "neg_mean_squared_error":
        return -np.mean((Y - P) ** 2, axis=0)
    if scoring == "r2":
        sse = np.sum((Y - P) ** 2, axis=0)
        sst = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
        out = np.zeros(Y.shape[1])
        nonzero = sst > 0
        out[nonzero] = 1.0 - sse[nonzero] / sst[nonzero]
        out[~nonzero & (sse == 0)] = 1.0  # sklearn's r2_score(force_finite=True) convention
        return out
    # pearson
    Yc = Y - Y.mean(axis=0)
    Pc = P - P.mean(axis=0)
    denominator = np.sqrt(np.sum(Yc**2, axis=0) * np.sum(Pc**2, axis=0))
    out = np.zeros(Y.shape[1])
    nonzero = denominator > 0
    out[nonzero] = np.sum(Yc * Pc, axis=0)[nonzero] / denominator[nonzero]
    return out


class _Decomposition:
    """One eigendecomposition of a (centred) training design, shared by all alphas/targets.

    ``predict_factor`` is ``Z`` (rows = the samples to predict) and :meth:`project` maps
    centred training targets to ``Q`` so that ``prediction(a) = (Z / (w + a)) @ Q``.
    """

    def __init__(self, X_train: np.ndarray, solver: str, x_mean: np.ndarray | None):
        self.x_mean = x_mean
        self.Xc = X_train - x_mean if x_mean is not None else X_train
        n, p = self.Xc.shape
        self.form = ("primal" if n > p else "dual") if solver == "auto" else solver
        gram = self.Xc.T @ self.Xc if self.form == "primal" else self.Xc @ self.Xc.T
        with _single_blas_thread():
            w, vectors = linalg.eigh(gram, overwrite_a=True, check_finite=False, driver="evd")
        # round-off makes null-space eigenvalues slightly negative; they are zero
        self.w = np.clip(w, 0, None)
        self.vectors = vectors

    def factor(self, X_other: np.ndarray) -> np.ndarray:
        """``Z`` for new samples (already converted to the working dtype)."""
        Xo = X_other - self.x_mean if self.x_mean is not None else X_other
        if self.form == "primal":
            return Xo @ self.vectors
        return (Xo @ self.Xc.T) @ self.vectors

    def training_factor(self) -> np.ndarray:
        """``Z`` for the training rows themselves, without recomputing a Gram matrix."""
        if self.form == "primal":
            return self.Xc @ self.vectors
        return self.vectors * self.w  # Xc Xc^T U = U diag(w)

    def leverage_factor(self, Z: np.ndarray) -> np.ndarray:
        """``L`` with ``diag(hat matrix of alpha a) = L @ (1 / (w + a))`` for the training rows."""
        if self.form == "primal":
            M = Z.astype(np.float64)
            return M * M
        return Z.astype(np.float64) * self.vectors.astype(np.float64)  # U^2 w

    def project(self, Yc: np.ndarray) -> np.ndarray:
        """``Q`` for centred training targets."""
        if self.form == "primal":
            return self.vectors.T @ (self.Xc.T @ Yc)
        return self.vectors.T @ Yc

    def coefficients(self, Q: np.ndarray, alphas: np.ndarray) -> np.ndarray:
        """Weights ``(n_features, n_targets)`` for per-target ``alphas`` (one broadcast)."""
        scaled = Q / (self.w[:, None] + alphas[None, :].astype(self.w.dtype))
        if self.form == "primal":
            return self.vectors @ scaled
        return self.Xc.T @ (self.vectors @ scaled)


#: below this decomposition size one BLAS thread is faster: multithreaded small eigh/GEMM
#: spin-wait and, on a busy machine, are up to 50x slower than single-threaded ones
_SMALL_PROBLEM = 1024


_CONTROLLER: list = []


def _single_blas_thread():
    """A context limiting BLAS/LAPACK to one thread.

    Used around every eigendecomposition: OpenBLAS's threaded tridiagonal reduction is slower
    than the single-threaded one at every size we use, and up to 6x slower on a busy machine
    (measured: ``eigh`` of a 2304 x 2304 float32 matrix, 3.2 s on one thread, 19 s on two).
    """
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _blas_threads(size: int):
    """A context limiting BLAS to one thread for small problems (no-op otherwise)."""
    return _single_blas_thread() if size < _SMALL_PROBLEM else contextlib.nullcontext()


def _chunks(n: int, size: int | None) -> Iterable[slice]:
    size = n if not size or size <= 0 else int(size)
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# --------------------------------------------------------------------------------------
# ridge
# --------------------------------------------------------------------------------------


class RidgeCVPerTarget(RegressorMixin, BaseEstimator):
    """Ridge regression with one penalty per target chosen by K-fold cross-validation.

    One eigendecomposition per fold (primal ``X^T X`` or dual ``X X^T``, whichever is
    smaller) serves every alpha and every target; targets are processed in chunks so the
    memory for predictions stays bounded.

    Parameters
    ----------
    alphas
        Candidate penalties (positive). Default :data:`DEFAULT_ALPHAS` (1e-2 .. 1e8).
    cv
        Number of folds (un-shuffled :class:`~sklearn.model_selection.KFold`, as scikit-learn
        does for an integer), a scikit-learn splitter, an iterable of
        ``(train_indices, test_indices)``, or ``'loo'``: exact efficient leave-one-out from
        the one decomposition that also serves the refit (what ``sklearn.linear_model.RidgeCV``
        does by default; about twice as fast as 5 folds).
    fit_intercept
        Centre features and targets on the training data (as :class:`sklearn.linear_model.Ridge`).
    solver
        ``'auto'`` (primal when ``n_samples > n_features``, else dual), ``'primal'`` or ``'dual'``.
    dtype
        Working precision of the decompositions and products (``'float32'`` by default;
        scores are always accumulated in float64).
    target_chunk_size
        Targets handled at once (``None``: all). Bounds memory to roughly
        ``n_alphas x n_test x target_chunk_size`` values for the fold predictions.
    scoring
        CV criterion per target: ``'r2'`` (default), ``'pearson'`` or
        ``'neg_mean_squared_error'``; averaged over folds.

    Attributes
    ----------
    alpha_ : ndarray of shape (n_targets,)
        The penalty chosen for each target.
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

    # validation ------------------------------------------------------------------------

    def _validated(self) -> tuple[np.ndarray, np.dtype]:
        alphas = np.asarray(list(self.alphas) if not np.isscalar(self.alphas) else [self.alphas], dtype=np.float64)
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
            raise InvalidParameterError(f"alphas must be a non-empty list of positive numbers, got {self.alphas!r}")
        if self.solver not in _SOLVERS:
            raise InvalidParameterError(f"Invalid solver: {self.solver!r}. Valid values are: {list(_SOLVERS)}")
        if self.scoring not in _SCORINGS:
            raise InvalidParameterError(f"Invalid scoring: {self.scoring!r}. Valid values are: {list(_SCORINGS)}")
        dtype = np.dtype(self.dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InvalidParameterError(f"Invalid dtype: {self.dtype!r}. Valid values are: ['float32', 'float64']")
        return alphas, dtype

    # fitting ---------------------------------------------------------------------------

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
        alphas, dtype = self._validated()
        X = _check_X(X, dtype)
        Y, one_d = _as_2d(y)
        if Y.shape[0] != X.shape[0]:
            raise InvalidParameterError(f"X has {X.shape[0]} samples but y has {Y.shape[0]}")
        Y = Y.astype(dtype, copy=False)
        if not np.all(np.isfinite(Y)):
            raise InvalidParameterError("targets contain NaN or infinite values")

        with _blas_threads(min(X.shape)):
            return self._fit(X, Y, one_d, alphas, dtype)

    def _fit(self, X: np.ndarray, Y: np.ndarray, one_d: bool, alphas: np.ndarray, dtype: np.dtype):
        x_mean = X.mean(axis=0, dtype=np.float64).astype(dtype) if self.fit_intercept else None
        decomposition = None
        if isinstance(self.cv, str) and self.cv == "loo":
            # exact leave-one-out from the full-data decomposition, which also serves the refit
            decomposition = _Decomposition(X, self.solver, x_mean)
            scores = self._loo_scores(decomposition, Y, alphas, dtype)
        else:
            splits = self._splits(X)
            scores = np.zeros((alphas.size, Y.shape[1]))
            for train, test in splits:
                scores += self._fold_scores(X, Y, train, test, alphas, dtype)
            scores /= len(splits)

        # argmax with ties going to the larger alpha: scan alphas from largest to smallest
        order = np.argsort(alphas, kind="stable")[::-1]
        best = order[np.argmax(scores[order], axis=0)]
        self.alpha_ = alphas[best]
        self.cv_scores_ = scores

        if decomposition is None:
            decomposition = _Decomposition(X, self.solver, x_mean)
        coef = np.empty((X.shape[1], Y.shape[1]), dtype=dtype)
        intercept = np.zeros(Y.shape[1], dtype=np.float64)
        for sl in _chunks(Y.shape[1], self.target_chunk_size):
            Yc = Y[:, sl]
            if self.fit_intercept:
                y_mean = Yc.mean(axis=0, dtype=np.float64)
                Yc = Yc - y_mean.astype(dtype)
                intercept[sl] = y_mean
            coef[:, sl] = decomposition.coefficients(decomposition.project(Yc), self.alpha_[sl])
        if self.fit_intercept:
            intercept -= x_mean.astype(np.float64) @ coef.astype(np.float64)
        self.coef_ = coef.T.copy()
        self.intercept_ = intercept
        self.n_features_in_ = X.shape[1]
        self._predict_1d = one_d
        if one_d:
            self.coef_ = self.coef_[0]
            self.intercept_ = float(intercept[0])
            self.alpha_ = float(self.alpha_[0])
        return self

    def _loo_scores(self, decomposition: _Decomposition, Y, alphas, dtype) -> np.ndarray:
        """``(n_alphas, n_targets)`` leave-one-out scores: ``e_i / (1 - h_ii)`` for every alpha.

        With an intercept the hat matrix is ``11^T / n + Xc (Xc^T Xc + a I)^-1 Xc^T`` (centred
        columns are orthogonal to the constant), so the identity is exact.
        """
        n = Y.shape[0]
        inverse = 1.0 / (decomposition.w[None, :].astype(np.float64) + alphas[:, None])  # (n_alphas, k)
        Z = decomposition.training_factor()
        leverage = decomposition.leverage_factor(Z) @ inverse.T  # (n, n_alphas)
        if self.fit_intercept:
            leverage += 1.0 / n
        # h_ii -> 1 means the point is interpolated: its LOO error is unbounded, not a win
        denominator = np.maximum(1.0 - leverage, 1e-12)
        inverse = inverse.astype(dtype)
        out = np.empty((alphas.size, Y.shape[1]))
        for sl in _chunks(Y.shape[1], self.target_chunk_size):
            Y_chunk = Y[:, sl].astype(np.float64)
            y_mean = Y_chunk.mean(axis=0) if self.fit_intercept else np.zeros(Y_chunk.shape[1])
            Q = decomposition.project((Y_chunk - y_mean).astype(dtype))
            for i in range(alphas.size):
                residual = Y_chunk - ((Z * inverse[i]) @ Q + y_mean)
                loo_prediction = Y_chunk - residual / denominator[:, i : i + 1]
                out[i, sl] = _column_scores(Y_chunk, loo_prediction, self.scoring)
        return out

    def _splits(self, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if isinstance(self.cv, str):
            raise InvalidParameterError(f"Invalid cv: {self.cv!r}. Valid values are: an int, a splitter, splits, 'loo'")
        if isinstance(self.cv, Iterable) and not isinstance(self.cv, (str, bytes)) and not hasattr(self.cv, "split"):
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in self.cv]
        else:
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in check_cv(self.cv).split(X)]
        if not splits:
            raise InvalidParameterError("cv produced no splits")
        for train, test in splits:
            if len(train) == 0 or len(test) == 0:
                raise InvalidParameterError("every CV split needs at least one training and one test sample")
        return splits

    def _fold_scores(self, X, Y, train, test, alphas, dtype) -> np.ndarray:
        """``(n_alphas, n_targets)`` scores of one fold from one decomposition."""
        X_train = X[train]
        x_mean = X_train.mean(axis=0, dtype=np.float64).astype(dtype) if self.fit_intercept else None
        decomposition = _Decomposition(X_train, self.solver, x_mean)
        Z = decomposition.factor(X[test])
        inverse = (1.0 / (decomposition.w[None, :].astype(np.float64) + alphas[:, None])).astype(dtype)
        out = np.empty((alphas.size, Y.shape[1]))
        for sl in _chunks(Y.shape[1], self.target_chunk_size):
            Y_train = Y[train, sl]
            y_mean = Y_train.mean(axis=0, dtype=np.float64) if self.fit_intercept else np.zeros(Y_train.shape[1])
            Q = decomposition.project(Y_train - y_mean.astype(dtype))
            Y_test = Y[test, sl]
            for i in range(alphas.size):
                prediction = (Z * inverse[i]) @ Q + y_mean
                out[i, sl] = _column_scores(Y_test, prediction, self.scoring)
        return out

    # prediction ------------------------------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        """Predict targets for ``X`` (shape ``(n_samples, n_targets)``, or 1-D after a 1-D fit)."""
        check_is_fitted(self, "coef_")
        X = _check_X(X, np.dtype(self.dtype))
        if X.shape[1] != self.n_features_in_:
            raise InvalidParameterError(f"X has {X.shape[1]} features, the mapping was fitted on {self.n_features_in_}")
        coef = np.atleast_2d(self.coef_)
        prediction = X @ coef.T.astype(X.dtype) + np.atleast_1d(self.intercept_).astype(X.dtype)
        return prediction[:, 0] if getattr(self, "_predict_1d", False) else prediction

    # storage ---------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Parameters and fitted state as plain arrays (store with ``np.savez``; no pickles)."""
        arrays = _params_to_arrays(self)
        if hasattr(self, "coef_"):
            arrays.update(
                {
                    "coef_": np.asarray(self.coef_),
                    "intercept_": np.asarray(self.intercept_, dtype=np.float64),
                    "alpha_": np.asarray(self.alpha_, dtype=np.float64),
                    "cv_scores_": np.asarray(self.cv_scores_),
                    "n_features_in_": np.asarray(self.n_features_in_),
                    "predict_1d_": np.asarray(bool(getattr(self, "_predict_1d", False))),
                }
            )
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> RidgeCVPerTarget:
        """Rebuild an estimator (fitted if the arrays hold a fit) from :meth:`to_arrays`."""
        model = cls(**_params_from_arrays(cls, arrays))
        if "coef_" in arrays:
            one_d = bool(arrays["predict_1d_"])
            model.coef_ = np.asarray(arrays["coef_"])
            model.intercept_ = float(arrays["intercept_"]) if one_d else np.asarray(arrays["intercept_"])
            model.alpha_ = float(arrays["alpha_"]) if one_d else np.asarray(arrays["alpha_"])
            model.cv_scores_ = np.asarray(arrays["cv_scores_"])
            model.n_features_in_ = int(arrays["n_features_in_"])
            model._predict_1d = one_d
        return model


# --------------------------------------------------------------------------------------
# PLS
# --------------------------------------------------------------------------------------


class PLS(RegressorMixin, BaseEstimator):
    """Partial least squares, 25 components, no scaling: Brain-Score's neural mapping.

    Fitting delegates to :class:`sklearn.cross_decomposition.PLSRegression` with the same
    parameters, so predictions equal ``PLSRegression(25, scale=False)``'s; only the arrays
    needed to predict are kept (``coef_``, ``intercept_``, ``x_mean_``, ``x_std_``), which
    makes the fit storable without pickles.

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

    def fit(self, X: Any, y: Any) -> PLS:
        """Fit the PLS regression (see :class:`sklearn.cross_decomposition.PLSRegression`)."""
        X = _check_X(X, np.dtype(np.float64))
        Y, one_d = _as_2d(y)
        limit = min(X.shape)
        if not 1 <= int(self.n_components) <= limit:
            raise InvalidParameterError(
                f"PLS with n_components={self.n_components} needs at least that many features and training "
                f"samples; got {X.shape[0]} samples x {X.shape[1]} features (use n_components <= {limit})"
            )
        with _blas_threads(min(X.shape)):
            model = PLSRegression(
                n_components=int(self.n_components), scale=self.scale, max_iter=self.max_iter, tol=self.tol
            ).fit(X, Y)
        self.coef_ = np.asarray(model.coef_, dtype=np.float64)  # (n_targets, n_features), already / x_std
        self.intercept_ = np.asarray(model.intercept_, dtype=np.float64)
        self.x_mean_ = X.mean(axis=0)
        if self.scale:
            std = X.std(axis=0, ddof=1)
            std[std == 0.0] = 1.0
            self.x_std_ = std
        else:
            self.x_std_ = np.ones(X.shape[1])
        self.n_features_in_ = X.shape[1]
        self._predict_1d = one_d
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predict targets (same values as the fitted ``PLSRegression``)."""
        check_is_fitted(self, "coef_")
        X = _check_X(X, np.dtype(np.float64))
        if X.shape[1] != self.n_features_in_:
            raise InvalidParameterError(f"X has {X.shape[1]} features, the mapping was fitted on {self.n_features_in_}")
        prediction = (X - self.x_mean_) @ self.coef_.T + self.intercept_
        return prediction[:, 0] if self._predict_1d else prediction

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Parameters and fitted state as plain arrays (no pickles)."""
        arrays = _params_to_arrays(self)
        if hasattr(self, "coef_"):
            arrays.update(
                {
                    "coef_": self.coef_,
                    "intercept_": self.intercept_,
                    "x_mean_": self.x_mean_,
                    "x_std_": self.x_std_,
                    "n_features_in_": np.asarray(self.n_features_in_),
                    "predict_1d_": np.asarray(bool(self._predict_1d)),
                }
            )
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> PLS:
        """Rebuild an estimator (fitted if the arrays hold a fit) from :meth:`to_arrays`."""
        model = cls(**_params_from_arrays(cls, arrays))
        if "coef_" in arrays:
            model.coef_ = np.asarray(arrays["coef_"], dtype=np.float64)
            model.intercept_ = np.asarray(arrays["intercept_"], dtype=np.float64)
            model.x_mean_ = np.asarray(arrays["x_mean_"], dtype=np.float64)
            model.x_std_ = np.asarray(arrays["x_std_"], dtype=np.float64)
            model.n_features_in_ = int(arrays["n_features_in_"])
            model._predict_1d = bool(arrays["predict_1d_"])
        return model


# --------------------------------------------------------------------------------------
# storage and factory
# --------------------------------------------------------------------------------------

_MAPPINGS: dict[str, type] = {"RidgeCVPerTarget": RidgeCVPerTarget, "PLS": PLS}
_ALIASES = {"ridge": "RidgeCVPerTarget", "pls": "PLS"}


def _params_to_arrays(model: BaseEstimator) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"mapping_class": np.asarray(type(model).__name__)}
    for name, value in model.get_params(deep=False).items():
        if value is None:
            continue
        if name == "dtype":
            value = np.dtype(value).name
        if name == "cv" and not isinstance(value, (int, np.integer, str)):
            continue  # a splitter object is not storable as an array; the fit does not need it
        arrays[f"param.{name}"] = np.asarray(value)
    return arrays


def _params_from_arrays(cls: type, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    stored = str(np.asarray(arrays.get("mapping_class", cls.__name__)))
    if stored != cls.__name__:
        raise FitCacheError(f"the arrays hold a {stored}, not a {cls.__name__}")
    params = {}
    for key, value in arrays.items():
        if not key.startswith("param."):
            continue
        value = np.asarray(value)
        params[key[len("param.") :]] = value.item() if value.ndim == 0 else value.tolist()
    return params


def make_mapping(mapping: str | BaseEstimator = "pls", **params: Any) -> BaseEstimator:
    """A fresh mapping estimator: ``'pls'``, ``'ridge'`` (or a class name) with ``params``.

    An estimator instance is cloned (its parameters updated with ``params``).
    """
    if isinstance(mapping, BaseEstimator):
        from sklearn.base import clone

        return clone(mapping).set_params(**params)
    name = _ALIASES.get(str(mapping).lower(), str(mapping))
    if name not in _MAPPINGS:
        raise InvalidParameterError(f"Invalid mapping: {mapping!r}. Valid values are: {sorted(_ALIASES)}")
    return _MAPPINGS[name](**params)


def save_mapping(mapping: RidgeCVPerTarget | PLS, path: str | os.PathLike) -> None:
    """Store a mapping (parameters + fitted arrays) in an ``.npz`` file, without pickles."""
    np.savez(path, **mapping.to_arrays())


def load_mapping(path: str | os.PathLike) -> RidgeCVPerTarget | PLS:
    """Load a mapping written by :func:`save_mapping` (never unpickles).

    Raises
    ------
    FitCacheError
        The file is unreadable or does not hold a known mapping.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as e:
        raise FitCacheError(f"cannot read a mapping from {path}: {e}") from e
    name = str(arrays.get("mapping_class", ""))
    if name not in _MAPPINGS:
        raise FitCacheError(f"{path} does not hold a known mapping (class {name!r}; known: {sorted(_MAPPINGS)})")
    return _MAPPINGS[name].from_arrays(arrays)

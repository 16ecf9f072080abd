"""Ridge solvers: one eigendecomposition of a training design serves every alpha and target.

The solver layer of the ridge mappings (himalaya's ``ridge/_solvers.py`` layering): plain
functions of arrays, no estimator state, no validation of user input (the estimators in
:mod:`brainbridge.encoding.mappings` do that), no storage.

Numerics. Everything that decides a score (the Gram matrix, its eigendecomposition, the
residuals and leverages) is computed in float64, with the Gram matrix accumulated block by
block from inputs of any float dtype, so a float32 feature matrix is never copied whole.
The leave-one-out residuals use the stable form

``r(a) = P_perp Yc + U diag(a / (w + a)) U^T Yc``,  ``1 - h_ii(a) = d_i + sum_k U_ik^2 a / (w_k + a)``

where ``U diag(w) U^T`` is the (centred) kernel restricted to the space orthogonal to the
constant (when there is an intercept) and ``P_perp``/``d`` the projection onto (and the
leverage complement of) what ``U`` does not span. Every term is a sum of non-negative parts,
so nothing cancels when ``a`` is far below the eigenvalues, where the textbook
``(y - y_hat) / (1 - h)`` subtracts nearly equal numbers (-6e14 in float32 at p >> n).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import linalg

__all__ = ["Decomposition", "column_scores", "fold_scores", "loo_scores"]

#: bytes of float64 blocks converted at once while accumulating Gram matrices and products
_BLOCK_BYTES = 64 << 20
SCORINGS = ("r2", "pearson", "neg_mean_squared_error")


def _blocks(total: int, other: int) -> Iterable[slice]:
    step = max(1, _BLOCK_BYTES // max(1, 8 * other))
    for start in range(0, total, step):
        yield slice(start, min(start + step, total))


def _centred(X: np.ndarray, x_mean: np.ndarray | None, columns: slice) -> np.ndarray:
    block = np.asarray(X[:, columns], dtype=np.float64)
    return block - x_mean[columns] if x_mean is not None else block


def chunks(n: int, size: int | None) -> Iterable[slice]:
    """Slices of ``range(n)`` of at most ``size`` (all at once for ``None``/0)."""
    size = n if not size or size <= 0 else int(size)
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def column_scores(Y: np.ndarray, P: np.ndarray, scoring: str) -> np.ndarray:
    """Per-column score of predictions ``P`` against ``Y`` (float64, vectorised)."""
    Y = np.asarray(Y, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
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
    from brainbridge.stats import pearson_columns

    r = pearson_columns(P, Y)
    return np.where(np.isfinite(r), r, 0.0)


class Decomposition:
    """One eigendecomposition of a (centred) training design, shared by all alphas and targets.

    Parameters
    ----------
    X
        ``(n_samples, n_features)`` training features (any float dtype; not copied).
    fit_intercept
        Centre on the training means (the constant is then outside every fit).
    form
        ``'auto'`` (dual when ``n_features >= n_samples``), ``'primal'`` or ``'dual'``.

    Attributes
    ----------
    w : eigenvalues (float64, clipped at 0)
    basis : ``U``, orthonormal ``(n_samples, k)`` eigenvectors of the centred kernel in sample space
    """

    def __init__(self, X: np.ndarray, fit_intercept: bool = True, form: str = "auto"):
        self.X = X
        n, p = X.shape
        self.x_mean = X.mean(axis=0, dtype=np.float64) if fit_intercept else None
        self.fit_intercept = fit_intercept
        self.form = ("primal" if n > p else "dual") if form == "auto" else form
        if self.form == "primal":
            gram = np.zeros((p, p))
            for rows in _blocks(n, p):
                block = np.asarray(X[rows], dtype=np.float64)
                if self.x_mean is not None:
                    block = block - self.x_mean
                gram += block.T @ block
            w, V = self._eigh(gram)
            self.V = V  # feature-space eigenvectors
            self.w = w
            keep = w > w.max(initial=0.0) * max(n, p) * np.finfo(np.float64).eps
            self._keep = keep
            self.basis = self.times(V[:, keep]) / np.sqrt(w[keep])
            self.w_basis = w[keep]
            # leverage complement of the column space (and of the constant)
            self.d = 1.0 - np.einsum("ik,ik->i", self.basis, self.basis) - (1.0 / n if fit_intercept else 0.0)
            self.d = np.clip(self.d, 0.0, None)
        else:
            kernel = self.cross(X)
            if fit_intercept:
                # work in the (n - 1)-dimensional space orthogonal to the constant, exactly
                q, _ = np.linalg.qr(np.ones((n, 1)), mode="complete")
                self.C = q[:, 1:]
                kernel = self.C.T @ kernel @ self.C
            w, V = self._eigh(kernel)
            self.w = w
            self.V = V
            self.basis = self.C @ V if fit_intercept else V
            self.w_basis = w
            self.d = None

    @staticmethod
    def _eigh(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matrix = (matrix + matrix.T) / 2  # exact symmetry: round-off in the accumulation
        w, vectors = linalg.eigh(matrix, overwrite_a=True, check_finite=False, driver="evd")
        # round-off makes null-space eigenvalues slightly negative; they are zero
        return np.clip(w, 0.0, None), vectors

    # products with the centred design, block by block in float64 ---------------------------

    def cross(self, A: np.ndarray) -> np.ndarray:
        """``(A - mean) Xc^T`` (``A`` rows are samples in feature space)."""
        out = np.zeros((A.shape[0], self.X.shape[0]))
        for columns in _blocks(self.X.shape[1], self.X.shape[0] + A.shape[0]):
            out += _centred(A, self.x_mean, columns) @ _centred(self.X, self.x_mean, columns).T
        return out

    def times(self, M: np.ndarray) -> np.ndarray:
        """``Xc M`` for a ``(n_features, m)`` matrix."""
        out = np.zeros((self.X.shape[0], M.shape[1]))
        for columns in _blocks(self.X.shape[1], self.X.shape[0]):
            out += _centred(self.X, self.x_mean, columns) @ M[columns]
        return out

    def transpose_times(self, M: np.ndarray) -> np.ndarray:
        """``Xc^T M`` for a ``(n_samples, m)`` matrix."""
        p = self.X.shape[1]
        out = np.empty((p, M.shape[1]))
        for columns in _blocks(p, self.X.shape[0]):
            out[columns] = _centred(self.X, self.x_mean, columns).T @ M
        return out

    # fits ------------------------------------------------------------------------------

    def coefficients(self, Yc: np.ndarray, alphas: np.ndarray) -> np.ndarray:
        """Weights ``(n_features, n_targets)`` for centred targets and per-target ``alphas``."""
        if self.form == "primal":
            Q = self.V.T @ self.transpose_times(Yc)
            return self.V @ (Q / (self.w[:, None] + alphas[None, :]))
        U = self.basis
        return self.transpose_times(U @ ((U.T @ Yc) / (self.w_basis[:, None] + alphas[None, :])))

    def predict_factor(self, X_other: np.ndarray) -> np.ndarray:
        """``Z`` with ``prediction(a) = Z diag(1 / (w + a)) Q(Yc)`` for new samples."""
        if self.form == "primal":
            out = np.zeros((X_other.shape[0], self.V.shape[1]))
            for columns in _blocks(self.X.shape[1], X_other.shape[0]):
                out += _centred(X_other, self.x_mean, columns) @ self.V[columns]
            return out
        return self.cross(X_other) @ self.basis

    def project(self, Yc: np.ndarray) -> np.ndarray:
        """``Q`` of :meth:`predict_factor` for centred training targets."""
        if self.form == "primal":
            return self.V.T @ self.transpose_times(Yc)
        return self.basis.T @ Yc

    def eigenvalues(self) -> np.ndarray:
        """The eigenvalues matching :meth:`predict_factor`'s columns."""
        return self.w if self.form == "primal" else self.w_basis


def loo_scores(
    decomposition: Decomposition,
    Y: np.ndarray,
    alphas: np.ndarray,
    scoring: str = "r2",
    target_chunk_size: int | None = None,
) -> np.ndarray:
    """``(n_alphas, n_targets)`` exact leave-one-out scores, in the stable form (module docstring)."""
    U, w = decomposition.basis, decomposition.w_basis
    n = Y.shape[0]
    shrink = alphas[:, None] / (w[None, :] + alphas[:, None])  # (n_alphas, k): a / (w + a), in [0, 1]
    U2 = U * U
    complement = decomposition.d if decomposition.d is not None else np.zeros(n)
    out = np.empty((alphas.size, Y.shape[1]))
    for sl in chunks(Y.shape[1], target_chunk_size):
        Y_chunk = np.asarray(Y[:, sl], dtype=np.float64)
        y_mean = Y_chunk.mean(axis=0) if decomposition.fit_intercept else np.zeros(Y_chunk.shape[1])
        Yc = Y_chunk - y_mean
        Q = U.T @ Yc
        outside = Yc - U @ Q if decomposition.d is not None else 0.0  # P_perp Yc (primal only)
        for i in range(alphas.size):
            residual = outside + U @ (Q * shrink[i][:, None])
            one_minus_h = complement + U2 @ shrink[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                loo_error = residual / one_minus_h[:, None]
            # a point with no leverage complement is interpolated by every fit: its LOO error is
            # unbounded, not a win (h = 1 only happens for alpha -> 0 on a null complement)
            if np.isfinite(loo_error).all():
                out[i, sl] = column_scores(Y_chunk, Y_chunk - loo_error, scoring)
            else:
                out[i, sl] = _scores_with_infinite(Y_chunk, loo_error, scoring)
    return out


def _scores_with_infinite(Y: np.ndarray, loo_error: np.ndarray, scoring: str) -> np.ndarray:
    finite = np.isfinite(loo_error).all(axis=0)
    out = np.full(Y.shape[1], -np.inf)
    if finite.any():
        out[finite] = column_scores(Y[:, finite], Y[:, finite] - loo_error[:, finite], scoring)
    return out


def fold_scores(
    X: np.ndarray,
    Y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    alphas: np.ndarray,
    *,
    fit_intercept: bool = True,
    form: str = "auto",
    scoring: str = "r2",
    target_chunk_size: int | None = None,
) -> np.ndarray:
    """``(n_alphas, n_targets)`` scores of one cross-validation fold from one decomposition."""
    decomposition = Decomposition(X[train], fit_intercept, form)
    Z = decomposition.predict_factor(X[test])
    inverse = 1.0 / (decomposition.eigenvalues()[None, :] + alphas[:, None])
    out = np.empty((alphas.size, Y.shape[1]))
    for sl in chunks(Y.shape[1], target_chunk_size):
        Y_train = np.asarray(Y[train, sl], dtype=np.float64)
        y_mean = Y_train.mean(axis=0) if fit_intercept else np.zeros(Y_train.shape[1])
        Q = decomposition.project(Y_train - y_mean)
        Y_test = Y[test, sl]
        for i in range(alphas.size):
            out[i, sl] = column_scores(Y_test, (Z * inverse[i]) @ Q + y_mean, scoring)
    return out

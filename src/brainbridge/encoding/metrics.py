"""Array-level similarity metrics used by the scoring code (pure numpy, vectorised).

* :func:`pearson_columns`, :func:`spearman_brown`: re-exported from :mod:`brainbridge.stats`.
* :func:`rdm` / :func:`rdm_similarity`: representational dissimilarity matrices
  (``1 - Pearson`` between presentations) compared by Spearman correlation of their upper
  triangles (Brain-Score ``metrics/rdm``).
* :func:`cka`: linear centred kernel alignment with the unbiased HSIC estimator (Song et al.
  2012; Brain-Score ``metrics/cka`` default) or the biased (classic) one.

All functions take ``(presentations, features)`` arrays already aligned on presentations;
:mod:`brainbridge.encoding.scoring` does the alignment on ``stimulus_id``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from brainbridge.encoding.errors import InvalidParameterError
from brainbridge.stats import pearson_columns, spearman_brown  # the one home of these statistics

__all__ = ["cka", "pearson_columns", "rdm", "rdm_similarity", "spearman_brown"]


def rdm(responses: np.ndarray) -> np.ndarray:
    """Representational dissimilarity matrix ``1 - corrcoef`` between presentations (rows)."""
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 2 or responses.shape[0] < 2:
        raise InvalidParameterError(
            f"an RDM needs a (presentations >= 2, features) array, got {responses.shape}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - np.corrcoef(responses)


def rdm_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of the upper triangles (``k=1``) of the RDMs of ``a`` and ``b``.

    Rows are presentations in the same order in both arrays (Brain-Score sorts by
    ``stimulus_id``); the number of features may differ.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape[0] != b.shape[0]:
        raise InvalidParameterError(f"the arrays have {a.shape[0]} and {b.shape[0]} presentations")
    if a.shape[0] < 3:
        raise InvalidParameterError("an RDM comparison needs at least 3 presentations")
    upper = np.triu_indices(a.shape[0], k=1)
    first, second = rdm(a)[upper], rdm(b)[upper]
    # 1-D columns: one correlation
    return float(pearson_columns(rankdata(first, nan_policy="omit"), rankdata(second, nan_policy="omit")))


def _centred_gram(X: np.ndarray, unbiased: bool) -> np.ndarray:
    gram = X @ X.T
    n = gram.shape[0]
    if unbiased:
        # U-centring (Kornblith et al. 2019): <U(K), U(L)> / (n (n - 3)) is the unbiased HSIC
        np.fill_diagonal(gram, 0.0)
        means = gram.sum(axis=0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0.0)
    else:
        means = gram.mean(axis=0)
        means -= means.mean() / 2
        gram -= means[:, None]
        gram -= means[None, :]
    return gram


def cka(a: np.ndarray, b: np.ndarray, *, unbiased: bool = True) -> float:
    """Linear centred kernel alignment between two ``(presentations, features)`` arrays.

    ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with linear kernels. The default unbiased
    HSIC estimator (Song et al. 2012) needs at least 4 presentations and gives 0 when
    ``HSIC(K, K) HSIC(L, L) <= 0``; ``unbiased=False`` is the classic centred (biased) CKA.
    Invariant to orthogonal transforms and isotropic scaling of either array.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise InvalidParameterError(
            f"CKA needs two (presentations, features) arrays, got {a.shape} and {b.shape}"
        )
    n = a.shape[0]
    if n < (4 if unbiased else 2):
        raise InvalidParameterError(f"CKA needs at least {4 if unbiased else 2} presentations, got {n}")
    K = _centred_gram(a, unbiased)
    L = _centred_gram(b, unbiased)
    hsic_kl = float(np.vdot(K, L))
    product = float(np.vdot(K, K)) * float(np.vdot(L, L))
    if product <= 0:
        return 0.0
    return hsic_kl / np.sqrt(product)

"""Sampling distributions for contrastive learning: priors and positive-pair conditionals.

Same classes and sampling semantics as ``cebra.distributions``, with these fixes:

* nearest-neighbour search is exact and fast: a :class:`scipy.spatial.cKDTree` (one per class
  for the mixed distribution) instead of a brute-force ``(N, B)`` distance matrix;
* every distribution knows the dataset's :class:`~brainbridge.data.Offset` and only returns
  indices whose whole window lies inside the data (``[left, N - right)``), so edge samples are
  never silently re-centred;
* all draws come from one :class:`~brainbridge.data._rng.Random` (``seed=``), so sampling is
  reproducible; ``seed="global"`` uses numpy's global RNG with CEBRA's call order;
* discrete labels of any integer (or boolean) dtype, with gaps, are mapped to ``0..K-1`` first,
  so the class-balanced prior really gives every present label the same mass.

Indices are returned as CPU ``torch.int64`` tensors (sharing memory with numpy arrays).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.spatial import cKDTree

from brainbridge.data._rng import Random, SeedLike
from brainbridge.data.datatypes import Offset
from brainbridge.data.errors import DatasetError, SamplingError

__all__ = [
    "ConditionalIndex",
    "ContinuousIndex",
    "DeltaNormalDistribution",
    "Discrete",
    "DiscreteEmpirical",
    "DiscreteUniform",
    "MixedTimeDeltaDistribution",
    "Prior",
    "TimeContrastive",
    "TimedeltaDistribution",
    "as_numpy",
    "valid_range",
]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def as_numpy(array) -> np.ndarray:
    """A numpy view (or copy, for GPU tensors) of a tensor or array-like."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def _as_tensor(indices: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64))


def valid_range(num_samples: int, offset: Offset | None) -> tuple[int, int]:
    """``(lo, hi)``: the samples whose whole ``offset`` window lies in ``[0, num_samples)``.

    Raises
    ------
    SamplingError
        When no sample has a complete window (the data is shorter than the offset).
    """
    offset = offset if offset is not None else Offset(0, 1)
    lo, hi = offset.left, num_samples - offset.right + 1
    if hi <= lo:
        raise SamplingError(
            f"{num_samples} samples are too few for {offset}: no sample has a complete window"
        )
    return lo, hi


def _continuous_matrix(continuous, name: str = "continuous index") -> np.ndarray:
    values = as_numpy(continuous)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DatasetError(f"the {name} must be 1-D or 2-D (samples x dims), got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number) and values.dtype != np.bool_:
        raise DatasetError(f"the {name} must be numeric, got dtype {values.dtype}")
    values = values.astype(np.float64, copy=False)
    if not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        raise DatasetError(
            f"the {name} has {len(bad)} rows with NaN/inf (first: row {bad[0]}); "
            "interpolate or drop them before sampling"
        )
    return values


def _discrete_vector(discrete, name: str = "discrete index") -> np.ndarray:
    values = as_numpy(discrete)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DatasetError(f"the {name} must be 1-D, got shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
        raise DatasetError(f"the {name} must have an integer (or boolean) dtype, got {values.dtype}")
    return values.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------
# nearest-neighbour indexes
# --------------------------------------------------------------------------------------


class ContinuousIndex:
    """Exact nearest-neighbour search in a continuous index (Euclidean, KD-tree).

    Parameters
    ----------
    index : array-like or torch.Tensor, shape (N,) or (N, d)
        The continuous variable of every sample.
    offset : Offset, optional
        Only samples in ``[left, N - right)`` are candidates (all when omitted).
    """

    def __init__(self, index, offset: Offset | None = None):
        self.index = _continuous_matrix(index)
        self.lo, self.hi = valid_range(len(self.index), offset)
        self.tree = cKDTree(self.index[self.lo : self.hi])

    def search(self, query) -> np.ndarray:
        """Row indices (int64) of the nearest candidate to each query row."""
        q = np.asarray(as_numpy(query), dtype=np.float64)
        if q.ndim == 1:
            q = q[:, None] if self.index.shape[1] == 1 else q[None, :]
        _, nearest = self.tree.query(q, k=1)
        return nearest.astype(np.int64, copy=False) + self.lo


class ConditionalIndex:
    """Exact nearest-neighbour search restricted to samples with a given discrete label.

    One KD-tree per label (CEBRA masks an ``(N, B)`` distance matrix instead).

    Parameters
    ----------
    discrete : array-like, shape (N,)
        Integer labels.
    continuous : array-like, shape (N,) or (N, d)
        The continuous variable.
    offset : Offset, optional
        Only samples in ``[left, N - right)`` are candidates.
    """

    def __init__(self, discrete, continuous, offset: Offset | None = None):
        labels = _discrete_vector(discrete)
        self.index = _continuous_matrix(continuous)
        if len(labels) != len(self.index):
            raise DatasetError(
                f"discrete ({len(labels)}) and continuous ({len(self.index)}) indexes differ in length"
            )
        self.lo, self.hi = valid_range(len(labels), offset)
        valid = labels[self.lo : self.hi]
        self.labels = np.unique(valid)
        order = np.argsort(valid, kind="stable")
        bounds = np.searchsorted(valid[order], self.labels, side="left")
        bounds = np.append(bounds, len(order))
        #: global row indices of the candidates of each label, in label order
        self.members = [order[a:b] + self.lo for a, b in zip(bounds[:-1], bounds[1:])]
        self.trees = [cKDTree(self.index[m]) for m in self.members]

    def search(self, query, discrete) -> np.ndarray:
        """Nearest candidate to each query row among the samples that share its label."""
        q = np.asarray(as_numpy(query), dtype=np.float64)
        if q.ndim == 1:
            q = q[:, None]
        wanted = _discrete_vector(discrete, "query labels")
        code = np.searchsorted(self.labels, wanted)
        code_ok = code < len(self.labels)
        missing = ~code_ok
        missing[code_ok] = self.labels[code[code_ok]] != wanted[code_ok]
        if missing.any():
            raise SamplingError(
                f"label {wanted[missing][0]} has no sample in the valid range; present labels: "
                f"{self.labels.tolist()}"
            )
        result = np.empty(len(q), dtype=np.int64)
        order = np.argsort(code, kind="stable")
        sorted_codes = code[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for a, b in zip(starts, ends):
            c = sorted_codes[a]
            rows = order[a:b]
            _, nearest = self.trees[c].query(q[rows], k=1)
            result[rows] = self.members[c][nearest]
        return result


# --------------------------------------------------------------------------------------
# base behaviour
# --------------------------------------------------------------------------------------


class _Distribution:
    """Common state: the number of samples, the valid range and the random source."""

    def __init__(self, num_samples: int, offset: Offset | None, seed: SeedLike):
        self.num_samples = int(num_samples)
        self.offset = offset if offset is not None else Offset(0, 1)
        self.lo, self.hi = valid_range(self.num_samples, self.offset)
        self.rng = Random(seed)

    def _prior(self, num_samples: int) -> np.ndarray:
        return self.rng.integers(self.lo, self.hi, num_samples)


class Prior(_Distribution):
    """Uniform prior over the samples whose whole window lies in the data.

    Parameters
    ----------
    continuous : array-like or int
        The continuous index (only its length is used) or the number of samples.
    offset : Offset, optional
    seed : int, generator, "global" or None
    """

    def __init__(self, continuous, offset: Offset | None = None, seed: SeedLike = None):
        n = continuous if isinstance(continuous, int | np.integer) else len(continuous)
        super().__init__(n, offset, seed)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """``num_samples`` indices drawn uniformly from ``[left, N - right)``."""
        return _as_tensor(self._prior(num_samples))


class TimeContrastive(_Distribution):
    """Time-contrastive learning: the positive of ``t`` is ``t + time_offset``.

    The prior draws from ``[left, N - right - time_offset)`` so that both samples of a pair have
    complete windows.

    Parameters
    ----------
    continuous : array-like, optional
        Only used for its length when ``num_samples`` is not given.
    time_offset : int
    num_samples : int, optional
    offset : Offset, optional
    seed : int, generator, "global" or None
    """

    def __init__(
        self,
        continuous=None,
        time_offset: int = 1,
        num_samples: int | None = None,
        offset: Offset | None = None,
        seed: SeedLike = None,
    ):
        if continuous is None and num_samples is None:
            raise SamplingError("TimeContrastive needs a continuous index or num_samples")
        if continuous is not None and num_samples is not None and len(continuous) != num_samples:
            raise SamplingError(
                f"num_samples={num_samples} does not match the continuous index length {len(continuous)}"
            )
        n = int(num_samples if num_samples is not None else len(continuous))
        if time_offset < 1:
            raise SamplingError(f"time_offset must be >= 1, got {time_offset}")
        if n <= time_offset:
            raise SamplingError(f"time_offset={time_offset} needs more than {time_offset} samples, got {n}")
        super().__init__(n, offset, seed)
        self.time_offset = int(time_offset)
        if self.hi - self.time_offset <= self.lo:
            raise SamplingError(
                f"{n} samples are too few for time_offset={time_offset} with {self.offset}"
            )

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """References from ``[left, N - right - time_offset)``."""
        return _as_tensor(self.rng.integers(self.lo, self.hi - self.time_offset, num_samples))

    def sample_conditional(self, reference_idx) -> torch.Tensor:
        """``reference + time_offset``."""
        return _as_tensor(as_numpy(reference_idx).astype(np.int64) + self.time_offset)


class TimedeltaDistribution(_Distribution):
    """Positives found by adding an empirical ``time_delta``-step change of the behaviour.

    The query for reference ``r`` is ``c[r] + (c[t] - c[t - time_delta])`` for a random ``t``,
    and the positive is the sample whose index is nearest to the query (exact KD-tree search).
    Unlike CEBRA, the random change is drawn from the ``N - time_delta`` real differences only
    (CEBRA also draws ``time_delta`` all-zero rows, which return the reference itself).

    Parameters
    ----------
    continuous : array-like, shape (N,) or (N, d)
    time_delta : int
    offset : Offset, optional
    seed : int, generator, "global" or None
    """

    def __init__(self, continuous, time_delta: int = 1, offset: Offset | None = None, seed: SeedLike = None):
        data = _continuous_matrix(continuous)
        if time_delta < 1 or time_delta >= len(data):
            raise SamplingError(f"time_delta must be in [1, {len(data)}), got {time_delta}")
        super().__init__(len(data), offset, seed)
        self.time_delta = int(time_delta)
        self.data = data
        self.time_difference = data[time_delta:] - data[:-time_delta]
        self.index = ContinuousIndex(data, self.offset)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Uniform over ``[left, N - right)``."""
        return _as_tensor(self._prior(num_samples))

    def query(self, reference_idx) -> np.ndarray:
        """The search query of each reference: its index plus a random empirical change."""
        ref = as_numpy(reference_idx).astype(np.int64, copy=False)
        k = self.rng.integers(0, len(self.time_difference), len(ref))
        return self.data[ref] + self.time_difference[k]

    def sample_conditional(self, reference_idx) -> torch.Tensor:
        """The nearest sample to each reference's query."""
        return _as_tensor(self.index.search(self.query(reference_idx)))


class DeltaNormalDistribution(_Distribution):
    """Positives near a Gaussian perturbation of the reference's continuous index.

    The query is ``Normal(c[ref], delta**2 I)``; the positive is its nearest sample.

    Parameters
    ----------
    continuous : array-like, shape (N,) or (N, d)
    delta : float
        Standard deviation of the perturbation.
    offset : Offset, optional
    seed : int, generator, "global" or None
    """

    def __init__(self, continuous, delta: float = 0.1, offset: Offset | None = None, seed: SeedLike = None):
        data = _continuous_matrix(continuous)
        if not delta > 0:
            raise SamplingError(f"delta must be positive, got {delta}")
        super().__init__(len(data), offset, seed)
        self.data = data
        self.std = float(delta)
        self.index = ContinuousIndex(data, self.offset)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Uniform over ``[left, N - right)``."""
        return _as_tensor(self._prior(num_samples))

    def query(self, reference_idx) -> np.ndarray:
        """``c[ref]`` plus Gaussian noise of standard deviation ``delta``."""
        loc = self.data[as_numpy(reference_idx).astype(np.int64, copy=False)]
        return self.rng.normal(loc, self.std)

    def sample_conditional(self, reference_idx) -> torch.Tensor:
        """The nearest sample to each reference's perturbed query."""
        return _as_tensor(self.index.search(self.query(reference_idx)))


class Discrete(_Distribution):
    """Resample one-dimensional discrete labels (empirically, or balanced across labels).

    Labels of any integer or boolean dtype are accepted; they are mapped to ``0..K-1`` with
    :func:`numpy.unique` over the valid range, so label gaps (``{0, 5}``) and large values cost
    nothing and do not distort the balanced prior.

    Parameters
    ----------
    samples : array-like, shape (N,)
        The label of every sample.
    offset : Offset, optional
        Only samples in ``[left, N - right)`` are drawn.
    seed : int, generator, "global" or None
        ``"global"`` makes the same numpy calls as CEBRA (``np.random.uniform``/``randint``).
    """

    def __init__(self, samples, offset: Offset | None = None, seed: SeedLike = None):
        labels = _discrete_vector(samples, "discrete index")
        super().__init__(len(labels), offset, seed)
        self.samples = labels
        valid = labels[self.lo : self.hi]
        self.labels, codes = np.unique(valid, return_inverse=True)
        self.codes = codes.astype(np.int64, copy=False)
        # the legacy mode keeps CEBRA's argsort so that indices (not only labels) match
        kind = None if self.rng.legacy else "stable"
        self.sorted_idx = np.argsort(self.codes, kind=kind).astype(np.int64) + self.lo
        self.counts = np.bincount(self.codes, minlength=len(self.labels))
        self.cdf = np.zeros(len(self.counts) + 1)
        self.cdf[1:] = np.cumsum(self.counts)
        self._grid = np.linspace(0, len(valid), len(self.cdf))

    @property
    def num_valid(self) -> int:
        """Number of samples that can be drawn."""
        return self.hi - self.lo

    def transform(self, u: np.ndarray) -> np.ndarray:
        """Map uniform draws in ``[0, N)`` to positions in label-sorted order, 1/K mass per label."""
        return np.interp(u, self._grid, self.cdf)

    def sample_uniform(self, num_samples: int) -> torch.Tensor:
        """Indices whose labels are uniformly distributed over the present labels."""
        u = self.rng.uniform(0, self.num_valid, (num_samples,))
        pos = np.minimum(self.transform(u).astype(np.int64), self.num_valid - 1)
        return _as_tensor(self.sorted_idx[pos])

    def sample_empirical(self, num_samples: int) -> torch.Tensor:
        """Indices drawn uniformly over time (labels keep their empirical frequencies)."""
        j = self.rng.integers(0, self.num_valid, (num_samples,))
        return _as_tensor(self.sorted_idx[j])

    def label_codes(self, values) -> np.ndarray:
        """The ``0..K-1`` code of each label value; unknown labels raise :class:`SamplingError`."""
        wanted = _discrete_vector(values, "reference labels")
        code = np.searchsorted(self.labels, wanted)
        inside = code < len(self.labels)
        ok = inside.copy()
        ok[inside] = self.labels[code[inside]] == wanted[inside]
        if not ok.all():
            raise SamplingError(
                f"label {wanted[~ok][0]} has no sample to draw from; present labels: {self.labels.tolist()}"
            )
        return code

    def sample_conditional(self, reference_index) -> torch.Tensor:
        """For each label value given, a random sample with that label (may be the reference)."""
        code = self.label_codes(reference_index)
        u = self.rng.uniform(0, 1, len(code))
        pos = (self.cdf[code] + u * (self.cdf[code + 1] - self.cdf[code])).astype(np.int64)
        pos = np.minimum(pos, self.cdf[code + 1].astype(np.int64) - 1)
        return _as_tensor(self.sorted_idx[pos])


class DiscreteUniform(Discrete):
    """Discrete prior with the same mass for every label."""

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Class-balanced indices (see :meth:`Discrete.sample_uniform`)."""
        return self.sample_uniform(num_samples)


class DiscreteEmpirical(Discrete):
    """Discrete prior uniform over time (labels at their empirical frequencies)."""

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Indices uniform over time (see :meth:`Discrete.sample_empirical`)."""
        return self.sample_empirical(num_samples)


class MixedTimeDeltaDistribution(_Distribution):
    """Class-balanced prior; time-delta positives that share the reference's label.

    Parameters
    ----------
    discrete : array-like, shape (N,)
    continuous : array-like, shape (N,) or (N, d)
    time_delta : int
    offset : Offset, optional
    seed : int, generator, "global" or None
    """

    def __init__(
        self, discrete, continuous, time_delta: int = 1, offset: Offset | None = None, seed: SeedLike = None
    ):
        data = _continuous_matrix(continuous)
        labels = _discrete_vector(discrete)
        if len(labels) != len(data):
            raise DatasetError(
                f"discrete ({len(labels)}) and continuous ({len(data)}) indexes differ in length"
            )
        if time_delta < 1 or time_delta >= len(data):
            raise SamplingError(f"time_delta must be in [1, {len(data)}), got {time_delta}")
        super().__init__(len(data), offset, seed)
        self.data = data
        self.discrete = labels
        self.time_delta = int(time_delta)
        self.time_difference = data[time_delta:] - data[:-time_delta]
        self.prior = DiscreteUniform(labels, self.offset, seed=self.rng)
        self.index = ConditionalIndex(labels, data, self.offset)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Class-balanced indices."""
        return self.prior.sample_prior(num_samples)

    def sample_conditional(self, reference_idx) -> torch.Tensor:
        """Nearest same-label sample to ``c[ref] + random empirical change``."""
        ref = as_numpy(reference_idx).astype(np.int64, copy=False)
        k = self.rng.integers(0, len(self.time_difference), len(ref))
        query = self.data[ref] + self.time_difference[k]
        return _as_tensor(self.index.search(query, self.discrete[ref]))


def delta_normal_alias(conditional: str) -> str:
    """Map CEBRA's deprecated ``"delta"`` conditional to ``"delta_normal"`` (with a warning)."""
    if conditional == "delta":
        warnings.warn(
            "conditional='delta' is deprecated; use conditional='delta_normal'",
            DeprecationWarning,
            stacklevel=3,
        )
        return "delta_normal"
    return conditional

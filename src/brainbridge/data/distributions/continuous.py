"""Priors and conditionals over a continuous index (``cebra.distributions.continuous`` counterpart)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from brainbridge.data._rng import SeedLike
from brainbridge.data.datatypes import Offset
from brainbridge.data.distributions.base import Distribution
from brainbridge.data.distributions.index import ContinuousIndex, _continuous_matrix, as_numpy
from brainbridge.data.errors import SamplingError

__all__ = [
    "DeltaNormalDistribution",
    "Prior",
    "TimeContrastive",
    "TimedeltaDistribution",
    "delta_normal_alias",
]


class Prior(Distribution):
    """Uniform prior over the samples whose whole window lies in the data.

    Parameters
    ----------
    continuous : array-like or int
        The continuous index (only its length is used) or the number of samples.
    offset : Offset, optional
    seed : int, generator, "global" or None
    """

    def __init__(self, continuous, device="cpu", *, offset: Offset | None = None, seed: SeedLike = None):
        n = int(continuous) if isinstance(continuous, int | np.integer) else len(continuous)
        super().__init__(n, offset, seed, device)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """``num_samples`` indices drawn uniformly from ``[left, N - right)``."""
        return self._tensor(self._prior(num_samples))


class TimeContrastive(Distribution):
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
        device="cpu",
        *,
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
        super().__init__(n, offset, seed, device)
        self.time_offset = int(time_offset)
        if self.hi - self.time_offset <= self.lo:
            raise SamplingError(f"{n} samples are too few for time_offset={time_offset} with {self.offset}")

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """References from ``[left, N - right - time_offset)``."""
        return self._tensor(self.rng.integers(self.lo, self.hi - self.time_offset, num_samples))

    def sample_conditional(self, reference_idx) -> torch.Tensor:
        """``reference + time_offset``."""
        return self._tensor(as_numpy(reference_idx).astype(np.int64) + self.time_offset)


class TimedeltaDistribution(Distribution):
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

    def __init__(
        self,
        continuous,
        time_delta: int = 1,
        device="cpu",
        *,
        offset: Offset | None = None,
        seed: SeedLike = None,
    ):
        data = _continuous_matrix(continuous)
        if time_delta < 1 or time_delta >= len(data):
            raise SamplingError(f"time_delta must be in [1, {len(data)}), got {time_delta}")
        super().__init__(len(data), offset, seed, device)
        self.time_delta = int(time_delta)
        self.data = data
        self.time_difference = data[time_delta:] - data[:-time_delta]
        self.index = ContinuousIndex(data, self.offset)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Uniform over ``[left, N - right)``."""
        return self._tensor(self._prior(num_samples))

    def query(self, reference_idx) -> np.ndarray:
        """The search query of each reference: its index plus a random empirical change."""
        ref = as_numpy(reference_idx).astype(np.int64, copy=False)
        k = self.rng.integers(0, len(self.time_difference), len(ref))
        return self.data[ref] + self.time_difference[k]

    def sample_conditional(self, reference_idx) -> torch.Tensor:
        """The nearest sample to each reference's query."""
        return self._tensor(self.index.search_numpy(self.query(reference_idx)))


class DeltaNormalDistribution(Distribution):
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

    def __init__(
        self,
        continuous,
        delta: float = 0.1,
        device="cpu",
        *,
        offset: Offset | None = None,
        seed: SeedLike = None,
    ):
        data = _continuous_matrix(continuous)
        if not delta > 0:
            raise SamplingError(f"delta must be positive, got {delta}")
        super().__init__(len(data), offset, seed, device)
        self.data = data
        self.std = float(delta)
        self.index = ContinuousIndex(data, self.offset)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Uniform over ``[left, N - right)``."""
        return self._tensor(self._prior(num_samples))

    def query(self, reference_idx) -> np.ndarray:
        """``c[ref]`` plus Gaussian noise of standard deviation ``delta``."""
        loc = self.data[as_numpy(reference_idx).astype(np.int64, copy=False)]
        return self.rng.normal(loc, self.std)

    def sample_conditional(self, reference_idx) -> torch.Tensor:
        """The nearest sample to each reference's perturbed query."""
        return self._tensor(self.index.search_numpy(self.query(reference_idx)))


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

"""Distributions over discrete and continuous labels together (``cebra.distributions.mixed``)."""

from __future__ import annotations

import numpy as np
import torch

from brainbridge.data._rng import SeedLike
from brainbridge.data.datatypes import Offset
from brainbridge.data.distributions.base import Distribution
from brainbridge.data.distributions.discrete import DiscreteUniform
from brainbridge.data.distributions.index import (
    ConditionalIndex,
    _continuous_matrix,
    _discrete_vector,
    as_numpy,
)
from brainbridge.data.errors import DatasetError, SamplingError

__all__ = ["Mixed", "MixedTimeDeltaDistribution"]


class Mixed:
    """Sampling over a discrete and a continuous index together (``cebra.distributions.mixed.Mixed``).

    The prior is class-balanced (:class:`DiscreteUniform`); conditionals are exact
    nearest-neighbour searches, restricted to the reference's label when one is given.

    Parameters
    ----------
    discrete : array-like, shape (N,)
    continuous : array-like, shape (N,) or (N, d)
    device : str, default "cpu"
        Where returned index tensors live.
    offset : Offset, optional
    seed : int, generator, "global" or None
    """

    def __init__(
        self, discrete, continuous, device="cpu", *, offset: Offset | None = None, seed: SeedLike = None
    ):
        self.uniform_prior = False
        self.prior = DiscreteUniform(discrete, device, offset=offset, seed=seed)
        self.conditional = ConditionalIndex(discrete, continuous, offset)
        self.device = str(device)

    def _tensor(self, indices) -> torch.Tensor:
        return self.prior._tensor(indices)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Class-balanced indices."""
        return self.prior.sample_prior(num_samples)

    def sample_conditional_discrete(self, discrete) -> torch.Tensor:
        """For each label value, a random sample with that label (continuous index ignored)."""
        return self.prior.sample_conditional(discrete)

    def sample_conditional_continuous(self, continuous) -> torch.Tensor:
        """The nearest sample to each continuous query, whatever its label."""
        return self._tensor(self.conditional.search_numpy(continuous, discrete=None))

    def sample_conditional(self, discrete, continuous) -> torch.Tensor:
        """The nearest sample to each continuous query among the samples with the given label."""
        return self._tensor(self.conditional.search_numpy(continuous, discrete=discrete))

    def to(self, device) -> Mixed:
        """Return index tensors on ``device`` from now on; return self."""
        self.device = str(device)
        self.prior.to(device)
        return self


class MixedTimeDeltaDistribution(Distribution):
    """Class-balanced prior; time-delta positives that share the reference's label.

    Parameters
    ----------
    discrete : array-like, shape (N,)
    continuous : array-like, shape (N,) or (N, d)
    time_delta : int
    device : str, default "cpu"
        Where returned index tensors live.
    offset : Offset, optional
    seed : int, generator, "global" or None
    """

    def __init__(
        self,
        discrete,
        continuous,
        time_delta: int = 1,
        device="cpu",
        *,
        offset: Offset | None = None,
        seed: SeedLike = None,
    ):
        data = _continuous_matrix(continuous)
        labels = _discrete_vector(discrete)
        if len(labels) != len(data):
            raise DatasetError(
                f"discrete ({len(labels)}) and continuous ({len(data)}) indexes differ in length"
            )
        if time_delta < 1 or time_delta >= len(data):
            raise SamplingError(f"time_delta must be in [1, {len(data)}), got {time_delta}")
        super().__init__(len(data), offset, seed, device)
        self.data = data
        self.discrete = labels
        self.time_delta = int(time_delta)
        self.time_difference = data[time_delta:] - data[:-time_delta]
        self.prior = DiscreteUniform(labels, device, offset=self.offset, seed=self.rng)
        self.index = ConditionalIndex(labels, data, self.offset)

    def sample_prior(self, num_samples: int) -> torch.Tensor:
        """Class-balanced indices."""
        return self.prior.sample_prior(num_samples)

    def sample_conditional(self, reference_idx) -> torch.Tensor:
        """Nearest same-label sample to ``c[ref] + random empirical change``."""
        ref = as_numpy(reference_idx).astype(np.int64, copy=False)
        k = self.rng.integers(0, len(self.time_difference), len(ref))
        query = self.data[ref] + self.time_difference[k]
        return self._tensor(self.index.search_numpy(query, self.discrete[ref]))

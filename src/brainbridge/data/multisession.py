"""Multi-session loaders: continuous, discrete, mixed and unified (``cebra.data.multi_session``).

They sample with the multi-session samplers of
:mod:`brainbridge.data.distributions.multisession` (re-exported here); ``num_samples`` is
honoured by ``get_indices``.
"""

from __future__ import annotations

import dataclasses

import torch

from brainbridge.data.datasets import MultiSessionDataset, UnifiedDataset
from brainbridge.data.datatypes import BatchIndex
from brainbridge.data.distributions.multisession import (
    DiscreteMultisessionSampler,
    MultisessionSampler,
    UnifiedSampler,
    invert_index,
)
from brainbridge.data.errors import SamplingError
from brainbridge.data.loaders import Loader

__all__ = [
    "ContinuousMultiSessionDataLoader",
    "DiscreteMultiSessionDataLoader",
    "DiscreteMultisessionSampler",
    "MixedMultiSessionDataLoader",
    "MultiSessionLoader",
    "MultisessionSampler",
    "UnifiedLoader",
    "UnifiedSampler",
    "invert_index",
]


@dataclasses.dataclass
class MultiSessionLoader(Loader):
    """Loader for multi-session datasets (continuous time-delta sampling across sessions).

    Parameters
    ----------
    dataset : MultiSessionDataset
    num_steps, batch_size : int
    time_offset : int, default 10
    seed : keyword-only
    """

    time_offset: int = 10

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.dataset, MultiSessionDataset):
            raise SamplingError(f"{type(self).__name__} needs a MultiSessionDataset (e.g. DatasetCollection)")
        self._distribution_for(self._offset_key())

    @property
    def _sessions(self) -> MultiSessionDataset:
        """The dataset, a multi-session one (checked in __post_init__)."""
        data = self._data
        assert isinstance(data, MultiSessionDataset)
        return data

    def _offset_key(self):
        return tuple(s.offset for s in self._sessions.iter_sessions())

    def _make_distribution(self, key):  # noqa: ARG002 - a signature shared by its interface
        return MultisessionSampler(self._sessions, self.time_offset, seed=self.rng)

    @property
    def sampler(self):
        """The sampler for the sessions' current offsets."""
        return self.distribution

    def get_indices(self, num_samples: int | None = None) -> BatchIndex:
        """``(S, B)`` references, negatives and session-assigned positives, with the permutation."""
        n = self._require_batch_size(num_samples)
        sampler = self.sampler
        reference = sampler.sample_prior(n)
        negative = sampler.sample_prior(n)
        positive, idx, idx_rev = sampler.sample_conditional(reference)
        return BatchIndex(
            reference=torch.from_numpy(reference),
            positive=torch.from_numpy(positive),
            negative=torch.from_numpy(negative),
            index=idx,
            index_reversed=idx_rev,
        )


@dataclasses.dataclass
class ContinuousMultiSessionDataLoader(MultiSessionLoader):
    """Multi-session contrastive learning conditioned on a continuous behaviour variable.

    ``conditional`` must be ``"time_delta"`` (CEBRA accepts and ignores any value).
    """

    conditional: str = "time_delta"

    def __post_init__(self):
        if self.conditional != "time_delta":
            raise SamplingError(
                f"conditional must be 'time_delta' for multi-session loaders, got {self.conditional!r}"
            )
        super().__post_init__()

    @property
    def index(self) -> torch.Tensor | None:
        """The concatenated continuous index."""
        return self._data.continuous_index


@dataclasses.dataclass
class DiscreteMultiSessionDataLoader(MultiSessionLoader):
    """Multi-session contrastive learning with discrete labels."""

    def _make_distribution(self, key):  # noqa: ARG002 - a signature shared by its interface
        return DiscreteMultisessionSampler(self._sessions, seed=self.rng)

    @property
    def index(self) -> torch.Tensor | None:
        """The concatenated discrete index."""
        return self._data.discrete_index


@dataclasses.dataclass
class MixedMultiSessionDataLoader(MultiSessionLoader):
    """Multi-session loader for mixed labels (continuous sampling, as in CEBRA)."""


@dataclasses.dataclass
class UnifiedLoader(MultiSessionLoader):
    """Loader for a :class:`UnifiedDataset`: aligned samples from every session, concatenated.

    ``conditional`` must be ``"time_delta"``.
    """

    conditional: str = "time_delta"

    def __post_init__(self):
        if self.conditional != "time_delta":
            raise SamplingError(
                f"UnifiedLoader supports conditional='time_delta' only, got {self.conditional!r}"
            )
        if not isinstance(self.dataset, UnifiedDataset):
            raise SamplingError("UnifiedLoader needs a UnifiedDataset")
        super().__post_init__()

    def _make_distribution(self, key):  # noqa: ARG002 - a signature shared by its interface
        return UnifiedSampler(self._sessions, self.time_offset, seed=self.rng)

    def get_indices(self, num_samples: int | None = None) -> BatchIndex:
        """Aligned ``(S, B)`` references, negatives and positives."""
        n = self._require_batch_size(num_samples)
        sampler = self.sampler
        reference = sampler.sample_prior(n)
        negative = sampler.sample_prior(n)
        positive = sampler.sample_conditional(reference)
        return BatchIndex(
            reference=torch.from_numpy(reference),
            positive=torch.from_numpy(positive),
            negative=torch.from_numpy(negative),
        )

"""Single-session contrastive loaders: discrete, continuous, mixed, hybrid and full-batch.

Same classes, dataclass fields and sampling semantics as ``cebra.data.single_session``, with a
keyword-only ``seed`` on every loader (an int, a numpy/torch generator, ``None`` for fresh
entropy, or ``"global"`` for numpy's global RNG in CEBRA's call order). Indices respect the
dataset's offset; when the offset changes (``dataset.configure_for(model)`` after the loader
was built) the distributions are rebuilt for it on the next batch.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch

from brainbridge.data._rng import Random
from brainbridge.data.datasets import Dataset, _has_label
from brainbridge.data.datatypes import Batch, BatchIndex, Offset
from brainbridge.data.distributions import (
    DeltaNormalDistribution,
    DiscreteEmpirical,
    DiscreteUniform,
    MixedTimeDeltaDistribution,
    TimeContrastive,
    TimedeltaDistribution,
    as_numpy,
    delta_normal_alias,
)
from brainbridge.data.errors import SamplingError
from brainbridge.errors import valid_values_message

__all__ = [
    "ContinuousDataLoader",
    "DiscreteDataLoader",
    "FullDataLoader",
    "HybridDataLoader",
    "Loader",
    "MixedDataLoader",
]


@dataclasses.dataclass
class Loader(abc.ABC):
    """Base class of the loaders: yields ``num_steps`` batches of ``batch_size`` samples.

    Parameters
    ----------
    dataset : Dataset
        The dataset to sample from.
    num_steps : int
        Number of batches an iteration yields (``len(loader)``).
    batch_size : int, optional
        Number of reference (and positive, and negative) samples per batch.
    seed : int, numpy.random.Generator, torch.Generator, "global" or None, keyword-only
        The loader's random source; the same seed gives the same batches.

    Raises
    ------
    SamplingError
        ``num_steps`` missing or <= 0, ``batch_size`` <= 0.
    """

    # required (refused in __post_init__ when missing); None only as the positional default
    dataset: Dataset | None = None
    num_steps: int | None = None
    batch_size: int | None = None
    seed: Any = dataclasses.field(default=None, kw_only=True, repr=False)

    def __post_init__(self):
        if self.dataset is None:
            raise SamplingError("a loader needs a dataset")
        if self.num_steps is None or self.num_steps <= 0:
            raise SamplingError(
                f"num_steps cannot be less than or equal to zero or None. Got {self.num_steps}"
            )
        if self.batch_size is not None and self.batch_size <= 0:
            raise SamplingError(f"Batch size has to be None, or a non-negative value. Got {self.batch_size}.")
        self.rng = Random(self.seed)
        self._distributions: dict[Any, Any] = {}

    @property
    def _data(self) -> Dataset:
        """The dataset (always set after construction)."""
        assert self.dataset is not None  # refused in __post_init__
        return self.dataset

    @property
    def device(self) -> str:
        """The dataset's device."""
        return getattr(self.dataset, "device", "cpu")

    def to(self, device) -> Loader:
        """Move the dataset (and so the batches) to ``device``, in place; return self.

        Indices are sampled on the CPU; batches are gathered where the dataset lives.
        """
        self._data.to(device)
        return self

    @property
    def offset(self) -> Offset:
        """The dataset's current offset."""
        return self._data.offset

    def _distribution_for(self, offset):
        dist = self._distributions.get(offset)
        if dist is None:
            dist = self._make_distribution(offset)
            self._distributions = {offset: dist}
        return dist

    def _make_distribution(self, offset: Offset):  # pragma: no cover - overridden where used  # noqa: ARG002
        raise SamplingError(f"{type(self).__name__} does not sample from a distribution")

    def _offset_key(self):
        return self._data.offset

    @property
    def distribution(self):
        """The distribution for the dataset's current offset."""
        return self._distribution_for(self._offset_key())

    def __len__(self) -> int:
        assert self.num_steps is not None  # refused in __post_init__
        return self.num_steps

    def _require_batch_size(self, num_samples: int | None) -> int:
        n = self.batch_size if num_samples is None else num_samples
        if n is None or n <= 0:
            raise SamplingError(f"{type(self).__name__} needs a positive batch_size, got {n}")
        return int(n)

    def __iter__(self) -> Iterator[Batch | list[Batch]]:
        for _ in range(len(self)):
            yield self._data.load_batch(self.get_indices(self.batch_size))

    @abc.abstractmethod
    def get_indices(self, num_samples: int | None) -> BatchIndex:
        """Indices of one batch of ``num_samples`` references, positives and negatives."""


@dataclasses.dataclass
class DiscreteDataLoader(Loader):
    """Supervised contrastive learning with discrete labels: positives share the reference's label.

    Parameters
    ----------
    prior : {"empirical", "uniform"}
        ``"empirical"``: references and negatives uniform over time; ``"uniform"``: every label
        equally likely (labels with gaps or of any integer dtype are handled).
    """

    prior: str = "empirical"

    @property
    def index(self) -> torch.Tensor | None:
        """The dataset's discrete index."""
        return self._data.discrete_index

    def __post_init__(self):
        super().__post_init__()
        if not _has_label(self.dataset, "discrete_index"):
            raise SamplingError("Dataset does not provide a discrete index.")
        if self.prior not in ("uniform", "empirical"):
            raise SamplingError(
                f"Invalid choice of prior distribution. Got '{self.prior}', but only accept 'uniform' "
                "or 'empirical' as potential values."
            )
        self._labels = as_numpy(self.index)
        self._distribution_for(self._data.offset)

    def _make_distribution(self, offset: Offset):
        cls = DiscreteUniform if self.prior == "uniform" else DiscreteEmpirical
        return cls(self._labels, offset=offset, seed=self.rng)

    def get_indices(self, num_samples: int | None = None) -> BatchIndex:
        """References and negatives from the prior (one draw of 2B); same-label positives."""
        n = self._require_batch_size(num_samples)
        dist = self.distribution
        idx = dist.sample_prior(2 * n)
        reference, negative = idx[:n], idx[n:]
        positive = dist.sample_conditional(self._labels[reference.numpy()])
        return BatchIndex(reference=reference, positive=positive, negative=negative)


_CONTINUOUS = ("time", "time_delta", "delta_normal")


@dataclasses.dataclass
class ContinuousDataLoader(Loader):
    """Contrastive learning conditioned on a continuous behaviour variable (or on time).

    Parameters
    ----------
    conditional : {"time_delta", "time", "delta_normal"}
        ``"time"``: positive = reference + ``time_offset``; ``"time_delta"``: nearest sample to
        reference + an empirical ``time_offset``-step change; ``"delta_normal"``: nearest sample
        to a Gaussian perturbation (std ``delta``). ``"delta"`` is a deprecated alias of
        ``"delta_normal"``.
    time_offset : int, default 10
    delta : float, default 0.1
    """

    conditional: str = "time_delta"
    time_offset: int = 10
    delta: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        self.conditional = delta_normal_alias(self.conditional)
        if self.conditional not in _CONTINUOUS:
            raise SamplingError(valid_values_message("conditional", self.conditional, _CONTINUOUS))
        if self.conditional != "time" and not _has_label(self.dataset, "continuous_index"):
            raise SamplingError(f"Dataset {self.dataset} does not provide a continuous index.")
        self._continuous = None if self.conditional == "time" else as_numpy(self._data.continuous_index)
        self._distribution_for(self._data.offset)

    def _make_distribution(self, offset: Offset):
        if self.conditional == "time":
            return TimeContrastive(
                time_offset=self.time_offset, num_samples=len(self._data), offset=offset, seed=self.rng
            )
        if self.conditional == "time_delta":
            return TimedeltaDistribution(self._continuous, self.time_offset, offset=offset, seed=self.rng)
        return DeltaNormalDistribution(self._continuous, self.delta, offset=offset, seed=self.rng)

    def get_indices(self, num_samples: int | None = None) -> BatchIndex:
        """References and negatives uniform over valid samples (one draw of 2B); conditional positives."""
        n = self._require_batch_size(num_samples)
        dist = self.distribution
        idx = dist.sample_prior(2 * n)
        reference, negative = idx[:n], idx[n:]
        return BatchIndex(reference=reference, positive=dist.sample_conditional(reference), negative=negative)


@dataclasses.dataclass
class MixedDataLoader(Loader):
    """Discrete and continuous labels: class-balanced references, same-label time-delta positives.

    Parameters
    ----------
    conditional : {"time_delta"}
        The only mixed conditional (CEBRA accepts and ignores any value; here others raise).
    time_offset : int, default 10
    """

    conditional: str = "time_delta"
    time_offset: int = 10

    @property
    def dindex(self) -> torch.Tensor | None:
        """The dataset's discrete index."""
        return self._data.discrete_index

    @property
    def cindex(self) -> torch.Tensor | None:
        """The dataset's continuous index."""
        return self._data.continuous_index

    def __post_init__(self):
        super().__post_init__()
        if self.conditional != "time_delta":
            raise SamplingError(
                f"MixedDataLoader supports conditional='time_delta' only, got {self.conditional!r}"
            )
        for label in ("discrete_index", "continuous_index"):
            if not _has_label(self.dataset, label):
                raise SamplingError(f"MixedDataLoader needs a dataset with a {label.replace('_', ' ')}")
        self._discrete = as_numpy(self.dindex)
        self._continuous = as_numpy(self.cindex)
        self._distribution_for(self._data.offset)

    def _make_distribution(self, offset: Offset):
        return MixedTimeDeltaDistribution(
            self._discrete, self._continuous, self.time_offset, offset=offset, seed=self.rng
        )

    def get_indices(self, num_samples: int | None = None) -> BatchIndex:
        """References and negatives drawn separately (class-balanced); label-matched positives."""
        n = self._require_batch_size(num_samples)
        dist = self.distribution
        reference = dist.sample_prior(n)
        negative = dist.sample_prior(n)
        positive = dist.sample_conditional(reference)
        return BatchIndex(reference=reference, positive=positive, negative=negative)


@dataclasses.dataclass
class HybridDataLoader(Loader):
    """Time and behaviour contrastive learning at once: 2B positives per B references.

    The first B positives follow the behaviour conditional, the last B are ``reference +
    time_offset``.

    Parameters
    ----------
    conditional : {"time_delta", "delta_normal"}
        The behaviour distribution (CEBRA silently accepts unknown names; here they raise).
    time_distribution : {"time"}
    time_offset : int, default 10
    delta : float, default 0.1
    """

    conditional: str = "time_delta"
    time_distribution: str = "time"
    time_offset: int = 10
    delta: float = 0.1

    @property
    def index(self) -> torch.Tensor | None:
        """The dataset's continuous index."""
        if not _has_label(self.dataset, "continuous_index"):
            raise SamplingError("No continuous variable exist")
        return self._data.continuous_index

    def __post_init__(self):
        super().__post_init__()
        self.conditional = delta_normal_alias(self.conditional)
        if self.conditional not in ("time_delta", "delta_normal"):
            raise SamplingError(
                "HybridDataLoader's behaviour conditional must be 'time_delta' or 'delta_normal', "
                f"got {self.conditional!r}"
            )
        if self.time_distribution != "time":
            raise SamplingError(f"time_distribution must be 'time', got {self.time_distribution!r}")
        self._continuous = as_numpy(self.index)
        self._distribution_for(self._data.offset)

    def _make_distribution(self, offset: Offset):
        time = TimeContrastive(
            time_offset=self.time_offset, num_samples=len(self._data), offset=offset, seed=self.rng
        )
        behavior: TimedeltaDistribution | DeltaNormalDistribution
        if self.conditional == "time_delta":
            behavior = TimedeltaDistribution(self._continuous, self.time_offset, offset=offset, seed=self.rng)
        else:
            behavior = DeltaNormalDistribution(self._continuous, self.delta, offset=offset, seed=self.rng)
        return time, behavior

    @property
    def time_contrastive(self) -> TimeContrastive:
        """The time-contrastive distribution for the current offset."""
        return self.distribution[0]

    @property
    def behavior_distribution(self):
        """The behaviour distribution for the current offset."""
        return self.distribution[1]

    def get_indices(self, num_samples: int | None = None) -> BatchIndex:
        """B references, B negatives (one prior draw of 2B); behaviour then time positives (2B)."""
        n = self._require_batch_size(num_samples)
        time, behavior = self.distribution
        idx = time.sample_prior(2 * n)
        reference, negative = idx[:n], idx[n:]
        positive = torch.cat([behavior.sample_conditional(reference), time.sample_conditional(reference)])
        return BatchIndex(reference=reference, positive=positive, negative=negative)


@dataclasses.dataclass
class FullDataLoader(ContinuousDataLoader):
    """Full-batch training: every valid sample is a reference, in order, at every step.

    Iterating yields :class:`BatchIndex` objects (as CEBRA does). References cover every sample
    with a complete window, ``[left, N - right]`` (CEBRA stops ``len(offset) + 1`` samples
    early); negatives are a permutation of them.
    """

    def __post_init__(self):
        super().__post_init__()
        self.batch_size = None

    def get_indices(self, num_samples: int | None = None) -> BatchIndex:
        """All valid references, a permutation of them as negatives, conditional positives."""
        if num_samples is not None:
            raise SamplingError("FullDataLoader uses the whole dataset; num_samples must be None")
        dist = self.distribution
        hi = dist.hi - self.time_offset if self.conditional == "time" else dist.hi
        reference = torch.arange(dist.lo, hi, dtype=torch.int64)
        negative = reference[torch.from_numpy(self.rng.permutation(len(reference)))]
        positive = dist.sample_conditional(reference)
        return BatchIndex(reference=reference, positive=positive, negative=negative)

    # CEBRA's FullDataLoader yields the indices, not batches
    def __iter__(self) -> Iterator[BatchIndex]:  # type: ignore[override]
        for _ in range(len(self)):
            yield self.get_indices(num_samples=None)

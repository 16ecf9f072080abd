"""Multi-session samplers (``cebra.distributions.multisession`` counterpart).

References are drawn in every session, each positive query is assigned to a random session (a
permutation of the ``S x B`` queries) and searched there, and the permutation and its inverse
come back so that embeddings can be re-aligned. Fixes: exact KD-tree search on the CPU, priors
that respect each session's offset, one seeded random source, and a clear error when a discrete
label is absent from a session. The loaders are in :mod:`brainbridge.data.multisession`.
"""

from __future__ import annotations

import numpy as np
import torch

from brainbridge.data._rng import Random, SeedLike
from brainbridge.data.datasets import MultiSessionDataset, _has_label
from brainbridge.data.distributions.discrete import Discrete
from brainbridge.data.distributions.index import (
    ContinuousIndex,
    _continuous_matrix,
    _discrete_vector,
    as_numpy,
    valid_range,
)
from brainbridge.data.errors import SamplingError

__all__ = ["DiscreteMultisessionSampler", "MultisessionSampler", "UnifiedSampler", "invert_index"]


def invert_index(idx) -> np.ndarray:
    """The inverse of a permutation: ``idx[invert_index(idx)] == arange(len(idx))``."""
    idx = np.asarray(idx)
    out = np.empty_like(idx)
    out[idx] = np.arange(len(idx))
    return out


def _mix(array, idx):
    n, m = array.shape[:2]
    return array.reshape(n * m, -1)[idx].reshape(array.shape)


class _SessionSampler:
    """Per-session valid ranges, start offsets and the random source."""

    def __init__(self, dataset: MultiSessionDataset, seed: SeedLike):
        if not isinstance(dataset, MultiSessionDataset):
            raise SamplingError(
                f"a multi-session sampler needs a MultiSessionDataset, got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.rng = Random(seed)
        self.session_lengths = np.array(dataset.session_lengths, dtype=np.int64)
        #: index of each session's first sample in the concatenated labels
        self.lengths = np.concatenate([[0], np.cumsum(self.session_lengths)[:-1]]).astype(np.int64)
        bounds = [valid_range(len(s), s.offset) for s in dataset.iter_sessions()]
        self.lo = np.array([b[0] for b in bounds], dtype=np.int64)
        self.hi = np.array([b[1] for b in bounds], dtype=np.int64)

    @property
    def num_sessions(self) -> int:
        """Number of sessions."""
        return len(self.session_lengths)

    mix = staticmethod(_mix)

    def sample_prior(self, num_samples: int) -> np.ndarray:
        """``(S, num_samples)`` indices, uniform over each session's valid samples."""
        u = self.rng.uniform(0, 1, (self.num_sessions, num_samples))
        return self.lo[:, None] + (u * (self.hi - self.lo)[:, None]).astype(np.int64)

    def _assign(self, per_sample: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
        perm = self.rng.permutation(int(np.prod(shape)))
        return per_sample[perm.reshape(shape)], perm


class MultisessionSampler(_SessionSampler):
    """Continuous multi-session sampling with time-delta positives.

    Parameters
    ----------
    dataset : MultiSessionDataset
        Every session must have a continuous index of the same dimension.
    time_offset : int
        The step of the pooled empirical behaviour changes.
    seed : int, generator, "global" or None
    """

    def __init__(self, dataset: MultiSessionDataset, time_offset: int = 10, seed: SeedLike = None):
        super().__init__(dataset, seed)
        if not all(_has_label(s, "continuous_index") for s in dataset.iter_sessions()):
            raise SamplingError(
                "every session needs a continuous index for continuous multi-session sampling"
            )
        data = [_continuous_matrix(s.continuous_index) for s in dataset.iter_sessions()]
        if len({d.shape[1] for d in data}) != 1:
            raise SamplingError("the sessions' continuous indexes have different dimensions")
        short = [i for i, d in enumerate(data) if len(d) <= time_offset]
        if time_offset < 1 or short:
            raise SamplingError(f"time_offset={time_offset} is invalid for sessions {short or 'all'}")
        self.time_offset = int(time_offset)
        self.all_data = np.concatenate(data)
        self.time_difference = np.concatenate([d[time_offset:] - d[:-time_offset] for d in data])
        self.index = [ContinuousIndex(d, s.offset) for d, s in zip(data, dataset.iter_sessions())]

    def sample_conditional(self, idx) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positives for ``(S, B)`` references: ``(positive, permutation, inverse permutation)``.

        Each reference's query (its index plus a random pooled change) is assigned to a random
        session and the positive is its nearest sample there; positives are therefore grouped
        by session and paired with ``reference.flatten()[permutation]``.
        """
        idx = np.asarray(as_numpy(idx), dtype=np.int64)
        shape = idx.shape[:2]
        rows = (idx + self.lengths[:, None]).reshape(-1)
        k = self.rng.integers(0, len(self.time_difference), len(rows))
        query = self.all_data[rows] + self.time_difference[k]
        query, perm = self._assign(query, shape)
        positive = np.empty(shape, dtype=np.int64)
        for s in range(self.num_sessions):
            positive[s] = self.index[s].search_numpy(query[s])
        return positive, perm, invert_index(perm)


class DiscreteMultisessionSampler(_SessionSampler):
    """Discrete multi-session sampling: positives share the reference's label, in a random session.

    Parameters
    ----------
    dataset : MultiSessionDataset
        Every session must have a discrete index.
    seed : int, generator, "global" or None
    """

    def __init__(self, dataset: MultiSessionDataset, seed: SeedLike = None):
        super().__init__(dataset, seed)
        if not all(_has_label(s, "discrete_index") for s in dataset.iter_sessions()):
            raise SamplingError("every session needs a discrete index for discrete multi-session sampling")
        labels = [_discrete_vector(s.discrete_index) for s in dataset.iter_sessions()]
        self.all_data = np.concatenate(labels)
        self.index = [
            Discrete(y, offset=s.offset, seed=self.rng) for y, s in zip(labels, dataset.iter_sessions())
        ]

    def sample_conditional(self, idx) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Same-label positives in randomly assigned sessions: ``(positive, permutation, inverse)``.

        Raises
        ------
        SamplingError
            A reference's label has no sample in the session its positive was assigned to.
        """
        idx = np.asarray(as_numpy(idx), dtype=np.int64)
        shape = idx.shape[:2]
        labels = self.all_data[(idx + self.lengths[:, None]).reshape(-1)]
        query, perm = self._assign(labels, shape)
        positive = np.empty(shape, dtype=np.int64)
        for s in range(self.num_sessions):
            try:
                positive[s] = self.index[s].sample_conditional(query[s]).numpy()
            except SamplingError as e:
                raise SamplingError(f"session {s}: {e}") from e
        return positive, perm, invert_index(perm)


class UnifiedSampler(_SessionSampler):
    """Aligned samples across sessions for a :class:`~brainbridge.data.UnifiedDataset`.

    The prior picks one session at random, draws B references there and maps each to its
    nearest sample (in the continuous index) in every other session (:meth:`sample_prior`,
    :meth:`sample_all_sessions`); the positive of each
    reference is, in every session, the nearest sample to the reference's label plus a random
    pooled ``time_offset``-step change.
    """

    def __init__(self, dataset: MultiSessionDataset, time_offset: int = 10, seed: SeedLike = None):
        super().__init__(dataset, seed)
        self._continuous = MultisessionSampler(dataset, time_offset, seed=self.rng)

    def sample_all_uniform_prior(self, num_samples: int) -> np.ndarray:
        """``(S, B)`` indices drawn uniformly and independently in every session (not aligned)."""
        return super().sample_prior(num_samples)

    def sample_prior(self, num_samples: int, session_id: int | None = None) -> np.ndarray:
        """``(S, B)`` references aligned across sessions by nearest continuous index.

        B references are drawn uniformly in session ``session_id`` (a random session when
        ``None``) and mapped to every other session with :meth:`sample_all_sessions`.
        """
        if session_id is None:
            session_id = int(self.rng.integers(0, self.num_sessions, 1)[0])
        lo, hi = self.lo[session_id], self.hi[session_id]
        reference = lo + self.rng.integers(0, hi - lo, num_samples)
        return self.sample_all_sessions(reference, session_id).numpy()

    def sample_all_sessions(self, ref_idx, session_id: int) -> torch.Tensor:
        """The samples of every session nearest (in the continuous index) to references of one session.

        Parameters
        ----------
        ref_idx : array-like or tensor of int, shape (B,)
            Indices into session ``session_id``.
        session_id : int
            The reference session; its row of the result is ``ref_idx`` itself.

        Returns
        -------
        torch.Tensor, shape (S, B), int64
        """
        if not 0 <= session_id < self.num_sessions:
            raise SamplingError(f"session_id must be in [0, {self.num_sessions}), got {session_id}")
        ref = np.asarray(as_numpy(ref_idx), dtype=np.int64).reshape(-1)
        query = self._continuous.all_data[ref + self.lengths[session_id]]
        out = np.empty((self.num_sessions, len(ref)), dtype=np.int64)
        for s in range(self.num_sessions):
            out[s] = ref if s == session_id else self._continuous.index[s].search_numpy(query)
        return torch.from_numpy(out)

    def sample_conditional(self, idx) -> np.ndarray:
        """``(S, B)`` positives: per session, the nearest sample to ``label + random change``."""
        idx = np.asarray(as_numpy(idx), dtype=np.int64)
        c = self._continuous
        k = self.rng.integers(0, len(c.time_difference), idx.shape[1])
        positive = np.empty(idx.shape, dtype=np.int64)
        for s in range(self.num_sessions):
            query = c.all_data[idx[s] + self.lengths[s]] + c.time_difference[k]
            positive[s] = c.index[s].search_numpy(query)
        return positive

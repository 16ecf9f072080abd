"""Priors and conditionals over discrete labels (``cebra.distributions.discrete`` counterpart)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from brainbridge.data._rng import SeedLike
from brainbridge.data.datatypes import Offset
from brainbridge.data.distributions.base import Distribution
from brainbridge.data.distributions.index import _discrete_vector
from brainbridge.data.errors import SamplingError

__all__ = ["Discrete", "DiscreteEmpirical", "DiscreteUniform"]


class Discrete(Distribution):
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

    def __init__(self, samples, device="cpu", *, offset: Offset | None = None, seed: SeedLike = None):
        labels = _discrete_vector(samples, "discrete index")
        super().__init__(len(labels), offset, seed, device)
        self.samples = labels
        valid = labels[self.lo : self.hi]
        self.labels, codes = np.unique(valid, return_inverse=True)
        self.codes = codes.astype(np.int64, copy=False)
        # the legacy mode keeps CEBRA's argsort so that indices (not only labels) match
        kind: Literal["stable"] | None = None if self.rng.legacy else "stable"
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
        return self._tensor(self.sorted_idx[pos])

    def sample_empirical(self, num_samples: int) -> torch.Tensor:
        """Indices drawn uniformly over time (labels keep their empirical frequencies)."""
        j = self.rng.integers(0, self.num_valid, (num_samples,))
        return self._tensor(self.sorted_idx[j])

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
        return self._tensor(self.sorted_idx[pos])


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

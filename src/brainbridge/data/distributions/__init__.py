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

from brainbridge.data.distributions.base import Distribution
from brainbridge.data.distributions.continuous import (
    DeltaNormalDistribution,
    Prior,
    TimeContrastive,
    TimedeltaDistribution,
    delta_normal_alias,
)
from brainbridge.data.distributions.discrete import Discrete, DiscreteEmpirical, DiscreteUniform
from brainbridge.data.distributions.index import ConditionalIndex, ContinuousIndex, as_numpy, valid_range
from brainbridge.data.distributions.mixed import Mixed, MixedTimeDeltaDistribution
from brainbridge.data.distributions.multisession import (
    DiscreteMultisessionSampler,
    MultisessionSampler,
    UnifiedSampler,
)

__all__ = [
    "ConditionalIndex",
    "ContinuousIndex",
    "DeltaNormalDistribution",
    "Discrete",
    "DiscreteEmpirical",
    "DiscreteMultisessionSampler",
    "DiscreteUniform",
    "Distribution",
    "Mixed",
    "MixedTimeDeltaDistribution",
    "MultisessionSampler",
    "Prior",
    "TimeContrastive",
    "TimedeltaDistribution",
    "UnifiedSampler",
    "as_numpy",
    "delta_normal_alias",
    "valid_range",
]

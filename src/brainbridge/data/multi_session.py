"""Multi-session datasets and their loaders (``cebra.data.multi_session`` counterpart)."""

from brainbridge.data.datasets import MultiSessionDataset
from brainbridge.data.multisession import (
    ContinuousMultiSessionDataLoader,
    DiscreteMultiSessionDataLoader,
    MixedMultiSessionDataLoader,
    MultiSessionLoader,
    UnifiedLoader,
)

__all__ = [
    "ContinuousMultiSessionDataLoader",
    "DiscreteMultiSessionDataLoader",
    "MixedMultiSessionDataLoader",
    "MultiSessionDataset",
    "MultiSessionLoader",
    "UnifiedLoader",
]

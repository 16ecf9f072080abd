"""Single-session datasets and their loaders (``cebra.data.single_session`` counterpart)."""

from brainbridge.data.datasets import SingleSessionDataset
from brainbridge.data.loaders import (
    ContinuousDataLoader,
    DiscreteDataLoader,
    FullDataLoader,
    HybridDataLoader,
    MixedDataLoader,
)

__all__ = [
    "ContinuousDataLoader",
    "DiscreteDataLoader",
    "FullDataLoader",
    "HybridDataLoader",
    "MixedDataLoader",
    "SingleSessionDataset",
]

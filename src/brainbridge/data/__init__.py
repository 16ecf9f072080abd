"""Training data for machine learning: CEBRA-compatible datasets, contrastive loaders, load_data.

The names follow ``cebra.data`` (and ``cebra.load_data``), so CEBRA code can switch by changing
the import::

    from brainbridge.data import TensorDataset, ContinuousDataLoader, Offset

    dataset = TensorDataset(neural, continuous=position, offset=Offset(5, 5))
    loader = ContinuousDataLoader(dataset, num_steps=1000, batch_size=512, seed=0)
    for batch in loader:
        ...  # batch.reference, batch.positive, batch.negative: (512, neurons, 10)

This package needs PyTorch (the ``ml`` extra plus ``pip install torch``); it is imported only
here, never by the core.
"""

from __future__ import annotations

from brainbridge.data._rng import GLOBAL_RNG, Random
from brainbridge.data.bridges import (
    collection_from_assemblies,
    collection_from_sessions,
    dataset_from_assembly,
)
from brainbridge.data.datasets import (
    Dataset,
    DatasetCollection,
    DatasetxCEBRA,
    MultiSessionDataset,
    SingleSessionDataset,
    TensorDataset,
    UnifiedDataset,
)
from brainbridge.data.datatypes import Batch, BatchIndex, Offset
from brainbridge.data.distributions import (
    ConditionalIndex,
    ContinuousIndex,
    DeltaNormalDistribution,
    Discrete,
    DiscreteEmpirical,
    DiscreteUniform,
    MixedTimeDeltaDistribution,
    Prior,
    TimeContrastive,
    TimedeltaDistribution,
)
from brainbridge.data.errors import (
    DataFileError,
    DataKeyError,
    DatasetError,
    DatasetTypeError,
    EmptyFileError,
    MultiAnimalFileError,
    SamplingError,
    UnreadableFileError,
    UnsafeFormatError,
    UnsupportedFormatError,
)
from brainbridge.data.load import load_data, load_deeplabcut
from brainbridge.data.loaders import (
    ContinuousDataLoader,
    DiscreteDataLoader,
    FullDataLoader,
    HybridDataLoader,
    Loader,
    MixedDataLoader,
)
from brainbridge.data.multisession import (
    ContinuousMultiSessionDataLoader,
    DiscreteMultiSessionDataLoader,
    DiscreteMultisessionSampler,
    MixedMultiSessionDataLoader,
    MultiSessionLoader,
    MultisessionSampler,
    UnifiedLoader,
    UnifiedSampler,
)
from brainbridge.data.prefetch import LoaderIterableDataset, PrefetchLoader

__all__ = [
    "GLOBAL_RNG",
    "Batch",
    "BatchIndex",
    "ConditionalIndex",
    "ContinuousDataLoader",
    "ContinuousIndex",
    "ContinuousMultiSessionDataLoader",
    "DataFileError",
    "DataKeyError",
    "Dataset",
    "DatasetCollection",
    "DatasetError",
    "DatasetTypeError",
    "DatasetxCEBRA",
    "DeltaNormalDistribution",
    "Discrete",
    "DiscreteDataLoader",
    "DiscreteEmpirical",
    "DiscreteMultiSessionDataLoader",
    "DiscreteMultisessionSampler",
    "DiscreteUniform",
    "EmptyFileError",
    "FullDataLoader",
    "HybridDataLoader",
    "Loader",
    "LoaderIterableDataset",
    "MixedDataLoader",
    "MixedMultiSessionDataLoader",
    "MixedTimeDeltaDistribution",
    "MultiAnimalFileError",
    "MultiSessionDataset",
    "MultiSessionLoader",
    "MultisessionSampler",
    "Offset",
    "PrefetchLoader",
    "Prior",
    "Random",
    "SamplingError",
    "SingleSessionDataset",
    "TensorDataset",
    "TimeContrastive",
    "TimedeltaDistribution",
    "UnifiedDataset",
    "UnifiedLoader",
    "UnifiedSampler",
    "UnreadableFileError",
    "UnsafeFormatError",
    "UnsupportedFormatError",
    "collection_from_assemblies",
    "collection_from_sessions",
    "dataset_from_assembly",
    "load_data",
    "load_deeplabcut",
]

"""Training data for machine learning: CEBRA-compatible datasets, contrastive loaders, load_data.

The names follow ``cebra.data`` (and ``cebra.load_data``), so CEBRA code can switch by changing
the import::

    from brainbridge.data import TensorDataset, ContinuousDataLoader, Offset

    dataset = TensorDataset(neural, continuous=position, offset=Offset(5, 5))
    loader = ContinuousDataLoader(dataset, num_steps=1000, batch_size=512, seed=0)
    for batch in loader:
        ...  # batch.reference, batch.positive, batch.negative: (512, neurons, 10)

``load_data``, ``load_deeplabcut``, ``Offset``, ``Batch``/``BatchIndex``, ``Random`` and the
errors work without PyTorch. The datasets, distributions and loaders need it, and are imported
on first use: install it separately with ``pip install torch==2.13.0`` (the ``[ml]`` extra
holds the file-format readers, not torch). The core never imports this package.
"""

from __future__ import annotations

import importlib
from typing import Any

from brainbridge.data._rng import GLOBAL_RNG, Random
from brainbridge.data.datatypes import Batch, BatchIndex, Offset
from brainbridge.data.errors import (
    DataFileError,
    DataKeyError,
    DatasetError,
    DatasetTypeError,
    EmptyFileError,
    MultiAnimalFileError,
    SamplingError,
    TorchMissingError,
    UnreadableFileError,
    UnsafeFormatError,
    UnsupportedFormatError,
)
from brainbridge.data.load import load_data, load_deeplabcut

#: names that need PyTorch -> the module defining them (imported on first access)
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ["collection_from_assemblies", "collection_from_sessions", "dataset_from_assembly"],
        "brainbridge.data.bridges",
    ),
    **dict.fromkeys(
        [
            "Dataset",
            "DatasetCollection",
            "DatasetxCEBRA",
            "MultiSessionDataset",
            "SingleSessionDataset",
            "TensorDataset",
            "UnifiedDataset",
        ],
        "brainbridge.data.datasets",
    ),
    **dict.fromkeys(
        [
            "ConditionalIndex",
            "ContinuousIndex",
            "DeltaNormalDistribution",
            "Discrete",
            "DiscreteEmpirical",
            "DiscreteUniform",
            "MixedTimeDeltaDistribution",
            "Prior",
            "TimeContrastive",
            "TimedeltaDistribution",
        ],
        "brainbridge.data.distributions",
    ),
    **dict.fromkeys(
        [
            "ContinuousDataLoader",
            "DiscreteDataLoader",
            "FullDataLoader",
            "HybridDataLoader",
            "Loader",
            "MixedDataLoader",
        ],
        "brainbridge.data.loaders",
    ),
    **dict.fromkeys(
        [
            "ContinuousMultiSessionDataLoader",
            "DiscreteMultiSessionDataLoader",
            "DiscreteMultisessionSampler",
            "MixedMultiSessionDataLoader",
            "MultiSessionLoader",
            "MultisessionSampler",
            "UnifiedLoader",
            "UnifiedSampler",
        ],
        "brainbridge.data.multisession",
    ),
    **dict.fromkeys(["LoaderIterableDataset", "PrefetchLoader"], "brainbridge.data.prefetch"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'brainbridge.data' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "torch":
            raise
        message = f"brainbridge.data.{name} needs PyTorch; {TorchMissingError.HINT}"
        raise TorchMissingError(message, name="torch") from e
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "TorchMissingError",
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

"""brainbridge: the data side of comparing brains with brain-inspired models.

The core (imported here) is the BrainIO-compatible data model: stimulus sets, assemblies,
catalogs, packaging and fetching. The consuming jobs live in subpackages and are imported
only when used: :mod:`brainbridge.ecephys` (NWB electrophysiology projects),
:mod:`brainbridge.encoding` (feature extractors, mappings, scores, encoding models) and
:mod:`brainbridge.data` (CEBRA-compatible training data).

Examples
--------
>>> import brainbridge
>>> brainbridge.list_assemblies()                                  # doctest: +SKIP
['brainbridge.example.neural']
>>> assembly = brainbridge.get_assembly("brainbridge.example.neural")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from brainbridge._version import __version__ as __version__
from brainbridge.assemblies import (
    BehavioralAssembly,
    DataAssembly,
    MetadataAssembly,
    NeuroidAssembly,
    NeuronRecordingAssembly,
    PropertyAssembly,
    SpikeTimesAssembly,
    align,
    average_repetitions,
    select,
)
from brainbridge.catalogs import (
    Catalog,
    get_assembly,
    get_catalog,
    get_stimulus_set,
    list_assemblies,
    list_catalogs,
    list_stimulus_sets,
    register,
)
from brainbridge.stimuli import StimulusSet

# consumer functions, imported on first access so `import brainbridge` stays light
_LAZY = {
    "score": "brainbridge.encoding",
    "ceiling": "brainbridge.encoding",
    "encode": "brainbridge.encoding",
    "list_models": "brainbridge.encoding",
    "describe": "brainbridge.encoding",
    "get_encoding_model": "brainbridge.encoding",
    "load_insilico_neural_responses": "brainbridge.encoding",
    "EcephysProjectCache": "brainbridge.ecephys",
    "load_data": "brainbridge.data",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'brainbridge' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "BehavioralAssembly",
    "Catalog",
    "DataAssembly",
    "MetadataAssembly",
    "NeuroidAssembly",
    "NeuronRecordingAssembly",
    "PropertyAssembly",
    "SpikeTimesAssembly",
    "StimulusSet",
    "align",
    "average_repetitions",
    "get_assembly",
    "get_catalog",
    "get_stimulus_set",
    "list_assemblies",
    "list_catalogs",
    "list_stimulus_sets",
    "register",
    "select",
    *_LAZY,
]

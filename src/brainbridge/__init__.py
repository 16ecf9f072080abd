"""brainbridge: the data side of comparing brains with brain-inspired models.

The core is the BrainIO-compatible data model: stimulus sets, assemblies, catalogs, packaging
and fetching; its public names are imported on first use, so ``import brainbridge`` is cheap.
The consuming jobs live in subpackages and are imported only when used:
:mod:`brainbridge.ecephys` (NWB electrophysiology projects), :mod:`brainbridge.encoding`
(feature extractors, mappings, scores, encoding models) and :mod:`brainbridge.data`
(CEBRA-compatible training data).

Examples
--------
>>> import brainbridge
>>> brainbridge.list_assemblies()                                  # doctest: +SKIP
['brainbridge.example.neural']
>>> assembly = brainbridge.get_assembly("brainbridge.example.neural")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import importlib.util

from brainbridge._version import __version__ as __version__

# every public name is imported on first access (PEP 562), so `import brainbridge` (and the
# `brainbridge` command, whose --help needs none of them) loads neither xarray nor pandas
_LAZY = {
    # the core data model
    "BehavioralAssembly": "brainbridge.assemblies",
    "DataAssembly": "brainbridge.assemblies",
    "EEGAssembly": "brainbridge.assemblies",
    "MEGAssembly": "brainbridge.assemblies",
    "MetadataAssembly": "brainbridge.assemblies",
    "NeuroidAssembly": "brainbridge.assemblies",
    "NeuronRecordingAssembly": "brainbridge.assemblies",
    "PropertyAssembly": "brainbridge.assemblies",
    "SpikeTimesAssembly": "brainbridge.assemblies",
    "VoxelAssembly": "brainbridge.assemblies",
    "align": "brainbridge.assemblies",
    "average_repetitions": "brainbridge.assemblies",
    "select": "brainbridge.assemblies",
    "Catalog": "brainbridge.catalogs",
    "get_assembly": "brainbridge.catalogs",
    "get_catalog": "brainbridge.catalogs",
    "get_stimulus_set": "brainbridge.catalogs",
    "list_assemblies": "brainbridge.catalogs",
    "list_catalogs": "brainbridge.catalogs",
    "list_stimulus_sets": "brainbridge.catalogs",
    "register": "brainbridge.catalogs",
    "StimulusSet": "brainbridge.stimuli",
    # consumer functions
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
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    # `import brainbridge; brainbridge.config...`: a submodule not imported yet
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'brainbridge' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = sorted(_LAZY)

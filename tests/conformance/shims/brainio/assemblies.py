"""``brainio.assemblies`` -> :mod:`brainbridge.assemblies`."""

from _missing import missing

from brainbridge.assemblies import (
    BehavioralAssembly,
    DataAssembly,
    GroupbyBridge,
    GroupbyError,
    MetadataAssembly,
    ModelFeaturesAssembly,
    NeuroidAssembly,
    NeuronRecordingAssembly,
    PropertyAssembly,
    SpikeTimesAssembly,
    coords_for_dim,
    gather_indexes,
    walk_coords,
)

#: BrainIO's environment variable for dask chunks; brainbridge takes ``chunks=`` instead
BRAINIO_CHUNKS = "BRAINIO_CHUNKS"

is_fastpath = missing(
    "brainio.assemblies.is_fastpath", "a private helper of BrainIO's DataAssembly.__init__ (xarray internals)"
)
get_metadata = missing(
    "brainio.assemblies.get_metadata",
    "BrainIO's index-introspection helper; brainbridge keeps metadata as coordinates "
    "(walk_coords, coords_for_dim)",
)
get_levels = missing(
    "brainio.assemblies.get_levels",
    "BrainIO's index-introspection helper; use assembly.indexes[dim].names",
)

__all__ = [
    "BRAINIO_CHUNKS",
    "BehavioralAssembly",
    "DataAssembly",
    "GroupbyBridge",
    "GroupbyError",
    "MetadataAssembly",
    "ModelFeaturesAssembly",
    "NeuroidAssembly",
    "NeuronRecordingAssembly",
    "PropertyAssembly",
    "SpikeTimesAssembly",
    "coords_for_dim",
    "gather_indexes",
    "get_levels",
    "get_metadata",
    "is_fastpath",
    "walk_coords",
]

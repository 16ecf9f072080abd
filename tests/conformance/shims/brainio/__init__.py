"""Conformance shim: BrainIO 1.1's ``brainio`` package mapped onto brainbridge.

Only for running BrainIO's own test suite against brainbridge (tests/conformance); it re-exports
brainbridge's objects under BrainIO's module names and adds no behaviour of its own.
"""

from brainbridge.catalogs import (
    get_assembly,
    get_catalog,
    get_stimulus_set,
    list_assemblies,
    list_catalogs,
    list_stimulus_sets,
)

from . import assemblies, catalogs, fetch, lookup, packaging, stimuli

__all__ = [
    "assemblies",
    "catalogs",
    "fetch",
    "get_assembly",
    "get_catalog",
    "get_stimulus_set",
    "list_assemblies",
    "list_catalogs",
    "list_stimulus_sets",
    "lookup",
    "packaging",
    "stimuli",
]

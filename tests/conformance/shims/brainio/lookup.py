"""``brainio.lookup`` -> :mod:`brainbridge.catalogs`."""

from _missing import missing

from brainbridge.catalogs import (
    combined_catalog,
    get_catalog,
    list_assemblies,
    list_catalogs,
    list_stimulus_sets,
    lookup_assembly,
    lookup_stimulus_set,
)
from brainbridge.errors import AssemblyLookupError, StimulusSetLookupError
from brainbridge.fetch import sha1_hash

TYPE_ASSEMBLY = "assembly"
TYPE_STIMULUS_SET = "stimulus_set"

append = missing(
    "brainio.lookup.append",
    "brainbridge appends catalog rows only through package_stimulus_set/package_data_assembly "
    "(validated, hashed, stored) or Catalog.append_rows",
)
get_catalogs = missing(
    "brainio.lookup.get_catalogs", "BrainIO's module-global catalog cache; use get_catalog(name)"
)
_load_installed_catalogs = missing("brainio.lookup._load_installed_catalogs", "private BrainIO helper")
_is_csv_lookup = missing("brainio.lookup._is_csv_lookup", "private BrainIO helper")
_is_zip_lookup = missing("brainio.lookup._is_zip_lookup", "private BrainIO helper")

__all__ = [
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "AssemblyLookupError",
    "StimulusSetLookupError",
    "append",
    "combined_catalog",
    "get_catalog",
    "get_catalogs",
    "list_assemblies",
    "list_catalogs",
    "list_stimulus_sets",
    "lookup_assembly",
    "lookup_stimulus_set",
    "sha1_hash",
]

"""NWB electrophysiology projects: a project cache, sessions, and spike counts as assemblies.

>>> from brainbridge.ecephys import EcephysProjectCache          # doctest: +SKIP
>>> cache = EcephysProjectCache.from_source("s3://bucket/project")  # doctest: +SKIP
>>> units = cache.get_units(amplitude_cutoff_maximum=0.05)       # doctest: +SKIP
>>> session = cache.get_session_data(715093703)                  # doctest: +SKIP
>>> counts = session.presentationwise_spike_counts(np.arange(0, 0.26, 0.01))  # doctest: +SKIP

Needs the ``ecephys`` extra (pynwb).
"""

from brainbridge.ecephys.counts import SpikeTrains, spike_counts, window_edges
from brainbridge.ecephys.errors import (
    EcephysError,
    ManifestVersionError,
    MissingSpikeTimesError,
    NWBFileError,
    PresentationNotFoundError,
    ProjectFetchError,
    ProjectTableError,
    SessionNotFoundError,
    UnitNotFoundError,
)
from brainbridge.ecephys.manifest import MANIFEST_VERSION, Manifest
from brainbridge.ecephys.project import EcephysProjectCache, ProjectSource, write_project_index
from brainbridge.ecephys.session import UNIT_FILTER_DEFAULTS, EcephysSession, filter_units

__all__ = [
    "MANIFEST_VERSION",
    "UNIT_FILTER_DEFAULTS",
    "EcephysError",
    "EcephysProjectCache",
    "EcephysSession",
    "Manifest",
    "ManifestVersionError",
    "MissingSpikeTimesError",
    "NWBFileError",
    "ProjectFetchError",
    "ProjectSource",
    "ProjectTableError",
    "SessionNotFoundError",
    "SpikeTrains",
    "PresentationNotFoundError",
    "UnitNotFoundError",
    "filter_units",
    "spike_counts",
    "window_edges",
    "write_project_index",
]

"""Errors raised by :mod:`brainbridge.ecephys` (all subclasses of :class:`BrainbridgeError`)."""

from __future__ import annotations

from brainbridge.errors import BrainbridgeError, BrainbridgeKeyError, FetchError, ValidationError

__all__ = [
    "EcephysError",
    "ManifestVersionError",
    "MissingSpikeTimesError",
    "NWBFileError",
    "ProjectFetchError",
    "PresentationNotFoundError",
    "ProjectTableError",
    "SessionNotFoundError",
    "UnitNotFoundError",
]


class EcephysError(BrainbridgeError):
    """Base class of the errors of the electrophysiology package."""


class NWBFileError(EcephysError, OSError):
    """An NWB file that is missing, truncated or not readable as NWB."""


class MissingSpikeTimesError(EcephysError, ValueError):
    """An NWB file without a units table, or whose units table has no ``spike_times``."""


class ManifestVersionError(EcephysError, ValueError):
    """A project cache manifest written for another version of the cache layout."""

    def __init__(self, message: str, expected: str | None = None, found: str | None = None):
        super().__init__(message)
        self.expected = expected
        self.found = found


class ProjectTableError(ValidationError, EcephysError):
    """A project table (sessions, probes, channels, units) that is missing or malformed."""


class ProjectFetchError(FetchError, EcephysError):
    """A project file that could not be fetched after all tries."""


class SessionNotFoundError(EcephysError, BrainbridgeKeyError):
    """A session id that the project does not list."""


class UnitNotFoundError(EcephysError, BrainbridgeKeyError):
    """A unit id that the session does not have (or that its unit filters removed)."""


class PresentationNotFoundError(EcephysError, BrainbridgeKeyError):
    """A stimulus presentation id that the session does not have."""

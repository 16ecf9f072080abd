"""One exception hierarchy for the whole library.

Every error brainbridge raises on purpose derives from :class:`BrainbridgeError`, and also
from the built-in exception a Python user would reach for first (``ValueError``,
``KeyError``, ``OSError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class BrainbridgeError(Exception):
    """Base class of every error raised on purpose by brainbridge."""


class ValidationError(BrainbridgeError, ValueError):
    """Data or metadata that does not satisfy the format's rules."""


class StimulusSetError(ValidationError):
    """A stimulus set that is malformed: missing column, duplicate ids, missing files."""


class AssemblyError(ValidationError):
    """An assembly that is malformed or a file that is not a readable assembly."""


class CatalogError(ValidationError):
    """A catalog lookup table that is malformed or inconsistent."""


class PackagingConflictError(CatalogError):
    """Another process, or another catalog, packaged this identifier with other content."""


class UnsafeArchiveError(ValidationError):
    """An archive entry that would be written outside its target folder."""


class UnsafePathError(ValidationError):
    """A name or id taken from data that would not stay one component inside its folder."""


class LookupFailedError(BrainbridgeError, KeyError):
    """An identifier that no catalog knows, or that several catalogs define differently."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class AssemblyLookupError(LookupFailedError):
    """No catalog lists an assembly with this identifier."""


class StimulusSetLookupError(LookupFailedError):
    """No catalog lists a stimulus set with this identifier."""


class FetchError(BrainbridgeError, OSError):
    """A file could not be fetched from its store."""


class ChecksumMismatchError(FetchError):
    """A fetched or cached file does not have the checksum its catalog row records."""

    def __init__(self, path, expected: str, actual: str, algorithm: str = "sha1"):
        self.path = path
        self.expected = expected
        self.actual = actual
        self.algorithm = algorithm
        super().__init__(
            f"{algorithm} checksum mismatch for {path}: expected {expected}, got {actual}"
        )


class OfflineError(FetchError):
    """The file is not in the cache and the network may not be used (offline mode)."""


__all__ = [
    "AssemblyError",
    "AssemblyLookupError",
    "BrainbridgeError",
    "CatalogError",
    "ChecksumMismatchError",
    "FetchError",
    "LookupFailedError",
    "OfflineError",
    "PackagingConflictError",
    "StimulusSetError",
    "StimulusSetLookupError",
    "UnsafeArchiveError",
    "UnsafePathError",
    "ValidationError",
]

"""One exception hierarchy for the whole library: the core's errors live here.

Every error brainbridge raises on purpose derives from :class:`BrainbridgeError`, and also
from the built-in exception a Python user would reach for first (``ValueError``,
``KeyError``, ``OSError``), so ``except ValueError`` keeps working.

One module per layer: the core's errors (fetching and parallel work included) are defined
here; each consumer package (``ecephys``, ``encoding``, ``data``) defines its own in its
``errors.py``, subclassing these. :func:`valid_values_message` is the one wording of "this value
is not allowed, these are", and :class:`BrainbridgeKeyError` the one ``KeyError`` whose message
prints unquoted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class BrainbridgeError(Exception):
    """Base class of every error raised on purpose by brainbridge."""


class BrainbridgeKeyError(BrainbridgeError, KeyError):
    """Base of every brainbridge ``KeyError``: an unknown identifier, id or key.

    ``KeyError`` prints its message quoted (``"'no such ...'"``); this prints it as written.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def valid_values_message(
    what: str, value: Any, valid: Iterable[Any] | str, *, note: str = "", problem: str = "Invalid"
) -> str:
    """The shared wording of a rejected value: ``Invalid roi: 'V7'. Valid values are: ['IT', 'V1']``.

    Parameters
    ----------
    what
        What the value is (``"roi"``, ``"metric"``).
    value
        The rejected value (shown with ``repr``; pass a list for several).
    valid
        The valid values (listed), or a description of them as a string.
    note
        Appended after the list (e.g. ``" (or 'all')"``).
    problem
        The first word (``"Unknown model id: ..."``).
    """
    listed = valid if isinstance(valid, str) else list(valid)
    return f"{problem} {what}: {value!r}. Valid values are: {listed}{note}"


class InvalidParameterError(BrainbridgeError, ValueError):
    """An argument whose value is not allowed (the message lists the valid values)."""


class OptionalDependencyError(BrainbridgeError, ImportError):
    """An optional package a feature needs is not installed (the message names the extra)."""


class ValidationError(BrainbridgeError, ValueError):
    """Data or metadata that does not satisfy the format's rules."""


class StimulusSetError(ValidationError):
    """A stimulus set that is malformed: missing column, duplicate ids, missing files."""


class AssemblyError(ValidationError):
    """An assembly that is malformed or a file that is not a readable assembly."""


class GroupbyError(AssemblyError):
    """Coordinates to group by do not lie along one single dimension (BrainIO's name; importable
    from :mod:`brainbridge.assemblies` too)."""


class CatalogError(ValidationError):
    """A catalog lookup table that is malformed or inconsistent."""


class PackagingConflictError(CatalogError):
    """Another process, or another catalog, packaged this identifier with other content."""


class UnsafePickleError(ValidationError):
    """A pickle that names a global outside the allow-list (it is refused, never executed)."""


class ZarrIntegrityError(AssemblyError):
    """A zarr store whose files do not match the checksums recorded when it was written."""


class UnsafeArchiveError(ValidationError):
    """An archive entry that would be written outside its target folder."""


class UnsafePathError(ValidationError):
    """A name or id taken from data that would not stay one component inside its folder."""


class LookupFailedError(BrainbridgeKeyError):
    """An identifier that no catalog knows, or that several catalogs define differently."""


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
        super().__init__(f"{algorithm} checksum mismatch for {path}: expected {expected}, got {actual}")


class OfflineError(FetchError):
    """The file is not in the cache and the network may not be used (offline mode)."""


class StimulusNotFoundError(BrainbridgeKeyError):
    """A stimulus id that a stimulus set does not have (or has no file for)."""


# --------------------------------------------------------------------------------------
# fetching (raised by brainbridge.fetch; importable from brainbridge.fetch.errors too)
# --------------------------------------------------------------------------------------


class RemoteNotFoundError(FetchError, FileNotFoundError):
    """The store answered that the file does not exist (HTTP 404/410, missing S3 key, no such path)."""


class AccessDeniedError(FetchError, PermissionError):
    """The store refused access (HTTP 401/403, S3 ``AccessDenied``)."""


class FetchTimeoutError(FetchError, TimeoutError):
    """The total time allowed for a fetch ran out."""


class HostUnreachableError(FetchError, ConnectionError):
    """The host cannot be reached at all: its name does not resolve, the network is down, or
    nothing listens on its port. Final when nothing was received yet (offline fails fast);
    retried like a transient error once the server has sent bytes in this fetch.
    """


class DiskFullError(FetchError):
    """The cache's disk is full (or over quota); the partial download was removed."""


class TransientFetchError(FetchError):
    """A failure worth retrying: connection error, read timeout, 5xx, truncated body.

    Raised to callers only inside the message of the final :class:`FetchError` after the
    retries are spent; stores raise it so the download loop knows to back off and retry.

    Parameters
    ----------
    message
        What happened.
    retry_after
        Seconds the server asked us to wait (``Retry-After``), if any.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class FetchFilesError(FetchError):
    """Some files of a :func:`~brainbridge.fetch.fetch_files` call could not be fetched.

    Attributes
    ----------
    failures : dict[int, Exception]
        Position in the request list -> the error of that file.
    results : list[pathlib.Path | None]
        The fetched paths, ``None`` where the fetch failed.
    """

    def __init__(self, failures: dict, results: list):
        self.failures = failures
        self.results = results
        lines = [f"  [{i}] {type(e).__name__}: {e}" for i, e in sorted(failures.items())]
        message = f"{len(failures)} of {len(results)} files could not be fetched:\n" + "\n".join(lines)
        super().__init__(message)


# --------------------------------------------------------------------------------------
# parallel work (raised by brainbridge.parallel)
# --------------------------------------------------------------------------------------


class ParallelError(BrainbridgeError, RuntimeError):
    """Distributed work could not be set up (no dask, an unreachable scheduler, a bad store)."""


class TaskFailedError(ParallelError):
    """A task still failed after Dask's retries; ``item`` is the input it failed on."""

    def __init__(self, message: str, item: Any = None):
        super().__init__(message)
        self.item = item


__all__ = [
    "AccessDeniedError",
    "AssemblyError",
    "AssemblyLookupError",
    "BrainbridgeError",
    "BrainbridgeKeyError",
    "CatalogError",
    "ChecksumMismatchError",
    "DiskFullError",
    "FetchError",
    "FetchFilesError",
    "FetchTimeoutError",
    "GroupbyError",
    "HostUnreachableError",
    "InvalidParameterError",
    "LookupFailedError",
    "OfflineError",
    "OptionalDependencyError",
    "PackagingConflictError",
    "ParallelError",
    "RemoteNotFoundError",
    "StimulusNotFoundError",
    "StimulusSetError",
    "StimulusSetLookupError",
    "TaskFailedError",
    "TransientFetchError",
    "UnsafeArchiveError",
    "UnsafePickleError",
    "UnsafePathError",
    "ValidationError",
    "valid_values_message",
]

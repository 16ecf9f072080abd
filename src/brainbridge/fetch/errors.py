"""Errors specific to fetching (all subclasses of :class:`brainbridge.errors.FetchError`)."""

from __future__ import annotations

from brainbridge.errors import FetchError

__all__ = [
    "AccessDeniedError",
    "DiskFullError",
    "FetchFilesError",
    "FetchTimeoutError",
    "HostUnreachableError",
    "RemoteNotFoundError",
    "TransientFetchError",
]


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
        super().__init__(f"{len(failures)} of {len(results)} files could not be fetched:\n" + "\n".join(lines))

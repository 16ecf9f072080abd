"""The fetching errors, defined with the rest of the core's in :mod:`brainbridge.errors`.

Importable from here as before; all are subclasses of :class:`brainbridge.errors.FetchError`.
"""

from __future__ import annotations

from brainbridge.errors import (
    AccessDeniedError,
    DiskFullError,
    FetchFilesError,
    FetchTimeoutError,
    HostUnreachableError,
    RemoteNotFoundError,
    TransientFetchError,
)

__all__ = [
    "AccessDeniedError",
    "DiskFullError",
    "FetchFilesError",
    "FetchTimeoutError",
    "HostUnreachableError",
    "RemoteNotFoundError",
    "TransientFetchError",
]

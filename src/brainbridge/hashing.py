"""Content hashes, one way each: files (SHA-1, as BrainIO catalogs record), text and JSON
(SHA-256 of canonical JSON), and named arrays.

Every cache key, fingerprint and checksum in brainbridge is built here, so the same content
always gives the same key whichever part of the library asks.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "arrays_digest",
    "bytes_digest",
    "file_digest",
    "json_digest",
    "new_hasher",
    "sha1_hash",
    "text_digest",
    "update_with_array",
]

_BLOCK = 1 << 20


def file_digest(path: str | os.PathLike, algorithm: str = "sha1", buffer_size: int = _BLOCK) -> str:
    """Hex digest of a file's bytes, read in blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(buffer_size), b""):
            digest.update(block)
    return digest.hexdigest()


def new_hasher(algorithm: str = "sha1") -> Any:
    """A fresh hashlib object, for bytes hashed as they stream past (one read, one hash)."""
    return hashlib.new(algorithm)


def bytes_digest(data: bytes, algorithm: str = "sha256") -> str:
    """Hex digest of ``data`` (one zarr chunk, one message)."""
    return hashlib.new(algorithm, data).hexdigest()


def sha1_hash(path: str | os.PathLike, buffer_size: int = _BLOCK) -> str:
    """SHA-1 hex digest of a file (the checksum BrainIO catalogs record)."""
    return file_digest(path, "sha1", buffer_size)


def text_digest(text: str, *, algorithm: str = "sha256", length: int | None = None) -> str:
    """Hex digest of UTF-8 ``text`` (the first ``length`` characters, for short path names)."""
    return hashlib.new(algorithm, text.encode()).hexdigest()[:length]


def json_digest(value: Any, *, algorithm: str = "sha256", length: int | None = None) -> str:
    """Hex digest of ``value``'s canonical JSON: sorted keys, no spaces, ``str()`` of the rest."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text_digest(text, algorithm=algorithm, length=length)


def update_with_array(digest: Any, name: str, values: Any) -> None:
    """Feed one named array into a hashlib ``digest``: name, dtype, shape, then the values.

    Numbers go in as C-order bytes; strings and objects as their ``str`` joined by ``\\x1f``
    (so equal text in ``object`` or ``<U`` arrays hashes the same).
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        arr = np.asarray(arr.astype(str), dtype="U")
        digest.update(f"{name}|U|{arr.shape}|".encode())
        digest.update("\x1f".join(arr.ravel().tolist()).encode())
    else:
        arr = np.ascontiguousarray(arr)
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())


def arrays_digest(arrays: Iterable[tuple[str, Any]], *, algorithm: str = "sha256", prefix: str = "") -> str:
    """Hex digest over named arrays in the given order (see :func:`update_with_array`)."""
    digest = hashlib.new(algorithm)
    if prefix:
        digest.update(prefix.encode())
    for name, values in arrays:
        update_with_array(digest, name, values)
    return digest.hexdigest()

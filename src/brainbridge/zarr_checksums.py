"""Per-chunk checksums of zarr stores: recorded when written, checked on open, read and validate.

A zarr store is a folder (or prefix) of small files: metadata documents and one file per
chunk. Without a check, a deleted chunk reads as the fill value (NaN for floats) and a
flipped byte silently changes values. :func:`brainbridge.packaging.write_zarr` therefore
writes every chunk (also chunks equal to the fill value) and then records the SHA-256 of
every file of the store in the attributes of a small sub-group, ``brainbridge_checksums``
(a valid zarr node, so other readers see an empty group, not a stray file; xarray ignores
it when it opens the assembly's group).

When a store has that manifest:

* opening it (:func:`brainbridge.formats.open_assembly_array`) lists the store and refuses
  it if a listed file is missing or an unlisted file appeared (a cheap listing, no reads);
* every file read afterwards is hashed and compared before zarr decodes it
  (:func:`open_verified_store`), so a changed byte is an error, never a value, and a chunk that
  disappeared after opening is an error, never the fill value;
* ``brainbridge validate`` (:func:`verify_zarr_checksums`) hashes every file.

Stores without the manifest (written by other tools) are read as before.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncGenerator, Iterable, Mapping
from pathlib import Path
from typing import Any

from zarr.storage import WrapperStore

from brainbridge.errors import ZarrIntegrityError
from brainbridge.hashing import bytes_digest

__all__ = [
    "CHECKSUMS_GROUP",
    "ZarrIntegrityError",
    "open_verified_store",
    "read_checksums",
    "verify_zarr_checksums",
    "write_checksums",
]

#: the sub-group whose attributes hold the manifest, at the root of the written group
CHECKSUMS_GROUP = "brainbridge_checksums"
_ATTRIBUTE = "brainbridge_checksums"
_FORMAT = "brainbridge.zarr-checksums"


def _is_manifest(key: str) -> bool:
    return key == CHECKSUMS_GROUP or key.startswith(CHECKSUMS_GROUP + "/")


def _digest(data: bytes) -> str:
    return bytes_digest(data, "sha256")


def _filesystem(location: str, storage_options: Mapping[str, Any] | None):
    import fsspec

    fs, root = fsspec.core.url_to_fs(location, **dict(storage_options or {}))
    return fs, root.rstrip("/")


def _group_root(location: str, group: str | None) -> str:
    return "/".join(p for p in (location.rstrip("/"), (group or "").strip("/")) if p)


def _list_files(fs, root: str) -> list[str]:
    """Keys (relative to ``root``, ``/``-separated) of every file below ``root``."""
    keys = []
    for path in fs.find(root):
        relative = (
            path[len(root) :].lstrip("/")
            if path.startswith(root)
            else Path(path).relative_to(root).as_posix()
        )
        if relative and not _is_manifest(relative):
            keys.append(relative)
    return sorted(keys)


def write_checksums(
    location: str, group: str | None = None, storage_options: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Hash every file of the zarr group at ``location`` and write the manifest; returns it.

    Nested groups are included (their keys are relative to this group's root).
    """
    fs, root = _filesystem(_group_root(location, group), storage_options)
    keys = _list_files(fs, root)
    files = {key: _digest(fs.cat_file(f"{root}/{key}")) for key in keys}
    manifest = {"format": _FORMAT, "version": 1, "algorithm": "sha256", "files": files}
    folder = f"{root}/{CHECKSUMS_GROUP}"
    fs.makedirs(folder, exist_ok=True)
    if "zarr.json" in keys:  # zarr v3: one document with the attributes
        node = {"zarr_format": 3, "node_type": "group", "attributes": {_ATTRIBUTE: manifest}}
        fs.pipe_file(f"{folder}/zarr.json", json.dumps(node, sort_keys=True).encode())
    else:  # zarr v2
        fs.pipe_file(f"{folder}/.zgroup", json.dumps({"zarr_format": 2}).encode())
        fs.pipe_file(f"{folder}/.zattrs", json.dumps({_ATTRIBUTE: manifest}, sort_keys=True).encode())
    return files


def read_checksums(
    location: str, group: str | None = None, storage_options: Mapping[str, Any] | None = None
) -> dict[str, str] | None:
    """The recorded ``{key: sha256}`` of a zarr group, or ``None`` when it has no manifest.

    Raises
    ------
    ZarrIntegrityError
        The manifest exists but is not one.
    """
    try:
        fs, root = _filesystem(_group_root(location, group), storage_options)
        folder = f"{root}/{CHECKSUMS_GROUP}"
        if fs.exists(f"{folder}/zarr.json"):
            document = json.loads(fs.cat_file(f"{folder}/zarr.json")).get("attributes", {})
        elif fs.exists(f"{folder}/.zattrs"):
            document = json.loads(fs.cat_file(f"{folder}/.zattrs"))
        else:
            return None
        manifest = document.get(_ATTRIBUTE) if isinstance(document, dict) else None
    except (OSError, ValueError, AttributeError) as e:
        raise ZarrIntegrityError(f"cannot read the checksums of zarr store {location}: {e}") from e
    if not isinstance(manifest, dict):
        manifest = {}
    files = manifest.get("files")
    if (
        not isinstance(files, dict)
        or manifest.get("format") != _FORMAT
        or manifest.get("algorithm") != "sha256"
    ):
        raise ZarrIntegrityError(
            f"{location}: {CHECKSUMS_GROUP} does not hold a brainbridge checksum manifest"
        )
    return {str(k): str(v) for k, v in files.items()}


def _check_listing(location: str, recorded: Mapping[str, str], present: Iterable[str]) -> None:
    present = set(present)
    missing = sorted(set(recorded) - present)
    extra = sorted(present - set(recorded))
    if missing:
        raise ZarrIntegrityError(
            f"zarr store {location} is incomplete: {len(missing)} file(s) recorded when it was written are "
            f"missing, e.g. {missing[:3]} (a missing chunk would read as the fill value); "
            "fetch or write it again"
        )
    if extra:
        raise ZarrIntegrityError(
            f"zarr store {location} has {len(extra)} file(s) that were not there when it was written, "
            f"e.g. {extra[:3]}; it was modified after writing"
        )


def verify_zarr_checksums(
    location: str,
    group: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    *,
    full: bool = True,
) -> int | None:
    """Check a zarr group against its manifest; returns the number of files checked.

    Parameters
    ----------
    full
        Hash every file (``validate``); otherwise only compare the listing (on open).

    Returns
    -------
    int or None
        Files checked, or ``None`` when the store has no manifest (nothing to check against).

    Raises
    ------
    ZarrIntegrityError
        A recorded file is missing, an unrecorded one appeared, or a file's bytes changed.
    """
    recorded = read_checksums(location, group, storage_options)
    if recorded is None:
        return None
    fs, root = _filesystem(_group_root(location, group), storage_options)
    _check_listing(location, recorded, _list_files(fs, root))
    if full:
        for key, expected in sorted(recorded.items()):
            if _digest(fs.cat_file(f"{root}/{key}")) != expected:
                raise ZarrIntegrityError(
                    f"zarr store {location}: {key} does not match the checksum recorded when it was written "
                    "(changed or corrupt bytes)"
                )
    return len(recorded)


class _VerifiedStore(WrapperStore):
    """A read-only zarr store that checks every file it returns against the manifest."""

    def __init__(
        self, store, checksums: Mapping[str, str] | None = None, prefix: str = "", location: str = ""
    ):
        super().__init__(store)
        self._checksums = dict(checksums or {})
        self._prefix = prefix.strip("/")
        self._location = location

    def _with_store(self, store):
        return type(self)(store, self._checksums, self._prefix, self._location)

    def _relative(self, key: str) -> str | None:
        if not self._prefix:
            return key
        if key.startswith(self._prefix + "/"):
            return key[len(self._prefix) + 1 :]
        return None  # outside the checked group (parent metadata): not recorded

    def _verify(self, key: str, buffer):
        relative = self._relative(key)
        expected = self._checksums.get(relative) if relative is not None else None
        if buffer is None:
            if expected is not None:
                raise ZarrIntegrityError(
                    f"zarr store {self._location}: {relative} is missing (it was written; reading it as the "
                    "fill value would be wrong); fetch or write the store again"
                )
            return None
        if relative is None or _is_manifest(relative):
            return buffer
        if expected is None:
            raise ZarrIntegrityError(
                f"zarr store {self._location}: {relative} was not there when the store was written"
            )
        if _digest(buffer.to_bytes()) != expected:
            raise ZarrIntegrityError(
                f"zarr store {self._location}: {relative} does not match the checksum recorded when it was "
                "written (changed or corrupt bytes)"
            )
        return buffer

    async def get(self, key, prototype, byte_range=None):
        # hash off the event loop (hashlib releases the GIL): chunks are checked in parallel
        buffer = await asyncio.to_thread(self._verify, key, await self._store.get(key, prototype, None))
        if buffer is None or byte_range is None:
            return buffer
        # a part of a file: the whole file was checked, return the part asked for
        from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest

        data = buffer.to_bytes()
        if isinstance(byte_range, RangeByteRequest):
            part = data[byte_range.start : byte_range.end]
        elif isinstance(byte_range, OffsetByteRequest):
            part = data[byte_range.offset :]
        elif isinstance(byte_range, SuffixByteRequest):
            part = data[-byte_range.suffix :]
        else:  # pragma: no cover - a request type of a later zarr
            raise ZarrIntegrityError(f"unsupported byte range {byte_range!r}")
        return prototype.buffer.from_bytes(part)

    async def get_partial_values(self, prototype, key_ranges):
        return list(await asyncio.gather(*(self.get(key, prototype, r) for key, r in key_ranges)))

    async def _get_many(self, requests) -> AsyncGenerator:
        requests = list(requests)
        buffers = await asyncio.gather(*(self.get(key, prototype, r) for key, prototype, r in requests))
        for (key, _prototype, _range), buffer in zip(requests, buffers):
            yield key, buffer

    def __repr__(self) -> str:
        return f"VerifiedStore({self._location!r})"


def open_verified_store(
    location: str | os.PathLike, group: str | None = None, storage_options: Mapping[str, Any] | None = None
):
    """A read-only zarr store for ``location`` that verifies what it reads, or ``None``.

    ``None`` when the store has no manifest (read it as usual). The listing is compared
    with the manifest right away (missing or added files raise).

    Raises
    ------
    ZarrIntegrityError
        Files missing or added since the store was written.
    """
    text = os.fspath(location)
    recorded = read_checksums(text, group, storage_options)
    if recorded is None:
        return None
    fs, root = _filesystem(_group_root(text, group), storage_options)
    _check_listing(text, recorded, _list_files(fs, root))
    from zarr.storage import FsspecStore, LocalStore

    base: FsspecStore | LocalStore
    if "://" in text and not text.startswith("file://"):
        base = FsspecStore.from_url(text, storage_options=dict(storage_options or {}), read_only=True)
    else:
        base = LocalStore(text.removeprefix("file://"), read_only=True)
    return _VerifiedStore(base, recorded, prefix=(group or ""), location=text)

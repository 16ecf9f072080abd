"""Fetching catalogued files into a content-addressed local cache, and publishing them.

``fetch_file(location_type, location, sha1)`` is the one entry point (as in BrainIO): it
returns the path of a verified local copy, downloading it first when needed, from a local path,
an HTTP(S) server or an S3 bucket (anonymous for public buckets; ``AWS_ENDPOINT_URL`` for
S3-compatible servers). The cache key contains the checksum, never just the basename; every file
enters the cache through a temporary file that is verified and renamed atomically, under a
per-entry lock, so concurrent fetches download once and no crash leaves a file that looks
complete. Interrupted downloads resume; transient failures are retried with backoff.

Modules: :mod:`~brainbridge.fetch.locations` (what a location means),
:mod:`~brainbridge.fetch.stores` (local/HTTP/S3 readers), :mod:`~brainbridge.fetch.cache`
(layout, manifest, verify/clean), :mod:`~brainbridge.fetch.core` (the download loop, uploads).
"""

from __future__ import annotations

from brainbridge.fetch.cache import (
    CacheEntry,
    CacheInfo,
    CacheProblem,
    CleanReport,
    DownloadCache,
    TreeEntry,
    cache_info,
    cached_path,
    clean_cache,
    register_tree,
    remove_tree,
    sha1_hash,
    tree_entries,
    tree_lock,
    verify_cache,
    verify_sha1,
    verify_tree,
)
from brainbridge.fetch.core import fetch_file, fetch_files, get_local_data_path, load_verified, upload_file
from brainbridge.fetch.errors import (
    AccessDeniedError,
    DiskFullError,
    FetchFilesError,
    FetchTimeoutError,
    HostUnreachableError,
    RemoteNotFoundError,
    TransientFetchError,
)
from brainbridge.fetch.locations import Location, parse_location, redact_text, redact_url, resolve_location
from brainbridge.fetch.stores import s3_filesystem

__all__ = [
    "AccessDeniedError",
    "CacheEntry",
    "CacheInfo",
    "CacheProblem",
    "CleanReport",
    "DiskFullError",
    "DownloadCache",
    "FetchFilesError",
    "FetchTimeoutError",
    "HostUnreachableError",
    "Location",
    "RemoteNotFoundError",
    "TransientFetchError",
    "TreeEntry",
    "cache_info",
    "cached_path",
    "clean_cache",
    "fetch_file",
    "fetch_files",
    "get_local_data_path",
    "load_verified",
    "parse_location",
    "redact_text",
    "redact_url",
    "register_tree",
    "remove_tree",
    "resolve_location",
    "s3_filesystem",
    "sha1_hash",
    "tree_entries",
    "tree_lock",
    "upload_file",
    "verify_cache",
    "verify_sha1",
    "verify_tree",
]

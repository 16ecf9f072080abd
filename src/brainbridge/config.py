"""Where brainbridge keeps things, read from the environment on every call.

Environment variables
---------------------
``BRAINBRIDGE_HOME``
    Root of the download cache and of locally generated data. Falls back to ``BRAINIO_HOME``
    (so an existing BrainIO cache location is honoured), then to the platform's user cache
    folder (``platformdirs.user_cache_dir("brainbridge")``).
``BRAINBRIDGE_OFFLINE``
    ``1``/``true``/``yes`` forbids any network access: only cached files are used.
``BRAINBRIDGE_CATALOGS``
    Extra folders (``os.pathsep``-separated) whose ``*.csv`` files are loaded as catalogs,
    in addition to ``<user config dir>/catalogs``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

_TRUE = {"1", "true", "yes", "on"}


def home() -> Path:
    """Root folder of the cache and of generated data (created on demand by callers)."""
    for var in ("BRAINBRIDGE_HOME", "BRAINIO_HOME"):
        value = os.environ.get(var)
        if value:
            return Path(value).expanduser()
    return Path(platformdirs.user_cache_dir("brainbridge"))


def cache_dir() -> Path:
    """Folder of the content-addressed download cache."""
    return home() / "cache"


def offline() -> bool:
    """Whether the network must not be used (``BRAINBRIDGE_OFFLINE``)."""
    return os.environ.get("BRAINBRIDGE_OFFLINE", "").strip().lower() in _TRUE


def user_catalog_dirs() -> list[Path]:
    """Folders searched for user catalogs (``*.csv`` lookup tables)."""
    dirs = [Path(p).expanduser() for p in os.environ.get("BRAINBRIDGE_CATALOGS", "").split(os.pathsep) if p]
    dirs.append(Path(platformdirs.user_config_dir("brainbridge")) / "catalogs")
    return dirs

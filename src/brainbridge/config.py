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
    in addition to ``$BRAINBRIDGE_HOME/catalogs`` when ``BRAINBRIDGE_HOME`` is set, else
    ``<user config dir>/catalogs``. New catalogs are created in the first of these folders.
``BRAINBRIDGE_MAX_EXTRACT_BYTES``, ``BRAINBRIDGE_MAX_EXTRACT_RATIO``, ``BRAINBRIDGE_MAX_EXTRACT_FILES``
    Limits on extracting one stimulus archive (zip bombs): total uncompressed size (bytes, or
    with a ``K``/``M``/``G``/``T`` suffix; default 64G), compression ratio (default 100) and
    number of entries (default 1000000). See :func:`extract_limits`.
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


def fast_form() -> bool:
    """Whether netCDF assemblies keep and use a fast local form in the cache
    (``BRAINBRIDGE_FAST_FORM=1``; off by default, see :mod:`brainbridge.formats.fastform`).

    Opt-in because the form is built in a background thread that reads the file with h5py: a
    process that reads HDF5 through another library's copy of libhdf5 (netCDF4-python) in other
    threads at the same time crashed in the suite.
    """
    return os.environ.get("BRAINBRIDGE_FAST_FORM", "0").strip().lower() in {"1", "true", "yes", "on"}


def default_catalog_dir() -> Path:
    """The folder of the user's own catalogs when ``BRAINBRIDGE_CATALOGS`` names none.

    ``$BRAINBRIDGE_HOME/catalogs`` when ``BRAINBRIDGE_HOME`` is set (an environment keeps its
    catalogs to itself: one made for a test or a project never shows up in another), else
    ``<user config dir>/catalogs``.
    """
    value = os.environ.get("BRAINBRIDGE_HOME")
    if value:
        return Path(value).expanduser() / "catalogs"
    return Path(platformdirs.user_config_dir("brainbridge")) / "catalogs"


def user_catalog_dirs() -> list[Path]:
    """Folders searched for user catalogs (``*.csv`` lookup tables), in precedence order.

    The ``BRAINBRIDGE_CATALOGS`` folders, then :func:`default_catalog_dir`. The first one is
    where new catalogs are created (``package --create``).
    """
    dirs = [Path(p).expanduser() for p in os.environ.get("BRAINBRIDGE_CATALOGS", "").split(os.pathsep) if p]
    default = default_catalog_dir()
    if default not in dirs:
        dirs.append(default)
    return dirs


#: defaults of :func:`extract_limits`
EXTRACT_DEFAULTS = {"max_bytes": 64 << 30, "max_ratio": 100.0, "max_files": 1_000_000}
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _parse_size(text: str) -> int:
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS and value[-1:] else ""
    number = float(value[: len(value) - len(unit)])
    if number < 0:
        from brainbridge.errors import InvalidParameterError

        raise InvalidParameterError(f"a size cannot be negative: {text!r}")
    return int(number * _UNITS[unit])


def extract_limits() -> dict[str, float]:
    """Limits on extracting one archive: ``max_bytes``, ``max_ratio``, ``max_files``.

    Read from ``BRAINBRIDGE_MAX_EXTRACT_BYTES`` (``2G``, ``500M`` or bytes),
    ``BRAINBRIDGE_MAX_EXTRACT_RATIO`` and ``BRAINBRIDGE_MAX_EXTRACT_FILES``, else
    :data:`EXTRACT_DEFAULTS`.

    Raises
    ------
    brainbridge.errors.ValidationError
        A value that is not a non-negative number.
    """
    from brainbridge.errors import ValidationError

    limits = dict(EXTRACT_DEFAULTS)
    for key, parse in (("max_bytes", _parse_size), ("max_ratio", float), ("max_files", int)):
        var = "BRAINBRIDGE_" + key.upper().replace("MAX_", "MAX_EXTRACT_")
        text = os.environ.get(var, "").strip()
        if not text:
            continue
        try:
            value = parse(text)
        except (ValueError, IndexError):
            value = -1
        if value < 0 or value != value:
            raise ValidationError(
                f"{var}={text!r} is not a valid limit (a non-negative number, e.g. 10G for bytes)"
            )
        limits[key] = value
    return limits

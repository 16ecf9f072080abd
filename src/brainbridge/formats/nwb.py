"""NWB files at the format level: recognising them and reading their version, with h5py only.

NWB 2 files are HDF5 files whose root carries an ``nwb_version`` attribute. Reading their
contents (pynwb objects, tables, spike trains) is the ``ecephys`` consumer's work
(:mod:`brainbridge.ecephys.nwb`), behind the ``[ecephys]`` extra; this module needs no pynwb.
"""

from __future__ import annotations

import os

__all__ = ["is_nwb_file", "nwb_version"]

#: the first bytes of every HDF5 file (NWB 2 is HDF5)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def nwb_version(path: str | os.PathLike) -> str | None:
    """The ``nwb_version`` attribute of an NWB file's root; ``None`` when ``path`` is not a
    readable HDF5 file with one."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != _HDF5_SIGNATURE:
                return None
        import h5py

        with h5py.File(path, "r") as f:
            version = f.attrs.get("nwb_version")
    except OSError:
        return None
    if version is None:
        return None
    if isinstance(version, bytes):
        return version.decode("utf-8", "replace")
    return str(version.item() if hasattr(version, "item") else version)


def is_nwb_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an NWB 2 file (an HDF5 file whose root names its ``nwb_version``)."""
    return nwb_version(path) is not None

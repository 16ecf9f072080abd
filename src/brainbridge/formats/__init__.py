"""File formats, one module each: what reads, writes and checks the bytes.

* :mod:`brainbridge.formats.layout`: BrainIO's layout of an assembly (shared by netCDF and zarr);
* :mod:`brainbridge.formats.netcdf`: netCDF-4 files (lazy parallel reads, deterministic writes);
* :mod:`brainbridge.formats.zarr`: zarr stores (checksums recorded and verified);
  :func:`~brainbridge.formats.zarr.is_zarr_store` is the one zarr detection;
* :mod:`brainbridge.formats.stimulus_csv_zip`: stimulus sets as CSV + ZIP;
* :mod:`brainbridge.formats.nwb`: NWB files (format-level checks; sessions live in ``ecephys``);
* :mod:`brainbridge.formats.xarray_backend`: the ``brainbridge`` xarray engine.

:func:`open_assembly_array` opens an assembly file of either kind. The in-memory classes live
in :mod:`brainbridge.assemblies` (``DataAssembly.validate``) and :mod:`brainbridge.stimuli`.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ASSEMBLY_SUFFIXES", "open_assembly_array"]

#: file name suffixes of netCDF-4 (HDF5) assembly files (a zarr store is recognised by
#: :func:`brainbridge.formats.zarr.is_zarr_store`)
ASSEMBLY_SUFFIXES = (".nc", ".nc4", ".netcdf", ".h5", ".hdf5")


def open_assembly_array(
    file_path: str | os.PathLike, *, group: str | None = None, chunks: Any = None, **kwargs
):
    """Open an assembly file as a plain, lazy :class:`xarray.DataArray` (no indexes built).

    Reads netCDF-4 (BrainIO's ``data`` variable, or the legacy
    ``__xarray_dataarray_variable__``; :func:`brainbridge.formats.netcdf.open_netcdf_array`) and
    zarr stores (:func:`brainbridge.formats.zarr.open_zarr_array`). A zarr store with recorded
    checksums is checked on open (no file missing or added) and on every read (each file's
    SHA-256).

    Raises
    ------
    ZarrIntegrityError
        A zarr store whose files do not match its recorded checksums (also when values are
        read later).
    AssemblyError
        A missing file, or one that is not an assembly.
    """
    from brainbridge.formats.netcdf import open_netcdf_array
    from brainbridge.formats.zarr import is_zarr_store, open_zarr_array

    if is_zarr_store(file_path):
        return open_zarr_array(file_path, group=group, chunks=chunks, **kwargs)
    return open_netcdf_array(file_path, group=group, chunks=chunks, **kwargs)

"""brainbridge's xarray backend: ``xr.open_dataset(path, engine="brainbridge", chunks=...)``.

Registered as the ``brainbridge`` entry point of ``xarray.backends`` (pyproject.toml), so
any xarray code reads BrainIO netCDF-4 files with brainbridge's parallel reader (with or
without dask ``chunks``) and zarr stores with their recorded checksums verified. The class can
also be passed directly: ``engine=BrainbridgeBackendEntrypoint``.
"""

from __future__ import annotations

import os

import xarray as xr

from brainbridge.formats.netcdf import NetcdfBackendEntrypoint, is_netcdf_file
from brainbridge.formats.zarr import is_zarr_store, open_zarr_dataset

__all__ = ["BrainbridgeBackendEntrypoint"]


class BrainbridgeBackendEntrypoint(NetcdfBackendEntrypoint):
    """xarray backend for BrainIO-layout assemblies: netCDF-4 files and zarr stores.

    netCDF-4: values read lazily with parallel decompression (:mod:`brainbridge.formats.netcdf`),
    identical to xarray's ``h5netcdf`` engine. zarr: ``xr.open_zarr`` through a store that
    checks every file against the checksums recorded by :func:`brainbridge.formats.zarr.write_zarr`.
    """

    description = "BrainIO assemblies (netCDF-4 with parallel decompression, checksummed zarr) by brainbridge"

    def open_dataset(self, filename_or_obj, *, drop_variables=None, group=None, **decoders) -> xr.Dataset:
        if isinstance(filename_or_obj, (str, os.PathLike)) and is_zarr_store(filename_or_obj):
            given = {k: v for k, v in decoders.items() if v is not None}
            # xarray chunks the result itself; the store is opened without dask here
            ds = open_zarr_dataset(os.fspath(filename_or_obj), group=group, chunks=None, **given)
            if drop_variables:
                names = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables)
                ds = ds.drop_vars([n for n in names if n in ds.variables])
            return ds
        return super().open_dataset(filename_or_obj, drop_variables=drop_variables, group=group, **decoders)

    def guess_can_open(self, filename_or_obj) -> bool:
        if not isinstance(filename_or_obj, (str, os.PathLike)):
            return False
        return is_zarr_store(filename_or_obj) or is_netcdf_file(filename_or_obj)

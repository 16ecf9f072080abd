"""Reading assembly files (kept for imports written before :mod:`brainbridge.formats`).

The formats live in :mod:`brainbridge.formats`: netCDF-4 in :mod:`brainbridge.formats.netcdf`,
zarr in :mod:`brainbridge.formats.zarr`.
"""

from __future__ import annotations

from brainbridge.formats import open_assembly_array
from brainbridge.formats.netcdf import netcdf_groups
from brainbridge.formats.zarr import is_zarr_store

__all__ = ["is_zarr_store", "netcdf_groups", "open_assembly_array"]

"""Synthetic assemblies for the scale tests, written to real netCDF/zarr files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from brainbridge.assemblies import NeuronRecordingAssembly


def recording(
    n_stimuli: int = 40, repetitions: int = 3, n_neuroids: int = 12, n_time_bins: int = 0, seed: int = 0
) -> NeuronRecordingAssembly:
    """A float32 recording with interleaved repetitions, a few NaNs and region/object metadata."""
    rng = np.random.default_rng(seed)
    n_presentations = n_stimuli * repetitions
    order = rng.permutation(np.repeat(np.arange(n_stimuli), repetitions))
    shape = (n_presentations, n_neuroids) + ((n_time_bins,) if n_time_bins else ())
    values = rng.normal(size=shape).astype(np.float32)
    values.reshape(n_presentations, -1)[
        rng.integers(0, n_presentations, 5), rng.integers(0, n_neuroids, 5)
    ] = np.nan
    # one stimulus whose every repetition is missing for neuroid 0 stays NaN
    values[order == 0, 0] = np.nan
    coords = {
        "stimulus_id": ("presentation", np.array([f"im{i:04d}" for i in order])),
        "repetition": ("presentation", np.arange(n_presentations) % repetitions),
        "object_name": ("presentation", np.array([f"obj{i % 5}" for i in order])),
        "neuroid_id": ("neuroid", np.array([f"n{i:03d}" for i in range(n_neuroids)])),
        "region": ("neuroid", np.array(["V4" if i < n_neuroids // 3 else "IT" for i in range(n_neuroids)])),
    }
    dims = ["presentation", "neuroid"]
    if n_time_bins:
        dims.append("time_bin")
        coords["time_bin_start"] = ("time_bin", np.arange(n_time_bins) * 10)
        coords["time_bin_end"] = ("time_bin", np.arange(n_time_bins) * 10 + 10)
    return NeuronRecordingAssembly(values, dims=dims, coords=coords)


def as_dataset(assembly: xr.DataArray) -> xr.Dataset:
    """The BrainIO file layout: one ``data`` variable, every coordinate a plain 1-D variable."""
    coords = {}
    for name, coord in assembly.coords.items():
        if name in assembly.dims and coord.dims == (name,) and name not in ("time_bin",):
            continue  # MultiIndex dimension coordinates are rebuilt from their levels
        coords[name] = (coord.dims, np.asarray(coord.values))
    return xr.Dataset({"data": (assembly.dims, np.asarray(assembly.values))}, coords=coords)


def write_zarr_store(assembly: xr.DataArray, path: str | Path, chunks: dict[str, int]) -> str:
    """Write a chunked zarr store with xarray; return its path."""
    ds = as_dataset(assembly)
    encoding = {"data": {"chunks": tuple(chunks.get(d, assembly.sizes[d]) for d in assembly.dims)}}
    ds.to_zarr(str(path), mode="w", encoding=encoding, consolidated=False)
    return str(path)


def write_netcdf_file(assembly: xr.DataArray, path: str | Path) -> str:
    """Write a netCDF-4 file with h5netcdf; return its path."""
    as_dataset(assembly).to_netcdf(str(path), engine="h5netcdf")
    return str(path)

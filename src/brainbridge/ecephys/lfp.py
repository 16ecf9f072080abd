"""LFP and current source density as lazy xarray arrays over probe NWB files.

AllenSDK reads a probe's whole LFP into memory (hours x hundreds of channels). Here the
array is an xarray ``DataArray`` backed by the HDF5 dataset: ``lfp.sel(time=slice(a, b))``
or ``lfp.isel(channel=[...])`` stays lazy, and ``.values`` reads only the selected
hyperslab. Samples inside ``invalid_times`` intervals (tagged ``all_probes`` or the probe's
name) read as NaN, as in AllenSDK.

AllenSDK's probe-LFP layout (``probe_<probe_id>_lfp.nwb``): ``acquisition/probe_<id>_lfp``
(an ``LFP`` container) holding the ``ElectricalSeries`` ``probe_<id>_lfp_data`` (time x
channel, with timestamps and an electrodes region); the CSD in
``processing/current_source_density/current_source_density`` with ``time_series``
(``data`` time x virtual channel, ``timestamps``) and ``virtual_electrode_{x,y}_positions``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from brainbridge.ecephys.errors import NWBFileError
from brainbridge.ecephys.extras import timestamps_of

#: AllenSDK's probe LFP file name, next to the session file
LFP_FILE = re.compile(r"probe_[^/]+_lfp\.nwb")

__all__ = [
    "LFP_FILE",
    "LazyHDF5Array",
    "find_lfp_series",
    "lazy_csd",
    "lazy_lfp",
    "lfp_files",
    "probe_ids_from_lfp_files",
]


class LazyHDF5Array(BackendArray):
    """An HDF5 dataset (rows = time) as a lazily indexed array; rows in ``masked`` read as NaN."""

    def __init__(self, dataset, masked: np.ndarray | None = None):
        self.dataset = dataset
        self.shape = tuple(dataset.shape)
        self.masked = masked if masked is not None and masked.any() else None
        dtype = np.dtype(dataset.dtype)
        if self.masked is not None and dtype.kind not in "fc":
            dtype = np.dtype(np.float64)
        self.dtype = dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._raw)

    def _raw(self, key: tuple) -> np.ndarray:
        values = np.asarray(self.dataset[key])
        if self.masked is None:
            return values
        rows = np.arange(self.shape[0])[key[0]]
        bad = self.masked[rows]
        if np.any(bad):
            values = values.astype(self.dtype, copy=True)
            values[bad] = np.nan
        return values


def lfp_files(folder: str | os.PathLike) -> dict:
    """``{probe_id: path}`` of the ``probe_<id>_lfp.nwb`` files in ``folder`` (AllenSDK's layout)."""
    found = {}
    for candidate in sorted(Path(folder).glob("probe_*_lfp.nwb")):
        probe = candidate.name[len("probe_") : -len("_lfp.nwb")]
        found[int(probe) if probe.lstrip("-").isdigit() else probe] = candidate
    return found


def probe_ids_from_lfp_files(files: dict) -> dict[str, object]:
    """``{probe name: probe id}``: each LFP file's single electrode group names its probe."""
    import h5py

    names = {}
    for probe_id, path in files.items():
        try:
            with h5py.File(path, "r") as f:
                groups = [k for k in f.get("general/extracellular_ephys", {}) if k != "electrodes"]
        except OSError:
            continue
        if len(groups) == 1:
            names[groups[0]] = probe_id
    return names


def _invalid_mask(times: np.ndarray, invalid, probe_name: str | None) -> np.ndarray | None:
    if invalid is None or not len(invalid) or "tags" not in invalid.columns:
        return None
    mask = np.zeros(times.size, dtype=bool)
    for start, stop, tags in zip(invalid["start_time"], invalid["stop_time"], invalid["tags"]):
        names = {t.strip() for t in str(tags).split(",")}
        if "all_probes" in names or (probe_name is not None and probe_name in names):
            mask |= (times >= start) & (times <= stop)  # closed intervals, as AllenSDK
    return mask


def find_lfp_series(nwbfile, probe_id=None, probe_name: str | None = None):
    """The LFP ``ElectricalSeries`` of a probe: AllenSDK's names first, else the only LFP series.

    Raises
    ------
    NWBFileError
        None found, or several and none named for the probe.
    """
    from pynwb.ecephys import LFP, ElectricalSeries

    acquisition = nwbfile.acquisition or {}
    if probe_id is not None and f"probe_{probe_id}_lfp" in acquisition:
        container = acquisition[f"probe_{probe_id}_lfp"]
        series = getattr(container, "electrical_series", None) or {}
        if f"probe_{probe_id}_lfp_data" in series:
            return series[f"probe_{probe_id}_lfp_data"]
        if len(series) == 1:
            return next(iter(series.values()))
    candidates = []
    places = list(acquisition.values())
    for module in (nwbfile.processing or {}).values():
        places.extend(module.data_interfaces.values())
    for item in places:
        if isinstance(item, LFP):
            candidates.extend(item.electrical_series.values())
        elif isinstance(item, ElectricalSeries) and "lfp" in item.name.lower():
            candidates.append(item)
    if probe_name is not None and len(candidates) > 1:
        named = [c for c in candidates if probe_name.lower() in c.name.lower()]
        candidates = named or candidates
    if len(candidates) == 1:
        return candidates[0]
    what = (
        "no LFP series"
        if not candidates
        else f"{len(candidates)} LFP series ({[c.name for c in candidates]})"
    )
    raise NWBFileError(f"found {what} for probe {probe_id if probe_id is not None else probe_name}")


def lazy_lfp(series, *, invalid_times=None, probe_name: str | None = None) -> xr.DataArray:
    """An ``ElectricalSeries`` as a lazy ``LFP`` DataArray, dims ``(time, channel)``.

    ``channel`` holds the electrode ids of the series' electrodes region; only the
    timestamps and the channel ids are read now.
    """
    data = series.data
    times = timestamps_of(series)
    if series.electrodes is not None:
        rows = np.asarray(series.electrodes.data[:], dtype=np.int64)
        channel_ids = np.asarray(series.electrodes.table.id.data[:])[rows]
    else:
        channel_ids = np.arange(data.shape[1])
    array = LazyHDF5Array(data, _invalid_mask(times, invalid_times, probe_name))
    variable = xr.Variable(("time", "channel"), indexing.LazilyIndexedArray(array))
    return xr.DataArray(variable, coords={"time": times, "channel": channel_ids}, name="LFP")


def lazy_csd(path: str | os.PathLike) -> tuple[object, xr.DataArray]:
    """The CSD of a probe LFP file as a lazy DataArray, AllenSDK's dims ``(virtual_channel_index, time)``.

    Read with h5py (AllenSDK stores the CSD in its own NWB extension type).

    Returns
    -------
    (h5py.File, DataArray)
        Close the file when done with the array.

    Raises
    ------
    NWBFileError
        The file has no current source density.
    """
    import h5py

    path = Path(path)
    handle = h5py.File(path, "r")
    key = "processing/current_source_density/current_source_density"
    if key not in handle:
        handle.close()
        raise NWBFileError(f"{path} has no current source density ({key})")
    group = handle[key]
    data = group["time_series/data"]
    times = np.asarray(group["time_series/timestamps"][:], dtype=np.float64)
    variable = xr.Variable(
        ("time", "virtual_channel_index"), indexing.LazilyIndexedArray(LazyHDF5Array(data))
    )
    n = data.shape[1]
    csd = xr.DataArray(
        variable,
        coords={
            "time": times,
            "virtual_channel_index": np.arange(n),
            "vertical_position": (
                "virtual_channel_index",
                np.asarray(group["virtual_electrode_y_positions"][:]),
            ),
            "horizontal_position": (
                "virtual_channel_index",
                np.asarray(group["virtual_electrode_x_positions"][:]),
            ),
        },
        name="CSD",
    )
    return handle, csd.transpose("virtual_channel_index", "time")

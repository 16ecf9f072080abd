"""Session data beyond spikes, read where an NWB file has it (AllenSDK's layout first).

Each reader takes an open ``NWBFile`` and returns ``None`` when the file does not hold that
kind of data, so sessions from any lab work: running speed, the eye-tracking ellipse fits and
screen gaze mapping, optotagging epochs, mean waveforms and the session type.

AllenSDK's layout (Visual Coding - Neuropixels session files):

- ``processing/running``: ``running_speed`` (velocity, timestamps = interval starts) and
  ``running_speed_end_times`` (timestamps = interval ends), optionally ``running_wheel_rotation``;
- ``processing/eye_tracking``: ``pupil_ellipse_fits``, ``eye_ellipse_fits``,
  ``cr_ellipse_fits`` tables (``center_x, center_y, height, width, phi``; half axes);
- ``processing/raw_gaze_mapping`` and ``processing/filtered_gaze_mapping``: ``eye_area``,
  ``pupil_area``, ``screen_coordinates`` and ``screen_coordinates_spherical`` (``(y, x)``
  columns) time series;
- ``processing/optotagging/optogenetic_stimulation``: a time-intervals table;
- ``units/waveform_mean``: one ``channels x samples`` array per unit.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from brainbridge.ecephys.nwb import read_table

__all__ = [
    "age_in_days",
    "read_mean_waveforms",
    "read_optogenetic_stimulation",
    "read_pupil_data",
    "read_running_speed",
    "read_screen_gaze_data",
    "read_session_type",
    "timestamps_of",
]


def _module(nwbfile, name: str):
    return nwbfile.processing.get(name) if nwbfile.processing is not None else None


def _interface(module, name: str):
    if module is None:
        return None
    interfaces = module.data_interfaces
    return interfaces.get(name, None)


def timestamps_of(series) -> np.ndarray:
    """A time series' sample times: its ``timestamps``, else ``starting_time + i / rate``."""
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], dtype=np.float64)
    n = int(series.data.shape[0])
    return float(series.starting_time or 0.0) + np.arange(n, dtype=np.float64) / float(series.rate)


def _find_series(nwbfile, name: str):
    """A time series called ``name`` in any processing module (inside containers too) or acquisition."""
    places = list(nwbfile.processing.values()) if nwbfile.processing is not None else []
    for module in places:
        for interface in module.data_interfaces.values():
            if interface.name == name and hasattr(interface, "data"):
                return interface
            inner = getattr(interface, "time_series", None)
            if isinstance(inner, dict) and name in inner:
                return inner[name]
    acquisition = nwbfile.acquisition or {}
    return acquisition.get(name)


def read_running_speed(nwbfile, include_rotation: bool = False) -> pd.DataFrame | None:
    """``start_time``, ``end_time``, ``velocity`` (cm/s) per running-wheel sample; ``None`` if absent.

    AllenSDK's ``processing/running`` module first; else any time series called
    ``running_speed`` (end times are then the next sample's start).
    """
    module = _module(nwbfile, "running")
    speed = _interface(module, "running_speed")
    if speed is None:
        speed = _find_series(nwbfile, "running_speed")
    if speed is None:
        return None
    starts = timestamps_of(speed)
    end_series = _interface(module, "running_speed_end_times")
    if end_series is not None:
        ends = timestamps_of(end_series)
    else:
        step = float(np.median(np.diff(starts))) if starts.size > 1 else 0.0
        ends = np.append(starts[1:], starts[-1] + step) if starts.size else starts
    frame = pd.DataFrame(
        {"start_time": starts, "end_time": ends, "velocity": np.asarray(speed.data[:], dtype=np.float64)}
    )
    if include_rotation:
        rotation = _interface(module, "running_wheel_rotation")
        frame["net_rotation"] = (
            np.asarray(rotation.data[:], dtype=np.float64) if rotation is not None else np.nan
        )
    return frame


def _table_columns(container) -> pd.DataFrame:
    if hasattr(container, "colnames"):
        return read_table(container)
    # an ellipse series: data (n, k) with named columns is not standard; keep positional names
    data = np.asarray(container.data[:])
    return pd.DataFrame(data.reshape(data.shape[0], -1))


def read_pupil_data(nwbfile) -> pd.DataFrame | None:
    """Eye-tracking ellipse fits (AllenSDK's ``get_pupil_data``); ``None`` if the file has none.

    Columns ``{corneal_reflection,pupil,eye}_{center_x,center_y,height,width,phi}`` (full
    axes: the file stores half axes), index ``Time (s)`` from the raw gaze mapping.
    """
    tracking = _module(nwbfile, "eye_tracking")
    raw_gaze = _module(nwbfile, "raw_gaze_mapping")
    if tracking is None:
        return None
    fits = {
        "corneal_reflection": _interface(tracking, "cr_ellipse_fits"),
        "pupil": _interface(tracking, "pupil_ellipse_fits"),
        "eye": _interface(tracking, "eye_ellipse_fits"),
    }
    if any(f is None for f in fits.values()):
        return None
    data: dict[str, np.ndarray] = {}
    for prefix, container in fits.items():
        table = _table_columns(container)
        for column in ("center_x", "center_y", "height", "width", "phi"):
            values = table[column].to_numpy(dtype=np.float64)
            data[f"{prefix}_{column}"] = 2 * values if column in ("height", "width") else values
    times_source = _interface(raw_gaze, "eye_area")
    n = len(next(iter(data.values())))
    if times_source is not None:
        times = timestamps_of(times_source)
    elif hasattr(fits["pupil"], "timestamps") and fits["pupil"].timestamps is not None:
        times = timestamps_of(fits["pupil"])
    else:
        times = np.arange(n, dtype=np.float64)
    return pd.DataFrame(data, index=pd.Index(times[:n], name="Time (s)"))


def read_screen_gaze_data(nwbfile, include_filtered_data: bool = False) -> pd.DataFrame | None:
    """Gaze mapped onto the screen (AllenSDK's ``get_screen_gaze_data``); ``None`` if absent.

    Columns ``raw_eye_area``, ``raw_pupil_area``, ``raw_screen_coordinates_{x,y}_cm``,
    ``raw_screen_coordinates_spherical_{x,y}_deg`` (and the ``filtered_`` ones on request);
    index ``Time (s)``.
    """
    kinds = ["raw"] + (["filtered"] if include_filtered_data else [])
    modules = {kind: _module(nwbfile, f"{kind}_gaze_mapping") for kind in kinds}
    if any(m is None for m in modules.values()):
        return None
    data: dict[str, np.ndarray] = {}
    times = None
    for kind, module in modules.items():
        parts = {
            name: _interface(module, name)
            for name in ("eye_area", "pupil_area", "screen_coordinates", "screen_coordinates_spherical")
        }
        if any(p is None for p in parts.values()):
            return None
        data[f"{kind}_eye_area"] = np.asarray(parts["eye_area"].data[:], dtype=np.float64)
        data[f"{kind}_pupil_area"] = np.asarray(parts["pupil_area"].data[:], dtype=np.float64)
        coords = np.asarray(parts["screen_coordinates"].data[:], dtype=np.float64)
        spherical = np.asarray(parts["screen_coordinates_spherical"].data[:], dtype=np.float64)
        # stored as (y, x) columns
        data[f"{kind}_screen_coordinates_x_cm"] = coords[:, 1]
        data[f"{kind}_screen_coordinates_y_cm"] = coords[:, 0]
        data[f"{kind}_screen_coordinates_spherical_x_deg"] = spherical[:, 1]
        data[f"{kind}_screen_coordinates_spherical_y_deg"] = spherical[:, 0]
        if times is None:
            times = timestamps_of(parts["eye_area"])
    assert times is not None  # set by the first (raw) kind
    return pd.DataFrame(data, index=pd.Index(times, name="Time (s)"))


def read_optogenetic_stimulation(nwbfile) -> pd.DataFrame | None:
    """Optotagging epochs (``start_time``, ``stop_time``, ``condition``, ``level``...); ``None`` if absent.

    AllenSDK's ``processing/optotagging/optogenetic_stimulation`` first; else an interval
    table of that name.
    """
    table = _interface(_module(nwbfile, "optotagging"), "optogenetic_stimulation")
    if table is None and nwbfile.intervals is not None and "optogenetic_stimulation" in nwbfile.intervals:
        table = nwbfile.intervals["optogenetic_stimulation"]
    if table is None:
        return None
    frame = read_table(table)
    frame = frame.drop(columns=[c for c in ("tags", "timeseries") if c in frame.columns])
    if "duration" not in frame.columns and {"start_time", "stop_time"} <= set(frame.columns):
        frame["duration"] = frame["stop_time"] - frame["start_time"]
    return frame


def read_mean_waveforms(nwbfile) -> dict[Any, np.ndarray] | None:
    """``{unit_id: waveform}`` from the units table's ``waveform_mean`` (``None`` if absent).

    Each waveform is 2-D (channels x samples in AllenSDK's files); a 1-D waveform becomes
    one row.
    """
    units = nwbfile.units
    if units is None or "waveform_mean" not in units.colnames:
        return None
    ids = np.asarray(units.id.data[:])
    column = units["waveform_mean"]
    from hdmf.common import VectorIndex

    if isinstance(column, VectorIndex):
        ends = np.asarray(column.data[:], dtype=np.int64)
        data = np.asarray(column.target.data[:])
        pieces = np.split(data, ends[:-1]) if ends.size else []
    else:
        pieces = list(np.asarray(column.data[:]))
    out = {}
    for uid, waveform in zip(ids.tolist(), pieces):
        waveform = np.asarray(waveform, dtype=np.float64)
        out[uid] = waveform[None, :] if waveform.ndim == 1 else waveform
    return out


def read_session_type(nwbfile) -> str | None:
    """The session type (AllenSDK's ``stimulus_name`` metadata), when the file records one."""
    meta = getattr(nwbfile, "lab_meta_data", None) or {}
    for container in meta.values():
        for attr in ("stimulus_name", "session_type"):
            value = getattr(container, attr, None)
            if value:
                return str(value)
    notes = getattr(nwbfile, "stimulus_notes", None)
    return str(notes) if notes else None


def age_in_days(age: str | None) -> float:
    """ISO 8601 durations as subjects record them (``P90D``, ``P12W``, ``P1Y2M``); NaN otherwise."""
    if not age:
        return math.nan
    match = re.fullmatch(
        r"P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?.*",
        str(age).strip(),
    )
    if not match or not any(match.groups()):
        return math.nan
    years, months, weeks, days = (float(g) if g else 0.0 for g in match.groups())
    return years * 365.0 + months * 30.0 + weeks * 7.0 + days

"""One recording session read lazily from an NWB file (AllenSDK's ``EcephysSession``).

:class:`EcephysSession` keeps the NWB file open and reads each table the first time it is
used. The API is AllenSDK's: stimulus tables and epochs, structure counts, running speed,
eye tracking, optotagging, mean waveforms, LFP and CSD (lazy), and spike counts in AllenSDK's
shape (``stimulus_presentation_id x time_relative_to_stimulus_onset x unit_id``).
:meth:`EcephysSession.to_assembly` turns those counts into a
:class:`brainbridge.assemblies.NeuronRecordingAssembly` (``presentation x neuroid x time_bin``)
with every presentation and unit column as a coordinate, for the encoding and ML parts.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.ecephys.counts import SpikeTrains, spike_counts, window_edges
from brainbridge.ecephys.errors import NWBFileError, PresentationNotFoundError, UnitNotFoundError
from brainbridge.ecephys.extras import age_in_days as _parse_age
from brainbridge.ecephys.extras import (
    read_mean_waveforms,
    read_optogenetic_stimulation,
    read_pupil_data,
    read_running_speed,
    read_screen_gaze_data,
    read_session_type,
)
from brainbridge.ecephys.lfp import find_lfp_series, lazy_csd, lazy_lfp, lfp_files, probe_ids_from_lfp_files
from brainbridge.ecephys.nwb import open_nwb, read_spike_trains, read_table
from brainbridge.errors import ValidationError, valid_values_message

__all__ = [
    "NON_STIMULUS_PARAMETERS",
    "SPIKE_COUNT_DIMS",
    "UNIT_FILTER_DEFAULTS",
    "EcephysSession",
    "filter_units",
    "stimulus_ids",
]

#: AllenSDK's default unit quality thresholds (``allensdk.brain_observatory.ecephys``)
UNIT_FILTER_DEFAULTS: dict[str, float] = {
    "amplitude_cutoff_maximum": 0.1,
    "presence_ratio_minimum": 0.95,
    "isi_violations_maximum": 0.5,
}

#: AllenSDK's unit quality labels; other vocabularies are not filtered by validity
ALLEN_QUALITY_LABELS = frozenset({"good", "noise"})

_FILTER_TESTS = {
    "amplitude_cutoff_maximum": ("amplitude_cutoff", "max"),
    "presence_ratio_minimum": ("presence_ratio", "min"),
    "isi_violations_maximum": ("isi_violations", "max"),
}

#: presentation columns that describe timing or bookkeeping, not the stimulus
NON_STIMULUS_PARAMETERS = (
    "start_time",
    "stop_time",
    "duration",
    "stimulus_block",
    "stimulus_index",
    "stimulus_condition_id",
    "stimulus_presentation_id",
    "stimulus_id",
    "tags",
    "timeseries",
    "id",
)

_NULL = "null"

#: rendering details AllenSDK leaves out of ``get_stimulus_table`` unless asked
DETAILED_STIMULUS_PARAMETERS = (
    "colorSpace",
    "flipHoriz",
    "flipVert",
    "depth",
    "interpolate",
    "mask",
    "opacity",
    "rgbPedestal",
    "tex",
    "texRes",
    "units",
    "rgb",
    "signalDots",
    "noiseDots",
    "fieldSize",
    "fieldShape",
    "fieldPos",
    "nDots",
    "dotSize",
    "dotLife",
    "color_triplet",
)

#: AllenSDK's dims of ``presentationwise_spike_counts``
SPIKE_COUNT_DIMS = ("stimulus_presentation_id", "time_relative_to_stimulus_onset", "unit_id")


# --------------------------------------------------------------------------------------
# unit filtering (shared with the project cache)
# --------------------------------------------------------------------------------------


def _check_unit_filter_names(names) -> None:
    unknown = set(names) - set(_FILTER_TESTS)
    if unknown:
        raise ValidationError(valid_values_message("unit filter(s)", sorted(unknown), sorted(_FILTER_TESTS)))


def filter_units(
    units: pd.DataFrame,
    *,
    filter_by_validity: bool = True,
    filter_out_of_brain_units: bool = True,
    defaults: bool = True,
    **thresholds: float | None,
) -> pd.DataFrame:
    """Keep the units that pass AllenSDK's quality filters.

    Parameters
    ----------
    units
        A units table.
    filter_by_validity
        Keep ``quality == "good"`` (case-insensitive; units with no label are kept) and drop
        the ``quality`` column, when the labels are AllenSDK's (``good``/``noise``); another
        lab's labels (``Excellent``, ``fair``...) are left alone rather than dropping every unit.
    filter_out_of_brain_units
        Drop units whose ``ecephys_structure_id`` is missing.
    defaults
        Apply :data:`UNIT_FILTER_DEFAULTS` to the thresholds not given. ``False`` applies only
        the thresholds given.
    **thresholds
        ``amplitude_cutoff_maximum`` (keep ``amplitude_cutoff <= v``), ``presence_ratio_minimum``
        (``presence_ratio >= v``), ``isi_violations_maximum`` (``isi_violations <= v``). ``None``
        is an open bound (``±inf``) that, as in AllenSDK, still drops units whose metric is
        NaN; ``0`` is a real threshold (unlike AllenSDK's session level). A filter on a column
        the table does not have is skipped (with a warning when the threshold was given).

    Raises
    ------
    ValidationError
        An unknown threshold name.
    """
    _check_unit_filter_names(thresholds)
    keep = np.ones(len(units), dtype=bool)
    for name, (column, kind) in _FILTER_TESTS.items():
        explicit = name in thresholds
        if not explicit and not defaults:
            continue
        value = thresholds[name] if explicit else UNIT_FILTER_DEFAULTS[name]
        if value is None:  # AllenSDK: an open bound, which a NaN metric still fails
            value = np.inf if kind == "max" else -np.inf
        if column not in units.columns:
            if explicit:
                warnings.warn(
                    f"unit filter {name} skipped: the units table has no '{column}' column", stacklevel=2
                )
            continue
        metric = pd.to_numeric(units[column], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            keep &= (metric <= value) if kind == "max" else (metric >= value)
    result = units[keep]
    if filter_by_validity and "quality" in result.columns:
        labels = {str(v).lower() for v in units["quality"].dropna()}
        if labels <= ALLEN_QUALITY_LABELS:
            # a unit without a label (a file that records none, in a project of several) is kept
            quality = result["quality"].astype(str).str.lower()
            result = result[((quality == "good") | result["quality"].isna()).to_numpy()].drop(
                columns="quality"
            )
    if filter_out_of_brain_units and "ecephys_structure_id" in result.columns:
        result = result[result["ecephys_structure_id"].notna().to_numpy()]
    return result


# --------------------------------------------------------------------------------------
# stimulus identity
# --------------------------------------------------------------------------------------


def _format_value(value: Any) -> str | None:
    """A parameter value as text; ``None`` for missing values (left out of the id)."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return format(float(value), "g")
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value)
    return None if text in ("", _NULL, "nan") else text


def stimulus_ids(
    conditions: pd.DataFrame, parameters: Sequence[str], name_column: str = "stimulus_name"
) -> list[str]:
    """Readable, session-independent stimulus ids: ``name:param=value,...``.

    Parameters are sorted by name and missing values are left out, so the same stimulus gets
    the same id in every session (and its presentations can be aligned across sessions).
    """
    params = sorted(p for p in parameters if p != name_column)
    ids = []
    names = (
        conditions[name_column].tolist() if name_column in conditions.columns else [None] * len(conditions)
    )
    columns = [conditions[p].tolist() for p in params]
    for row, name in enumerate(names):
        parts = []
        for param, values in zip(params, columns):
            text = _format_value(values[row])
            if text is not None:
                parts.append(f"{param}={text}")
        head = _format_value(name) or "stimulus"
        ids.append(f"{head}:{','.join(parts)}" if parts else head)
    return ids


def _coord_values(series: pd.Series) -> np.ndarray:
    """A column as values netCDF and xarray indexes accept: numbers, bools or plain strings."""
    values = series.to_numpy()
    if values.dtype.kind in "biuf":
        return values
    if values.dtype.kind == "M":
        return values.astype(str)
    # strings, pandas' string dtype, mixed objects, lists: plain Python str, missing -> ""
    as_object = series.astype(object).where(series.notna(), "")
    return np.array([str(v) for v in as_object.tolist()], dtype=object)


# --------------------------------------------------------------------------------------
# the session
# --------------------------------------------------------------------------------------


class EcephysSession:
    """An electrophysiology session backed by an open NWB file.

    Build one with :meth:`from_nwb` (a single file) or
    :meth:`brainbridge.ecephys.EcephysProjectCache.get_session_data` (a project's session).
    Tables are read on first use; call :meth:`close` (or use ``with``) to release the file.

    Parameters
    ----------
    nwbfile
        A pynwb ``NWBFile`` (read lazily).
    io
        The open ``NWBHDF5IO`` to close with the session.
    path
        The file's path (informational).
    session_id
        Overrides the file's ``session_id``.
    presentations
        Which interval tables are the stimulus presentations: ``None`` (default) uses the
        ``*_presentations`` tables (AllenSDK's layout), else ``trials``, else none; or a table
        name (``"trials"``, ``"epochs"``, any ``nwb.intervals`` name) or a list of names.
    filter_by_validity, filter_out_of_brain_units, **unit_filters
        Unit filters (see :func:`filter_units`); a single file is raw data, so no filter is
        applied unless asked for.
    external_channel_columns
        A callable returning a channels table (index: channel id) whose columns replace the
        file's (the project cache passes its structure annotations).
    probe_lfp_paths
        ``{probe_id: path or callable returning a path}`` of the probe LFP files (the project
        cache passes callables that fetch on first use; :meth:`from_nwb` finds
        ``probe_<id>_lfp.nwb`` next to the session file).
    session_type
        Overrides the type recorded in the file (the project passes its sessions table's).
    additional_unit_metrics
        A callable returning a table (index: unit id) joined to :attr:`units` (AllenSDK's
        analysis metrics).
    probe_ids
        ``{electrode group name: probe id}`` for files whose groups do not record their probe
        id (the project passes its probes table's; :meth:`from_nwb` reads the LFP files').
    """

    def __init__(
        self,
        nwbfile,
        *,
        io=None,
        path: str | os.PathLike | None = None,
        session_id: int | str | None = None,
        presentations: str | Sequence[str] | None = None,
        filter_by_validity: bool = False,
        filter_out_of_brain_units: bool = False,
        external_channel_columns: Callable[[], pd.DataFrame] | None = None,
        unit_filter_defaults: bool = False,
        probe_lfp_paths: dict[Any, Any] | None = None,
        session_type: str | None = None,
        additional_unit_metrics: Callable[[], pd.DataFrame] | None = None,
        probe_ids: dict[str, Any] | None = None,
        **unit_filters: float | None,
    ):
        self.nwbfile = nwbfile
        self._probe_ids = dict(probe_ids or {})
        self._probe_lfp_paths = dict(probe_lfp_paths or {})
        self._session_type = session_type
        self._additional_unit_metrics = additional_unit_metrics
        self._open_files: list[Any] = []
        self._io = io
        self.path = Path(path) if path is not None else None
        self._session_id = session_id
        self._presentation_tables = presentations
        self._filter_by_validity = filter_by_validity
        self._filter_out_of_brain_units = filter_out_of_brain_units
        self._unit_filter_defaults = unit_filter_defaults
        self._unit_filters = unit_filters
        self._external_channel_columns = external_channel_columns
        _check_unit_filter_names(unit_filters)

    @classmethod
    def from_nwb(cls, path: str | os.PathLike, **kwargs) -> EcephysSession:
        """Open one NWB file lazily (see the class parameters for ``kwargs``).

        Raises
        ------
        NWBFileError
            Missing, truncated or non-NWB file.
        """
        io, nwbfile = open_nwb(path)
        if "probe_lfp_paths" not in kwargs:
            kwargs["probe_lfp_paths"] = lfp_files(Path(path).parent)
            if "probe_ids" not in kwargs and kwargs["probe_lfp_paths"]:
                # files without probe ids (no AllenSDK extension): the LFP files' names carry them
                kwargs["probe_ids"] = probe_ids_from_lfp_files(kwargs["probe_lfp_paths"])
        return cls(nwbfile, io=io, path=path, **kwargs)

    @classmethod
    def from_nwb_path(cls, path: str | os.PathLike, **kwargs) -> EcephysSession:
        """AllenSDK's name for :meth:`from_nwb`."""
        return cls.from_nwb(path, **kwargs)

    # lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the NWB file and any LFP files (tables already read stay usable)."""
        while self._open_files:
            try:
                self._open_files.pop().close()
            except Exception:  # a file that failed to open fully may fail to close
                pass
        if self._io is not None:
            self._io.close()
            self._io = None

    def __enter__(self) -> EcephysSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"EcephysSession(session_id={self.session_id!r}, path={str(self.path) if self.path else None!r})"
        )

    # metadata ---------------------------------------------------------------------------

    @property
    def session_id(self) -> int | str:
        """The session id: given, else the file's ``session_id``, else its ``identifier``."""
        if self._session_id is not None:
            return self._session_id
        return self.nwbfile.session_id or self.nwbfile.identifier

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """Session-level metadata (identifier, start time, subject fields that are set)."""
        nwb = self.nwbfile
        meta: dict[str, Any] = {
            "session_id": self.session_id,
            "identifier": nwb.identifier,
            "session_description": nwb.session_description,
            "session_start_time": str(nwb.session_start_time),
        }
        subject = nwb.subject
        if subject is not None:
            for field in ("subject_id", "species", "sex", "age", "genotype", "strain"):
                value = getattr(subject, field, None)
                if value not in (None, ""):
                    meta[field] = value
        return meta

    # probes, channels, units ------------------------------------------------------------

    @cached_property
    def probes(self) -> pd.DataFrame:
        """One row per electrode group (probe), index ``probe_id``."""
        groups = self.nwbfile.electrode_groups
        rows = []
        for position, (name, group) in enumerate(groups.items()):
            probe_id = getattr(group, "probe_id", None)
            probe_id = int(probe_id) if probe_id is not None else self._probe_ids.get(name)
            row = {
                "probe_id": probe_id if probe_id is not None else position,
                "description": name,
                "location": group.location or "",
                "device": group.device.name if group.device is not None else "",
            }
            for attr in ("sampling_rate", "lfp_sampling_rate", "has_lfp_data"):
                value = getattr(group, attr, None)
                if value is not None:
                    row[attr] = value
            rows.append(row)
        frame = pd.DataFrame(
            rows, columns=None if rows else ["probe_id", "description", "location", "device"]
        )
        return frame.set_index("probe_id")

    @cached_property
    def channels(self) -> pd.DataFrame:
        """One row per electrode, index ``channel_id``; ``location`` as ``ecephys_structure_acronym``."""
        electrodes = self.nwbfile.electrodes
        if electrodes is None:
            frame = pd.DataFrame(index=pd.Index([], name="channel_id", dtype=np.int64))
        else:
            frame = read_table(electrodes, index_name="channel_id")
            group_names = frame.pop("group") if "group" in frame.columns else frame.get("group_name")
            if "location" in frame.columns:
                frame = frame.rename(columns={"location": "ecephys_structure_acronym"})
            if group_names is not None:
                probe_ids = dict(zip(self.probes["description"], self.probes.index))
                frame["probe_id"] = pd.Series(group_names, index=frame.index).map(probe_ids)
                frame = frame.drop(columns=["group_name"], errors="ignore")
        if self._external_channel_columns is not None:
            external = self._external_channel_columns()
            if len(external):
                frame = frame.drop(columns=[c for c in external.columns if c in frame.columns])
                frame = frame.join(external, how="left")
        return frame

    @cached_property
    def _raw_units(self) -> pd.DataFrame:
        units = self.nwbfile.units
        if units is None:
            return pd.DataFrame(index=pd.Index([], name="unit_id", dtype=np.int64))
        frame = read_table(units, skip=("spike_times", "obs_intervals"), index_name="unit_id")
        electrodes = self.nwbfile.electrodes
        if "electrodes" in frame.columns:
            rows = frame.pop("electrodes").to_numpy()
            if "peak_channel_id" not in frame.columns and electrodes is not None:
                channel_ids = np.asarray(electrodes.id.data[:])
                peak = np.where(rows >= 0, channel_ids[np.clip(rows, 0, None)], -1)
                frame["peak_channel_id"] = peak
        return frame

    @cached_property
    def units(self) -> pd.DataFrame:
        """Retained units (after the session's filters), joined to their peak channel and probe.

        Index ``unit_id``. Channel columns come from :attr:`channels` (joined on
        ``peak_channel_id`` when the file records one), probe columns from :attr:`probes`
        with a ``probe_`` prefix. Sorted by probe and depth when the file records positions.
        """
        units = self._raw_units
        channels = self.channels
        if "peak_channel_id" in units.columns and len(channels):
            extra = channels[[c for c in channels.columns if c not in units.columns]]
            units = units.join(extra, on="peak_channel_id")
        if "probe_id" not in units.columns and "electrode_group" in units.columns:
            probe_ids = dict(zip(self.probes["description"], self.probes.index))
            units = units.assign(probe_id=units["electrode_group"].map(probe_ids))
        if "probe_id" in units.columns and len(self.probes):
            probes = self.probes.add_prefix("probe_")
            probes = probes[[c for c in probes.columns if c not in units.columns]]
            units = units.join(probes, on="probe_id")
        if self._additional_unit_metrics is not None:
            metrics = self._additional_unit_metrics()
            if metrics is not None and len(metrics):
                # left join: a unit without a metrics row keeps NaN rather than vanishing
                units = units.join(
                    metrics[[c for c in metrics.columns if c not in units.columns]], how="left"
                )
        units = filter_units(
            units,
            filter_by_validity=self._filter_by_validity,
            filter_out_of_brain_units=self._filter_out_of_brain_units,
            defaults=self._unit_filter_defaults,
            **self._unit_filters,
        )
        sort_keys = [
            c
            for c in ("probe_description", "probe_vertical_position", "probe_horizontal_position")
            if c in units
        ]
        if "probe_vertical_position" in units.columns:
            units = units.sort_values(sort_keys, kind="stable")
        units.index.name = "unit_id"
        return units

    @cached_property
    def spike_trains(self) -> SpikeTrains:
        """Spike trains of the retained units (flat times + offsets), in :attr:`units` order.

        Raises
        ------
        MissingSpikeTimesError
            The file has no units table or no ``spike_times``.
        """
        trains = read_spike_trains(self.nwbfile)
        return trains.select(self.units.index.to_numpy())

    @property
    def spike_times(self) -> dict:
        """``{unit_id: spike_times}`` of the retained units (AllenSDK's mapping)."""
        return self.spike_trains.to_dict()

    @cached_property
    def spike_amplitudes(self) -> dict:
        """``{unit_id: amplitudes}`` (one per spike) of the retained units; empty when the file
        records none (AllenSDK's ``spike_amplitudes`` column)."""
        units = self.nwbfile.units
        if units is None or "spike_amplitudes" not in units.colnames:
            return {}
        amplitudes = SpikeTrains.from_ragged(
            np.asarray(units.id.data[:]),
            units["spike_amplitudes"].target.data[:],
            units["spike_amplitudes"].data[:],
            assume_sorted=True,
        )
        return amplitudes.select(self.units.index.to_numpy()).to_dict()

    # intervals --------------------------------------------------------------------------

    @cached_property
    def intervals(self) -> dict[str, pd.DataFrame]:
        """Every interval table of the file (``trials``, ``epochs``, presentations...) by name."""
        return {name: self._interval_table(name) for name in self.nwbfile.intervals}

    def _interval_table(self, name: str) -> pd.DataFrame:
        tables = self.nwbfile.intervals
        if name not in tables:
            raise ValidationError(f"no interval table {name!r}; the file has {sorted(tables)}")
        frame = read_table(tables[name])
        for column in frame.columns:
            if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
                frame[column] = frame[column].where(frame[column].notna() & (frame[column] != ""), _NULL)
        return frame

    @property
    def trials(self) -> pd.DataFrame | None:
        """The ``trials`` table (``None`` when the file has none)."""
        return self.intervals.get("trials")

    @property
    def epochs(self) -> pd.DataFrame | None:
        """The ``epochs`` table (``None`` when the file has none)."""
        return self.intervals.get("epochs")

    @cached_property
    def invalid_times(self) -> pd.DataFrame:
        """The ``invalid_times`` table (empty when the file has none)."""
        table = self.nwbfile.invalid_times
        if table is None:
            return pd.DataFrame(columns=["start_time", "stop_time", "tags"])
        return read_table(table)

    def _presentation_names(self) -> list[str]:
        names = list(self.nwbfile.intervals)
        wanted = self._presentation_tables
        if wanted is None:
            found = [n for n in names if n.endswith("_presentations")]
            return found or (["trials"] if "trials" in names else [])
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        missing = [n for n in wanted if n not in names]
        if missing:
            raise ValidationError(f"no interval table(s) {missing}; the file has {sorted(names)}")
        return wanted

    @cached_property
    def stimulus_presentations(self) -> pd.DataFrame:
        """All stimulus presentations, sorted by start time, index ``stimulus_presentation_id``.

        Columns: the tables' columns (missing strings as ``"null"``), ``stimulus_name`` (the
        table name without ``_presentations`` when the table has no such column),
        ``duration`` (``stop_time - start_time``; NaN when the stop time is missing),
        ``stimulus_condition_id`` (one integer per distinct combination of stimulus
        parameters, in order of first appearance) and ``stimulus_id`` (see
        :func:`stimulus_ids`). Presentations overlapping an ``invalid_times`` interval tagged
        ``stimulus`` lose their parameters and become ``"invalid_presentation"``.
        """
        frames = []
        for name in self._presentation_names():
            frame = self._interval_table(name)
            if "stimulus_name" not in frame.columns:
                frame.insert(0, "stimulus_name", name.removesuffix("_presentations"))
            frames.append(frame)
        if not frames:
            empty = pd.DataFrame(
                columns=[
                    "start_time",
                    "stop_time",
                    "stimulus_name",
                    "duration",
                    "stimulus_condition_id",
                    "stimulus_id",
                ]
            )
            empty.index.name = "stimulus_presentation_id"
            return empty
        table = pd.concat(frames) if len(frames) > 1 else frames[0]
        if not table.index.is_unique:
            table = table.reset_index(drop=True)
        table = table.sort_values("start_time", kind="stable")
        table.index.name = "stimulus_presentation_id"
        # string columns: missing -> "null" after the concat too (columns absent in a table)
        for column in table.columns:
            if table[column].dtype == object or pd.api.types.is_string_dtype(table[column]):
                table[column] = table[column].where(table[column].notna(), _NULL)
        table["duration"] = table["stop_time"] - table["start_time"]
        table = self._mask_invalid_presentations(table)
        params = self.stimulus_parameters(table)
        key_frame = table[["stimulus_name", *[p for p in params if p != "stimulus_name"]]].astype(object)
        key_frame = key_frame.where(key_frame.notna(), _NULL).astype(str)
        codes, _ = pd.factorize(pd.MultiIndex.from_frame(key_frame), sort=False)
        table["stimulus_condition_id"] = codes.astype(np.int64)
        table["stimulus_id"] = stimulus_ids(table, params)
        return table

    @staticmethod
    def stimulus_parameters(table: pd.DataFrame) -> list[str]:
        """Columns of a presentations table that describe the stimulus.

        Everything except :data:`NON_STIMULUS_PARAMETERS` and timing columns (names ending in
        ``_time``/``_times``, which vary from trial to trial).
        """
        return [
            c
            for c in table.columns
            if c not in NON_STIMULUS_PARAMETERS and not str(c).endswith(("_time", "_times"))
        ]

    def _mask_invalid_presentations(self, table: pd.DataFrame) -> pd.DataFrame:
        invalid = self.invalid_times
        if not len(invalid) or "tags" not in invalid.columns:
            return table
        tagged = invalid[invalid["tags"].astype(str).str.split(",").apply(lambda tags: "stimulus" in tags)]
        if not len(tagged):
            return table
        starts = table["start_time"].to_numpy(float)
        stops = table["stop_time"].to_numpy(float)
        bad = np.zeros(len(table), dtype=bool)
        for a, b in zip(tagged["start_time"].to_numpy(float), tagged["stop_time"].to_numpy(float)):
            bad |= (starts <= b) & (np.where(np.isnan(stops), starts, stops) >= a)
        if bad.any():
            table = table.copy()
            for column in self.stimulus_parameters(table):
                if table[column].dtype.kind in "fc":
                    table.loc[bad, column] = np.nan
                else:
                    table[column] = table[column].astype(object)
                    table.loc[bad, column] = np.nan if column != "stimulus_name" else "invalid_presentation"
        return table

    @cached_property
    def stimulus_conditions(self) -> pd.DataFrame:
        """One row per stimulus condition (index ``stimulus_condition_id``) with its parameters."""
        table = self.stimulus_presentations
        params = list(self.stimulus_parameters(table))
        conditions = table.drop_duplicates("stimulus_condition_id")[
            ["stimulus_condition_id", *params, "stimulus_id"]
        ]
        return conditions.set_index("stimulus_condition_id").sort_index()

    # AllenSDK's session API ------------------------------------------------------------

    @property
    def ecephys_session_id(self):
        """AllenSDK's name for :attr:`session_id`."""
        return self.session_id

    @cached_property
    def session_type(self) -> str | None:
        """The session type (e.g. ``brain_observatory_1.1``): given, else recorded in the file."""
        return self._session_type if self._session_type is not None else read_session_type(self.nwbfile)

    @property
    def num_units(self) -> int:
        return len(self.units)

    @property
    def num_probes(self) -> int:
        return len(self.probes)

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    @property
    def num_stimulus_presentations(self) -> int:
        return len(self.stimulus_presentations)

    @property
    def structure_acronyms(self) -> list:
        """Distinct ``ecephys_structure_acronym`` values of the channels (AllenSDK's list)."""
        if "ecephys_structure_acronym" not in self.channels.columns:
            return []
        return self.channels["ecephys_structure_acronym"].unique().tolist()

    @property
    def structurewise_unit_counts(self) -> pd.Series:
        """Retained units per structure, most first (``value_counts`` as AllenSDK)."""
        if "ecephys_structure_acronym" not in self.units.columns:
            return pd.Series(dtype=np.int64, name="ecephys_structure_acronym")
        return self.units["ecephys_structure_acronym"].value_counts()

    @property
    def stimulus_names(self) -> list:
        """Distinct stimulus names, in order of first presentation."""
        return self.stimulus_presentations["stimulus_name"].unique().tolist()

    def get_stimulus_table(
        self,
        stimulus_names: str | Sequence[str] | None = None,
        include_detailed_parameters: bool = False,
        include_unused_parameters: bool = False,
    ) -> pd.DataFrame:
        """Presentations of the named stimuli (all by default), AllenSDK's ``get_stimulus_table``.

        Parameter columns unused by these stimuli (only ``"null"``/NaN) are dropped unless
        ``include_unused_parameters``; rendering details (:data:`DETAILED_STIMULUS_PARAMETERS`)
        are dropped unless ``include_detailed_parameters``.

        Raises
        ------
        ValidationError
            A name the session never shows.
        """
        table = self.stimulus_presentations
        if stimulus_names is not None:
            names = [stimulus_names] if isinstance(stimulus_names, str) else list(stimulus_names)
            unknown = [n for n in names if n not in set(table["stimulus_name"])]
            if unknown:
                raise ValidationError(
                    f"unknown stimulus name(s) {unknown}; the session shows {self.stimulus_names}"
                )
            table = table[table["stimulus_name"].isin(names).to_numpy()]
        if not include_detailed_parameters:
            table = table.drop(columns=[c for c in DETAILED_STIMULUS_PARAMETERS if c in table.columns])
        if not include_unused_parameters:
            table = _drop_unused(table)
        return table

    def get_stimulus_epochs(self, duration_thresholds: dict[str, float] | None = None) -> pd.DataFrame:
        """Blocks of consecutive presentations of one stimulus (AllenSDK's ``get_stimulus_epochs``).

        Columns ``start_time``, ``stop_time``, ``duration``, ``stimulus_name``,
        ``stimulus_block`` (when the table has it). Epochs shorter than
        ``duration_thresholds[name]`` are dropped (default: spontaneous activity under 90 s).
        """
        if duration_thresholds is None:
            duration_thresholds = {"spontaneous": 90.0, "spontaneous_activity": 90.0}
        table = self.stimulus_presentations.sort_values("start_time", kind="stable")
        if not len(table):
            return pd.DataFrame(columns=["start_time", "stop_time", "duration", "stimulus_name"])
        keys = table["stimulus_name"].astype(str)
        if "stimulus_block" in table.columns:
            keys = keys + "|" + table["stimulus_block"].astype(str)
        run = (keys != keys.shift()).cumsum().to_numpy()
        stops = table["stop_time"].where(table["stop_time"].notna(), table["start_time"])
        grouped = pd.DataFrame(
            {
                "start_time": table["start_time"].to_numpy(),
                "stop_time": stops.to_numpy(),
                "stimulus_name": table["stimulus_name"].to_numpy(),
                "run": run,
            }
        )
        if "stimulus_block" in table.columns:
            grouped["stimulus_block"] = table["stimulus_block"].to_numpy()
        aggregations = {"start_time": "min", "stop_time": "max", "stimulus_name": "first"}
        if "stimulus_block" in grouped.columns:
            aggregations["stimulus_block"] = "first"
        epochs = grouped.groupby("run", sort=True).agg(aggregations).reset_index(drop=True)
        epochs.insert(2, "duration", epochs["stop_time"] - epochs["start_time"])
        keep = [
            epochs["duration"].iloc[i] >= duration_thresholds.get(name, -np.inf)
            for i, name in enumerate(epochs["stimulus_name"])
        ]
        return epochs[np.asarray(keep, dtype=bool)].reset_index(drop=True)

    def get_stimulus_parameter_values(
        self, stimulus_presentation_ids=None, drop_nulls: bool = True
    ) -> dict[str, np.ndarray]:
        """``{parameter: sorted distinct values}`` over the (selected) presentations.

        ``"null"`` and NaN are left out unless ``drop_nulls=False`` (then ``"null"`` is appended).
        """
        table = self._select_presentations(stimulus_presentation_ids)
        params = [p for p in self.stimulus_parameters(table) if p not in ("stimulus_name",)]
        table = _drop_unused(table[params])
        values: dict[str, np.ndarray] = {}
        for column in table.columns:
            uniques = pd.unique(table[column])
            kept = [
                u for u in uniques if not (u is None or u == _NULL or (isinstance(u, float) and np.isnan(u)))
            ]
            try:
                kept = sorted(kept)
            except TypeError:  # mixed types: keep order of appearance
                pass
            array = np.asarray(kept)
            if not drop_nulls and len(kept) < len(uniques):
                array = np.concatenate([array.astype(object), [_NULL]])
            values[column] = array
        return values

    def get_presentations_for_stimulus(self, stimulus_names: str | Sequence[str]) -> pd.DataFrame:
        """Presentations of these stimuli, unused parameter columns dropped (AllenSDK's method)."""
        return self.get_stimulus_table(stimulus_names, include_detailed_parameters=True)

    def get_parameter_values_for_stimulus(self, stimulus_name: str, drop_nulls: bool = True) -> dict:
        """:meth:`get_stimulus_parameter_values` over one stimulus's presentations."""
        ids = self.get_presentations_for_stimulus([stimulus_name]).index.to_numpy()
        return self.get_stimulus_parameter_values(ids, drop_nulls=drop_nulls)

    def channel_structure_intervals(self, channel_ids) -> tuple[np.ndarray, np.ndarray]:
        """Runs of one structure along a probe (AllenSDK's method).

        The channels are ordered by ``probe_vertical_position`` (else id); returns the structure
        acronym of each run and the run boundaries as positions in that order (``[0, ...,
        n_channels]``, so run ``k`` is ``intervals[k]:intervals[k + 1]``).
        """
        table = self.channels.loc[np.asarray(channel_ids)]
        if "probe_id" in table.columns and table["probe_id"].nunique() > 1:
            warnings.warn("channel_structure_intervals: the channels span several probes", stacklevel=2)
        order = "probe_vertical_position" if "probe_vertical_position" in table.columns else None
        table = table.sort_values(order, kind="stable") if order else table.sort_index()
        labels = (
            table["ecephys_structure_acronym"]
            .astype(object)
            .where(table["ecephys_structure_acronym"].notna(), None)
            .to_numpy()
        )
        changes = [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
        intervals = np.array([0, *changes, len(labels)], dtype=np.int64)
        return labels[intervals[:-1]] if len(labels) else labels, intervals

    def _subject_field(self, *names):
        subject = self.nwbfile.subject
        for name in names:
            value = getattr(subject, name, None) if subject is not None else None
            if value not in (None, ""):
                return value
        return None

    @property
    def specimen_name(self):
        """The subject id."""
        return self._subject_field("subject_id")

    @property
    def age_in_days(self) -> float | None:
        """The subject's age in days (from its ISO 8601 age, e.g. ``P90D``)."""
        days = _parse_age(self._subject_field("age"))
        return None if math.isnan(days) else days

    @property
    def sex(self):
        return self._subject_field("sex")

    @property
    def full_genotype(self):
        return self._subject_field("genotype")

    @cached_property
    def inter_presentation_intervals(self) -> pd.DataFrame:
        """Gap from each presentation's stop to the next one's start (AllenSDK's table).

        Index ``(from_presentation_id, to_presentation_id)``; column ``interval``.
        """
        table = self.stimulus_presentations
        ids = table.index.to_numpy()
        gaps = table["start_time"].to_numpy(float)[1:] - table["stop_time"].to_numpy(float)[:-1]
        index = pd.MultiIndex.from_arrays(
            [ids[:-1], ids[1:]], names=["from_presentation_id", "to_presentation_id"]
        )
        return pd.DataFrame({"interval": gaps}, index=index)

    def get_inter_presentation_intervals_for_stimulus(
        self, stimulus_names: str | Sequence[str]
    ) -> pd.DataFrame:
        """:attr:`inter_presentation_intervals` between consecutive presentations of these stimuli."""
        names = [stimulus_names] if isinstance(stimulus_names, str) else list(stimulus_names)
        table = self.stimulus_presentations
        chosen = table.index[table["stimulus_name"].isin(names).to_numpy()]
        intervals = self.inter_presentation_intervals
        keep = intervals.index.get_level_values(0).isin(chosen) & intervals.index.get_level_values(1).isin(
            chosen
        )
        return intervals[keep]

    @cached_property
    def running_speed(self) -> pd.DataFrame | None:
        """``start_time``, ``end_time``, ``velocity`` (``None`` when the file has no running wheel)."""
        return read_running_speed(self.nwbfile)

    @cached_property
    def optogenetic_stimulation_epochs(self) -> pd.DataFrame | None:
        """Optotagging epochs (``None`` when the file has none)."""
        return read_optogenetic_stimulation(self.nwbfile)

    def get_pupil_data(self, suppress_pupil_data: bool = False) -> pd.DataFrame | None:
        """Eye-tracking ellipse fits, index ``Time (s)`` (``None`` when the file has none)."""
        return None if suppress_pupil_data else read_pupil_data(self.nwbfile)

    def get_screen_gaze_data(self, include_filtered_data: bool = False) -> pd.DataFrame | None:
        """Gaze position on the screen, index ``Time (s)`` (``None`` when the file has none)."""
        return read_screen_gaze_data(self.nwbfile, include_filtered_data=include_filtered_data)

    @cached_property
    def mean_waveforms(self) -> dict:
        """``{unit_id: DataArray(channel_id x time)}`` of the retained units (AllenSDK's mapping).

        ``channel_id`` lists the unit's probe's channels when the waveform has one row per
        channel, else row numbers; ``time`` is sample / probe sampling rate (seconds) when the
        probe records its rate, else the sample number. Empty when the file has no waveforms.
        """
        raw = read_mean_waveforms(self.nwbfile) or {}
        units, channels, probes = self.units, self.channels, self.probes
        out = {}
        for unit_id in units.index:
            waveform = raw.get(unit_id)
            if waveform is None:
                continue
            probe_id = units.loc[unit_id, "probe_id"] if "probe_id" in units.columns else None
            channel_ids = np.arange(waveform.shape[0])
            if probe_id is not None and "probe_id" in channels.columns:
                on_probe = channels.index[(channels["probe_id"] == probe_id).to_numpy()].to_numpy()
                if on_probe.size == waveform.shape[0]:
                    channel_ids = on_probe
            rate = probes["sampling_rate"].get(probe_id) if "sampling_rate" in probes.columns else None
            times = (
                np.arange(waveform.shape[1]) / float(rate)
                if rate and np.isfinite(rate)
                else np.arange(waveform.shape[1])
            )
            out[unit_id] = xr.DataArray(
                waveform,
                dims=("channel_id", "time"),
                coords={"channel_id": channel_ids, "time": times},
                name="mean_waveform",
            )
        return out

    # LFP ---------------------------------------------------------------------------------

    def _probe_name(self, probe_id) -> str | None:
        probes = self.probes
        return str(probes.loc[probe_id, "description"]) if probe_id in probes.index else None

    def _lfp_path(self, probe_id) -> Path | None:
        entry = self._probe_lfp_paths.get(probe_id)
        if entry is None and isinstance(probe_id, str) and probe_id.lstrip("-").isdigit():
            entry = self._probe_lfp_paths.get(int(probe_id))
        if entry is None:
            return None
        return Path(entry() if callable(entry) else entry)

    def get_lfp(self, probe_id, mask_invalid_intervals: bool = True) -> xr.DataArray:
        """The probe's LFP as a lazy DataArray ``(time, channel)``, name ``LFP``.

        Read from the probe's LFP file (``probe_<id>_lfp.nwb``, fetched on first use in a
        project), else from an LFP series in the session file. Slicing (``.sel(time=slice(a,
        b))``, ``.isel(channel=...)``) reads only what is selected, when ``.values`` or
        ``.load()`` is called. Samples in invalid intervals are NaN when
        ``mask_invalid_intervals``.

        Raises
        ------
        NWBFileError
            No LFP for this probe.
        """
        path = self._lfp_path(probe_id)
        if path is not None:
            io, nwbfile = open_nwb(path)
            self._open_files.append(io)
        else:
            nwbfile = self.nwbfile
        probe_name = self._probe_name(probe_id)
        series = find_lfp_series(nwbfile, probe_id, probe_name)
        if probe_name is None and path is not None and len(nwbfile.electrode_groups) == 1:
            probe_name = next(iter(nwbfile.electrode_groups))  # the LFP file names its probe
        invalid = self.invalid_times if mask_invalid_intervals else None
        return lazy_lfp(series, invalid_times=invalid, probe_name=probe_name)

    def get_current_source_density(self, probe_id) -> xr.DataArray:
        """The probe's CSD as a lazy DataArray ``(virtual_channel_index, time)`` (AllenSDK's dims).

        Raises
        ------
        NWBFileError
            No LFP file for this probe, or no CSD in it.
        """
        path = self._lfp_path(probe_id)
        if path is None:
            raise NWBFileError(
                f"no LFP file for probe {probe_id}; probes with one: {sorted(self._probe_lfp_paths)}"
            )
        handle, csd = lazy_csd(path)
        self._open_files.append(handle)
        return csd

    # selections -------------------------------------------------------------------------

    def _select_presentations(self, ids) -> pd.DataFrame:
        table = self.stimulus_presentations
        return _select_rows(
            table,
            ids,
            PresentationNotFoundError,
            "stimulus_presentation_id(s)",
            f"the session has {len(table)} presentations",
        )

    def _select_units(self, ids) -> pd.DataFrame:
        units = self.units
        return _select_rows(
            units,
            ids,
            UnitNotFoundError,
            "or filtered-out unit id(s)",
            f"retained units: {units.index[:10].tolist()}{'...' if len(units) > 10 else ''}",
        )

    # spike statistics -------------------------------------------------------------------

    def presentationwise_spike_counts(
        self,
        bin_edges,
        stimulus_presentation_ids=None,
        unit_ids=None,
        binarize: bool = False,
        dtype=None,
        large_bin_size_threshold: float = 0.001,
        time_domain_callback: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        align_to: str | Sequence[float] | np.ndarray = "start_time",
        closed: bool = True,
        progress: bool | None = None,
    ) -> xr.DataArray:
        """Spike counts per presentation, time bin and unit, in AllenSDK's shape.

        Parameters
        ----------
        bin_edges
            Bin edges relative to each presentation's alignment time (seconds), strictly
            increasing: the window, e.g. ``np.arange(-0.1, 0.5, 0.01)``.
        stimulus_presentation_ids, unit_ids
            Which presentations and units, in output order (default: all).
        binarize
            ``count > 0`` as ``uint8`` (warns when bins are wider than ``large_bin_size_threshold``).
        dtype
            Output dtype (default ``uint16``; counts that do not fit raise).
        time_domain_callback
            Maps the absolute edges, shape ``(n_presentations, n_bins + 1)``, to new ones
            (e.g. to a clock that drifts); must keep the shape.
        align_to
            What ``0`` means for each presentation: a column of the presentations table
            (default ``"start_time"``; e.g. ``"stop_time"`` or a task event such as
            ``"pole_in_time"``), or one time per selected presentation. Presentations whose
            alignment time is missing (NaN) raise; select them out first.
        closed
            ``True`` (AllenSDK): closed ``[a, b]`` bins, a spike on an inner edge counts in
            both bins. ``False``: half-open ``[a, b)`` bins.
        progress
            Progress bar over unit chunks (default: when stderr is a terminal).

        Returns
        -------
        xarray.DataArray
            AllenSDK's ``spike_counts``: dims ``(stimulus_presentation_id,
            time_relative_to_stimulus_onset, unit_id)``, the time coordinate holding bin
            centres, so AllenSDK code such as ``counts.mean(dim="stimulus_presentation_id")``
            runs unchanged. ``attrs`` keep ``bin_edges``, ``bin_semantics``, ``align_to`` and
            ``session_id``. :meth:`to_assembly` turns it into a
            :class:`~brainbridge.assemblies.NeuronRecordingAssembly` for scoring and ML.
        """
        bin_edges = np.asarray(bin_edges, dtype=np.float64)
        presentations = self._select_presentations(stimulus_presentation_ids)
        units = self._select_units(unit_ids)
        onsets, align_name = self._alignment_times(presentations, align_to)
        edges = window_edges(onsets, bin_edges)
        if time_domain_callback is not None:
            edges = np.asarray(time_domain_callback(edges), dtype=np.float64)
            if edges.shape != (len(presentations), bin_edges.size):
                raise ValidationError(
                    "time_domain_callback must keep the shape "
                    f"{(len(presentations), bin_edges.size)}, got {edges.shape}"
                )
        if binarize and np.any(np.diff(bin_edges) > large_bin_size_threshold):
            warnings.warn(
                f"binarizing bins wider than {large_bin_size_threshold} s: "
                "several spikes may fall in one bin",
                stacklevel=2,
            )
        trains = self.spike_trains.select(units.index.to_numpy())
        counts = spike_counts(trains, edges, closed=closed, binarize=binarize, dtype=dtype, progress=progress)
        return xr.DataArray(
            counts,
            dims=SPIKE_COUNT_DIMS,
            coords={
                SPIKE_COUNT_DIMS[0]: presentations.index.to_numpy(),
                SPIKE_COUNT_DIMS[1]: bin_edges[:-1] + np.diff(bin_edges) / 2.0,
                SPIKE_COUNT_DIMS[2]: units.index.to_numpy(),
            },
            attrs={
                "bin_edges": bin_edges,
                "bin_semantics": "closed" if closed else "half-open",
                "align_to": align_name,
                "session_id": str(self.session_id),
            },
            name="spike_counts",
        )

    def _alignment_times(self, presentations: pd.DataFrame, align_to) -> tuple[np.ndarray, str]:
        if isinstance(align_to, str):
            if align_to not in presentations.columns:
                numeric = [c for c in presentations.columns if presentations[c].dtype.kind in "fiu"]
                raise ValidationError(
                    f"no presentation column {align_to!r} to align to; numeric columns: {numeric}"
                )
            return presentations[align_to].to_numpy(dtype=np.float64), align_to
        times = np.asarray(align_to, dtype=np.float64).reshape(-1)
        if times.size != len(presentations):
            raise ValidationError(
                f"align_to has {times.size} times for {len(presentations)} selected presentations; "
                "give one each"
            )
        return times, "times"

    def event_aligned_spike_counts(
        self,
        event_times,
        bin_edges,
        unit_ids=None,
        *,
        closed: bool = True,
        binarize: bool = False,
        dtype=None,
        progress: bool | None = None,
    ) -> xr.DataArray:
        """Spike counts around arbitrary event times (licks, rewards, optogenetic pulses...).

        Parameters
        ----------
        event_times
            Absolute times (seconds), one window each, in output order.
        bin_edges
            The window's bin edges relative to each event, strictly increasing.

        Returns
        -------
        xarray.DataArray
            Dims ``(event, time_relative_to_event, unit_id)``; coordinate ``event_time``.
        """
        times = np.asarray(event_times, dtype=np.float64).reshape(-1)
        bin_edges = np.asarray(bin_edges, dtype=np.float64)
        units = self._select_units(unit_ids)
        edges = window_edges(times, bin_edges)
        trains = self.spike_trains.select(units.index.to_numpy())
        counts = spike_counts(trains, edges, closed=closed, binarize=binarize, dtype=dtype, progress=progress)
        return xr.DataArray(
            counts,
            dims=("event", "time_relative_to_event", "unit_id"),
            coords={
                "event": np.arange(times.size),
                "event_time": ("event", times),
                "time_relative_to_event": bin_edges[:-1] + np.diff(bin_edges) / 2.0,
                "unit_id": units.index.to_numpy(),
            },
            attrs={"bin_edges": bin_edges, "bin_semantics": "closed" if closed else "half-open"},
            name="spike_counts",
        )

    def to_assembly(self, counts: xr.DataArray) -> NeuronRecordingAssembly:
        """brainbridge's assembly of AllenSDK-shaped spike counts, for scoring and ML.

        ``NeuronRecordingAssembly`` with dims ``presentation x neuroid x time_bin``:
        ``presentation`` carries every presentation column plus ``stimulus_presentation_id``
        and ``stimulus_id`` (str); ``neuroid`` every unit column plus ``neuroid_id`` (the unit
        id as str) and ``unit_id``; ``time_bin`` carries ``time_bin_start``/``time_bin_end``
        relative to the alignment time. Same values, no copy of the spike data beyond the
        transpose.

        >>> counts = session.presentationwise_spike_counts(np.arange(0, 0.26, 0.05))  # doctest: +SKIP
        >>> assembly = session.to_assembly(counts)                                  # doctest: +SKIP

        Raises
        ------
        ValidationError
            ``counts`` is not a :meth:`presentationwise_spike_counts` result of this session.
        """
        if tuple(counts.dims) != SPIKE_COUNT_DIMS:
            raise ValidationError(
                f"expected spike counts with dims {SPIKE_COUNT_DIMS}, got {tuple(counts.dims)}"
            )
        edges = counts.attrs.get("bin_edges")
        centres = counts[SPIKE_COUNT_DIMS[1]].to_numpy()
        if edges is None or len(edges) != centres.size + 1:
            # reconstructed from the centres: exact for uniform bins
            half = np.diff(centres) / 2.0 if centres.size > 1 else np.array([0.5])
            edges = np.concatenate([[centres[0] - half[0]], centres[:-1] + half, [centres[-1] + half[-1]]])
        presentations = self._select_presentations(counts[SPIKE_COUNT_DIMS[0]].to_numpy())
        units = self._select_units(counts[SPIKE_COUNT_DIMS[2]].to_numpy())
        values = np.ascontiguousarray(np.asarray(counts.values).transpose(0, 2, 1))
        closed = counts.attrs.get("bin_semantics", "closed") == "closed"
        assembly = self._assembly(
            values, presentations, units, np.asarray(edges, dtype=np.float64), closed=closed
        )
        if "align_to" in counts.attrs:
            assembly.attrs["align_to"] = str(counts.attrs["align_to"])
        return assembly

    def _assembly(self, values, presentations: pd.DataFrame, units: pd.DataFrame, bin_edges, *, closed: bool):
        coords: dict[str, tuple[str, np.ndarray]] = {}
        pres = presentations.reset_index()
        for column in pres.columns:
            coords[str(column)] = ("presentation", _coord_values(pres[column]))
        coords["stimulus_id"] = ("presentation", pres["stimulus_id"].astype(str).to_numpy(dtype=object))
        coords["time_bin_start"] = ("time_bin", bin_edges[:-1])
        coords["time_bin_end"] = ("time_bin", bin_edges[1:])
        unit_frame = units.reset_index()
        coords["neuroid_id"] = ("neuroid", np.array([str(u) for u in unit_frame["unit_id"]], dtype=object))
        for column in unit_frame.columns:
            name = str(column)
            if name in coords:
                name = f"unit_{name}"
            coords[name] = ("neuroid", _coord_values(unit_frame[column]))
        attrs = {
            "session_id": str(self.session_id),
            "nwb_identifier": str(self.nwbfile.identifier),
            "bin_semantics": "closed" if closed else "half-open",
        }
        return NeuronRecordingAssembly(
            values,
            dims=["presentation", "neuroid", "time_bin"],
            coords=coords,
            attrs=attrs,
            name="spike_counts",
        )

    def presentationwise_spike_times(self, stimulus_presentation_ids=None, unit_ids=None) -> pd.DataFrame:
        """Every spike that falls in a presentation ``(start_time, stop_time]``.

        Returns
        -------
        pandas.DataFrame
            Index ``spike_time`` (sorted); columns ``stimulus_presentation_id``, ``unit_id``,
            ``time_since_stimulus_presentation_onset``.

        Raises
        ------
        ValidationError
            A selected presentation has no stop time, or the presentations overlap.
        """
        presentations = self._select_presentations(stimulus_presentation_ids).sort_values(
            "start_time", kind="stable"
        )
        units = self._select_units(unit_ids)
        starts = presentations["start_time"].to_numpy(float)
        stops = presentations["stop_time"].to_numpy(float)
        if np.isnan(stops).any() or np.isnan(starts).any():
            raise ValidationError(
                f"{int(np.isnan(stops).sum())} presentation(s) have no stop_time (NaN), so their spikes "
                "are undefined; use presentationwise_spike_counts with explicit bin_edges instead"
            )
        if starts.size > 1 and np.any(stops[:-1] > starts[1:]):
            raise ValidationError("presentations overlap; select non-overlapping presentations")
        trains = self.spike_trains.select(units.index.to_numpy())
        times = trains.times
        which = np.searchsorted(starts, times, side="left") - 1  # last start strictly before the spike
        inside = which >= 0
        inside[inside] = times[inside] <= stops[which[inside]]
        unit_ids_per_spike = np.repeat(trains.unit_ids, trains.n_spikes)[inside]
        spike_times = times[inside]
        pres_index = which[inside]
        order = np.argsort(spike_times, kind="stable")
        frame = pd.DataFrame(
            {
                "stimulus_presentation_id": presentations.index.to_numpy()[pres_index][order],
                "unit_id": unit_ids_per_spike[order],
                "time_since_stimulus_presentation_onset": (spike_times - starts[pres_index])[order],
            },
            index=pd.Index(spike_times[order], name="spike_time"),
        )
        return frame

    def conditionwise_spike_statistics(
        self, stimulus_presentation_ids=None, unit_ids=None, use_rates: bool = False
    ) -> pd.DataFrame:
        """Spike count statistics per unit and stimulus condition (AllenSDK's semantics).

        Counts spikes in ``(start_time, stop_time]`` of each presentation (0 where a unit did
        not fire), then groups by ``(unit_id, stimulus_condition_id)``.

        Returns
        -------
        pandas.DataFrame
            Index ``(unit_id, stimulus_condition_id)``; columns ``spike_count`` (sum; counts
            only), ``stimulus_presentation_count``, ``spike_mean``, ``spike_std`` (ddof 1),
            ``spike_sem``. With ``use_rates`` the statistics are over ``count / duration``.
        """
        presentations = self._select_presentations(stimulus_presentation_ids)
        units = self._select_units(unit_ids)
        spikes = self.presentationwise_spike_times(presentations.index.to_numpy(), units.index.to_numpy())
        pres_ids = presentations.index.to_numpy()
        unit_ids_arr = units.index.to_numpy()
        p_pos = pd.Index(pres_ids).get_indexer(spikes["stimulus_presentation_id"].to_numpy())
        u_pos = pd.Index(unit_ids_arr).get_indexer(spikes["unit_id"].to_numpy())
        n_p, n_u = len(pres_ids), len(unit_ids_arr)
        counts = np.bincount(p_pos * n_u + u_pos, minlength=n_p * n_u).reshape(n_p, n_u).astype(float)
        values = counts / presentations["duration"].to_numpy(float)[:, None] if use_rates else counts
        cond_codes, cond_ids = pd.factorize(presentations["stimulus_condition_id"].to_numpy(), sort=True)
        n_c = len(cond_ids)
        n_per = np.bincount(cond_codes, minlength=n_c).astype(float)
        sums = np.zeros((n_c, n_u))
        np.add.at(sums, cond_codes, values)
        means = sums / n_per[:, None]
        squares = np.zeros((n_c, n_u))
        np.add.at(squares, cond_codes, (values - means[cond_codes]) ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(squares / (n_per[:, None] - 1))
            sem = std / np.sqrt(n_per[:, None])
        index = pd.MultiIndex.from_product(
            [unit_ids_arr, cond_ids], names=["unit_id", "stimulus_condition_id"]
        )
        columns: dict[str, np.ndarray] = {}
        if not use_rates:
            columns["spike_count"] = sums.T.ravel().astype(np.int64)
        columns["stimulus_presentation_count"] = np.tile(n_per.astype(np.int64), n_u)
        columns["spike_mean"] = means.T.ravel()
        columns["spike_std"] = std.T.ravel()
        columns["spike_sem"] = sem.T.ravel()
        return pd.DataFrame(columns, index=index).sort_index()


def _drop_unused(table: pd.DataFrame) -> pd.DataFrame:
    """Drop stimulus-parameter columns holding only ``"null"``/NaN (timing columns stay)."""
    unused = []
    for column in EcephysSession.stimulus_parameters(table):
        values = table[column]
        if values.isna().all() or (values.astype(str).isin([_NULL, "nan", ""])).all():
            unused.append(column)
    return table.drop(columns=unused)


def _select_rows(table: pd.DataFrame, ids, error: type[Exception], what: str, hint: str) -> pd.DataFrame:
    """``table.loc[ids]`` (all rows for ``None``), raising ``error`` naming the unknown ids."""
    if ids is None:
        return table
    ids = np.atleast_1d(np.asarray(ids))
    missing = ~np.isin(ids, table.index.to_numpy())
    if missing.any():
        raise error(f"unknown {what} {ids[missing][:10].tolist()}; {hint}")
    return table.loc[ids]

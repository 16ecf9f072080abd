"""Lazy, column-wise reading of NWB files with pynwb.

Only the columns that are asked for are read from disk: a DynamicTable becomes a DataFrame
one 1-D column at a time (ragged numeric columns such as waveforms are skipped), and spike
trains come out as one flat array plus offsets (:class:`~brainbridge.ecephys.counts.SpikeTrains`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbridge.ecephys.counts import SpikeTrains
from brainbridge.ecephys.errors import MissingSpikeTimesError, NWBFileError
from brainbridge.formats.nwb import is_nwb_file

__all__ = ["open_nwb", "read_spike_trains", "read_table"]


def open_nwb(path: str | os.PathLike) -> tuple[Any, Any]:
    """Open an NWB file for lazy reading.

    Returns
    -------
    (io, nwbfile)
        The open :class:`pynwb.NWBHDF5IO` (close it when done) and the lazily read NWBFile.

    Raises
    ------
    NWBFileError
        The file is missing, truncated, or not an NWB file.
    """
    import pynwb

    path = Path(path)
    if not path.is_file():
        raise NWBFileError(f"NWB file not found: {path}")
    if not is_nwb_file(path):
        raise NWBFileError(
            f"cannot read {path} as an NWB file (not HDF5, or no 'nwb_version' at its root); "
            "the file may be truncated or not NWB — fetch it again"
        )
    io = None
    try:
        with warnings.catch_warnings():
            # cached-namespace notices are not actionable for a reader
            warnings.filterwarnings("ignore", message=".*[Nn]amespace.*")
            io = pynwb.NWBHDF5IO(str(path), "r")
            nwbfile = io.read()
            _ = nwbfile.identifier  # touch the file: a damaged one fails here, not later
    except Exception as e:
        if io is not None:
            try:
                io.close()
            except Exception:  # closing a broken file may fail too
                pass
        raise NWBFileError(
            f"cannot read {path} as an NWB file ({type(e).__name__}: {e}); "
            "the file may be truncated or not NWB — fetch it again"
        ) from e
    return io, nwbfile


def _is_index(column) -> bool:
    from hdmf.common import VectorIndex

    return isinstance(column, VectorIndex)


def _is_region(column) -> bool:
    from hdmf.common import DynamicTableRegion

    return isinstance(column, DynamicTableRegion)


def _as_1d(data) -> np.ndarray | None:
    """Read a whole 1-D column; ``None`` for multi-dimensional columns."""
    shape = getattr(data, "shape", None)
    if shape is not None and len(shape) != 1:
        return None
    values = data[:]
    if isinstance(values, list):
        # object references (ElectrodeGroup, Device...): keep their names
        values = [getattr(v, "name", v) for v in values]
        return np.asarray(values, dtype=object)
    values = np.asarray(values)
    if values.ndim != 1:
        return None
    if values.dtype.kind == "S":
        values = values.astype(str)
    elif values.dtype.kind == "O" and values.size and isinstance(values[0], bytes):
        values = np.array([v.decode() for v in values], dtype=object)
    return values


def _first_of_ragged(index_column) -> np.ndarray:
    """First element of each row of a ragged region column (``-1`` for an empty row)."""
    ends = np.asarray(index_column.data[:], dtype=np.int64)
    data = np.asarray(index_column.target.data[:])
    starts = np.concatenate([[0], ends[:-1]])
    first = np.full(ends.size, -1, dtype=np.int64)
    nonempty = ends > starts
    first[nonempty] = data[starts[nonempty]]
    return first


def _joined_strings(index_column) -> np.ndarray | None:
    """A ragged column of strings (e.g. ``tags``) as comma-joined strings; ``None`` if numeric."""
    target = index_column.target
    dtype = getattr(target.data, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "O") not in "OSU":
        return None
    values = _as_1d(target.data)
    if values is None or (values.size and not isinstance(values[0], str)):
        return None
    ends = np.asarray(index_column.data[:], dtype=np.int64)
    pieces = np.split(values.astype(object), ends[:-1]) if ends.size else []
    return np.array([",".join(map(str, p)) for p in pieces], dtype=object)


def read_table(table, *, skip: tuple[str, ...] = (), index_name: str = "id") -> pd.DataFrame:
    """A DynamicTable as a DataFrame, read column by column.

    1-D columns are read whole; a ragged column of strings becomes comma-joined strings; a
    (ragged) table-region column keeps the row number of its first referenced row; object
    references keep their names; multi-dimensional and ragged numeric columns are skipped.
    """
    ids = np.asarray(table.id.data[:])
    columns: dict[str, np.ndarray] = {}
    for name in table.colnames:
        if name in skip:
            continue
        column = table[name]
        if _is_index(column):
            if _is_region(column.target):
                columns[name] = _first_of_ragged(column)
            else:
                joined = _joined_strings(column)
                if joined is not None:
                    columns[name] = joined
            continue
        if _is_region(column):
            columns[name] = np.asarray(column.data[:], dtype=np.int64)
            continue
        values = _as_1d(column.data)
        if values is not None and values.size == ids.size:
            columns[name] = values
    frame = pd.DataFrame(columns, index=pd.Index(ids, name=index_name))
    return frame


def read_spike_trains(nwbfile) -> SpikeTrains:
    """All spike trains of the units table: one read of the flat array and of its index.

    Raises
    ------
    MissingSpikeTimesError
        No units table, or no ``spike_times`` column.
    """
    units = nwbfile.units
    if units is None:
        raise MissingSpikeTimesError("the NWB file has no units table (no sorted spikes)")
    if "spike_times" not in units.colnames:
        raise MissingSpikeTimesError(
            f"the units table has no 'spike_times' column; its columns are {list(units.colnames)}"
        )
    column = units["spike_times"]
    ids = np.asarray(units.id.data[:])
    if not _is_index(column):
        raise MissingSpikeTimesError("'spike_times' is not a ragged (indexed) column")
    return SpikeTrains.from_ragged(ids, column.target.data[:], column.data[:])

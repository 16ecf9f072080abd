"""Project tables derived from a folder of NWB files (any lab's files, or a DANDI dandiset's layout).

A folder of NWB files is a project: each session file (``sub-*/sub-*_ses-*.nwb`` as DANDI lays
them out, ``session_<id>/session_<id>.nwb`` as AllenSDK does, or any ``*.nwb``) becomes a row
of the sessions table, and its electrode groups, electrodes and units become rows of the
probes, channels and units tables, with AllenSDK's column names:

- sessions: ``session_type`` (the file's stimulus notes), ``specimen_id`` (subject id),
  ``genotype``, ``sex``, ``age_in_days`` (from the ISO 8601 age), ``species``,
  ``date_of_acquisition``, ``nwb_path``, ``structure_acronyms``...
- probes: ``ecephys_session_id``, ``name``, ``location``, ``sampling_rate``...
- channels: ``ecephys_probe_id``, ``local_index``, ``probe_{vertical,horizontal}_position``
  (file columns, else ``rel_y``/``rel_x``), CCF coordinates (``x``, ``y``, ``z``),
  ``ecephys_structure_acronym`` (``location``), ``ecephys_structure_id`` when the file has it;
- units: ``ecephys_channel_id`` (the peak channel; a placeholder channel of the session when
  the file records none), ``spike_count``, ``firing_rate`` and every 1-D column of the units
  table (quality metrics...); ``quality`` only when it uses AllenSDK's ``good``/``noise``
  labels (else it is kept as ``nwb_quality``, so the validity filter does not drop every unit).

Ids are the files' own when they are unique across the project; otherwise each session's ids
are offset (``nwb_probe_id``, ``nwb_channel_id``, ``nwb_unit_id`` keep the file's ids). Each
file's tables are cached as JSON next to the cache manifest, keyed by the file's size and
modification time, and the joined tables as Parquet keyed by all of them: a second open stats
the files and reads the Parquet tables; a changed file is derived again (only it).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbridge.atomic import atomic_write_text
from brainbridge.ecephys.extras import age_in_days as _age_in_days
from brainbridge.ecephys.lfp import LFP_FILE
from brainbridge.hashing import text_digest
from brainbridge.progress import progress_bar

__all__ = ["DERIVE_VERSION", "DerivedProject", "derive_project", "find_session_files", "is_nwb_folder"]

#: bump when the derived columns change: older cached JSON is then derived again
DERIVE_VERSION = 1
TABLE_NAMES = ("sessions", "probes", "channels", "units")
COMBINED = "combined.json"
_SESSION_DIR = re.compile(r"session_(\d+)")


@dataclass
class DerivedProject:
    """The four tables of a folder of NWB files and where each session's file is."""

    tables: dict[str, pd.DataFrame]
    session_paths: dict[Any, Path]
    derived_files: int  # files read this time (the rest came from the cache)


def find_session_files(folder: str | os.PathLike) -> list[Path]:
    """The session NWB files under ``folder`` (probe LFP companions left out), sorted."""
    return [p for p in sorted(Path(folder).rglob("*.nwb")) if not LFP_FILE.fullmatch(p.name) and p.is_file()]


def is_nwb_folder(folder: str | os.PathLike) -> bool:
    """A local folder with NWB session files and no project tables of its own."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if (
        any((folder / f"sessions{s}").is_file() for s in (".csv", ".parquet"))
        or (folder / "project.json").is_file()
    ):
        return False
    return next(iter(find_session_files(folder)), None) is not None


def _session_key(path: Path) -> Any:
    match = _SESSION_DIR.fullmatch(path.stem)
    if match:
        return int(match.group(1))
    return path.stem


def _spike_summary(nwbfile) -> tuple[np.ndarray, float]:
    """Per-unit spike counts and the recording span, from the ragged index (no spike data read
    beyond the first and last spike of each train)."""
    units = nwbfile.units
    if units is None or "spike_times" not in units.colnames:
        n = 0 if units is None else len(units.id)
        return np.zeros(n, dtype=np.int64), math.nan
    column = units["spike_times"]
    ends = np.asarray(column.data[:], dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    counts = ends - starts
    data = column.target.data
    span = math.nan
    if ends.size and ends[-1] > 0:
        nonempty = counts > 0
        firsts = np.array([data[i] for i in starts[nonempty]], dtype=float)
        lasts = np.array([data[i - 1] for i in ends[nonempty]], dtype=float)
        span = float(lasts.max() - firsts.min()) if firsts.size else math.nan
    return counts, span


def _file_tables(path: Path) -> dict[str, pd.DataFrame]:
    """One file's rows of the four tables, with the file's own (local) ids."""
    from brainbridge.ecephys.session import EcephysSession

    with EcephysSession.from_nwb(path) as session:  # probe ids from LFP files next to it, if any
        nwb = session.nwbfile
        probes = session.probes.reset_index()
        channels = session.channels.reset_index()
        units = session._raw_units.reset_index()
        counts, span = _spike_summary(nwb)
        subject = nwb.subject
        start = nwb.session_start_time
        row = {
            "session_type": nwb.stimulus_notes or None,
            "specimen_id": getattr(subject, "subject_id", None) if subject is not None else None,
            "genotype": getattr(subject, "genotype", None) if subject is not None else None,
            "sex": getattr(subject, "sex", None) if subject is not None else None,
            "age_in_days": _age_in_days(getattr(subject, "age", None) if subject is not None else None),
            "species": getattr(subject, "species", None) if subject is not None else None,
            "date_of_acquisition": start.isoformat() if start is not None else None,
            "identifier": nwb.identifier,
            "session_description": nwb.session_description,
            "nwb_session_id": nwb.session_id,
            "has_nwb": True,
            "has_lfp_data": bool(
                any(LFP_FILE.fullmatch(p.name) for p in path.parent.glob("probe_*_lfp.nwb"))
            ),
        }
    sessions = pd.DataFrame([row])
    probes = probes.rename(columns={"probe_id": "nwb_probe_id", "description": "name"})
    channel_frame = pd.DataFrame({"nwb_channel_id": channels["channel_id"].to_numpy()})
    channel_frame["nwb_channel_probe_id"] = (
        channels["probe_id"].to_numpy() if "probe_id" in channels else np.nan
    )
    if "local_index" in channels:
        channel_frame["local_index"] = channels["local_index"].to_numpy()
    else:
        channel_frame["local_index"] = (
            channel_frame.groupby("nwb_channel_probe_id", dropna=False).cumcount().to_numpy()
        )
    for target, sources in (
        ("probe_vertical_position", ("probe_vertical_position", "rel_y")),
        ("probe_horizontal_position", ("probe_horizontal_position", "rel_x")),
        ("anterior_posterior_ccf_coordinate", ("anterior_posterior_ccf_coordinate", "x")),
        ("dorsal_ventral_ccf_coordinate", ("dorsal_ventral_ccf_coordinate", "y")),
        ("left_right_ccf_coordinate", ("left_right_ccf_coordinate", "z")),
    ):
        source = next((s for s in sources if s in channels.columns), None)
        if source is not None:
            channel_frame[target] = pd.to_numeric(channels[source], errors="coerce").to_numpy()
    if "ecephys_structure_acronym" in channels:
        acronyms = channels["ecephys_structure_acronym"].astype(object)
        channel_frame["ecephys_structure_acronym"] = acronyms.where(
            ~acronyms.astype(str).isin(["", "none", "None", "unknown", "nan"]), None
        ).to_numpy()
    if "ecephys_structure_id" in channels:
        channel_frame["ecephys_structure_id"] = pd.to_numeric(
            channels["ecephys_structure_id"], errors="coerce"
        ).to_numpy()
    unit_frame = units.rename(columns={"unit_id": "nwb_unit_id"})
    unit_frame = unit_frame.drop(
        columns=[c for c in unit_frame.columns if c in ("electrode_group",)], errors="ignore"
    )
    if "peak_channel_id" in unit_frame:
        unit_frame = unit_frame.rename(columns={"peak_channel_id": "nwb_peak_channel_id"})
    else:
        unit_frame["nwb_peak_channel_id"] = -1
    if "quality" in unit_frame:
        labels = {str(v).lower() for v in unit_frame["quality"].dropna()}
        if not labels <= {"good", "noise"}:
            # another lab's vocabulary ("Excellent", "fair"...): AllenSDK's good/noise filter would
            # silently drop every unit, so the labels are kept under another name
            unit_frame = unit_frame.rename(columns={"quality": "nwb_quality"})
    unit_frame["spike_count"] = counts if counts.size == len(unit_frame) else np.nan
    if "firing_rate" not in unit_frame and np.isfinite(span) and span > 0:
        unit_frame["firing_rate"] = unit_frame["spike_count"] / span
    return {"sessions": sessions, "probes": probes, "channels": channel_frame, "units": unit_frame}


# ----------------------------------------------------------------------------------------------
# the per-file cache
# ----------------------------------------------------------------------------------------------


def _fingerprint(path: Path) -> list:
    stat = path.stat()
    return [DERIVE_VERSION, stat.st_size, stat.st_mtime_ns]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (int, float, str, bool, list, type(None))) else str(value)


def _dump(tables: dict[str, pd.DataFrame]) -> dict:
    return {
        name: {
            "columns": [str(c) for c in frame.columns],
            "data": [[_plain(v) for v in frame[c].tolist()] for c in frame.columns],
        }
        for name, frame in tables.items()
    }


def _load(document: dict) -> dict[str, pd.DataFrame]:
    return {
        name: pd.DataFrame(dict(zip(part["columns"], part["data"])), columns=part["columns"])
        for name, part in document.items()
    }


def _cached_file_tables(path: Path, cache_dir: Path | None) -> tuple[dict[str, pd.DataFrame], bool]:
    """The file's tables from the JSON cache when its fingerprint matches; else derived and cached."""
    fingerprint = _fingerprint(path)
    target = None
    if cache_dir is not None:
        key = text_digest(str(path.resolve()), algorithm="sha1", length=20)
        target = cache_dir / f"{key}.json"
        if target.is_file():
            try:
                document = json.loads(target.read_text())
                if document.get("fingerprint") == fingerprint and document.get("path") == str(path.resolve()):
                    return _load(document["tables"]), False
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a damaged cache entry is a miss
    tables = _file_tables(path)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        document = {"path": str(path.resolve()), "fingerprint": fingerprint, "tables": _dump(tables)}
        atomic_write_text(target, json.dumps(document))
    return tables, True


# ----------------------------------------------------------------------------------------------
# the project
# ----------------------------------------------------------------------------------------------


def _global_ids(local_per_session: list[np.ndarray]) -> list[np.ndarray]:
    """The files' own ids when unique across sessions; else offset by session ordinal."""
    joined = (
        np.concatenate([np.asarray(ids, dtype=np.int64) for ids in local_per_session])
        if local_per_session
        else np.empty(0, dtype=np.int64)
    )
    if len(joined) == len(np.unique(joined)) and (len(joined) == 0 or joined.min() >= 0):
        return [np.asarray(ids, dtype=np.int64) for ids in local_per_session]
    biggest = int(np.abs(joined).max()) if len(joined) else 0
    offset = 10 ** max(1, len(str(biggest + 1)))
    return [np.asarray(ids, dtype=np.int64) + (i + 1) * offset for i, ids in enumerate(local_per_session)]


def derive_project(
    folder: str | os.PathLike, cache_dir: str | os.PathLike | None = None, *, progress: bool | None = None
) -> DerivedProject:
    """Derive the sessions, probes, channels and units tables of a folder of NWB files.

    Parameters
    ----------
    folder
        The folder, searched recursively.
    cache_dir
        Where each file's derived tables are cached (``None``: no cache).
    progress
        A progress bar over the files (default: when stderr is a terminal).
    """
    from brainbridge.ecephys.errors import ProjectTableError

    root = Path(folder).absolute()
    files = find_session_files(root)
    if not files:
        raise ProjectTableError(f"{root} holds no NWB files (*.nwb) and no project tables")
    cache = Path(cache_dir) if cache_dir is not None else None
    fingerprints = [[str(path), *_fingerprint(path)] for path in files]
    combined = _load_combined(cache, fingerprints)
    if combined is not None:
        return combined
    per_file: list[dict[str, pd.DataFrame]] = []
    derived = 0
    for path in progress_bar(files, progress=progress, total=len(files), desc="deriving project tables"):
        tables, fresh = _cached_file_tables(path, cache)
        per_file.append(tables)
        derived += int(fresh)

    # session ids: AllenSDK's session_<id> as integers, else the file name; unique
    keys: list[Any] = []
    for path in files:
        key = _session_key(path)
        if key in keys:
            key = path.relative_to(root).with_suffix("").as_posix().replace("/", "_")
        keys.append(key)
    probe_ids = _global_ids([t["probes"]["nwb_probe_id"].to_numpy() for t in per_file])
    channel_ids = _global_ids([t["channels"]["nwb_channel_id"].to_numpy() for t in per_file])
    unit_ids = _global_ids([t["units"]["nwb_unit_id"].to_numpy() for t in per_file])

    sessions, probes, channels, units = [], [], [], []
    for i, (path, tables) in enumerate(zip(files, per_file)):
        session = tables["sessions"].copy()
        session.insert(0, "id", [keys[i]])
        session["nwb_path"] = str(path)
        probe = tables["probes"].copy()
        probe_map = dict(zip(probe["nwb_probe_id"], probe_ids[i]))
        probe.insert(0, "id", probe_ids[i])
        probe.insert(1, "ecephys_session_id", keys[i])
        channel = tables["channels"].copy()
        channel_map = dict(zip(channel["nwb_channel_id"], channel_ids[i]))
        channel.insert(0, "id", channel_ids[i])
        channel.insert(1, "ecephys_probe_id", channel["nwb_channel_probe_id"].map(probe_map))
        channel = channel.drop(columns=["nwb_channel_probe_id"])
        unit = tables["units"].copy()
        unit.insert(0, "id", unit_ids[i])
        peak = unit.pop("nwb_peak_channel_id").map(channel_map)
        if peak.isna().any():
            # units without a recorded peak channel: a placeholder channel (and probe) of the
            # session keeps them in the joins instead of dropping them
            placeholder_probe = int(probe_ids[i].max()) + 1 if len(probe_ids[i]) else (i + 1) * 10**6
            placeholder_channel = int(channel_ids[i].max()) + 1 if len(channel_ids[i]) else (i + 1) * 10**6
            while any(placeholder_channel in set(c) for c in channel_ids):
                placeholder_channel += 1
            while any(placeholder_probe in set(p) for p in probe_ids):
                placeholder_probe += 1
            probe = pd.concat(
                [
                    probe,
                    pd.DataFrame(
                        [
                            {
                                "id": placeholder_probe,
                                "ecephys_session_id": keys[i],
                                "name": "unassigned",
                                "nwb_probe_id": -1,
                            }
                        ]
                    ),
                ],
                ignore_index=True,
            )
            channel = pd.concat(
                [
                    channel,
                    pd.DataFrame(
                        [
                            {
                                "id": placeholder_channel,
                                "ecephys_probe_id": placeholder_probe,
                                "local_index": -1,
                                "nwb_channel_id": -1,
                            }
                        ]
                    ),
                ],
                ignore_index=True,
            )
            peak = peak.fillna(placeholder_channel)
        unit.insert(1, "ecephys_channel_id", peak.astype(np.int64).to_numpy())
        acronyms = sorted(
            {
                a
                for a in channel.get("ecephys_structure_acronym", pd.Series(dtype=object))
                if isinstance(a, str) and a
            }
        )
        session["structure_acronyms"] = [str(acronyms)]
        sessions.append(session)
        probes.append(probe)
        channels.append(channel)
        units.append(unit)
    tables = {
        "sessions": pd.concat(sessions, ignore_index=True).set_index("id"),
        "probes": pd.concat(probes, ignore_index=True).set_index("id"),
        "channels": pd.concat(channels, ignore_index=True).set_index("id"),
        "units": pd.concat(units, ignore_index=True).set_index("id"),
    }
    project = DerivedProject(tables=tables, session_paths=dict(zip(keys, files)), derived_files=derived)
    _save_combined(cache, fingerprints, project)
    return project


def _load_combined(cache: Path | None, fingerprints: list) -> DerivedProject | None:
    """The joined tables of the last derivation, when no file changed since (one read, no pandas work)."""
    if cache is None or not (cache / COMBINED).is_file():
        return None
    try:
        document = json.loads((cache / COMBINED).read_text())
        if document.get("fingerprints") != fingerprints:
            return None
        tables = {name: pd.read_parquet(cache / f"{name}.parquet") for name in TABLE_NAMES}
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return None
    paths = {key: Path(path) for key, path in document["session_paths"]}
    return DerivedProject(tables=tables, session_paths=paths, derived_files=0)


def _save_combined(cache: Path | None, fingerprints: list, project: DerivedProject) -> None:
    if cache is None:
        return
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for name, frame in project.tables.items():
            frame.to_parquet(cache / f"{name}.parquet")
    except (ImportError, ValueError, TypeError, OSError):  # no pyarrow, or columns Parquet cannot hold
        (cache / COMBINED).unlink(missing_ok=True)
        return
    document = {
        "fingerprints": fingerprints,
        "session_paths": [[key, str(path)] for key, path in project.session_paths.items()],
    }
    atomic_write_text(cache / COMBINED, json.dumps(document))

"""NWB sessions into the exchange format: an assembly, a stimulus set and catalog rows.

A session's spike counts (:meth:`EcephysSession.presentationwise_spike_counts`, turned into an
assembly by :meth:`EcephysSession.to_assembly`) become a ``NeuronRecordingAssembly`` netCDF
file; its stimuli (one per distinct ``stimulus_id``) become a stimulus set whose files are
small JSON descriptions of each stimulus's parameters (NWB files rarely carry the images
themselves). Both are packaged with
:mod:`brainbridge.packaging` into a catalog, so the session is shareable and loads with
``brainbridge.get_assembly``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.ecephys.counts import check_bin_edges
from brainbridge.ecephys.lfp import LFP_FILE
from brainbridge.ecephys.session import EcephysSession
from brainbridge.errors import ValidationError
from brainbridge.stimuli import StimulusSet

__all__ = ["nwb_paths", "package_nwb", "package_session", "session_stimulus_set", "session_to_assembly"]


def nwb_paths(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """NWB session files named directly or found (recursively) in the given folders, sorted.

    Probe LFP files (``probe_<id>_lfp.nwb``) found in folders are left out: they belong to the
    session file next to them.
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            # probe_<id>_lfp.nwb files are LFP companions of a session file (AllenSDK's layout)
            found.extend(p for p in sorted(path.rglob("*.nwb")) if not LFP_FILE.fullmatch(p.name))
        elif path.is_file():
            found.append(path)
        else:
            raise ValidationError(f"no such NWB file or folder: {path}")
    if not found:
        raise ValidationError(f"no .nwb files in {[str(i) for i in items]}")
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value if isinstance(value, (int, str, bool)) or value is None else str(value)


def session_stimulus_set(session: EcephysSession, folder: str | os.PathLike) -> StimulusSet:
    """One stimulus per distinct ``stimulus_id`` of the session, each described by a JSON file.

    The JSON files (``stimulus_<n>.json``: name and parameters) are written into ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = session.stimulus_presentations
    params = [p for p in session.stimulus_parameters(table) if p != "stimulus_name"]
    first = table.drop_duplicates("stimulus_id")
    rows, paths = [], {}
    for n, (_, row) in enumerate(first.iterrows()):
        stimulus_id = str(row["stimulus_id"])
        description = {"stimulus_id": stimulus_id, "stimulus_name": _plain(row["stimulus_name"])}
        description.update({p: _plain(row[p]) for p in params})
        path = folder / f"stimulus_{n:05d}.json"
        path.write_text(json.dumps(description, indent=1, sort_keys=True))
        paths[stimulus_id] = path
        rows.append(
            {
                "stimulus_id": stimulus_id,
                "stimulus_name": row["stimulus_name"],
                **{p: row[p] for p in params},
                "filename": path.name,
            }
        )
    stimuli = StimulusSet(pd.DataFrame(rows))
    stimuli.stimulus_paths = paths
    return stimuli


def session_to_assembly(
    session: EcephysSession,
    bin_edges,
    *,
    stimulus_presentation_ids=None,
    unit_ids=None,
    closed: bool = True,
    progress: bool | None = None,
    align_to="start_time",
) -> NeuronRecordingAssembly:
    """Spike counts of a session as an assembly ready to package.

    ``bin_edges`` are relative to ``align_to`` (a presentation column, default the onset).
    Presentations without a finite alignment time are left out (they cannot be aligned).
    """
    table = session.stimulus_presentations
    if not len(table):
        raise ValidationError(
            f"session {session.session_id} has no stimulus presentations; "
            "choose an interval table with presentations="
        )
    if stimulus_presentation_ids is None:
        times, _ = session._alignment_times(table, align_to)
        stimulus_presentation_ids = table.index[np.isfinite(times)]
        if not isinstance(align_to, str):
            align_to = np.asarray(align_to, dtype=float)[np.isfinite(times)]
    counts = session.presentationwise_spike_counts(
        bin_edges, stimulus_presentation_ids, unit_ids, closed=closed, progress=progress, align_to=align_to
    )
    return session.to_assembly(counts)


def _identifier(text: str | int) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "-", str(text)).strip("-._+")
    return cleaned or "session"


def _result_rows(results: list[dict]) -> list[dict]:
    """The catalog rows (one per file) of packaging results."""
    rows = []
    for result in results:
        common = {
            "identifier": result["identifier"],
            "lookup_type": result["lookup_type"],
            "catalog": result["catalog"],
        }
        if result["lookup_type"] == "stimulus_set":
            rows.append({**common, "location": result["csv_location"], "sha1": result["csv_sha1"]})
            rows.append({**common, "location": result["zip_location"], "sha1": result["zip_sha1"]})
        else:
            rows.append({**common, "location": result["location"], "sha1": result["sha1"]})
    return rows


def _stage_session(
    transaction,
    session: EcephysSession,
    bin_edges,
    *,
    assembly_identifier: str | None,
    stimulus_set_identifier: str | None,
    closed: bool,
    progress: bool | None,
    align_to="start_time",
) -> None:
    """Add one session's stimulus set and assembly to a packaging transaction."""
    assembly_identifier = assembly_identifier or f"ecephys.{_identifier(session.session_id)}"
    stimulus_set_identifier = stimulus_set_identifier or f"{assembly_identifier}.stimuli"
    assembly = session_to_assembly(session, bin_edges, closed=closed, progress=progress, align_to=align_to)
    with tempfile.TemporaryDirectory(prefix="brainbridge-ecephys-") as staging:
        stimuli = session_stimulus_set(session, staging)
        transaction.add_stimulus_set(stimuli, stimulus_set_identifier)
    transaction.add_assembly(
        assembly, assembly_identifier, stimulus_set_identifier, "NeuronRecordingAssembly"
    )


def package_session(
    session: EcephysSession,
    catalog_name,
    bin_edges,
    *,
    assembly_identifier: str | None = None,
    stimulus_set_identifier: str | None = None,
    closed: bool = True,
    store: str | os.PathLike | None = None,
    progress: bool | None = None,
    align_to="start_time",
) -> list[dict]:
    """Package one session's spike counts and stimuli into ``catalog_name``, all or nothing.

    Identifiers default to ``ecephys.<session id>`` and ``ecephys.<session id>.stimuli``.

    Returns
    -------
    list of dict
        The catalog rows (one per file): ``identifier``, ``lookup_type``, ``location``,
        ``sha1``, ``catalog``.
    """
    from brainbridge.packaging import PackagingTransaction

    check_bin_edges(bin_edges)
    with PackagingTransaction(catalog_name, store) as transaction:
        _stage_session(
            transaction,
            session,
            bin_edges,
            assembly_identifier=assembly_identifier,
            stimulus_set_identifier=stimulus_set_identifier,
            closed=closed,
            progress=progress,
            align_to=align_to,
        )
        return _result_rows(transaction.commit())


def package_nwb(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    catalog_name: str,
    bin_edges,
    *,
    assembly_identifier: str | None = None,
    presentations: str | Sequence[str] | None = None,
    closed: bool = True,
    store: str | os.PathLike | None = None,
    create_catalog: bool = True,
    progress: bool | None = None,
    align_to: str = "start_time",
    **session_kwargs,
) -> list[dict]:
    """Package NWB files (or folders of them) into a catalog, one assembly + stimulus set each.

    The run is atomic: every session is converted, written and checked first, then all files
    are stored and all rows added in one step. If anything fails, the catalog is left as it
    was (a catalog this run would have created is not created) and no file is left behind.

    Parameters
    ----------
    paths
        NWB files and/or folders searched recursively.
    catalog_name
        The catalog to add rows to; created as a user catalog when missing (``create_catalog``).
    bin_edges
        Bin edges relative to each presentation's onset (seconds).
    assembly_identifier
        With one file, its identifier; with several, a prefix completed by each session id.
    presentations
        Interval table(s) to use as presentations (see :class:`EcephysSession`).
    closed
        Closed (AllenSDK) or half-open bins.
    align_to
        The presentation column ``bin_edges`` are relative to (default the onset).
    store
        Where the files go (see :func:`brainbridge.packaging.package_data_assembly`); default
        :func:`brainbridge.packaging.default_store` (beside the catalog, so the catalog lists
        them by relative paths).
    **session_kwargs
        Passed to :meth:`EcephysSession.from_nwb` (unit filters...).

    Returns
    -------
    list of dict
        The rows, three per session. A stimulus set another catalog already lists with the
        same files is reused from there (its rows name that catalog), not listed twice.

    Raises
    ------
    PackagingConflictError
        An identifier is already catalogued (here or elsewhere) with other content.
    """
    from brainbridge.packaging import PackagingTransaction, default_store, prepare_user_catalog

    bin_edges = check_bin_edges(bin_edges)
    files = nwb_paths(paths)
    catalog, _created = prepare_user_catalog(catalog_name, create_catalog)
    if store is None:
        store = default_store(catalog)
    with PackagingTransaction(catalog, store) as transaction:
        for path in files:
            with EcephysSession.from_nwb(path, presentations=presentations, **session_kwargs) as session:
                if assembly_identifier is None:
                    identifier = None
                elif len(files) == 1:
                    identifier = assembly_identifier
                else:
                    identifier = f"{assembly_identifier}.{_identifier(session.session_id)}"
                _stage_session(
                    transaction,
                    session,
                    bin_edges,
                    assembly_identifier=identifier,
                    stimulus_set_identifier=None,
                    closed=closed,
                    progress=progress,
                    align_to=align_to,
                )
        return _result_rows(transaction.commit())

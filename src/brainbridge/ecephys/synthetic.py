"""Small, deterministic Neuropixels-like projects written with pynwb (demos, tests, benchmarks).

:func:`write_synthetic_session` writes one NWB file in AllenSDK's layout (electrode groups
per probe, an electrodes table with structure acronyms and positions, units with quality
metrics and peak channels, ``*_presentations`` interval tables with repeated stimuli);
:func:`write_synthetic_project` writes several plus the project tables and ``project.json``.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_synthetic_project", "write_synthetic_session"]

STRUCTURES = (("VISp", 385), ("VISl", 409), ("CA1", 382), ("LGd", 170))


def _ids(session_id: int) -> dict[str, int]:
    return {"probe": session_id * 10, "channel": session_id * 1000, "unit": session_id * 10000}


def write_synthetic_session(
    path: str | os.PathLike,
    session_id: int,
    *,
    n_probes: int = 2,
    channels_per_probe: int = 8,
    n_units: int = 12,
    n_repeats: int = 3,
    orientations: tuple[float, ...] = (0.0, 45.0, 90.0, 135.0),
    n_scenes: int = 3,
    presentation_duration: float = 0.25,
    rate_hz: float = 20.0,
    seed: int = 0,
    n_spikes: int | None = None,
    n_presentations: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Write one session's NWB file and return its project-table rows.

    Parameters
    ----------
    path
        The NWB file to write.
    session_id
        The session id; probe, channel and unit ids are derived from it.
    n_repeats, orientations, n_scenes
        Stimuli: static gratings (``orientation``, ``spatial_frequency``) and natural scenes
        (``frame``), each condition shown ``n_repeats`` times, in a shuffled order.
    rate_hz, n_spikes
        Poisson firing rate, or (``n_spikes``) the total number of spikes to draw.
    n_presentations
        Overrides the stimulus design with this many grating presentations (benchmarks).

    Returns
    -------
    dict
        ``{"probes": ..., "channels": ..., "units": ...}`` rows for the project tables.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals

    rng = np.random.default_rng(seed + int(session_id))
    ids = _ids(int(session_id))
    nwb = NWBFile(
        session_description=f"synthetic session {session_id}",
        identifier=f"synthetic-{session_id}",
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        session_id=str(session_id),
    )
    for name, description in (
        ("probe_vertical_position", "depth along the probe (um)"),
        ("probe_horizontal_position", "position across the probe (um)"),
        ("local_index", "channel index on the probe"),
        ("ecephys_structure_id", "structure id (NaN outside the brain)"),
    ):
        nwb.add_electrode_column(name=name, description=description)
    probe_rows, channel_rows = [], []
    channel_ids = []
    for p in range(n_probes):
        probe_name = f"probe{chr(ord('A') + p)}"
        device = nwb.create_device(name=probe_name, description="Neuropixels 1.0")
        group = nwb.create_electrode_group(
            name=probe_name, description=f"{probe_name} shank", location="visual cortex", device=device
        )
        probe_id = ids["probe"] + p
        probe_rows.append(
            {
                "id": probe_id,
                "ecephys_session_id": session_id,
                "name": probe_name,
                "phase": "3a",
                "sampling_rate": 30000.0,
                "lfp_sampling_rate": 2500.0 * 2,
                "lfp_temporal_subsampling_factor": 2.0,
                "has_lfp_data": True,
                "air_channel_index": 300,
                "surface_channel_index": 280,
            }
        )
        for c in range(channels_per_probe):
            channel_id = ids["channel"] + p * 100 + c
            in_brain = c < channels_per_probe - 1  # the top channel of each probe is outside the brain
            acronym, structure_id = STRUCTURES[(p + c // 3) % len(STRUCTURES)] if in_brain else (None, np.nan)
            nwb.add_electrode(
                id=channel_id,
                group=group,
                location=acronym or "none",
                probe_vertical_position=float(20 * c),
                probe_horizontal_position=float(11 + 32 * (c % 2)),
                local_index=c,
                ecephys_structure_id=float(structure_id),
            )
            channel_ids.append(channel_id)
            channel_rows.append(
                {
                    "id": channel_id,
                    "ecephys_probe_id": probe_id,
                    "local_index": c,
                    "probe_horizontal_position": 11 + 32 * (c % 2),
                    "probe_vertical_position": 20 * c,
                    "ecephys_structure_id": structure_id,
                    "ecephys_structure_acronym": acronym,
                    "anterior_posterior_ccf_coordinate": 8000.0 + c,
                    "dorsal_ventral_ccf_coordinate": 1000.0 + 10 * c,
                    "left_right_ccf_coordinate": 7000.0 + p,
                }
            )

    # stimuli: repeated conditions in a shuffled order, back to back after a 1 s gap
    if n_presentations is not None:
        names = np.full(n_presentations, "static_gratings", dtype=object)
        orientation = rng.choice(np.asarray(orientations), n_presentations)
        frames = np.full(n_presentations, np.nan)
    else:
        conditions = [("static_gratings", o, np.nan) for o in orientations]
        conditions += [("natural_scenes", np.nan, float(f)) for f in range(n_scenes)]
        design = [c for c in conditions for _ in range(n_repeats)]
        order = rng.permutation(len(design))
        names = np.array([design[i][0] for i in order], dtype=object)
        orientation = np.array([design[i][1] for i in order])
        frames = np.array([design[i][2] for i in order])
    n_pres = names.size
    starts = 1.0 + np.arange(n_pres) * presentation_duration
    stops = starts + presentation_duration
    total_time = float(stops[-1] + 1.0)
    pres_id = 0
    for stimulus in ("static_gratings", "natural_scenes"):
        rows = np.flatnonzero(names == stimulus)
        if not rows.size:
            continue
        table = TimeIntervals(name=f"{stimulus}_presentations", description=f"{stimulus} presentations")
        table.add_column(name="stimulus_name", description="stimulus")
        if stimulus == "static_gratings":
            table.add_column(name="orientation", description="degrees")
            table.add_column(name="spatial_frequency", description="cycles/degree")
        else:
            table.add_column(name="frame", description="image index")
        for r in rows:
            extra = (
                {"orientation": float(orientation[r]), "spatial_frequency": 0.04}
                if stimulus == "static_gratings"
                else {"frame": float(frames[r])}
            )
            table.add_row(id=int(r), start_time=float(starts[r]), stop_time=float(stops[r]), stimulus_name=stimulus, **extra)
            pres_id += 1
        nwb.add_time_intervals(table)

    # units: Poisson trains, rate modulated by the grating orientation
    for name, description in (
        ("quality", "good or noise"),
        ("amplitude_cutoff", "amplitude cutoff"),
        ("presence_ratio", "presence ratio"),
        ("isi_violations", "isi violations"),
        ("firing_rate", "mean rate (Hz)"),
        ("peak_channel_id", "peak channel id"),
    ):
        nwb.add_unit_column(name=name, description=description)
    unit_rows = []
    per_unit = None if n_spikes is None else max(1, n_spikes // n_units)
    for u in range(n_units):
        unit_id = ids["unit"] + u
        count = per_unit if per_unit is not None else int(rng.poisson(rate_hz * total_time))
        train = np.sort(rng.uniform(0.0, total_time, count))
        peak = channel_ids[(u * 3) % len(channel_ids)]
        quality = "noise" if u % 6 == 5 else "good"
        metrics = {
            "amplitude_cutoff": float([0.01, 0.05, 0.2, 0.09][u % 4]),
            "presence_ratio": float([0.99, 0.97, 0.96, 0.9][u % 4] if u % 7 != 3 else np.nan),
            "isi_violations": float([0.1, 0.3, 0.2, 0.6][(u // 2) % 4]),
        }
        nwb.add_unit(
            id=unit_id,
            spike_times=train,
            electrodes=[channel_ids.index(peak)],
            quality=quality,
            firing_rate=float(count / total_time),
            peak_channel_id=peak,
            **metrics,
        )
        unit_rows.append(
            {
                "id": unit_id,
                "ecephys_channel_id": peak,
                "quality": quality,
                "firing_rate": count / total_time,
                "snr": 2.0 + u % 3,
                "amplitude": 100.0 + u,
                "PT_ratio": 0.5,
                "l_ratio": 0.01,
                **metrics,
            }
        )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return {"probes": pd.DataFrame(probe_rows), "channels": pd.DataFrame(channel_rows), "units": pd.DataFrame(unit_rows)}


def write_synthetic_project(
    folder: str | os.PathLike,
    session_ids: tuple[int, ...] = (101, 102, 103),
    *,
    table_format: str = "csv",
    index: bool = True,
    **session_kwargs,
) -> Path:
    """Write a small project: ``session_<id>/session_<id>.nwb``, the four tables and ``project.json``.

    Parameters
    ----------
    table_format
        ``"csv"`` or ``"parquet"``.
    index
        Write ``project.json`` (sizes and SHA-1 of every file).
    """
    from brainbridge.ecephys.project import write_project_index

    folder = Path(folder)
    tables: dict[str, list[pd.DataFrame]] = {"probes": [], "channels": [], "units": []}
    sessions = []
    for i, session_id in enumerate(session_ids):
        path = folder / f"session_{session_id}" / f"session_{session_id}.nwb"
        rows = write_synthetic_session(path, session_id, seed=i, **session_kwargs)
        for name in tables:
            tables[name].append(rows[name])
        acronyms = sorted({a for a in rows["channels"]["ecephys_structure_acronym"] if isinstance(a, str)})
        sessions.append(
            {
                "id": session_id,
                "session_type": "brain_observatory_1.1" if i % 2 == 0 else "functional_connectivity",
                "specimen_id": 9000 + i,
                "genotype": "wt/wt" if i % 2 == 0 else "Sst-IRES-Cre/wt",
                "sex": "M" if i % 2 == 0 else "F",
                "age_in_days": 100.0 + i,
                "structure_acronyms": str(acronyms),
                "has_nwb": True,
                "isi_experiment_id": 7000 + i,
                "date_of_acquisition": "2024-01-01",
                "published_at": "2024-06-01",
            }
        )
    frames = {"sessions": pd.DataFrame(sessions)}
    frames.update({name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()})
    for name, frame in frames.items():
        if table_format == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        elif table_format == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            raise ValueError(f"table_format must be 'csv' or 'parquet', got {table_format!r}")
    if index:
        write_project_index(folder)
    return folder

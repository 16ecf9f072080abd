"""Small, deterministic Neuropixels-like projects written with pynwb (demos, tests, benchmarks).

:func:`write_synthetic_session` writes one NWB file in AllenSDK's layout (electrode groups
per probe, an electrodes table with structure acronyms and positions, units with quality
metrics and peak channels, ``*_presentations`` interval tables with repeated stimuli);
:func:`write_synthetic_project` writes several plus the project tables and ``project.json``.
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_probe_lfp", "write_synthetic_project", "write_synthetic_session"]

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
    extras: bool = True,
    session_type: str | None = None,
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
    extras
        Also write AllenSDK's running speed, eye tracking and gaze mapping, optotagging
        epochs, mean waveforms, and an invalid interval for the first probe's LFP.
    session_type
        Recorded as the file's ``stimulus_notes``.

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
        stimulus_notes=session_type,
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
            table.add_row(
                id=int(r),
                start_time=float(starts[r]),
                stop_time=float(stops[r]),
                stimulus_name=stimulus,
                **extra,
            )
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
    if extras:
        nwb.add_unit_column(name="spike_amplitudes", description="amplitude of each spike (V)", index=True)
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
        waveform = {}
        if extras:
            # channels x samples of the unit's probe, a trough on the peak channel
            probe_index = channel_ids.index(peak) // channels_per_probe
            shape = np.sin(np.linspace(0, 2 * np.pi, 20)) * -(50.0 + u)
            mean = np.zeros((channels_per_probe, 20))
            mean[channel_ids.index(peak) - probe_index * channels_per_probe] = shape
            waveform = {"waveform_mean": mean, "spike_amplitudes": 1e-4 * (1.0 + 0.01 * np.arange(count))}
        nwb.add_unit(
            id=unit_id,
            spike_times=train,
            **waveform,
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
    if extras:
        _add_extras(nwb, rng, total_time)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return {
        "probes": pd.DataFrame(probe_rows),
        "channels": pd.DataFrame(channel_rows),
        "units": pd.DataFrame(unit_rows),
    }


def _add_extras(nwb, rng, total_time: float) -> None:
    """AllenSDK's running, eye-tracking, gaze-mapping and optotagging layout, small and deterministic."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import TimeSeries
    from pynwb.epoch import TimeIntervals

    # running wheel at 60 Hz: intervals [t, t + 1/60)
    starts = np.arange(0.0, total_time, 1.0 / 60.0)
    running = nwb.create_processing_module("running", "running speed")
    velocity = 10.0 + 5.0 * np.sin(starts)
    running.add(TimeSeries(name="running_speed", data=velocity, timestamps=starts, unit="cm/s"))
    running.add(
        TimeSeries(
            name="running_speed_end_times", data=starts + 1.0 / 60.0, timestamps=starts + 1.0 / 60.0, unit="s"
        )
    )
    running.add(
        TimeSeries(name="running_wheel_rotation", data=velocity / 100.0, timestamps=starts, unit="rad")
    )

    # eye tracking at 30 Hz: ellipse fits (half axes) and gaze on the screen
    frames = np.arange(0.0, total_time, 1.0 / 30.0)
    n = frames.size
    tracking = nwb.create_processing_module("eye_tracking", "ellipse fits")
    for name, radius in (("pupil_ellipse_fits", 5.0), ("eye_ellipse_fits", 20.0), ("cr_ellipse_fits", 2.0)):
        columns = [
            VectorData(
                name=c,
                description=c,
                data=(rng.normal(radius, 0.1, n) if c in ("height", "width") else rng.normal(0.0, 1.0, n)),
            )
            for c in ("center_x", "center_y", "height", "width", "phi")
        ]
        tracking.add(DynamicTable(name=name, description=name, columns=columns))
    for kind in ("raw", "filtered"):
        module = nwb.create_processing_module(f"{kind}_gaze_mapping", f"{kind} gaze mapping")
        area = np.pi * 25.0 + rng.normal(0.0, 0.5, n)
        if kind == "filtered":
            area[::7] = np.nan
        module.add(TimeSeries(name="eye_area", data=area * 16, timestamps=frames, unit="px^2"))
        module.add(TimeSeries(name="pupil_area", data=area, timestamps=frames, unit="px^2"))
        module.add(
            TimeSeries(name="screen_coordinates", data=rng.normal(0, 1, (n, 2)), timestamps=frames, unit="cm")
        )
        module.add(
            TimeSeries(
                name="screen_coordinates_spherical",
                data=rng.normal(0, 3, (n, 2)),
                timestamps=frames,
                unit="deg",
            )
        )

    # optotagging: 5 pulses after the stimuli
    opto = nwb.create_processing_module("optotagging", "optogenetic stimulation")
    table = TimeIntervals(name="optogenetic_stimulation", description="light pulses")
    for column in ("condition", "level", "stimulus_name", "duration"):
        table.add_column(name=column, description=column)
    for k in range(5):
        start = total_time - 0.9 + 0.15 * k
        table.add_row(
            start_time=start,
            stop_time=start + 0.01,
            condition="half-period of a cosine wave",
            level=[0.5, 1.0][k % 2],
            stimulus_name="raised_cosine",
            duration=0.01,
        )
    opto.add(table)
    # the first probe's LFP is invalid for 0.2 s
    nwb.add_invalid_time_interval(start_time=1.0, stop_time=1.2, tags=["probeA"])


def write_probe_lfp(
    path: str | os.PathLike,
    session_id: int,
    probe_id: int,
    channel_ids,
    *,
    probe_name: str = "probeA",
    duration: float = 4.0,
    rate: float = 500.0,
    csd: bool = True,
    seed: int = 0,
    chunks: bool = True,
) -> np.ndarray:
    """Write a probe LFP file in AllenSDK's layout with pynwb (``probe_<id>_lfp.nwb``).

    ``acquisition/probe_<id>_lfp`` holds the ``ElectricalSeries`` ``probe_<id>_lfp_data``
    (time x channel, float32, explicit timestamps) over an electrodes table with the given
    channel ids. With ``csd``, AllenSDK's ``processing/current_source_density`` group is added
    with h5py (AllenSDK writes it with its own NWB extension, which pynwb does not have):
    ``time_series/{data,timestamps}`` and ``virtual_electrode_{x,y}_positions``.

    Returns
    -------
    numpy.ndarray
        The LFP written, shape ``(n_times, n_channels)``.
    """
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import LFP, ElectricalSeries

    rng = np.random.default_rng(seed + int(probe_id))
    channel_ids = [int(c) for c in channel_ids]
    nwb = NWBFile(
        session_description=f"LFP of probe {probe_id}",
        identifier=str(probe_id),
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        session_id=str(session_id),
    )
    device = nwb.create_device(name=probe_name)
    group = nwb.create_electrode_group(
        name=probe_name, description="LFP channels", location="none", device=device
    )
    for c in channel_ids:
        nwb.add_electrode(id=c, group=group, location="none")
    times = np.arange(0.0, duration, 1.0 / rate)
    data = (
        rng.normal(0.0, 1e-5, (times.size, len(channel_ids)))
        + 1e-4 * np.sin(2 * np.pi * 8.0 * times)[:, None]
    ).astype(np.float32)
    with warnings.catch_warnings():
        # pynwb warns that the region is linked before the file owns the table; it does own it
        warnings.simplefilter("ignore", UserWarning)
        region = nwb.create_electrode_table_region(list(range(len(channel_ids))), "LFP channels")
        wrapped = H5DataIO(data, chunks=(min(times.size, 4096), len(channel_ids))) if chunks else data
        series = ElectricalSeries(
            name=f"probe_{probe_id}_lfp_data", data=wrapped, electrodes=region, timestamps=times
        )
        nwb.add_acquisition(LFP(name=f"probe_{probe_id}_lfp", electrical_series=series))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    if csd:
        import h5py

        csd_times = times[: min(times.size, 250)]
        values = np.diff(data[: csd_times.size].astype(np.float64), n=2, axis=1) * -1.0
        with h5py.File(path, "a") as f:
            group = f.require_group("processing/current_source_density/current_source_density")
            ts = group.create_group("time_series")
            ts.create_dataset("data", data=values)
            ts.create_dataset("timestamps", data=csd_times)
            group.create_dataset("virtual_electrode_x_positions", data=np.full(values.shape[1], 43.0))
            group.create_dataset(
                "virtual_electrode_y_positions", data=20.0 * np.arange(1, values.shape[1] + 1)
            )
    return data


def write_synthetic_project(
    folder: str | os.PathLike,
    session_ids: tuple[int, ...] = (101, 102, 103),
    *,
    table_format: str = "csv",
    index: bool = True,
    allen_files: bool = True,
    **session_kwargs,
) -> Path:
    """Write a small project in AllenSDK's cache layout.

    ``session_<id>/session_<id>.nwb``, the four tables and ``project.json``; with
    ``allen_files`` also ``session_<id>/probe_<probe_id>_lfp.nwb`` per probe (with a CSD),
    ``<session_type>_analysis_metrics.csv`` (keyed by ``ecephys_unit_id``), and the natural
    scene (``natural_scene_templates/natural_scene_<n>.tiff``) and movie
    (``natural_movie_templates/natural_movie_<n>.h5``, NumPy ``.npy`` bytes as AllenSDK
    reads them) templates.

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
        session_type = "brain_observatory_1.1" if i % 2 == 0 else "functional_connectivity"
        rows = write_synthetic_session(path, session_id, seed=i, session_type=session_type, **session_kwargs)
        if allen_files:
            probes = rows["probes"]
            for probe_id, probe_name in zip(probes["id"], probes["name"]):
                channel_ids = rows["channels"].loc[rows["channels"]["ecephys_probe_id"] == probe_id, "id"]
                write_probe_lfp(
                    path.parent / f"probe_{probe_id}_lfp.nwb",
                    session_id,
                    probe_id,
                    channel_ids,
                    probe_name=probe_name,
                    seed=i,
                )
        for name in tables:
            tables[name].append(rows[name])
        acronyms = sorted({a for a in rows["channels"]["ecephys_structure_acronym"] if isinstance(a, str)})
        sessions.append(
            {
                "id": session_id,
                "session_type": session_type,
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
    if allen_files:
        _write_allen_files(folder, frames["sessions"], frames["units"], frames["channels"], frames["probes"])
    if index:
        write_project_index(folder)
    return folder


def _write_allen_files(folder: Path, sessions, units, channels, probes) -> None:
    from PIL import Image

    unit_sessions = units["ecephys_channel_id"].map(
        channels.set_index("id")["ecephys_probe_id"].map(probes.set_index("id")["ecephys_session_id"])
    )
    for session_type in sessions["session_type"].unique():
        ids = sessions.loc[sessions["session_type"] == session_type, "id"]
        chosen = units[unit_sessions.isin(ids).to_numpy()]
        metrics = pd.DataFrame(
            {
                "ecephys_unit_id": chosen["id"].to_numpy(),
                "g_osi_sg": np.linspace(0.1, 0.9, len(chosen)),
                "pref_ori_sg": np.tile([0.0, 45.0, 90.0, 135.0], len(chosen))[: len(chosen)],
                "firing_rate_sg": chosen["firing_rate"].to_numpy(),
            }
        )
        metrics.to_csv(folder / f"{session_type}_analysis_metrics.csv", index=False)
    scenes = folder / "natural_scene_templates"
    scenes.mkdir(exist_ok=True)
    for n in range(3):
        image = (np.arange(16 * 24, dtype=np.uint16).reshape(16, 24) * (n + 1) % 256).astype(np.uint8)
        Image.fromarray(image).save(scenes / f"natural_scene_{n}.tiff")
    movies = folder / "natural_movie_templates"
    movies.mkdir(exist_ok=True)
    for n in (1, 3):
        frames = (np.arange(5 * 8 * 12).reshape(5, 8, 12) * n % 256).astype(np.uint8)
        with open(movies / f"natural_movie_{n}.h5", "wb") as handle:
            np.save(handle, frames, allow_pickle=False)

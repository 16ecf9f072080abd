"""AllenSDK's EcephysSession API over pynwb-written Allen-layout files and the real NWB fixtures.

Expected values come from reading the same files directly with pynwb/h5py (an independent
path), not from brainbridge.
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainbridge.ecephys import EcephysSession, NWBFileError
from brainbridge.ecephys.lfp import LazyHDF5Array
from brainbridge.errors import ValidationError


@pytest.fixture(scope="module")
def session(session_path):
    with EcephysSession.from_nwb_path(session_path) as s:
        yield s


def _pynwb(path):
    import pynwb

    io = pynwb.NWBHDF5IO(str(path), "r")
    return io, io.read()


def test_counts_structures_and_type(session):
    units, channels = session.units, session.channels
    assert session.num_units == len(units) == 12 and session.num_probes == 2 and session.num_channels == 16
    expected = units["ecephys_structure_acronym"].value_counts()
    pd.testing.assert_series_equal(session.structurewise_unit_counts, expected)
    assert session.structurewise_unit_counts.sum() == session.num_units
    assert set(session.structure_acronyms) == set(channels["ecephys_structure_acronym"])
    assert session.session_type == "brain_observatory_1.1"
    assert session.ecephys_session_id == session.session_id


def test_stimulus_table_names_epochs_and_parameters(session):
    table = session.stimulus_presentations
    first_shown = table.drop_duplicates("stimulus_name")["stimulus_name"].tolist()
    assert session.stimulus_names == first_shown and set(first_shown) == {"static_gratings", "natural_scenes"}
    gratings = session.get_stimulus_table(["static_gratings"])
    assert len(gratings) == 12 and set(gratings["stimulus_name"]) == {"static_gratings"}
    assert "frame" not in gratings.columns  # unused by gratings: dropped, as AllenSDK
    assert "frame" in session.get_stimulus_table("static_gratings", include_unused_parameters=True).columns
    with pytest.raises(ValidationError, match="unknown stimulus"):
        session.get_stimulus_table("flashes")

    epochs = session.get_stimulus_epochs()
    assert list(epochs.columns[:4]) == ["start_time", "stop_time", "duration", "stimulus_name"]
    # epochs tile the presentations: each is a maximal run of one stimulus
    assert (epochs["stimulus_name"] != epochs["stimulus_name"].shift()).all()
    assert epochs["start_time"].iloc[0] == table["start_time"].min()
    assert epochs["stop_time"].iloc[-1] == table["stop_time"].max()
    np.testing.assert_allclose(epochs["duration"], epochs["stop_time"] - epochs["start_time"])
    short = session.get_stimulus_epochs({"natural_scenes": 0.3})
    scenes = epochs[epochs["stimulus_name"] == "natural_scenes"]
    kept = short[short["stimulus_name"] == "natural_scenes"]
    assert len(kept) == (scenes["duration"] >= 0.3).sum() < len(scenes) and (kept["duration"] >= 0.3).all()
    assert len(short) - len(kept) == len(epochs) - len(scenes)

    values = session.get_stimulus_parameter_values()
    np.testing.assert_array_equal(values["orientation"], [0.0, 45.0, 90.0, 135.0])
    np.testing.assert_array_equal(values["frame"], [0.0, 1.0, 2.0])
    assert "stimulus_name" not in values and "start_time" not in values
    ids = table.index[(table["stimulus_name"] == "natural_scenes").to_numpy()]
    assert set(session.get_stimulus_parameter_values(ids)) == {"frame"}

    gaps = session.get_inter_presentation_intervals_for_stimulus("static_gratings")
    assert gaps.index.names == ["from_presentation_id", "to_presentation_id"]
    ordered = table.index.to_list()
    for (a, b), row in gaps.iterrows():
        assert ordered.index(b) == ordered.index(a) + 1
        assert table.loc[a, "stimulus_name"] == table.loc[b, "stimulus_name"] == "static_gratings"
        assert row["interval"] == pytest.approx(table.loc[b, "start_time"] - table.loc[a, "stop_time"])


def test_running_eye_gaze_opto_and_waveforms_match_pynwb(session, session_path):
    io, nwb = _pynwb(session_path)
    try:
        running = nwb.processing["running"]
        speed = session.running_speed
        assert list(speed.columns) == ["start_time", "end_time", "velocity"]
        np.testing.assert_array_equal(speed["velocity"], running["running_speed"].data[:])
        np.testing.assert_array_equal(speed["start_time"], running["running_speed"].timestamps[:])
        np.testing.assert_array_equal(speed["end_time"], running["running_speed_end_times"].timestamps[:])

        pupil = session.get_pupil_data()
        assert pupil.index.name == "Time (s)"
        fits = nwb.processing["eye_tracking"]["pupil_ellipse_fits"].to_dataframe()
        np.testing.assert_array_equal(pupil["pupil_width"], 2 * fits["width"])  # half axes in the file
        np.testing.assert_array_equal(pupil["pupil_center_x"], fits["center_x"])
        assert {"eye_phi", "corneal_reflection_height"} <= set(pupil.columns)

        gaze = session.get_screen_gaze_data()
        assert gaze.shape[1] == 6 and not any(c.startswith("filtered") for c in gaze.columns)
        raw = nwb.processing["raw_gaze_mapping"]
        np.testing.assert_array_equal(
            gaze["raw_screen_coordinates_x_cm"], raw["screen_coordinates"].data[:, 1]
        )
        np.testing.assert_array_equal(gaze.index, raw["eye_area"].timestamps[:])
        full = session.get_screen_gaze_data(include_filtered_data=True)
        assert full.shape[1] == 12 and full["filtered_pupil_area"].isna().any()

        opto = session.optogenetic_stimulation_epochs
        expected = nwb.processing["optotagging"]["optogenetic_stimulation"].to_dataframe()
        np.testing.assert_array_equal(opto["start_time"], expected["start_time"])
        assert opto["level"].tolist() == expected["level"].tolist()
        assert "tags" not in opto.columns and "duration" in opto.columns

        waveforms = session.mean_waveforms
        assert set(waveforms) == set(session.units.index)
        row = list(nwb.units.id[:]).index(session.units.index[3])
        uid = session.units.index[3]
        assert waveforms[uid].dims == ("channel_id", "time")
        np.testing.assert_array_equal(waveforms[uid].values, nwb.units["waveform_mean"].data[row])
        probe = session.units.loc[uid, "probe_id"]
        on_probe = session.channels.index[(session.channels["probe_id"] == probe).to_numpy()]
        assert waveforms[uid]["channel_id"].values.tolist() == on_probe.tolist()
        peak = session.units.loc[uid, "peak_channel_id"]
        assert int(np.argmin(waveforms[uid].min(dim="time").values)) == on_probe.tolist().index(peak)
    finally:
        io.close()


def test_lfp_is_lazy_sliceable_and_matches_pynwb(session, session_path, monkeypatch):
    lfp_path = session_path.parent / "probe_1010_lfp.nwb"
    io, nwb = _pynwb(lfp_path)
    try:
        series = nwb.acquisition["probe_1010_lfp"]["probe_1010_lfp_data"]
        full = series.data[:]
        times = series.timestamps[:]
        channel_ids = nwb.electrodes.id[:]
    finally:
        io.close()
    reads = []
    original = LazyHDF5Array._raw

    def spy(self, key):
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(LazyHDF5Array, "_raw", spy)
    lfp = session.get_lfp(1010, mask_invalid_intervals=False)
    assert lfp.name == "LFP" and lfp.dims == ("time", "channel") and lfp.shape == full.shape
    np.testing.assert_array_equal(lfp["channel"].values, channel_ids)
    window = lfp.sel(time=slice(2.0, 2.5)).isel(channel=[1, 2, 3])
    assert not reads  # nothing read until values are asked for
    rows = (times >= 2.0) & (times <= 2.5)
    np.testing.assert_array_equal(window.values, full[rows][:, [1, 2, 3]])
    assert len(reads) == 1 and reads[0][0] == slice(
        int(np.argmax(rows)), int(np.argmax(rows)) + int(rows.sum()), 1
    )

    # invalid intervals tagged with the probe name read as NaN (closed), others untouched
    masked = session.get_lfp(1010).sel(time=slice(0.9, 1.3)).values
    inside = (times[(times >= 0.9) & (times <= 1.3)] >= 1.0) & (times[(times >= 0.9) & (times <= 1.3)] <= 1.2)
    assert np.isnan(masked[inside]).all() and not np.isnan(masked[~inside]).any()
    other = session.get_lfp(1011).sel(time=slice(1.0, 1.2)).values
    assert not np.isnan(other).any()
    with pytest.raises(NWBFileError, match="no LFP"):
        session.get_lfp(999)


def test_current_source_density_matches_h5py(session, session_path):
    with h5py.File(session_path.parent / "probe_1011_lfp.nwb", "r") as f:
        group = f["processing/current_source_density/current_source_density"]
        data = group["time_series/data"][:]
        ys = group["virtual_electrode_y_positions"][:]
    csd = session.get_current_source_density(1011)
    assert csd.name == "CSD" and csd.dims == ("virtual_channel_index", "time")
    np.testing.assert_array_equal(csd.values, data.T)
    np.testing.assert_array_equal(csd["vertical_position"].values, ys)
    np.testing.assert_array_equal(csd.isel(time=slice(10, 20)).values, data[10:20].T)


def test_real_fixture_has_what_it_has(fixtures_dir):
    path = fixtures_dir / "nwb" / "sub-anm369963_ses-20170228.nwb"
    with EcephysSession.from_nwb_path(path) as s:
        assert s.stimulus_names == ["trials"]
        table = s.get_stimulus_table("trials")
        assert len(table) == 178 and "type" in table.columns
        values = s.get_stimulus_parameter_values()
        assert set(values["type"]) <= set(table["type"]) and len(values["type"]) >= 1
        assert s.running_speed is None and s.get_pupil_data() is None and s.get_screen_gaze_data() is None
        assert s.optogenetic_stimulation_epochs is None and s.mean_waveforms == {}
        assert s.num_units == 1 and s.structurewise_unit_counts.sum() in (0, 1)
        assert isinstance(s.structure_acronyms, list)
        epochs = s.get_stimulus_epochs()
        assert len(epochs) == 1 and epochs["stimulus_name"].iloc[0] == "trials"
        # a task event as the alignment: spikes around the pole coming in
        counts = s.presentationwise_spike_counts(np.arange(-0.5, 0.51, 0.25), align_to="pole_in_time")
        train = s.spike_times[1001]
        pole = table["pole_in_time"].to_numpy()
        first = np.sum((train >= pole[0] - 0.5) & (train <= pole[0] - 0.25))
        assert counts.values[0, 0, 0] == first
        with pytest.raises(NWBFileError, match="no LFP"):
            s.get_lfp(0)


def test_lfp_in_the_session_file_itself(tmp_path):
    """DANDI-style files keep LFP in the session file (processing/ecephys/LFP)."""
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import LFP, ElectricalSeries

    nwb = NWBFile(
        session_description="s", identifier="x", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc)
    )
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank0", description="d", location="CA1", device=device)
    for _ in range(4):
        nwb.add_electrode(group=group, location="CA1")
    data = np.arange(400, dtype=np.float64).reshape(100, 4)
    module = nwb.create_processing_module("ecephys", "processed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pynwb: region linked before the file owns the table
        region = nwb.create_electrode_table_region([0, 1, 2, 3], "all")
        module.add(
            LFP(
                electrical_series=ElectricalSeries(
                    name="lfp", data=data, electrodes=region, starting_time=0.0, rate=100.0
                )
            )
        )
        path = tmp_path / "sub-01_ses-01.nwb"
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    with EcephysSession.from_nwb(path) as s:
        lfp = s.get_lfp(0)
        assert isinstance(lfp, xr.DataArray) and lfp.shape == (100, 4)
        np.testing.assert_allclose(lfp["time"].values[:3], [0.0, 0.01, 0.02])
        np.testing.assert_array_equal(lfp.isel(time=slice(5, 7)).values, data[5:7])


def test_amplitudes_stimulus_helpers_structures_and_subject(session, session_path):
    io, nwb = _pynwb(session_path)
    try:
        amplitudes = session.spike_amplitudes
        assert set(amplitudes) == set(session.units.index)
        row = list(nwb.units.id[:]).index(session.units.index[2])
        np.testing.assert_array_equal(amplitudes[session.units.index[2]], nwb.units["spike_amplitudes"][row])
        assert all(len(amplitudes[u]) == len(session.spike_times[u]) for u in amplitudes)
    finally:
        io.close()
    scenes = session.get_presentations_for_stimulus(["natural_scenes"])
    assert set(scenes["stimulus_name"]) == {"natural_scenes"} and "orientation" not in scenes.columns
    values = session.get_parameter_values_for_stimulus("static_gratings")
    np.testing.assert_array_equal(values["orientation"], [0.0, 45.0, 90.0, 135.0])
    assert "frame" not in values

    channels = session.channels
    probe = channels["probe_id"].iloc[0]
    ids = channels.index[(channels["probe_id"] == probe).to_numpy()]
    labels, intervals = session.channel_structure_intervals(ids)
    ordered = channels.loc[ids].sort_values("probe_vertical_position")["ecephys_structure_acronym"].tolist()
    assert intervals[0] == 0 and intervals[-1] == len(ids) and len(labels) == len(intervals) - 1
    for k, label in enumerate(labels):
        run = ordered[intervals[k] : intervals[k + 1]]
        assert set(run) == {label}
        if k:
            assert ordered[intervals[k] - 1] != label
    assert session.specimen_name is None and session.age_in_days is None


def test_subject_fields_of_the_real_fixture(fixtures_dir):
    with EcephysSession.from_nwb_path(fixtures_dir / "nwb" / "sub-anm369963_ses-20170228.nwb") as s:
        assert s.specimen_name == "anm369963" and s.sex == s.nwbfile.subject.sex
        assert s.spike_amplitudes == {}

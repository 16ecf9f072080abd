"""EcephysSession over NWB files written by pynwb, the real shared fixtures, and bad inputs."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainbridge.assemblies import NeuronRecordingAssembly, average_repetitions
from brainbridge.ecephys import (
    EcephysSession,
    MissingSpikeTimesError,
    NWBFileError,
    PresentationNotFoundError,
    UnitNotFoundError,
)
from brainbridge.errors import BrainbridgeError, ValidationError


@pytest.fixture(scope="module")
def session(session_path):
    with EcephysSession.from_nwb(session_path) as s:
        yield s


def _pynwb_trains(path):
    import pynwb

    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        return {int(uid): np.asarray(nwb.units["spike_times"][i]) for i, uid in enumerate(nwb.units.id[:])}


def test_spike_times_match_pynwb_per_unit_reads(session, session_path):
    expected = _pynwb_trains(session_path)
    got = session.spike_times
    assert set(got) == set(expected) == set(session.units.index)
    for uid, train in expected.items():
        np.testing.assert_array_equal(got[uid], train)


def test_units_joined_to_channels_and_probes(session):
    units = session.units
    assert units.index.name == "unit_id"
    assert {"peak_channel_id", "ecephys_structure_acronym", "probe_description", "quality"} <= set(
        units.columns
    )
    channels = session.channels
    row = units.iloc[0]
    assert (
        channels.loc[row["peak_channel_id"], "ecephys_structure_acronym"] == row["ecephys_structure_acronym"]
    )
    assert set(units["probe_description"]) <= set(session.probes["description"])
    # sorted by probe then depth, as AllenSDK
    keys = list(zip(units["probe_description"], units["probe_vertical_position"]))
    assert keys == sorted(keys)


def test_stimulus_presentations_conditions_and_ids(session):
    table = session.stimulus_presentations
    assert table.index.name == "stimulus_presentation_id"
    assert table["start_time"].is_monotonic_increasing
    np.testing.assert_allclose(table["duration"], table["stop_time"] - table["start_time"])
    # 4 orientations + 3 scenes, 3 repeats each
    assert table["stimulus_condition_id"].nunique() == 7
    assert table.groupby("stimulus_id").size().eq(3).all()
    assert (table.groupby("stimulus_condition_id")["stimulus_id"].nunique() == 1).all()
    grating = table[table["stimulus_name"] == "static_gratings"].iloc[0]
    assert (
        grating["stimulus_id"]
        == f"static_gratings:orientation={grating['orientation']:g},spatial_frequency=0.04"
    )
    assert (table.loc[table["stimulus_name"] == "natural_scenes", "orientation"].isna()).all()
    assert len(session.stimulus_conditions) == 7


def test_presentationwise_spike_counts_allensdk_shape_and_assembly(session):
    bins = np.linspace(0.0, 0.25, 6)
    counts = session.presentationwise_spike_counts(bins)
    assert isinstance(counts, xr.DataArray) and counts.name == "spike_counts"
    assert counts.dims == ("stimulus_presentation_id", "time_relative_to_stimulus_onset", "unit_id")
    table, units = session.stimulus_presentations, session.units
    assert counts.shape == (len(table), 5, len(units)) and counts.dtype == np.uint16
    assert counts["stimulus_presentation_id"].values.tolist() == table.index.tolist()
    assert counts["unit_id"].values.tolist() == units.index.tolist()
    np.testing.assert_allclose(counts["time_relative_to_stimulus_onset"].values, bins[:-1] + 0.025)
    # brute force, closed bins
    trains = session.spike_times
    for p, start in enumerate(table["start_time"].to_numpy()[:5]):
        for u, uid in enumerate(units.index[:4]):
            for b in range(5):
                a, z = start + bins[b], start + bins[b + 1]
                assert counts.values[p, b, u] == np.sum((trains[uid] >= a) & (trains[uid] <= z))
    # AllenSDK code runs unchanged
    mean = counts.mean(dim="stimulus_presentation_id")
    assert mean.dims == ("time_relative_to_stimulus_onset", "unit_id")
    np.testing.assert_allclose(mean.values, counts.values.mean(axis=0))
    one = counts.sel(unit_id=units.index[0]).sum(dim="time_relative_to_stimulus_onset")
    assert one.dims == ("stimulus_presentation_id",)

    # one call: brainbridge's assembly (presentation x neuroid x time_bin) with every column
    assembly = session.to_assembly(counts)
    assert isinstance(assembly, NeuronRecordingAssembly)
    assert assembly.dims == ("presentation", "neuroid", "time_bin")
    assembly.validate()
    np.testing.assert_array_equal(assembly.values, counts.values.transpose(0, 2, 1))
    assert assembly["neuroid_id"].values.tolist() == [str(u) for u in units.index]
    assert assembly["stimulus_presentation_id"].values.tolist() == table.index.tolist()
    assert {"orientation", "stimulus_condition_id", "ecephys_structure_acronym", "unit_id"} <= set(
        assembly.coords
    )
    np.testing.assert_allclose(assembly["time_bin_start"].values, bins[:-1])
    np.testing.assert_allclose(assembly["time_bin_end"].values, bins[1:])
    mean = average_repetitions(assembly)
    assert mean.sizes["presentation"] == 7
    assert assembly.sel(stimulus_name="natural_scenes").sizes["presentation"] == 9
    with pytest.raises(ValidationError, match="dims"):
        session.to_assembly(counts.transpose("unit_id", ...))


def test_alignment_to_any_event_column_or_times(session):
    table = session.stimulus_presentations
    bins = np.array([-0.1, 0.0, 0.1])
    by_stop = session.presentationwise_spike_counts(bins, align_to="stop_time")
    shifted = session.presentationwise_spike_counts(bins + table["duration"].iloc[0], align_to="start_time")
    same = (table["duration"] == table["duration"].iloc[0]).to_numpy()
    np.testing.assert_array_equal(by_stop.values[same], shifted.values[same])
    assert by_stop.attrs["align_to"] == "stop_time"
    times = table["start_time"].to_numpy() + 0.05
    by_times = session.presentationwise_spike_counts(bins, align_to=times)
    np.testing.assert_array_equal(by_times.values, session.presentationwise_spike_counts(bins + 0.05).values)
    with pytest.raises(ValidationError, match="no presentation column"):
        session.presentationwise_spike_counts(bins, align_to="nope")
    with pytest.raises(ValidationError, match="one each"):
        session.presentationwise_spike_counts(bins, align_to=times[:3])
    # arbitrary events, any window
    events = np.array([1.5, 2.0, 4.25])
    around = session.event_aligned_spike_counts(events, np.arange(-0.2, 0.31, 0.1))
    assert around.dims == ("event", "time_relative_to_event", "unit_id") and around.shape[:2] == (3, 5)
    train = session.spike_times[session.units.index[0]]
    assert around.values[1, :, 0].sum() - np.isin(
        2.0 + np.array([-0.1, 0.0, 0.1, 0.2]), train
    ).sum() == np.sum((train >= 1.8) & (train <= 2.3))


def test_counts_subsets_order_and_half_open(session):
    table = session.stimulus_presentations
    ids = table.index[[4, 0, 2]]
    units = session.units.index[[2, 0]]
    full = session.presentationwise_spike_counts([0.0, 0.1, 0.2])
    part = session.presentationwise_spike_counts([0.0, 0.1, 0.2], ids, units)
    assert part["stimulus_presentation_id"].values.tolist() == ids.tolist()
    np.testing.assert_array_equal(part.values, full.values[[4, 0, 2]][:, :, [2, 0]])
    half = session.presentationwise_spike_counts([0.0, 0.1, 0.2], closed=False)
    assert half.attrs["bin_semantics"] == "half-open"
    assert (half.values <= full.values).all()
    with pytest.raises(UnitNotFoundError):
        session.presentationwise_spike_counts([0.0, 0.1], unit_ids=[123])
    with pytest.raises(PresentationNotFoundError, match="1000000"):
        session.presentationwise_spike_counts([0.0, 0.1], stimulus_presentation_ids=[10**6])
    with pytest.raises(ValueError):
        session.presentationwise_spike_counts([0.1, 0.0])


def test_presentationwise_spike_times_and_statistics(session):
    spikes = session.presentationwise_spike_times()
    table = session.stimulus_presentations
    assert spikes.index.name == "spike_time" and spikes.index.is_monotonic_increasing
    starts = table.loc[spikes["stimulus_presentation_id"], "start_time"].to_numpy()
    stops = table.loc[spikes["stimulus_presentation_id"], "stop_time"].to_numpy()
    t = spikes.index.to_numpy()
    assert np.all((t > starts) & (t <= stops))
    np.testing.assert_allclose(spikes["time_since_stimulus_presentation_onset"], t - starts)
    # every in-window spike found: compare totals with a direct count
    trains = session.spike_times
    total = sum(
        int(np.sum((trains[u] > a) & (trains[u] <= b)))
        for u in trains
        for a, b in zip(table["start_time"], table["stop_time"])
    )
    assert len(spikes) == total

    stats = session.conditionwise_spike_statistics()
    assert stats.index.names == ["unit_id", "stimulus_condition_id"]
    per = (
        spikes.groupby(["stimulus_presentation_id", "unit_id"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=table.index, columns=session.units.index, fill_value=0)
    )
    long = per.stack().rename("count").reset_index()
    long["stimulus_condition_id"] = table.loc[
        long["stimulus_presentation_id"], "stimulus_condition_id"
    ].to_numpy()
    expected = long.groupby(["unit_id", "stimulus_condition_id"])["count"].agg(["sum", "mean", "std", "size"])
    expected = expected.reindex(stats.index)
    np.testing.assert_array_equal(stats["spike_count"], expected["sum"])
    np.testing.assert_allclose(stats["spike_mean"], expected["mean"])
    np.testing.assert_allclose(stats["spike_std"], expected["std"])
    np.testing.assert_allclose(stats["spike_sem"], expected["std"] / np.sqrt(expected["size"]))
    assert (stats["stimulus_presentation_count"] == 3).all()
    rates = session.conditionwise_spike_statistics(use_rates=True)
    assert "spike_count" not in rates.columns
    np.testing.assert_allclose(rates["spike_mean"], stats["spike_mean"] / 0.25)


def test_session_level_unit_filters(session_path):
    with EcephysSession.from_nwb(session_path, filter_by_validity=True) as s:
        assert "quality" not in s.units.columns and len(s.units) == 10
    with EcephysSession.from_nwb(session_path, unit_filter_defaults=True) as s:
        u = s.units
        assert (u["amplitude_cutoff"] <= 0.1).all() and (u["presence_ratio"] >= 0.95).all()
        assert (u["isi_violations"] <= 0.5).all()
        assert len(s.spike_trains) == len(u)
    with EcephysSession.from_nwb(session_path, isi_violations_maximum=0) as s:
        assert len(s.units) == 0  # 0 is a real threshold (AllenSDK's session level ignores it)
    with pytest.raises(ValidationError, match=r"Invalid unit filter\(s\): \[.*\]\. Valid values are"):
        EcephysSession.from_nwb(session_path, snr_minimum=1)


def _mock_file(path, *, with_units=True, spike_times=True, invalid_stimulus=False):
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.ecephys import mock_Units
    from pynwb.testing.mock.file import mock_NWBFile

    nwb = mock_NWBFile(session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    if with_units:
        if spike_times:
            mock_Units(num_units=4, max_spikes_per_unit=30, nwbfile=nwb)
        else:
            nwb.add_unit_column(name="depth", description="depth")
            nwb.add_unit(depth=1.0)
    nwb.add_trial_column(name="contrast", description="contrast")
    for i in range(6):
        nwb.add_trial(start_time=float(i), stop_time=float(i) + 0.5, contrast=[0.5, 1.0][i % 2])
    if invalid_stimulus:
        nwb.add_invalid_time_interval(start_time=2.1, stop_time=2.2, tags=["stimulus"])
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_mock_file_trials_become_presentations(tmp_path):
    path = _mock_file(tmp_path / "mock.nwb", invalid_stimulus=True)
    with EcephysSession.from_nwb(path) as s:
        table = s.stimulus_presentations
        assert len(table) == 6 and set(table["stimulus_name"]) == {"trials", "invalid_presentation"}
        assert table.loc[2, "stimulus_name"] == "invalid_presentation" and np.isnan(table.loc[2, "contrast"])
        assert table.loc[0, "stimulus_id"] == "trials:contrast=0.5"
        counts = s.presentationwise_spike_counts([0.0, 0.25, 0.5])
        assert counts.shape == (6, 2, 4)
        assert s.units.index.size == 4  # mock units have no electrodes: no join, no crash
        with pytest.raises(ValidationError, match="no interval table"):
            _ = EcephysSession(s.nwbfile, presentations="epochs").stimulus_presentations


def test_real_fixture_trials_with_nan_stop_times(fixtures_dir):
    path = fixtures_dir / "nwb" / "sub-anm369963_ses-20170228.nwb"
    with EcephysSession.from_nwb(path) as s:
        assert s.units.index.tolist() == [1001]
        assert s.spike_trains.n_spikes.tolist() == [1679]
        table = s.stimulus_presentations
        assert len(table) == 178 and table["stop_time"].isna().all() and table["duration"].isna().all()
        counts = s.presentationwise_spike_counts(np.arange(0.0, 3.01, 0.5))
        assert counts.shape == (178, 6, 1)
        # counts equal direct counts from the spike train
        train = s.spike_times[1001]
        start = table["start_time"].to_numpy()
        expected = np.array([np.sum((train >= a) & (train <= a + 3.0)) for a in start])
        bins_total = counts.values[:, :, 0].sum(axis=1) - _double_counted(
            train, start, np.arange(0.0, 3.01, 0.5)
        )
        np.testing.assert_array_equal(bins_total, expected)
        assert s.to_assembly(counts)["stimulus_id"].values[0].startswith("trials:")
        with pytest.raises(ValidationError, match="no stop_time"):
            s.presentationwise_spike_times()


def _double_counted(train, starts, edges):
    inner = starts[:, None] + edges[None, 1:-1]
    return np.isin(inner, train).sum(axis=1)


@pytest.mark.parametrize("name", ["sub-anm372793_ses-20170508.nwb", "A8604-211122.nwb"])
def test_other_real_fixtures(fixtures_dir, name):
    path = fixtures_dir / "nwb" / name
    if not path.exists():
        pytest.skip(f"{path} not in the fixtures")
    presentations = "epochs" if name.startswith("A8604") else None
    with EcephysSession.from_nwb(path, presentations=presentations) as s:
        assert len(s.units) == len(s.spike_trains) >= 1
        counts = s.presentationwise_spike_counts([0.0, 1.0])
        assert counts.sizes["unit_id"] == len(s.units)
        if presentations == "epochs":
            assert s.spike_trains.n_spikes.sum() == 21354
            stats = s.conditionwise_spike_statistics()
            assert stats["spike_count"].sum() == 21354


def test_truncated_and_non_nwb_files(tmp_path, session_path):
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(session_path.read_bytes()[:5000])
    with pytest.raises(NWBFileError, match="truncated"):
        EcephysSession.from_nwb(truncated)
    text = tmp_path / "text.nwb"
    text.write_text("not hdf5")
    with pytest.raises(NWBFileError, match="cannot read .* as an NWB file") as info:
        EcephysSession.from_nwb(text)
    assert isinstance(info.value, OSError)
    with pytest.raises(NWBFileError, match="not found"):
        EcephysSession.from_nwb(tmp_path / "missing.nwb")


def test_units_without_spike_times_and_no_units(tmp_path):
    with EcephysSession.from_nwb(_mock_file(tmp_path / "nospikes.nwb", spike_times=False)) as s:
        assert len(s.units) == 1
        with pytest.raises(MissingSpikeTimesError, match="spike_times"):
            _ = s.spike_trains
    with (
        EcephysSession.from_nwb(_mock_file(tmp_path / "nounits.nwb", with_units=False)) as s,
        pytest.raises(BrainbridgeError, match="no units table"),
    ):
        s.presentationwise_spike_counts([0.0, 0.1])


def test_plot_unit_writes_png(tmp_path, session):
    from brainbridge.ecephys.plots import aligned_spike_times, plot_unit

    out = tmp_path / "unit.png"
    uid = session.units.index[0]
    plot_unit(session, uid, window=(-0.1, 0.3), bin_size=0.05, path=out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    times, rows = aligned_spike_times(np.array([0.9, 1.05, 2.0, 2.5]), np.array([1.0, 2.0]), (-0.1, 0.1))
    assert times.tolist() == pytest.approx([-0.1, 0.05, 0.0]) and rows.tolist() == [0, 0, 1]


def test_session_survives_closed_file_for_read_tables(tmp_path, session_path):
    copy = shutil.copy(session_path, tmp_path / "s.nwb")
    s = EcephysSession.from_nwb(copy)
    units = s.units
    s.close()
    assert s.units is units  # read once, kept after closing


def test_interval_tables_as_dataframes(tmp_path, session):
    path = _mock_file(tmp_path / "intervals.nwb", invalid_stimulus=True)
    with EcephysSession.from_nwb(path) as s:
        assert set(s.intervals) == {"trials", "invalid_times"}
        trials = s.trials
        assert trials.index.tolist() == list(range(6))
        np.testing.assert_allclose(trials["start_time"], np.arange(6.0))
        np.testing.assert_allclose(trials["stop_time"] - trials["start_time"], 0.5)
        assert trials["contrast"].tolist() == [0.5, 1.0] * 3
        assert s.epochs is None
        invalid = s.invalid_times
        assert invalid[["start_time", "stop_time"]].values.tolist() == [[2.1, 2.2]]
        assert "stimulus" in str(invalid["tags"].iloc[0])
    # the synthetic Allen-layout file marks 0.2 s of probeA's LFP invalid (not the stimulus)
    assert session.invalid_times[["start_time", "stop_time"]].values.tolist() == [[1.0, 1.2]]
    with EcephysSession.from_nwb(_mock_file(tmp_path / "clean.nwb")) as clean:
        # a file without invalid times: an empty table with the expected columns, not None
        assert clean.invalid_times.empty and {"start_time", "stop_time", "tags"} <= set(
            clean.invalid_times.columns
        )
    assert set(session.intervals) == {
        "static_gratings_presentations",
        "natural_scenes_presentations",
        "invalid_times",
    }
    grating = session.intervals["static_gratings_presentations"]
    shown = session.stimulus_presentations
    assert len(grating) == (shown["stimulus_name"] == "static_gratings").sum()
    assert session.trials is None


def test_presentationwise_spike_times_subsets(session):
    table = session.stimulus_presentations
    full = session.presentationwise_spike_times()
    ids, units = table.index[[5, 1, 8]], session.units.index[[3, 0]]
    part = session.presentationwise_spike_times(stimulus_presentation_ids=ids, unit_ids=units)
    expected = full[full["stimulus_presentation_id"].isin(ids) & full["unit_id"].isin(units)]
    assert len(part) > 0 and part.index.is_monotonic_increasing
    np.testing.assert_array_equal(part.index.to_numpy(), expected.index.to_numpy())
    assert part["stimulus_presentation_id"].tolist() == expected["stimulus_presentation_id"].tolist()
    assert part["unit_id"].tolist() == expected["unit_id"].tolist()
    with pytest.raises(UnitNotFoundError):
        session.presentationwise_spike_times(unit_ids=[123])


def test_raster_rows_are_sorted_by_condition_with_visible_marks(tmp_path, session):
    """Issue 12 item 13: trials sorted by stimulus condition, a tick per spike, an uncut title."""
    import matplotlib.pyplot as plt

    from brainbridge.ecephys.plots import _trial_order, plot_unit

    presentations = pd.DataFrame({"stimulus_name": ["b", "a", "b", "a"], "orientation": [0, 90, 0, 0]})
    rank, starts, described = _trial_order(presentations, 4)
    assert rank.tolist() == [2, 1, 3, 0] and starts.tolist() == [1, 2]  # a/0, a/90, b/0 b/0
    assert described == "stimulus_name, orientation, then time"
    assert _trial_order(presentations, 3)[2] == "time"  # onsets were dropped: time order
    uid = session.units.index[0]
    figure = plot_unit(session, uid, window=(-0.1, 0.3), bin_size=0.05)
    try:
        raster, psth = figure.axes
        ticks = [c for c in raster.collections if c.get_segments()]
        assert ticks and max(
            np.ptp(np.asarray(seg)[:, 1]) for seg in ticks[0].get_segments()
        ) == pytest.approx(0.9)
        assert "sorted by" in raster.get_title(loc="left") and "spikes/s" in psth.get_ylabel()
        assert raster.get_legend() is not None and psth.get_legend() is not None
        title = figure._suptitle
        figure.canvas.draw()
        box = title.get_window_extent()
        assert box.x0 >= 0 and box.x1 <= figure.bbox.width  # the title fits the figure
    finally:
        plt.close(figure)

"""The fMRI and EEG/MEG kinds of ``assembly.brainbridge.plot``: the plotted numbers, checked
against independent pandas/numpy computations and the published formulas."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from brainbridge.assemblies import EEGAssembly, MEGAssembly, NeuronRecordingAssembly, VoxelAssembly
from brainbridge.assembly_plots import KINDS_BY_MODALITY, balanced_trials, modality_of
from brainbridge.errors import InvalidParameterError
from brainbridge.regions import CHANNEL_GROUPS, channel_group

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CHANNELS = ["Oz", "PO8", "O1", "Pz", "CP1", "TP9", "Cz", "FC2", "FT9", "T7", "Fp1", "AF3", "F4"]
GROUP_OF = {  # by hand, from the 10-10 names
    "Oz": "occipital",
    "PO8": "occipital",
    "O1": "occipital",
    "Pz": "parietal",
    "CP1": "parietal",
    "TP9": "parietal",
    "Cz": "central",
    "FC2": "central",
    "FT9": "central",
    "T7": "central",
    "Fp1": "frontal",
    "AF3": "frontal",
    "F4": "frontal",
}


def _voxels(n_stimuli=8, n_reps=3, seed=0, ncsnr=True) -> VoxelAssembly:
    rng = np.random.default_rng(seed)
    n_voxels = 10
    stim = np.tile(np.arange(n_stimuli), n_reps)
    return VoxelAssembly.from_arrays(
        rng.normal(size=(len(stim), n_voxels)),
        stimulus_id=[f"s{i}" for i in stim],
        subject=["subj01"] * 6 + ["subj02"] * 4,
        rois={
            "V1": np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 0], bool),
            "early": np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 0], bool),  # overlaps V1
            "LOC": np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 1], bool),
        },
        ncsnr=np.linspace(0.1, 1.5, n_voxels) if ncsnr else None,
    )


def _eeg(n_stimuli=6, n_reps=4, seed=1, cls=EEGAssembly) -> EEGAssembly:
    rng = np.random.default_rng(seed)
    stim = np.tile(np.arange(n_stimuli), n_reps)
    times = np.round(np.arange(-2, 8) * 0.01, 3)
    signal = rng.normal(size=(n_stimuli, len(CHANNELS), len(times)))
    values = signal[stim] + 0.5 * rng.normal(size=(len(stim), len(CHANNELS), len(times)))
    return cls.from_arrays(values, stimulus_id=[f"s{i}" for i in stim], channel_name=CHANNELS, time=times)


def _lines(ax, prefix: str) -> dict[str, np.ndarray]:
    return {
        line.get_gid().split(":", 1)[1]: np.asarray(line.get_ydata(), dtype=float)
        for line in ax.lines
        if (line.get_gid() or "").startswith(prefix + ":")
    }


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_channel_groups_follow_the_10_10_prefixes_longest_first():
    assert {name: channel_group(name) for name in CHANNELS} == GROUP_OF
    assert channel_group("Fpz") == "frontal" and channel_group("POz") == "occipital"
    # a name with none of the prefixes (an MEG sensor, an EOG channel) is not guessed into a group
    assert channel_group("MEG0111") == "other" and channel_group("EOG") == "other"
    assert set(CHANNEL_GROUPS) == {"occipital", "parietal", "central", "frontal"}


def test_the_examples_and_the_assemblies_module_use_the_one_rule():
    from brainbridge import assemblies
    from brainbridge.examples import modalities

    assert modalities.channel_group is channel_group is assemblies.channel_group
    assert modalities.CHANNEL_GROUPS is CHANNEL_GROUPS is assemblies.CHANNEL_GROUPS


def test_ceiling_plot_shows_nsd_formula_per_roi_and_subject_with_repetitions_stated():
    assembly = _voxels()
    ax = assembly.brainbridge.plot(kind="ceiling")
    ncsnr = assembly["ncsnr"].values
    expected = ncsnr**2 / (ncsnr**2 + 1 / 3)  # NSD's formula, n = 3 repetitions
    shown = _lines(ax, "ceiling")
    subjects = assembly["subject"].values
    assert set(shown) == {f"{roi}:{s}" for roi in ("V1", "early", "LOC") for s in ("subj01", "subj02")}
    for key, values in shown.items():
        roi, subject = key.split(":")
        members = assembly[f"roi_{roi}"].values & (subjects == subject)
        np.testing.assert_allclose(values, expected[members], rtol=1e-12)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["V1", "early", "LOC"]
    assert "n=3 repetitions" in ax.get_title()
    # another n is taken as given and stated
    ax = assembly.brainbridge.plot(kind="ceiling", repetitions=1)
    np.testing.assert_allclose(
        np.sort(np.concatenate(list(_lines(ax, "ceiling").values()))),
        np.sort(
            np.concatenate(
                [(ncsnr**2 / (ncsnr**2 + 1))[assembly[f"roi_{r}"].values] for r in ("V1", "early", "LOC")]
            )
        ),
    )
    assert "n=1 repetitions" in ax.get_title()


def test_ceiling_without_ncsnr_computes_it_from_the_trials():
    bare = _voxels(ncsnr=False)
    ax = bare.brainbridge.plot(kind="ceiling")
    # NSD's ncsnr by hand: noise = mean within-stimulus variance (ddof=1), signal = total - noise
    frame = pd.DataFrame(np.asarray(bare.values), index=bare["stimulus_id"].values)
    noise = frame.groupby(level=0).var(ddof=1).mean(axis=0).to_numpy()
    signal = np.maximum(frame.var(ddof=1).to_numpy() - noise, 0)
    snr2 = signal / noise
    expected = snr2 / (snr2 + 1 / 3)
    v1 = bare["roi_V1"].values & (bare["subject"].values == "subj01")
    np.testing.assert_allclose(_lines(ax, "ceiling")["V1:subj01"], expected[v1], rtol=1e-10)
    assert "computed from the trials" in ax.get_title()


def test_erp_lines_are_the_trial_mean_averaged_over_each_channel_group():
    assembly = _eeg()
    ax = assembly.brainbridge.plot(kind="erp")
    values = np.asarray(assembly.transpose("presentation", "channel", "time_bin").values)
    names = np.asarray(assembly["channel_name"].values)[None, :, None]
    times = np.asarray(assembly["time"].values)[None, None, :]
    frame = pd.DataFrame(
        {
            "v": values.ravel(),
            "channel_name": np.broadcast_to(names, values.shape).ravel(),
            "time": np.broadcast_to(times, values.shape).ravel(),
        }
    )
    frame["group"] = frame["channel_name"].map(GROUP_OF)
    # the trial mean per channel and time, then the mean over the group's channels
    per_channel = frame.groupby(["group", "channel_name", "time"])["v"].mean()
    expected = per_channel.groupby(level=["group", "time"]).mean().unstack("time")
    shown = _lines(ax, "erp")
    assert list(shown) == ["occipital", "parietal", "central", "frontal"]
    for group, values in shown.items():
        np.testing.assert_allclose(values, expected.loc[group].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(-2, 8) * 10.0)
    assert "24 trials" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "occipital (3 ch.)"


def test_erp_works_for_meg_and_puts_unknown_sensors_in_one_group():
    assembly = _eeg(cls=MEGAssembly)
    assembly = assembly.assign_coords(channel_name=("channel", [f"MEG{i:04d}" for i in range(len(CHANNELS))]))
    ax = assembly.brainbridge.plot(kind="erp")
    shown = _lines(ax, "erp")
    assert list(shown) == ["other"]
    np.testing.assert_allclose(shown["other"], assembly.values.mean(axis=(0, 1)), rtol=1e-10)


def test_reliability_lines_are_neds_split_half_ceilings_averaged_per_group():
    from brainbridge import stats

    assembly = _eeg()
    ax = assembly.brainbridge.plot(kind="reliability", n_iterations=4, random_state=3)
    trials, _ids = assembly.trials()  # balanced: (6 stimuli, 4 repetitions, channels, times)
    result = stats.split_half_ceilings(trials, n_iterations=4, random_state=3)
    groups = np.array([GROUP_OF[c] for c in CHANNELS])
    for bound, values in (("lower", result.lower), ("upper", result.upper)):
        shown = _lines(ax, bound)
        for group in ("occipital", "parietal", "central", "frontal"):
            np.testing.assert_allclose(shown[group], values[groups == group].mean(axis=0), rtol=1e-10)
    assert "6 stimuli x 4 repetitions" in ax.get_title() and "4 random halvings" in ax.get_title()


def test_reliability_uses_a_balanced_subset_of_unbalanced_repetitions():
    # 4 stimuli shown 2 times, 3 shown 5 times: 3 x 5 = 15 trials beat 7 x 2 = 14
    codes = np.array([0, 1, 2, 3, 4, 5, 6] * 2 + [4, 5, 6] * 3)
    table = balanced_trials(codes)
    assert table.shape == (3, 5)
    np.testing.assert_array_equal(codes[table], np.repeat([[4], [5], [6]], 5, axis=1))
    # first repetitions first, in presentation order
    np.testing.assert_array_equal(table[0], np.flatnonzero(codes == 4))
    two = balanced_trials(codes, repetitions=2)
    assert two.shape == (7, 2) and (codes[two] == np.arange(7)[:, None]).all()
    np.testing.assert_array_equal(two[:, 0], np.arange(7))
    with pytest.raises(InvalidParameterError, match="at least two stimuli"):
        balanced_trials(np.arange(5))
    with pytest.raises(InvalidParameterError, match="repetitions must be >= 2"):
        balanced_trials(codes, repetitions=6)


def test_a_kind_for_another_modality_is_refused_with_the_kinds_that_fit():
    assert modality_of(_voxels()) == "fmri" and modality_of(_eeg()) == "eeg"
    with pytest.raises(InvalidParameterError, match=r"Valid values are: \['erp', 'reliability'\]") as e:
        _eeg().brainbridge.plot(kind="ceiling")
    assert "fMRI" in str(e.value)
    with pytest.raises(InvalidParameterError, match=r"Valid values are: \['ceiling'\]"):
        _voxels().brainbridge.plot(kind="psth")
    with pytest.raises(InvalidParameterError, match=r"Valid values are: \['ceiling'\]"):
        _voxels().brainbridge.plot(kind="erp")
    spikes = NeuronRecordingAssembly(
        np.zeros((4, 2)),
        dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", list("abab")), "neuroid_id": ("neuroid", ["n0", "n1"])},
    )
    with pytest.raises(InvalidParameterError, match=r"Valid values are: \['regions', 'psth', 'rdm'\]"):
        spikes.brainbridge.plot(kind="erp")
    assert KINDS_BY_MODALITY["eeg"] == ("erp", "reliability")


def test_ceiling_needs_roi_coordinates_and_reliability_needs_repeats():
    plain = _voxels().reset_index("voxel")
    no_roi = plain.drop_vars(["roi_V1", "roi_early", "roi_LOC"])
    with pytest.raises(InvalidParameterError, match="roi_<name>"):
        no_roi.brainbridge.plot(kind="ceiling")
    once = _eeg(n_reps=1)
    with pytest.raises(InvalidParameterError, match="at least two stimuli shown at least twice"):
        once.brainbridge.plot(kind="reliability")


def test_labels_from_the_data_are_drawn_as_written_not_as_mathtext():
    import io

    rng = np.random.default_rng(2)
    odd = VoxelAssembly.from_arrays(
        rng.normal(size=(6, 3)),
        stimulus_id=["a", "b", "c"] * 2,
        subject=["$\\frac{$", "$x$", "$x$"],
        rois={"$\\bad{": np.array([True, True, True])},
        ncsnr=np.array([0.5, 1.0, 0.2]),
    )
    ax = odd.brainbridge.plot(kind="ceiling")
    ax.figure.savefig(io.BytesIO(), format="svg")  # a mathtext parse error would raise here
    assert [t.get_text() for t in ax.get_xticklabels()] == ["\\$\\bad{"]

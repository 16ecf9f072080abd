"""The simulated NSD-like fMRI and THINGS-EEG2-like EEG sets and the main job's steps on them."""

from __future__ import annotations

import numpy as np
import pytest

from brainbridge.assemblies import EEGAssembly, VoxelAssembly, roi_names, select_rois
from brainbridge.examples import modalities
from brainbridge.examples.modalities_job import MODALITY_STEPS
from brainbridge.stats import ncsnr


def test_fmri_set_has_the_documented_design_and_true_ncsnr():
    a = modalities.fmri_assembly()
    assert isinstance(a, VoxelAssembly) and a.shape == (1200, 180)
    a.validate()
    assert roi_names(a) == ["V1", "V4", "LOC", "early"]
    assert select_rois(a, "early").sizes["voxel"] == 120 == select_rois(a, ["V1", "V4"]).sizes["voxel"]
    assert sorted(set(a["subject"].values)) == ["subj01", "subj02"]
    split = np.asarray(a["split"].values)
    assert (split == "test").sum() == 60 * 3 and len(set(a["stimulus_id"].values[split == "test"])) == 60
    # the coordinate holds the true ncsnr: NSD's estimate from the 3 repetitions recovers it
    codes = np.unique(np.asarray(a["stimulus_id"].values), return_inverse=True)[1]
    estimated = ncsnr(np.asarray(a.values), codes)
    assert np.corrcoef(estimated, a["ncsnr"].values)[0, 1] > 0.9
    np.testing.assert_array_equal(modalities.fmri_assembly().values, a.values)  # deterministic


def test_eeg_set_has_the_documented_design_and_no_signal_before_onset():
    a = modalities.eeg_assembly()
    assert isinstance(a, EEGAssembly) and a.shape == (1560, 63, 140)
    a.validate()
    times = a["time"].values
    assert (
        times[0] == pytest.approx(-0.1)
        and times[-1] == pytest.approx(0.595)
        and len(set(a["channel_name"].values)) == 63
    )
    split = np.asarray(a["split"].values)
    train, _ = EEGAssembly(a.isel(presentation=np.flatnonzero(split == "train"))).trials()
    test, _ = EEGAssembly(a.isel(presentation=np.flatnonzero(split == "test"))).trials()
    assert train.shape == (240, 4, 63, 140) and test.shape == (60, 10, 63, 140)
    truth = modalities.eeg_truth()["signal"]
    assert np.abs(truth[:, :, times < 0]).max() == 0
    oz, peak = list(a["channel_name"].values).index("Oz"), int(np.argmin(np.abs(times - 0.1)))
    assert truth[:, oz, peak].std() > 2  # the early component varies across images at Oz, 100 ms
    assert {modalities.channel_group(c) for c in modalities.CHANNELS} == set(modalities.CHANNEL_GROUPS)


def test_the_job_steps_train_score_plot_and_export_fmri_and_eeg(tmp_path):
    context = {"out_dir": tmp_path}
    lines = []
    for _name, step in MODALITY_STEPS:
        step(context, lines.append)
    fmri = context["fmri_scores"].set_index(["subject", "roi"])["median_r"]
    for subject in ("subj01", "subj02"):
        # the truth: V1 is linear in Gabor energy, V4 a squared readout, LOC identity tuning
        assert fmri[(subject, "V1")] > fmri[(subject, "V4")] > fmri[(subject, "LOC")]
    ceilings = context["fmri_scores"]["median_ceiling_r"]
    assert (context["fmri_scores"]["median_r"] < ceilings).all()
    eeg = context["eeg_scores"].set_index("group")
    assert 80 <= eeg.loc["occipital", "peak_ms"] <= 130 and eeg.loc["occipital", "peak_r"] > 0.4
    assert (eeg["mean_r_before_0ms"].abs() < 0.05).all()
    assert eeg.loc["occipital", "peak_r"] <= eeg.loc["occipital", "upper_ceiling_at_peak"]
    assert context["eeg_predictions_shape"] == (60, 4, 63, 140)
    for name in ("fmri_r_vs_ceiling.png", "eeg_r_over_time.png", "fmri_scores.csv", "eeg_scores.csv"):
        assert (tmp_path / name).stat().st_size > (10_000 if name.endswith(".png") else 300)
    assert context["ned_shapes"] == {"fmri": (24, 30), "eeg": (24, 4, 63, 140)}
    assert any(line.startswith("NED layout") for line in lines)
    from brainbridge import catalogs
    from brainbridge.examples import CATALOG_NAME, examples_dir

    # built once, the two sets are rows of the example catalog itself, inside its folder
    for identifier in (modalities.FMRI_IDENTIFIER, modalities.EEG_IDENTIFIER):
        row = catalogs.lookup_assembly(identifier)
        assert row["source_catalog"] == CATALOG_NAME and row["location"].startswith("modalities/")
        assert (examples_dir() / row["location"]).is_file()
    assert modalities.MODALITIES_CATALOG not in catalogs.list_catalogs()  # no second catalog registered
    catalogs.reload_catalogs()  # a new session sees them without any call
    assert catalogs.get_assembly(modalities.FMRI_IDENTIFIER).shape == (1200, 180)

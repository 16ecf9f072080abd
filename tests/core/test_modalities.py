"""fMRI (VoxelAssembly) and EEG/MEG (EEGAssembly) assemblies and their reliability statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from brainbridge import catalogs
from brainbridge.assemblies import (
    EEGAssembly,
    MEGAssembly,
    VoxelAssembly,
    assembly_class,
    roi_mask,
    roi_names,
    select,
    select_rois,
)
from brainbridge.catalogs import Catalog
from brainbridge.errors import AssemblyError, ValidationError
from brainbridge.packaging import package_data_assembly, package_stimulus_set, write_netcdf, write_zarr
from brainbridge.stats import ncsnr, ncsnr_noise_ceiling, split_half_ceilings
from brainbridge.stimuli import StimulusSet

IDS = [f"img{i:02d}" for i in range(6)]


def voxels(seed=0, reps=3) -> VoxelAssembly:
    rng = np.random.default_rng(seed)
    n_vox = 5
    return VoxelAssembly.from_arrays(
        rng.normal(size=(len(IDS) * reps, n_vox)).astype("float32"),
        stimulus_id=IDS * reps,
        subject=["subj01"] * 3 + ["subj02"] * 2,
        rois={
            "V1": [True, True, False, False, False],
            "early": [True, True, True, False, False],
            "FFA-1": [False, False, False, True, True],
        },
        xyz=np.arange(15).reshape(5, 3),
        ncsnr=[0.5, 0.4, 0.1, np.nan, 0.7],
    )


def eeg(seed=0, reps=4, cls=EEGAssembly) -> EEGAssembly:
    rng = np.random.default_rng(seed)
    return cls.from_arrays(
        rng.normal(size=(len(IDS) * reps, 3, 8)).astype("float32"),
        stimulus_id=IDS * reps,
        channel_name=["Fp1", "Oz", "O1"],
        time=np.arange(-2, 6) * 0.005,
        subject="sub-01",
    )


def test_voxel_assembly_holds_overlapping_rois_and_selects_them():
    a = voxels()
    assert roi_names(a) == ["V1", "early", "FFA-1"]
    assert select_rois(a, "early").sizes["voxel"] == 3
    both = select_rois(a, ["V1", "early"])  # a voxel in two ROIs is kept once
    assert both["voxel_id"].values.tolist() == ["subj01_v0", "subj01_v1", "subj01_v2"]
    assert roi_mask(a, "FFA-1").tolist() == [False, False, False, True, True]
    assert a["repetition"].values.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert a.sel(subject="subj02").sizes["voxel"] == 2
    with pytest.raises(AssemblyError, match="Valid values are.*'V1'"):
        select_rois(a, "V7")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.rename(voxel="neuroid"), "presentation x voxel"),
        (
            lambda a: a.reset_index("voxel").drop_vars(["roi_V1", "roi_early", "roi_FFA-1"]),
            "at least one boolean ROI",
        ),
        (lambda a: a.reset_index("voxel").assign_coords(roi_V1=("voxel", np.arange(5))), "must be boolean"),
        (lambda a: a.reset_index("voxel").drop_vars("subject"), "'subject' \\(on voxel\\) is missing"),
        (lambda a: a.reset_index("voxel").assign_coords(ncsnr=("voxel", -np.ones(5))), "non-negative"),
    ],
)
def test_voxel_assembly_validation_says_what_is_wrong(change, message):
    broken = VoxelAssembly(change(voxels()))
    with pytest.raises(AssemblyError, match=message):
        broken.validate()


def test_eeg_assembly_layout_trials_and_time_selection():
    a = eeg()
    assert a.dims == ("presentation", "channel", "time_bin")
    assert a["time_bin_start"].values[:2].tolist() == [-10.0, -5.0]
    assert select(a, time_bin=(0.0, 5.0)).sizes["time_bin"] == 1
    trials, ids = a.trials()
    assert trials.shape == (6, 4, 3, 8) and ids == IDS
    np.testing.assert_array_equal(trials[2, 3], a.values[3 * 6 + 2])
    with pytest.raises(AssemblyError, match="different numbers of repetitions"):
        EEGAssembly(a.isel(presentation=slice(0, 20))).trials()
    bad = EEGAssembly(
        a.reset_index("channel_name").assign_coords(channel_name=("channel", ["Oz", "Oz", "O1"]))
    )
    with pytest.raises(AssemblyError, match="channel names repeat"):
        bad.validate()
    with pytest.raises(AssemblyError, match="time_bin"):
        EEGAssembly(a.isel(time_bin=0)).validate()


@pytest.mark.parametrize("make", [voxels, eeg, lambda: eeg(cls=MEGAssembly)])
@pytest.mark.parametrize("fmt", ["netcdf", "zarr"])
def test_files_round_trip_with_class_and_coordinates(make, fmt, tmp_path):
    a = make()
    cls = type(a)
    path = tmp_path / ("a.nc" if fmt == "netcdf" else "a.zarr")
    (write_netcdf if fmt == "netcdf" else write_zarr)(a, path)
    loaded = cls.from_files(path)
    assert type(loaded) is cls
    loaded.validate()
    np.testing.assert_array_equal(loaded.values, a.values)
    for name in a.coords:
        if name not in a.dims:
            np.testing.assert_array_equal(np.asarray(loaded[name].values), np.asarray(a[name].values))
    if cls is VoxelAssembly:
        assert loaded["roi_V1"].dtype == bool
        assert select_rois(loaded, "early").sizes["voxel"] == 3


@pytest.fixture
def catalog(tmp_path):
    name = f"test-modalities-{tmp_path.name}"
    created = catalogs.register(Catalog.create(name, tmp_path / "catalog" / "lookup.csv"))
    yield created
    catalogs.unregister(name)


def test_package_fetch_and_load_through_a_catalog(catalog, tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    stimuli = StimulusSet({"stimulus_id": IDS, "category": ["face", "house"] * 3})
    stimuli.stimulus_paths = {}
    for sid in IDS:
        (folder / f"{sid}.png").write_bytes(sid.encode())
        stimuli.stimulus_paths[sid] = folder / f"{sid}.png"
    package_stimulus_set(catalog.identifier, stimuli, "test.modalities.stimuli")
    package_data_assembly(
        catalog.identifier,
        voxels(),
        "test.fmri",
        "test.modalities.stimuli",
        assembly_class_name="VoxelAssembly",
    )
    package_data_assembly(
        catalog.identifier, eeg(), "test.eeg", "test.modalities.stimuli", assembly_class_name="EEGAssembly"
    )
    with pytest.raises(AssemblyError, match="presentation x voxel"):
        package_data_assembly(
            catalog.identifier,
            eeg(),
            "test.bad",
            "test.modalities.stimuli",
            assembly_class_name="VoxelAssembly",
        )
    fmri = catalogs.get_assembly("test.fmri")
    assert type(fmri) is VoxelAssembly and fmri["category"].values[:2].tolist() == ["face", "house"]
    np.testing.assert_allclose(fmri["ncsnr"].values, voxels()["ncsnr"].values)
    loaded = catalogs.get_assembly("test.eeg")
    assert type(loaded) is EEGAssembly and loaded["channel_name"].values.tolist() == ["Fp1", "Oz", "O1"]
    assert assembly_class("VoxelAssembly") is VoxelAssembly


# --------------------------------------------------------------------------------------
# reliability
# --------------------------------------------------------------------------------------


def ncsnr_by_hand(trials: np.ndarray, stimulus_ids: list) -> np.ndarray:
    frame = pd.DataFrame(trials)
    frame["s"] = stimulus_ids
    noise_var = frame.groupby("s").var(ddof=1).mean(axis=0).to_numpy()
    total = trials.var(axis=0, ddof=1)
    return np.sqrt(np.clip(total - noise_var, 0, None)) / np.sqrt(noise_var)


def test_ncsnr_matches_the_nsd_formula_and_the_simulated_snr():
    rng = np.random.default_rng(0)
    n_images, reps = 400, 3
    signal = rng.normal(size=(n_images, 4)) * np.array([1.0, 0.5, 0.0, 2.0])
    codes = np.tile(np.arange(n_images), reps)
    trials = signal[codes] + rng.normal(size=(n_images * reps, 4))
    got = ncsnr(trials, codes)
    np.testing.assert_allclose(got, ncsnr_by_hand(trials, list(codes)), rtol=1e-12)
    np.testing.assert_allclose(got[[0, 1, 3]], [1.0, 0.5, 2.0], atol=0.12)
    assert got[2] < 0.15
    nc = ncsnr_noise_ceiling(got, reps)
    assert nc[3] > nc[0] > nc[1] > nc[2]
    with pytest.raises(ValidationError, match="at least twice"):
        ncsnr(trials[:n_images], codes[:n_images])


def test_split_half_ceilings_match_an_independent_implementation():
    rng = np.random.default_rng(1)
    signal = rng.normal(size=(30, 2, 5))
    responses = signal[:, None] + rng.normal(size=(30, 8, 2, 5)) * 1.5
    predictions = signal + rng.normal(size=signal.shape)
    got = split_half_ceilings(responses, predictions, n_iterations=4, random_state=3)
    # independent: scipy's pearsonr per output, the same halvings
    permutations = np.random.default_rng(3)
    lower = np.zeros((4, 2, 5))
    upper = np.zeros((4, 2, 5))
    accuracy = np.zeros((4, 2, 5))
    for i in range(4):
        order = permutations.permutation(8)
        half1 = responses[:, order[:4]].mean(axis=1)
        half2 = responses[:, order[4:]].mean(axis=1)
        for c in range(2):
            for t in range(5):
                lower[i, c, t] = scipy.stats.pearsonr(half2[:, c, t], half1[:, c, t])[0]
                upper[i, c, t] = scipy.stats.pearsonr(responses.mean(axis=1)[:, c, t], half1[:, c, t])[0]
                accuracy[i, c, t] = scipy.stats.pearsonr(predictions[:, c, t], half1[:, c, t])[0]
    np.testing.assert_allclose(got.lower, lower.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(got.upper, upper.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(got.accuracy, accuracy.mean(axis=0), atol=1e-12)
    assert (got.upper > got.lower).all()
    assert split_half_ceilings(responses).accuracy is None
    with pytest.raises(ValidationError, match="predictions must have shape"):
        split_half_ceilings(responses, predictions[:, 0])

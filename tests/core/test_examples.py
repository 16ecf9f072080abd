"""The bundled example catalog: deterministic files, the documented ground truth, the main job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import brainbridge
from brainbridge import config
from brainbridge.examples import (
    ASSEMBLY_IDENTIFIER,
    CATALOG_NAME,
    STIMULUS_IDENTIFIER,
    ensure_examples,
    example_catalog,
    examples_dir,
    ground_truth,
    new_images_dir,
    new_images_metadata,
)
from brainbridge.examples.images import METADATA_COLUMNS, generate
from brainbridge.examples.main_job import run_main_job, split_half_reliability
from brainbridge.fetch import sha1_hash
from brainbridge.gabor import GaborBank

ROOT = Path(__file__).resolve().parents[2]


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


# --------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------


def test_build_writes_a_complete_catalog_with_true_checksums(prebuilt):
    lookup = pd.read_csv(prebuilt / "lookup.csv", dtype=str, keep_default_na=False)
    assert set(lookup["identifier"]) == {STIMULUS_IDENTIFIER, ASSEMBLY_IDENTIFIER}
    assert (lookup["location_type"] == "local").all()
    for location, sha1 in zip(lookup["location"], lookup["sha1"]):
        assert not Path(location).is_absolute()  # relative: the folder can move
        assert sha1_hash(prebuilt / location) == sha1
    manifest = _manifest(prebuilt)
    for name, entry in manifest["files"].items():
        assert sha1_hash(prebuilt / name) == entry["sha1"]
    pngs = sorted((prebuilt / "new_images").glob("*.png"))
    assert len(pngs) == 24 and all(p.name.startswith("new_") for p in pngs)
    assert sorted(p.name for p in (prebuilt / "new_images").iterdir()) == [
        p.name for p in pngs
    ]  # images only


@pytest.mark.slow
def test_same_bytes_in_other_processes_and_concurrent_builds_share_one_folder(prebuilt, tmp_path):
    # two fresh processes race to build the same folder: the lock makes one build, the other waits
    script = textwrap.dedent(
        """
        import sys
        from brainbridge.examples import ensure_examples
        print(ensure_examples(sys.argv[1]))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _out, err in outputs]
    folders = {out.strip() for out, _err in outputs}
    assert folders == {str(examples_dir(tmp_path))}
    assert _manifest(examples_dir(tmp_path))["files"] == _manifest(prebuilt)["files"]
    leftovers = [p.name for p in (tmp_path / "examples").iterdir() if "partial" in p.name]
    assert leftovers == []


def test_missing_file_is_regenerated_identically(prebuilt, tmp_path):
    folder = examples_dir(tmp_path)
    shutil.copytree(prebuilt, folder)
    victim = folder / "assy_brainbridge_example_neural.nc"
    expected = sha1_hash(victim)
    victim.unlink()
    (folder / "new_images" / "new_01.png").write_bytes(b"truncated")  # wrong size: incomplete too
    assert ensure_examples(tmp_path) == folder
    assert sha1_hash(victim) == expected
    assert _manifest(folder)["files"] == _manifest(prebuilt)["files"]


def test_complete_folder_is_not_rebuilt(prebuilt, tmp_path):
    folder = examples_dir(tmp_path)
    shutil.copytree(prebuilt, folder)
    marker = folder / "lookup.csv"
    before = marker.stat().st_mtime_ns
    ensure_examples(tmp_path)
    assert marker.stat().st_mtime_ns == before


# --------------------------------------------------------------------------------------
# stimuli
# --------------------------------------------------------------------------------------


def test_stimulus_set_design():
    batch = generate(2024)
    meta = batch.metadata
    assert list(meta.columns) == list(METADATA_COLUMNS)
    assert batch.images.shape == (400, 64, 64, 3) and batch.images.dtype == np.uint8
    assert meta["category_name"].value_counts().to_dict() == {"shape": 160, "grating": 144, "texture": 96}
    assert meta["object_name"].value_counts().min() >= 8
    assert meta["stimulus_id"].tolist() == [f"{i:04d}" for i in range(1, 401)]
    assert meta["stimulus_id"].is_unique
    # every image is different
    flat = batch.images.reshape(len(batch.images), -1)
    assert len(np.unique(flat, axis=0)) == 400
    # deterministic in memory too
    np.testing.assert_array_equal(generate(2024).images, batch.images)
    assert not np.array_equal(generate(2025).images, batch.images)


def test_grating_orientation_drives_the_matching_gabor_channel():
    truth = ground_truth()  # its features are the default GaborBank's
    gratings = (truth.metadata["category_name"] == "grating").to_numpy()
    bank = GaborBank()
    energy = truth.features[gratings]
    per_channel = energy.reshape(len(energy), len(bank.channels), -1).sum(axis=2)
    orientation_of_channel = np.array([np.degrees(t) for t, _ in bank.channels])
    best = orientation_of_channel[per_channel.argmax(axis=1)]
    assert np.mean(best == truth.metadata.loc[gratings, "orientation"].to_numpy()) > 0.95


def test_new_images_are_not_in_the_stimulus_set(examples):
    folder = new_images_dir()
    metadata = new_images_metadata()
    assert len(metadata) == 24 and metadata["object_name"].is_unique
    assert metadata["stimulus_id"].iloc[0] == "new_01"
    from PIL import Image

    recorded = {img.tobytes() for img in ground_truth().images}
    for filename in metadata["filename"]:
        with Image.open(folder / filename) as img:
            pixels = np.asarray(img.convert("RGB"))
        assert pixels.shape == (64, 64, 3)
        assert pixels.tobytes() not in recorded
    np.testing.assert_array_equal(
        np.stack([np.asarray(Image.open(folder / f).convert("RGB")) for f in metadata["filename"]]),
        ground_truth("new_images").images,
    )


# --------------------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------------------


def _ridge_cv_predictions(x: np.ndarray, y: np.ndarray, folds: np.ndarray, alpha: float) -> np.ndarray:
    predictions = np.empty_like(y)
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        mu, sd = x[train].mean(0), x[train].std(0) + 1e-9
        xt, xs = (x[train] - mu) / sd, (x[test] - mu) / sd
        ym = y[train].mean(0)
        w = np.linalg.solve(xt.T @ xt + alpha * np.eye(x.shape[1]), xt.T @ (y[train] - ym))
        predictions[test] = xs @ w + ym
    return predictions


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))


def test_v1_truth_is_a_linear_readout_of_gabor_features():
    truth = ground_truth()
    v1 = np.asarray(truth.responses.sel(region="V1").values)
    x = np.c_[truth.features.astype(np.float64), np.ones(len(truth.features))]
    coef, *_ = np.linalg.lstsq(x, v1, rcond=None)
    residual = v1 - x @ coef
    r2 = 1 - (residual**2).sum(0) / ((v1 - v1.mean(0)) ** 2).sum(0)
    assert r2.min() > 0.999
    # the weights are sparse and non-negative, the documented readout
    weights = truth.model.v1_weights
    assert (weights >= 0).all() and ((weights > 0).sum(axis=1) <= 12).all()
    assert truth.responses.sizes == {"presentation": 400, "neuroid": 80}


def test_it_truth_depends_on_identity_only():
    truth = ground_truth()
    it = pd.DataFrame(np.asarray(truth.responses.sel(region="IT").values))
    meta = truth.metadata
    identity = np.where(meta["category_name"] == "shape", meta["object_name"], meta["category_name"])
    spread = it.groupby(identity).std().to_numpy()
    assert np.nanmax(spread) < 1e-9  # constant within an identity: position/size/colour invariant


def test_recording_has_the_documented_noise_ceiling_and_gabor_explains_v1_not_it(examples):
    assembly = brainbridge.get_assembly(ASSEMBLY_IDENTIFIER)
    reliability = split_half_reliability(assembly, n_splits=10).squeeze()
    regions = np.asarray(assembly["region"].values)
    for region in ("V1", "IT"):
        assert 0.78 < np.median(reliability[regions == region]) < 0.92
    averaged = brainbridge.average_repetitions(assembly)
    truth = ground_truth()
    order = pd.Index(truth.metadata["stimulus_id"]).get_indexer(averaged["stimulus_id"].values)
    features = truth.features[order].astype(np.float64)
    responses = np.asarray(averaged.values)[:, :, 0].astype(np.float64)
    folds = pd.factorize(averaged["object_name"].values)[0]
    folds = np.array([i % 5 for i in range(len(folds))])[
        np.argsort(np.argsort(folds, kind="stable"))
    ]  # stratified
    predictions = _ridge_cv_predictions(features, responses, folds, alpha=10.0)
    ceiled = _pearson(predictions, responses) / reliability
    v1, it = np.median(ceiled[regions == "V1"]), np.median(ceiled[regions == "IT"])
    assert v1 > 0.9
    assert it < 0.6 and v1 - it > 0.4


# --------------------------------------------------------------------------------------
# catalog and loading
# --------------------------------------------------------------------------------------


def test_catalog_is_discovered_and_loads(examples):
    assert CATALOG_NAME in brainbridge.list_catalogs()
    assert ASSEMBLY_IDENTIFIER in brainbridge.list_assemblies()
    assert STIMULUS_IDENTIFIER in brainbridge.list_stimulus_sets()
    catalog = example_catalog()
    assert catalog.identifier == CATALOG_NAME and catalog.source_path == examples / "lookup.csv"
    catalog.validate()
    assembly = brainbridge.get_assembly(ASSEMBLY_IDENTIFIER)
    assert type(assembly).__name__ == "NeuronRecordingAssembly"
    assert dict(assembly.sizes) == {"presentation": 4000, "neuroid": 80, "time_bin": 1}
    assert assembly.attrs["stimulus_set_identifier"] == STIMULUS_IDENTIFIER
    assert assembly.sel(region="IT").sizes["neuroid"] == 40
    assert set(np.asarray(assembly["animal"].values)) == {"monkey_a", "monkey_b"}
    assert (assembly["time_bin_start"].values == 70).all() and (assembly["time_bin_end"].values == 170).all()
    counts = pd.Series(np.asarray(assembly["stimulus_id"].values)).value_counts()
    assert (counts == 10).all() and len(counts) == 400
    assert "0001" in counts.index  # ids stay strings
    # stimulus set columns merged onto presentations, consistent with the metadata
    stimulus_set = brainbridge.get_stimulus_set(STIMULUS_IDENTIFIER)
    lookup = stimulus_set.set_index("stimulus_id")["object_name"]
    merged = pd.Series(
        np.asarray(assembly["object_name"].values), index=np.asarray(assembly["stimulus_id"].values)
    )
    assert (lookup.loc[merged.index].to_numpy() == merged.to_numpy()).all()
    assert stimulus_set.get_stimulus("0001").exists()


def test_recorded_means_match_ground_truth(examples):
    assembly = brainbridge.get_assembly(ASSEMBLY_IDENTIFIER)
    averaged = brainbridge.average_repetitions(assembly)
    truth = ground_truth().responses
    order = pd.Index(truth["stimulus_id"].values).get_indexer(averaged["stimulus_id"].values)
    mu = np.asarray(truth.values)[order]
    observed = np.asarray(averaged.values)[:, :, 0]
    noise_sd = np.asarray(ground_truth().model.noise_sd)
    # the mean of 10 Gaussian repetitions deviates by noise_sd / sqrt(10) on average
    z = (observed - mu) / (noise_sd / np.sqrt(10))
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1


# --------------------------------------------------------------------------------------
# main job
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_main_job_produces_summary_and_plot(examples, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_EXAMPLE_FAMILIES", "gabor_v1")  # the encoding steps' cheapest family
    lines = []
    result = run_main_job(tmp_path / "out", echo=lines.append)
    plot = tmp_path / "out" / "responses.png"
    assert result["plot"] == plot and plot.stat().st_size > 10_000
    from PIL import Image

    with Image.open(plot) as img:
        assert img.size[0] > 800 and img.size[1] > 500
    summary = result["summary"]
    assert summary["region"].tolist() == ["V1", "IT"]
    assert summary["neuroids"].tolist() == [40, 40] and (summary["stimuli"] == 400).all()
    assert ((summary["split_half_reliability"] > 0.78) & (summary["split_half_reliability"] < 0.92)).all()
    assert pd.read_csv(tmp_path / "out" / "summary.csv")["region"].tolist() == ["V1", "IT"]
    text = "\n".join(lines)
    assert "split_half_reliability" in text and CATALOG_NAME in text
    assert result["averaged"].sizes["presentation"] == 400


def test_main_job_runs_its_steps_and_skips_encoding_without_the_extra(examples, tmp_path, monkeypatch):
    import sys

    from brainbridge.examples import main_job

    def extra(context, echo):
        context["extra"] = context["summary"]["neuroids"].sum()
        echo("extra step ran")

    assert main_job.default_steps() == [*main_job.CORE_STEPS, *main_job.ENCODING_STEPS]
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if the encoding extra were not installed
    steps = [s for s in main_job.default_steps() if s[0] not in ("plot",)] + [("extra", extra)]
    lines = []
    result = run_main_job(tmp_path, echo=lines.append, steps=steps)
    assert result["extra"] == 80
    assert any("skipped: scikit-learn is not installed" in line for line in lines)
    assert lines[-1] == "extra step ran" and "encoding_scores" not in result


def test_split_half_reliability_recovers_a_known_reliability():
    rng = np.random.default_rng(0)
    n_stimuli, reps, n = 300, 10, 20
    signal = rng.standard_normal((n_stimuli, n))
    noise_sd = np.sqrt(reps * (1 - 0.5) / 0.5)  # reliability 0.5 of the 10-repetition mean
    trials = signal[np.tile(np.arange(n_stimuli), reps)] + noise_sd * rng.standard_normal(
        (n_stimuli * reps, n)
    )
    assembly = brainbridge.NeuronRecordingAssembly(
        trials,
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", np.tile([f"s{i}" for i in range(n_stimuli)], reps)),
            "repetition": ("presentation", np.repeat(np.arange(reps), n_stimuli)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(n)]),
            "region": ("neuroid", ["A"] * n),
        },
    )
    estimate = split_half_reliability(assembly, n_splits=20)
    assert estimate.shape == (n,)
    assert abs(np.median(estimate) - 0.5) < 0.08
    with pytest.raises(brainbridge.errors.AssemblyError):
        split_half_reliability(assembly.isel(presentation=slice(0, n_stimuli)))


def test_home_is_where_examples_go():
    assert examples_dir() == config.home() / "examples" / "v1"

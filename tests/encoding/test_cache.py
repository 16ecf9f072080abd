"""Fit cache: content-hash keys, refits on any changed input, pickle-free storage."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.encoding import cache
from brainbridge.encoding.cache import cache_root, get_or_train, load_fit
from brainbridge.encoding.features import GaborV1
from brainbridge.stimuli import StimulusSet

N_STIMULI, N_REPS, N_NEUROIDS = 40, 4, 6


@pytest.fixture
def benchmark(tmp_path):
    """A small recording whose neuroids read Gabor energy features, with a stimulus set."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:32] / 32
    paths = {}
    images = []
    for i in range(N_STIMULI):
        theta, freq = rng.uniform(0, np.pi), rng.uniform(2, 8)
        gray = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (x * np.cos(theta) + y * np.sin(theta)))
        image = (np.repeat(gray[..., None], 3, axis=2) * 255).astype(np.uint8)
        paths[f"s{i:02d}"] = tmp_path / f"s{i:02d}.png"
        Image.fromarray(image).save(paths[f"s{i:02d}"])
        images.append(image.transpose(2, 0, 1))
    stimulus_set = StimulusSet.from_paths(paths, object_name=[f"o{i % 4}" for i in range(N_STIMULI)])
    features = GaborV1(image_size=32).extract(np.stack(images), progress=False).values
    weights = rng.standard_normal((features.shape[1], N_NEUROIDS)) * (
        rng.random((features.shape[1], 1)) < 0.05
    )
    mean = features @ weights
    values = (
        np.repeat(mean, N_REPS, axis=0)
        + rng.standard_normal((N_STIMULI * N_REPS, N_NEUROIDS)) * 0.1 * mean.std()
    )
    assembly = NeuronRecordingAssembly(
        values.astype(np.float32),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", np.repeat(list(paths), N_REPS)),
            "repetition": ("presentation", np.tile(np.arange(N_REPS), N_STIMULI)),
            "object_name": ("presentation", np.repeat([f"o{i % 4}" for i in range(N_STIMULI)], N_REPS)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(N_NEUROIDS)]),
            "region": ("neuroid", ["V1"] * 4 + ["V4"] * 2),
        },
    )
    assembly.attrs["stimulus_set"] = stimulus_set
    return assembly


def _train(extractor, layer, assembly, **kwargs):
    return get_or_train(
        extractor,
        layer,
        assembly,
        roi_coord="region",
        roi="V1",
        mapping_params={"alphas": [1e-2, 1e0, 1e2, 1e4]},
        progress=False,
        **kwargs,
    )


def _forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a cached fit should have been reused")

    monkeypatch.setattr(cache, "train_fit", fail)


def test_first_use_trains_then_the_cache_is_reused(benchmark, monkeypatch):
    extractor = GaborV1(image_size=32)
    fit = _train(extractor, "energy", benchmark)
    assert fit.path == cache_root() / fit.key and fit.path.is_dir()
    assert list(fit.neuroids["neuroid_id"]) == ["n0", "n1", "n2", "n3"]  # the ROI's neuroids only
    assert fit.info["summary"]["median_r"] > 0.8  # the right features predict held-out stimuli
    assert fit.accuracy["r_split"].shape == (10, 4)
    assert np.all(np.isfinite(fit.accuracy["ceiling"]))
    _forbid_training(monkeypatch)
    again = _train(GaborV1(image_size=32), "energy", benchmark)
    assert again.key == fit.key
    X = np.random.default_rng(1).random((3, fit.mapping.n_features_in_)).astype(np.float32)
    np.testing.assert_array_equal(again.mapping.predict(X), fit.mapping.predict(X))


def test_stored_as_arrays_and_json_never_pickles(benchmark):
    fit = _train(GaborV1(image_size=32), "energy", benchmark)
    names = sorted(p.name for p in fit.path.iterdir())
    assert names == ["accuracy.npz", "checksums.json", "fit.json", "mapping.npz", "neuroids.npz"]
    for name in ("accuracy.npz", "mapping.npz", "neuroids.npz"):
        with np.load(fit.path / name, allow_pickle=False) as data:  # would raise on object arrays
            assert all(data[k].dtype != object for k in data.files)


@pytest.mark.parametrize(
    "change",
    ["image_size", "layer", "assembly_value", "stimulus_file", "mapping_params", "library_version"],
)
def test_changed_inputs_force_a_refit(benchmark, change, monkeypatch):
    first = _train(GaborV1(image_size=32), "energy", benchmark)
    extractor, layer, assembly, extra = GaborV1(image_size=32), "energy", benchmark, {}
    if change == "image_size":
        extractor = GaborV1(image_size=16)
    elif change == "layer":
        layer = "linear"
    elif change == "assembly_value":
        values = benchmark.values.copy()
        values[0, 0] += 1.0
        assembly = benchmark.copy(data=values)
        assembly.attrs["stimulus_set"] = benchmark.attrs["stimulus_set"]
    elif change == "stimulus_file":
        path = benchmark.attrs["stimulus_set"].get_stimulus("s00")
        image = np.asarray(Image.open(path)).copy()
        image[0, 0] = 255 - image[0, 0]
        Image.fromarray(image).save(path)
    elif change == "library_version":
        monkeypatch.setattr(cache, "_version", lambda: "999.0.0")
    else:
        extra = {"mapping": "pls", "mapping_params": {"n_components": 3}}
    trained = []
    real = cache.train_fit
    monkeypatch.setattr(cache, "train_fit", lambda *a, **k: trained.append(1) or real(*a, **k))
    if extra:
        second = get_or_train(
            extractor, layer, assembly, roi_coord="region", roi="V1", progress=False, **extra
        )
    else:
        second = _train(extractor, layer, assembly)
    assert second.key != first.key
    assert trained == [1]


def test_catalog_checksums_are_used_as_given(benchmark, monkeypatch):
    first = _train(
        GaborV1(image_size=32), "energy", benchmark, assembly_sha1="a" * 40, stimulus_sha1="b" * 40
    )
    _forbid_training(monkeypatch)
    assert (
        _train(
            GaborV1(image_size=32), "energy", benchmark, assembly_sha1="a" * 40, stimulus_sha1="b" * 40
        ).key
        == first.key
    )
    monkeypatch.undo()
    assert (
        _train(
            GaborV1(image_size=32), "energy", benchmark, assembly_sha1="c" * 40, stimulus_sha1="b" * 40
        ).key
        != first.key
    )


def test_a_corrupt_entry_is_trained_again(benchmark):
    fit = _train(GaborV1(image_size=32), "energy", benchmark)
    (fit.path / "mapping.npz").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="training it again"):
        again = _train(GaborV1(image_size=32), "energy", benchmark)
    assert again.key == fit.key
    assert load_fit(fit.key) is not None


def _flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate", "edit_arrays", "no_checksums"])
def test_a_damaged_entry_is_a_logged_miss_moved_aside(benchmark, damage, caplog):
    """Issue 10 item 11: a flipped byte or truncated .npz raised BadZipFile on every later run;
    an edited (still valid) array was served. Each is now a logged miss: moved aside, retrained."""
    fit = _train(GaborV1(image_size=32), "energy", benchmark)
    folder = fit.path
    if damage == "flip":
        _flip_byte(folder / "mapping.npz")
    elif damage == "truncate":
        path = folder / "neuroids.npz"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "edit_arrays":
        with np.load(folder / "accuracy.npz") as data:
            arrays = {k: data[k] for k in data.files}
        arrays["r"] = arrays["r"] + 0.5  # a valid archive with other values
        np.savez(folder / "accuracy.npz", **arrays)
    else:
        (folder / "checksums.json").unlink()
    with (
        caplog.at_level("WARNING", logger="brainbridge.encoding.cache"),
        pytest.warns(UserWarning, match="training it again"),
    ):
        again = _train(GaborV1(image_size=32), "energy", benchmark)
    assert any("training it again" in r.getMessage() for r in caplog.records)
    assert again.key == fit.key
    np.testing.assert_allclose(again.accuracy["r"], fit.accuracy["r"])
    aside = list((folder.parent / ".damaged").iterdir())
    assert len(aside) == 1 and aside[0].name.startswith(fit.key)
    # the fresh entry is whole again: loads without a warning
    loaded = load_fit(fit.key)
    np.testing.assert_allclose(loaded.accuracy["r"], fit.accuracy["r"])


def test_unreadable_archive_with_matching_checksums_is_still_a_miss(benchmark):
    """A damaged archive whose checksums were recomputed (so only the parser sees the damage)
    raises FitCacheError, never BadZipFile."""
    import json

    from brainbridge.encoding.errors import FitCacheError

    fit = _train(GaborV1(image_size=32), "energy", benchmark)
    _flip_byte(fit.path / "mapping.npz", offset=40)  # inside the first member's header/data
    sums = json.loads((fit.path / "checksums.json").read_text())
    sums["mapping.npz"] = cache._sha256(fit.path / "mapping.npz")
    (fit.path / "checksums.json").write_text(json.dumps(sums))
    with pytest.raises(FitCacheError):
        load_fit(fit.key)
    with pytest.warns(UserWarning, match="training it again"):
        _train(GaborV1(image_size=32), "energy", benchmark)
    assert load_fit(fit.key) is not None


def test_fit_keys_are_one_folder_name(tmp_path):
    from brainbridge.errors import UnsafePathError

    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(UnsafePathError):
        load_fit("../outside", root=tmp_path / "cache")


def test_a_fit_without_defined_accuracy_is_never_saved(benchmark):
    """Constant responses: no held-out correlation exists, so training fails loudly and stores nothing."""
    from brainbridge.errors import BrainbridgeError

    constant = benchmark.copy(data=np.ones(benchmark.shape, dtype=np.float32))
    constant.attrs["stimulus_set"] = benchmark.attrs["stimulus_set"]
    with pytest.raises(BrainbridgeError, match="vary across stimuli"):
        _train(GaborV1(image_size=32), "energy", constant)
    assert not [p for p in cache_root().iterdir() if p.is_dir()] if cache_root().exists() else True


def test_summary_has_the_ceiled_error(benchmark):
    summary = _train(GaborV1(image_size=32), "energy", benchmark).info["summary"]
    r, c = summary["median_r"], summary["ceiling"]
    assert summary["ceiled_score"] == pytest.approx(r**2 / c)
    assert summary["ceiled_error"] == pytest.approx(2 * r / c * summary["error"])


# --------------------------------------------------------------------------------------
# features are computed once (issue 12, item 11)
# --------------------------------------------------------------------------------------


def test_features_are_extracted_once_then_read_from_the_cache(benchmark, monkeypatch):
    from brainbridge.encoding.cache import cached_features, features_root

    extractor = GaborV1(image_size=32)
    stimulus_set = benchmark.attrs["stimulus_set"]
    first = cached_features(extractor, stimulus_set, "energy", progress=False)
    assert first.attrs["features_cached"] is False
    folders = [p for p in features_root().iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1 and {p.name for p in folders[0].iterdir()} == {
        "features.npz",
        "features.json",
        "checksums.json",
    }

    def fail(*args, **kwargs):
        raise AssertionError("cached features should have been read, not extracted")

    monkeypatch.setattr(GaborV1, "extract", fail)
    again = cached_features(GaborV1(image_size=32), stimulus_set, ["energy"], progress=False)
    assert again.attrs["features_cached"] is True
    np.testing.assert_array_equal(again.values, first.values)
    for name in ("stimulus_id", "neuroid_id", "layer", "neuroid_num"):
        np.testing.assert_array_equal(again[name].values.astype(str), first[name].values.astype(str))
    assert again.attrs["fingerprint"] == first.attrs["fingerprint"]
    # another preprocessing (image size) is another key: extracted, not reused
    with pytest.raises(AssertionError, match="not extracted"):
        cached_features(GaborV1(image_size=24), stimulus_set, "energy", progress=False)


def test_changed_image_bytes_give_new_features_and_damage_is_a_logged_miss(benchmark, tmp_path):
    from brainbridge.encoding.cache import cached_features, features_key, features_root

    extractor = GaborV1(image_size=32)
    stimulus_set = benchmark.attrs["stimulus_set"]
    key = features_key(extractor, stimulus_set, ["energy"])
    cached_features(extractor, stimulus_set, "energy", progress=False)
    path = stimulus_set.stimulus_paths["s00"]
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(path)
    assert features_key(extractor, stimulus_set, ["energy"]) != key
    # a flipped byte in a stored entry: moved aside, extracted again, same numbers
    fresh = cached_features(extractor, stimulus_set, "energy", progress=False)
    stored = features_root() / features_key(extractor, stimulus_set, ["energy"]) / "features.npz"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="extracting again"):
        healed = cached_features(extractor, stimulus_set, "energy", progress=False)
    assert healed.attrs["features_cached"] is False
    np.testing.assert_array_equal(healed.values, fresh.values)
    assert any((features_root() / ".damaged").iterdir())

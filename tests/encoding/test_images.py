"""Stimulus input: folders, path lists, stimulus sets and arrays, streamed in batches."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

from brainbridge.encoding.errors import StimulusError
from brainbridge.encoding.images import image_source, resize_image
from brainbridge.errors import BrainbridgeError
from brainbridge.stimuli import StimulusSet


def _write(path, array, mode="RGB"):
    Image.fromarray(array, mode).save(path)
    return path


@pytest.fixture
def rgb_images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)


@pytest.fixture
def folder(tmp_path, rgb_images):
    root = tmp_path / "imgs"
    root.mkdir()
    for i, image in enumerate(rgb_images):
        _write(root / f"stim_{4 - i}.png", image.transpose(1, 2, 0))
    (root / "notes.txt").write_text("not an image")
    return root


def test_folder_ids_are_sorted_stems_and_non_images_are_skipped(folder):
    source = image_source(folder)
    assert source.kind == "folder"
    assert source.stimulus_ids == [f"stim_{i}" for i in range(5)]
    batches = list(source.batches(2, 32))
    assert [len(ids) for ids, _ in batches] == [2, 2, 1]
    assert all(b.dtype == np.uint8 and b.shape[1:] == (3, 32, 32) for _, b in batches)


def test_files_and_array_give_identical_pixels(folder, rgb_images):
    # stim_4 is image 0, ..., stim_0 is image 4 (see the fixture)
    from_files = np.concatenate([b for _, b in image_source(folder).batches(3, 24)])
    from_array = np.concatenate([b for _, b in image_source(rgb_images[::-1].copy()).batches(3, 24)])
    np.testing.assert_array_equal(from_files, from_array)
    # no resampling when the size already matches
    same = np.concatenate([b for _, b in image_source(folder).batches(5, 32)])
    np.testing.assert_array_equal(same, rgb_images[::-1])


def test_list_of_paths_and_duplicate_stems(tmp_path, folder):
    paths = [folder / "stim_3.png", folder / "stim_1.png"]
    source = image_source(paths)
    assert source.stimulus_ids == ["stim_3", "stim_1"]
    other = tmp_path / "other"
    other.mkdir()
    _write(other / "stim_3.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(StimulusError, match="duplicate stimulus ids.*stim_3"):
        image_source([folder / "stim_3.png", other / "stim_3.png"])
    with pytest.raises(StimulusError, match="do not exist"):
        image_source([folder / "nope.png"])
    with pytest.raises(StimulusError, match="image paths"):
        image_source([1, 2])


def test_stimulus_set_keeps_its_ids_and_order(folder):
    stimulus_set = StimulusSet.from_paths({"b": folder / "stim_0.png", "a": folder / "stim_1.png"})
    source = image_source(stimulus_set)
    assert source.stimulus_ids == ["b", "a"]
    ids, batch = next(source.batches(8, 32))
    assert ids == ["b", "a"]
    np.testing.assert_array_equal(batch[0], np.asarray(Image.open(folder / "stim_0.png")).transpose(2, 0, 1))


def test_array_ids_and_validation(rgb_images):
    source = image_source(rgb_images)
    assert source.stimulus_ids == [f"img_{i:05d}" for i in range(5)]
    with pytest.raises(StimulusError, match="uint8"):
        image_source(rgb_images.astype(np.float32))
    with pytest.raises(StimulusError, match=r"\(N, 3, H, W\)"):
        image_source(rgb_images.transpose(0, 2, 3, 1))
    with pytest.raises(StimulusError, match="folder, an image path"):
        image_source(42)


def test_array_like_is_read_one_batch_at_a_time(tmp_path, rgb_images):
    with h5py.File(tmp_path / "images.h5", "w") as f:
        f["images"] = np.repeat(rgb_images, 4, axis=0)  # 20 images
    reads = []

    class Recording:
        def __init__(self, dataset):
            self.dataset, self.shape, self.dtype = dataset, dataset.shape, dataset.dtype

        def __getitem__(self, key):
            reads.append(key.stop - key.start)
            return self.dataset[key]

    with h5py.File(tmp_path / "images.h5", "r") as f:
        source = image_source(Recording(f["images"]))
        out = np.concatenate([b for _, b in source.batches(6, 32)])
    assert reads == [6, 6, 6, 2]
    np.testing.assert_array_equal(out, np.repeat(rgb_images, 4, axis=0))


def test_resize_policies():
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255  # the central square is white
    image = Image.fromarray(wide)
    stretched = resize_image(image, 20, "stretch", "nearest")
    cropped = resize_image(image, 20, "center_crop", "nearest")
    padded = resize_image(image, 20, "pad", "nearest")
    assert stretched.shape == cropped.shape == padded.shape == (3, 20, 20)
    assert (cropped == 255).all()  # the crop keeps only the white centre
    assert stretched[:, :, 0].max() == 0 and stretched[:, :, 10].min() == 255
    assert (padded[:, :5] == 128).all() and (padded[:, -5:] == 128).all()  # grey bars top and bottom
    with pytest.raises(StimulusError, match="Valid values are"):
        resize_image(image, 20, "squash")


def test_grayscale_and_rgba_files_become_rgb(tmp_path):
    gray = _write(tmp_path / "g.png", np.full((16, 16), 77, np.uint8), "L")
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    _write(tmp_path / "a.png", rgba, "RGBA")
    ids, batch = next(image_source([gray, tmp_path / "a.png"]).batches(2, 16))
    assert (batch[0] == 77).all()
    assert (batch[1][1] == 200).all() and (batch[1][0] == 0).all()


def test_unreadable_and_missing_inputs(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not a png")
    with pytest.raises(StimulusError, match="cannot read") as info:
        list(image_source([bad]).batches(1, 8))
    assert isinstance(info.value, ValueError) and isinstance(info.value, BrainbridgeError)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StimulusError, match="no image file"):
        image_source(empty)
    with pytest.raises(StimulusError, match="does not exist"):
        image_source(tmp_path / "missing")

"""Fixtures of the encoding tests: small fMRI and EEG assemblies in a catalog of their own."""

from __future__ import annotations

import numpy as np
import pytest

from brainbridge.assemblies import EEGAssembly, VoxelAssembly


def _catalog_with_images(tmp_path, name: str, stimulus_set: str, n: int, rng):
    """A registered catalog holding ``n`` random 32 x 32 PNG images as ``stimulus_set``."""
    from PIL import Image

    from brainbridge import catalogs
    from brainbridge.catalogs import Catalog
    from brainbridge.packaging import package_stimulus_set
    from brainbridge.stimuli import StimulusSet

    catalog = catalogs.register(Catalog.create(name, tmp_path / "catalog" / "lookup.csv"))
    folder = tmp_path / "images"
    folder.mkdir()
    ids = [f"im{i:02d}" for i in range(n)]
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    stimuli = StimulusSet({"stimulus_id": ids})
    stimuli.stimulus_paths = {}
    for sid, image in zip(ids, images):
        Image.fromarray(image).save(folder / f"{sid}.png")
        stimuli.stimulus_paths[sid] = folder / f"{sid}.png"
    package_stimulus_set(name, stimuli, stimulus_set)
    return catalog, folder, images, ids


@pytest.fixture
def fmri_catalog(tmp_path):
    """``test.lin.fmri``: 24 images x 2 repetitions, subjects a (3 voxels) and b (2), ROIs V1 and FFA."""
    from brainbridge import catalogs
    from brainbridge.packaging import package_data_assembly

    name = f"test-linearising-{tmp_path.name}"
    rng = np.random.default_rng(3)
    catalog, folder, images, ids = _catalog_with_images(tmp_path, name, "test.lin.stimuli", 24, rng)
    voxels = VoxelAssembly.from_arrays(
        rng.normal(size=(48, 5)),
        stimulus_id=ids * 2,
        subject=["a", "a", "a", "b", "b"],
        rois={"V1": [1, 1, 0, 1, 0], "FFA": [0, 1, 1, 0, 1]},
        ncsnr=np.full(5, 0.5),
    )
    package_data_assembly(
        name, voxels, "test.lin.fmri", "test.lin.stimuli", assembly_class_name="VoxelAssembly"
    )
    yield catalog, folder, images
    catalogs.unregister(name)


@pytest.fixture
def eeg_catalog(tmp_path):
    """``test.lin.eeg``: 20 images x 2 repetitions, channels O1/Oz/O2, 5 time points; yields the images."""
    from brainbridge import catalogs
    from brainbridge.packaging import package_data_assembly

    name = f"test-linearising-eeg-{tmp_path.name}"
    rng = np.random.default_rng(4)
    _, folder, _, ids = _catalog_with_images(tmp_path, name, "test.lin.eeg.stimuli", 20, rng)
    eeg = EEGAssembly.from_arrays(
        rng.normal(size=(40, 3, 5)),
        stimulus_id=ids * 2,
        channel_name=["O1", "Oz", "O2"],
        time=np.arange(5) * 0.01 - 0.01,
    )
    package_data_assembly(
        name, eeg, "test.lin.eeg", "test.lin.eeg.stimuli", assembly_class_name="EEGAssembly"
    )
    yield folder
    catalogs.unregister(name)

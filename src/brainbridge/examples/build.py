"""Writing the example catalog's files: deterministic, atomic, once per version and machine.

:func:`ensure_examples` builds ``<BRAINBRIDGE_HOME>/examples/<EXAMPLES_VERSION>/`` on first use
(under a file lock, in a staging folder renamed into place) and returns it at once when a
complete copy is there already (every file of its ``manifest.json`` present with its size and
SHA-1); a missing or corrupted file makes it rebuild the folder.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock
from PIL import Image

from brainbridge import config
from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.atomic import atomic_dir
from brainbridge.errors import UnsafePathError
from brainbridge.examples import images as _images
from brainbridge.examples import model as _model
from brainbridge.fetch import sha1_hash
from brainbridge.gabor import GaborBank
from brainbridge.paths import check_relative, path_within
from brainbridge.stimuli import StimulusSet

__all__ = [
    "ASSEMBLY_IDENTIFIER",
    "CATALOG_NAME",
    "EXAMPLES_VERSION",
    "MODEL_SEED",
    "NEW_IMAGES_SEED",
    "STIMULUS_IDENTIFIER",
    "STIMULUS_SEED",
    "TRIAL_SEED",
    "ensure_examples",
    "examples_dir",
    "neural_model",
    "new_image_batch",
    "stimulus_batch",
    "trial_responses",
]

#: bump whenever the generator's output changes: a new version is built in a new folder
EXAMPLES_VERSION = "v1"
CATALOG_NAME = "brainbridge-examples"
STIMULUS_IDENTIFIER = "brainbridge.example.stimuli"
ASSEMBLY_IDENTIFIER = "brainbridge.example.neural"
STIMULUS_SEED = 2024
MODEL_SEED = 2025
TRIAL_SEED = 2026
NEW_IMAGES_SEED = 2027

LOOKUP_NAME = "lookup.csv"
MANIFEST_NAME = "manifest.json"
NEW_IMAGES_FOLDER = "new_images"
NEW_IMAGES_CSV = "new_images.csv"


# --------------------------------------------------------------------------------------
# the data, in memory (cached per process; arrays are read-only)
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def stimulus_batch() -> _images.StimulusBatch:
    """The 400 stimuli of ``brainbridge.example.stimuli`` (images and metadata)."""
    return _images.generate(STIMULUS_SEED)


@lru_cache(maxsize=1)
def new_image_batch() -> _images.StimulusBatch:
    """24 further stimuli (one per ``object_name``), not in the stimulus set."""
    return _images.generate(
        NEW_IMAGES_SEED,
        gratings_per_orientation=1,
        textures_per_family=1,
        shapes_per_shape=1,
        id_width=2,
        id_prefix="new_",
    )


@lru_cache(maxsize=2)
def stimulus_features(which: str) -> np.ndarray:
    """Gabor energy features of ``"stimulus_set"`` or ``"new_images"`` (read-only)."""
    batch = stimulus_batch() if which == "stimulus_set" else new_image_batch()
    # the default bank: the model's (computing it here avoids a cycle with neural_model())
    features = GaborBank().transform(batch.images, batch_size=64)
    features.flags.writeable = False
    return features


@lru_cache(maxsize=1)
def neural_model() -> _model.NeuralModel:
    """The ground-truth population (parameters drawn with :data:`MODEL_SEED`)."""
    built = _model.build_model(stimulus_batch(), MODEL_SEED, stimulus_features("stimulus_set"))
    for array in (
        built.v1_weights,
        built.it_tuning,
        built.baseline,
        built.gain,
        built.noise_sd,
        built.reliability,
    ):
        array.flags.writeable = False
    return built


@lru_cache(maxsize=1)
def trial_responses() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(responses, stimulus_index, repetition)`` of the recording (see :func:`model.simulate_trials`)."""
    batch, population = stimulus_batch(), neural_model()
    truth = population.noiseless(batch.images, batch.metadata, stimulus_features("stimulus_set"))
    out = _model.simulate_trials(truth, population.noise_sd, TRIAL_SEED)
    for array in out:
        array.flags.writeable = False
    return out


def recording_assembly() -> NeuronRecordingAssembly:
    """The simulated recording: presentation x neuroid x time_bin, as it is packaged."""
    batch, population = stimulus_batch(), neural_model()
    responses, stimulus_index, repetition = trial_responses()
    neuroids = population.neuroids
    stimulus_ids = batch.metadata["stimulus_id"].to_numpy(dtype=object)
    lo, hi = _model.TIME_BIN
    assembly = NeuronRecordingAssembly(
        np.asarray(responses)[:, :, None],
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", stimulus_ids[stimulus_index]),
            "repetition": ("presentation", np.asarray(repetition, dtype=np.int64)),
            "neuroid_id": ("neuroid", neuroids["neuroid_id"].to_numpy(dtype=object)),
            "region": ("neuroid", neuroids["region"].to_numpy(dtype=object)),
            "animal": ("neuroid", neuroids["animal"].to_numpy(dtype=object)),
            "x": ("neuroid", neuroids["x"].to_numpy(dtype=np.float64)),
            "y": ("neuroid", neuroids["y"].to_numpy(dtype=np.float64)),
            "time_bin_start": ("time_bin", np.array([lo], dtype=np.int64)),
            "time_bin_end": ("time_bin", np.array([hi], dtype=np.int64)),
        },
        attrs={
            "identifier": ASSEMBLY_IDENTIFIER,
            "stimulus_set_identifier": STIMULUS_IDENTIFIER,
            "description": "Simulated V1 (Gabor-energy readout) and IT (shape-identity) responses "
            "with Gaussian noise; see brainbridge.examples and docs/example.md.",
            "examples_version": EXAMPLES_VERSION,
            "units": "spikes/s (simulated)",
        },
    )
    assembly.validate()
    return assembly


# --------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------


def examples_dir(root: str | os.PathLike | None = None) -> Path:
    """``<root or BRAINBRIDGE_HOME>/examples/<EXAMPLES_VERSION>`` (not created)."""
    base = Path(root) if root is not None else config.home()
    return base / "examples" / EXAMPLES_VERSION


def _complete(folder: Path) -> bool:
    """Whether ``folder`` holds every file of its manifest with the recorded size and SHA-1.

    The files are small (about 3 MB in all), so hashing them costs milliseconds and a
    corrupted file is rebuilt instead of failing later at fetch time.
    """
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if manifest.get("version") != EXAMPLES_VERSION:
        return False
    for name, entry in files.items():
        try:
            # a manifest naming a file outside the folder is not ours: rebuild
            path = path_within(folder, check_relative(name, "example file"))
            if path.stat().st_size != entry["size"] or sha1_hash(path) != entry["sha1"]:
                return False
        except (OSError, KeyError, TypeError, UnsafePathError):
            return False
    return True


def ensure_examples(
    root: str | os.PathLike | None = None, *, force: bool = False, progress: bool | None = None
) -> Path:
    """Build the example files unless a complete copy exists; return their folder.

    Safe to call from several processes at once: one builds under a file lock while the
    others wait, then find the finished folder. The build writes into a staging folder that
    is renamed into place, so an interrupted build never leaves a folder that looks complete.

    Parameters
    ----------
    root
        Base folder (default :func:`brainbridge.config.home`).
    force
        Rebuild even if a complete copy exists.
    progress
        Show a progress bar while building (default: only when stderr is a terminal).

    Returns
    -------
    pathlib.Path
        :func:`examples_dir`.
    """
    target = examples_dir(root)
    if not force and _complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not force and _complete(target):
            return target  # another process built it while we waited
        # an incomplete copy (a file deleted by hand) or a forced rebuild is replaced whole
        with atomic_dir(target) as staging:
            _build(staging, progress)
    return target


def _write_png(image: np.ndarray, path: Path) -> None:
    # pillow writes no timestamp into PNGs: the bytes depend on the pixels only
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(path, format="PNG", compress_level=6)


def _build(folder: Path, progress: bool | None = None) -> None:
    """Write every file of the example catalog into ``folder`` (empty).

    ``progress``: show a progress bar (default: only on a terminal).
    """
    from brainbridge.progress import progress_bar

    bar = progress_bar(
        total=4, desc="building the example catalog (first use)", unit="step", progress=progress, leave=False
    )
    with bar:
        _write_files(folder, bar)


def _write_files(folder: Path, bar) -> None:
    from brainbridge.packaging import (
        assembly_filename,
        stimulus_set_filenames,
        write_netcdf,
        write_stimulus_set,
    )

    batch = stimulus_batch()
    bar.update()
    # stimulus set: PNGs staged in a scratch folder, then CSV + flat ZIP
    scratch = folder / ".png"
    scratch.mkdir()
    for image, filename in zip(batch.images, batch.metadata["filename"]):
        _write_png(image, scratch / filename)
    stimulus_set = StimulusSet(batch.metadata.copy())
    stimulus_set.identifier = STIMULUS_IDENTIFIER
    stimulus_set.stimulus_paths = {
        sid: scratch / name for sid, name in zip(batch.metadata["stimulus_id"], batch.metadata["filename"])
    }
    csv_name, zip_name = stimulus_set_filenames(STIMULUS_IDENTIFIER)
    csv_sha1, zip_sha1 = write_stimulus_set(stimulus_set, folder / csv_name, folder / zip_name)
    shutil.rmtree(scratch)
    bar.update()

    assembly_name = assembly_filename(ASSEMBLY_IDENTIFIER)
    assembly_sha1 = write_netcdf(recording_assembly(), folder / assembly_name)
    bar.update()

    # new images: a plain folder of PNGs, their metadata beside it (not inside: the folder
    # holds images only, so it can be handed to a feature extractor as it is)
    new = new_image_batch()
    (folder / NEW_IMAGES_FOLDER).mkdir()
    for image, filename in zip(new.images, new.metadata["filename"]):
        _write_png(image, folder / NEW_IMAGES_FOLDER / filename)
    new.metadata.to_csv(folder / NEW_IMAGES_CSV, index=False, lineterminator="\n")

    rows = [
        (STIMULUS_IDENTIFIER, "stimulus_set", "StimulusSet", csv_name, csv_sha1, ""),
        (STIMULUS_IDENTIFIER, "stimulus_set", "", zip_name, zip_sha1, ""),
        (
            ASSEMBLY_IDENTIFIER,
            "assembly",
            "NeuronRecordingAssembly",
            assembly_name,
            assembly_sha1,
            STIMULUS_IDENTIFIER,
        ),
    ]
    lookup = pd.DataFrame(
        [
            {
                "identifier": identifier,
                "lookup_type": lookup_type,
                "class": cls,
                "location_type": "local",
                "location": location,  # relative to lookup.csv: the folder can move
                "sha1": sha1,
                "stimulus_set_identifier": stimulus_set_identifier,
            }
            for identifier, lookup_type, cls, location, sha1, stimulus_set_identifier in rows
        ]
    )
    lookup.to_csv(folder / LOOKUP_NAME, index=False, lineterminator="\n")

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest = {
        "version": EXAMPLES_VERSION,
        "catalog": CATALOG_NAME,
        "seeds": {
            "stimuli": STIMULUS_SEED,
            "model": MODEL_SEED,
            "trials": TRIAL_SEED,
            "new_images": NEW_IMAGES_SEED,
        },
        "files": {
            p.relative_to(folder).as_posix(): {"sha1": sha1_hash(p), "size": p.stat().st_size} for p in files
        },
    }
    # written last: its presence (with every listed file) is what marks a complete build
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    bar.update()

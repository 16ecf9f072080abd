"""Simulated NSD-like fMRI and THINGS-EEG2-like EEG on the example images (a known ground truth).

Two more datasets on the 400 images of ``brainbridge.example.stimuli``, generated
deterministically on first use (:func:`ensure_modalities`, ``make demo``, ``brainbridge example
build --modalities``) into the example's folder (``<BRAINBRIDGE_HOME>/examples/<version>/modalities/``);
from then on the example catalog ``brainbridge-examples`` lists them too (``local`` rows, real
SHA-1s). They are not built with the rest of the example: 37 MB and about 10 s, which every fresh
cache would pay at its first lookup (:func:`register_modalities_catalog` builds them and makes
the catalogs see them):

``brainbridge.example.fmri`` (:class:`~brainbridge.assemblies.VoxelAssembly`, 1200 x 180)
    Two subjects (``subj01``, ``subj02``) x 90 voxels: 30 in **V1**, 30 in **V4**, 30 in
    **LOC** (an object area); the ROI ``early`` is V1 and V4 together (voxels belong to two
    ROIs). Every image is shown 3 times; ``split`` is ``test`` for 60 images (a fixed, seeded
    choice) and ``train`` for the other 340. Voxel coordinates ``voxel_x/y/z`` and ``ncsnr``.
``brainbridge.example.eeg`` (:class:`~brainbridge.assemblies.EEGAssembly`, 1560 x 63 x 140)
    One subject, 63 channels (THINGS-EEG2's 10-10 montage), 140 time points from -100 to
    595 ms (5 ms steps); 240 training images x 4 repetitions and 60 test images x 10
    repetitions (``split``); 100 images are not shown.

Ground truth (exact; :func:`fmri_truth` and :func:`eeg_truth` return every parameter)
----------------------------------------------------------------------------------------
With ``F(s)`` the default :class:`~brainbridge.gabor.GaborBank` energy features (512) and
``identity(s)`` the shape, or ``grating`` / ``texture`` (as for the example's IT):

* **V1 voxel**: ``drive = Σ F`` over all orientations at two adjacent spatial frequencies in its
  receptive-field cell (linear in the Gabor features: a Gabor model explains it);
* **V4 voxel**: ``drive = (w · F)²`` with ``w`` a random non-negative readout of one
  orientation at mid frequencies over a 2 x 2 block of cells (a squared readout: partly linear);
* **LOC voxel**: ``drive = t[identity(s)]``, ``t`` uniform in [0, 1] with a preferred shape
  at 1 (not a function of Gabor energy).
* Each drive is z-scored over the 400 images; ``β = signal_sd * drive + ε``, ``ε ~ N(0, 1)``
  per presentation, with ``signal_sd = ncsnr`` drawn uniformly in [0.3, 1.2] (V1), [0.3, 1.0]
  (V4), [0.2, 0.9] (LOC): the coordinate ``ncsnr`` holds this true value, so the noise
  ceiling of a 3-repetition mean is ``ncsnr² / (ncsnr² + 1/3)``.
* **EEG**: ``x(s, c, t) = Σ_k A_k[c] g_k(t) (m_k + d_k(s)) + ε``, three components ``k``:
  early (P1, 100 ms, occipital; ``d`` = z-scored Gabor energy readout), object (N170-like,
  170 ms, occipito-temporal; ``d`` = z-scored identity tuning) and late (P3-like, 350 ms,
  centro-parietal; ``d`` = a z-scored random per-image value no image model can predict).
  ``g_k`` is a Gaussian bump (SD 25, 30, 80 ms), ``A_k[c]`` the scalp topography (a Gaussian of
  distance to the component's centre channel, 1-3 µV), ``m_k`` the component's mean
  (stimulus-independent ERP), ``ε ~ N(0, 3 µV)`` i.i.d. Before 0 ms there is no signal.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from brainbridge.assemblies import EEGAssembly, VoxelAssembly
from brainbridge.atomic import atomic_dir
from brainbridge.examples.build import (
    CATALOG_NAME,
    STIMULUS_IDENTIFIER,
    ensure_examples,
    examples_dir,
    stimulus_batch,
    stimulus_features,
)
from brainbridge.examples.model import IDENTITIES, identities
from brainbridge.fetch import sha1_hash
from brainbridge.gabor import GaborBank
from brainbridge.regions import CHANNEL_GROUPS, channel_group

__all__ = [
    "CHANNEL_GROUPS",
    "CHANNELS",
    "channel_group",
    "EEG_IDENTIFIER",
    "FMRI_IDENTIFIER",
    "MODALITIES_CATALOG",
    "eeg_assembly",
    "eeg_truth",
    "fmri_assembly",
    "fmri_truth",
    "modalities_catalog",
    "modalities_dir",
    "register_modalities_catalog",
]

MODALITIES_VERSION = "v1"
MODALITIES_CATALOG = "brainbridge-examples-modalities"
FMRI_IDENTIFIER = "brainbridge.example.fmri"
EEG_IDENTIFIER = "brainbridge.example.eeg"
FMRI_SEED = 2030
EEG_SEED = 2031
SUBJECTS = ("subj01", "subj02")
ROIS = ("V1", "V4", "LOC")
VOXELS_PER_ROI = 30
FMRI_REPETITIONS = 3
N_TEST = 60
EEG_TRAIN, EEG_TRAIN_REPS, EEG_TEST_REPS = 240, 4, 10
TIMES = np.round(np.arange(140) * 0.005 - 0.1, 3)
#: THINGS-EEG2's 63 channels (10-10 system; the 64th is the reference)
CHANNELS = (
    "Fp1",
    "Fz",
    "F3",
    "F7",
    "FT9",
    "FC5",
    "FC1",
    "C3",
    "T7",
    "TP9",
    "CP5",
    "CP1",
    "Pz",
    "P3",
    "P7",
    "O1",
    "Oz",
    "O2",
    "P4",
    "P8",
    "TP10",
    "CP6",
    "CP2",
    "Cz",
    "C4",
    "T8",
    "FT10",
    "FC6",
    "FC2",
    "F4",
    "F8",
    "Fp2",
    "AF7",
    "AF3",
    "AFz",
    "F1",
    "F5",
    "FT7",
    "FC3",
    "C1",
    "C5",
    "TP7",
    "CP3",
    "P1",
    "P5",
    "PO7",
    "PO3",
    "POz",
    "PO4",
    "PO8",
    "P6",
    "P2",
    "CPz",
    "CP4",
    "TP8",
    "C6",
    "C2",
    "FC4",
    "FT8",
    "F6",
    "AF8",
    "AF4",
    "F2",
)


def _position(name: str) -> np.ndarray:
    """A rough scalp position (x left-right, y back-front) from the 10-10 name."""
    rows = {
        "Fp": 4,
        "AF": 3.5,
        "F": 3,
        "FT": 2.5,
        "FC": 2.5,
        "C": 2,
        "T": 2,
        "CP": 1.5,
        "TP": 1.5,
        "P": 1,
        "PO": 0.5,
        "O": 0,
    }
    prefix = name.rstrip("0123456789z")
    row = rows.get(prefix, 2)
    suffix = name[len(prefix) :]
    x = 0.0 if suffix == "z" else (int(suffix) + 1) // 2 * (-1 if int(suffix) % 2 else 1)
    if prefix in ("T", "TP", "FT"):
        x = np.sign(x) * 5
    return np.array([x, row * 2.0])


def _zscore(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return (values - values.mean(axis=0)) / values.std(axis=0)


@lru_cache(maxsize=1)
def _test_images() -> np.ndarray:
    """Positions (in the stimulus set) of the 60 test images, a seeded choice."""
    return np.sort(np.random.default_rng(FMRI_SEED - 1).choice(400, size=N_TEST, replace=False))


# --------------------------------------------------------------------------------------
# fMRI
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def fmri_truth() -> dict:
    """Every parameter of the fMRI simulation and the noiseless z-scored drives ``(400, 180)``."""
    rng = np.random.default_rng(FMRI_SEED)
    batch = stimulus_batch()
    features = stimulus_features("stimulus_set")
    bank = GaborBank()
    n_or, n_sf, grid = bank.orientations, len(bank.spatial_frequencies), bank.grid
    cube = features.reshape(len(features), n_or, n_sf, grid, grid)  # GaborBank's feature order
    ident = identities(batch.metadata)
    drives, rows = [], []
    for subject in SUBJECTS:
        for roi in ROIS:
            for v in range(VOXELS_PER_ROI):
                cy, cx = rng.integers(0, grid, size=2)
                if roi == "V1":
                    f0 = rng.integers(0, n_sf - 1)
                    drive = cube[:, :, f0 : f0 + 2, cy, cx].sum(axis=(1, 2))
                    ncsnr = rng.uniform(0.3, 1.2)
                elif roi == "V4":
                    orientation = rng.integers(0, n_or)
                    y0, x0 = min(cy, grid - 2), min(cx, grid - 2)
                    w = rng.uniform(0, 1, size=(2, 2, 2))
                    block = cube[:, orientation, 1:3, y0 : y0 + 2, x0 : x0 + 2]
                    drive = (block * w).sum(axis=(1, 2, 3)) ** 2
                    ncsnr = rng.uniform(0.3, 1.0)
                else:
                    tuning = dict(zip(IDENTITIES, rng.uniform(0, 1, size=len(IDENTITIES))))
                    tuning[IDENTITIES[v % 8]] = 1.0
                    drive = np.array([tuning[i] for i in ident])
                    ncsnr = rng.uniform(0.2, 0.9)
                base = {"V1": (4, 2, 3), "V4": (9, 5, 5), "LOC": (14, 9, 4)}[roi]
                xyz = (np.array(base) + rng.integers(-2, 3, size=3)) * np.array(
                    [1 if subject == "subj01" else -1, 1, 1]
                )
                drives.append(_zscore(drive))
                rows.append(
                    {
                        "subject": subject,
                        "roi": roi,
                        "ncsnr": ncsnr,
                        "x": xyz[0] + 20,
                        "y": xyz[1],
                        "z": xyz[2],
                    }
                )
    voxels = pd.DataFrame(rows)
    voxels["voxel_id"] = [
        f"{s}_{r}_{i % VOXELS_PER_ROI:02d}" for i, (s, r) in enumerate(zip(voxels["subject"], voxels["roi"]))
    ]
    return {"drives": np.stack(drives, axis=1), "voxels": voxels, "test_images": _test_images()}


def fmri_assembly() -> VoxelAssembly:
    """``brainbridge.example.fmri``: 400 images x 3 repetitions x 180 voxels (see the module docstring)."""
    truth = fmri_truth()
    rng = np.random.default_rng(FMRI_SEED + 1)
    voxels = truth["voxels"]
    ids = stimulus_batch().metadata["stimulus_id"].to_numpy(dtype=object)
    signal = truth["drives"] * voxels["ncsnr"].to_numpy()[None, :]
    order = np.concatenate([rng.permutation(len(ids)) for _ in range(FMRI_REPETITIONS)])
    betas = signal[order] + rng.normal(size=(len(order), len(voxels)))
    split = np.where(np.isin(order, truth["test_images"]), "test", "train").astype(object)
    rois = {roi: (voxels["roi"] == roi).to_numpy() for roi in ROIS}
    rois["early"] = voxels["roi"].isin(["V1", "V4"]).to_numpy()
    assembly = VoxelAssembly.from_arrays(
        np.round(betas, 4).astype(np.float32),
        stimulus_id=ids[order],
        subject=voxels["subject"].tolist(),
        rois=rois,
        repetition=np.repeat(np.arange(FMRI_REPETITIONS), len(ids)),
        voxel_id=voxels["voxel_id"].tolist(),
        xyz=voxels[["x", "y", "z"]].to_numpy(),
        ncsnr=voxels["ncsnr"].to_numpy(),
        attrs={
            "identifier": FMRI_IDENTIFIER,
            "stimulus_set_identifier": STIMULUS_IDENTIFIER,
            "description": "Simulated NSD-like betas (z units); see brainbridge.examples.modalities",
        },
    )
    return VoxelAssembly(assembly.assign_coords(split=("presentation", split)))


# --------------------------------------------------------------------------------------
# EEG
# --------------------------------------------------------------------------------------

_COMPONENTS = (  # name, peak (s), SD (s), centre channel, spatial SD, amplitude (µV), mean ERP (µV)
    ("early", 0.100, 0.025, "Oz", 2.5, 3.0, 2.0),
    ("object", 0.170, 0.030, "PO8", 3.0, 2.5, -2.5),
    ("late", 0.350, 0.080, "CPz", 4.0, 2.0, 3.0),
)


@lru_cache(maxsize=1)
def eeg_truth() -> dict:
    """Every parameter of the EEG simulation and the noiseless responses ``(400, 63, 140)``."""
    rng = np.random.default_rng(EEG_SEED)
    batch = stimulus_batch()
    features = stimulus_features("stimulus_set")
    positions = np.stack([_position(c) for c in CHANNELS])
    drives = {
        "early": _zscore(features @ rng.uniform(0, 1, size=features.shape[1])),
        "object": _zscore(
            np.array(
                [
                    dict(zip(IDENTITIES, rng.uniform(0, 1, len(IDENTITIES))))[i]
                    for i in identities(batch.metadata)
                ]
            )
        ),
        "late": _zscore(rng.normal(size=len(features))),
    }
    signal = np.zeros((len(features), len(CHANNELS), len(TIMES)))
    topographies, courses = {}, {}
    for name, peak, width, centre, spread, amplitude, mean in _COMPONENTS:
        distance = np.linalg.norm(positions - positions[CHANNELS.index(centre)], axis=1)
        topographies[name] = amplitude * np.exp(-0.5 * (distance / spread) ** 2)
        courses[name] = np.exp(-0.5 * ((TIMES - peak) / width) ** 2) * (TIMES >= 0)
        signal += (
            topographies[name][None, :, None]
            * courses[name][None, None, :]
            * (mean / amplitude + drives[name])[:, None, None]
        )
    # the training images (first EEG_TRAIN of a seeded order of the non-test images)
    rest = np.setdiff1d(np.arange(len(features)), _test_images())
    train = np.sort(np.random.default_rng(EEG_SEED - 1).permutation(rest)[:EEG_TRAIN])
    return {
        "signal": signal,
        "drives": drives,
        "topographies": topographies,
        "time_courses": courses,
        "noise_sd": 3.0,
        "train_images": train,
        "test_images": _test_images(),
    }


def eeg_assembly() -> EEGAssembly:
    """``brainbridge.example.eeg``: 240 x 4 training and 60 x 10 test trials, 63 x 140 (see above)."""
    truth = eeg_truth()
    rng = np.random.default_rng(EEG_SEED + 1)
    ids = stimulus_batch().metadata["stimulus_id"].to_numpy(dtype=object)
    order = np.concatenate(
        [rng.permutation(truth["train_images"]) for _ in range(EEG_TRAIN_REPS)]
        + [rng.permutation(truth["test_images"]) for _ in range(EEG_TEST_REPS)]
    )
    trials = truth["signal"][order] + rng.normal(
        scale=truth["noise_sd"], size=(len(order), len(CHANNELS), len(TIMES))
    )
    split = np.array(
        ["train"] * (EEG_TRAIN * EEG_TRAIN_REPS) + ["test"] * (N_TEST * EEG_TEST_REPS), dtype=object
    )
    assembly = EEGAssembly.from_arrays(
        np.round(trials, 2).astype(np.float32),
        stimulus_id=ids[order],
        channel_name=CHANNELS,
        time=TIMES,
        subject="sub-01",
        attrs={
            "identifier": EEG_IDENTIFIER,
            "stimulus_set_identifier": STIMULUS_IDENTIFIER,
            "description": "Simulated THINGS-EEG2-like trials (µV); see brainbridge.examples.modalities",
        },
    )
    return EEGAssembly(assembly.assign_coords(split=("presentation", split)))


# --------------------------------------------------------------------------------------
# files and catalog
# --------------------------------------------------------------------------------------


def modalities_dir(root: str | os.PathLike | None = None) -> Path:
    """``<example folder>/modalities`` (not created): inside the example catalog's folder, so its
    ``local`` rows stay within the catalog's root."""
    return examples_dir(root) / "modalities"


def _complete(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        return all(sha1_hash(folder / name) == sha1 for name, sha1 in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def ensure_modalities(root: str | os.PathLike | None = None) -> Path:
    """Write the two assemblies and their rows unless a complete copy exists; return the folder.

    The example's own files are built first (the sets name its stimulus set). Catalogs loaded
    in this process are reloaded after a build, so the example catalog lists the new rows.
    """
    from brainbridge.catalogs import reload_catalogs
    from brainbridge.packaging import assembly_filename, write_netcdf

    target = modalities_dir(root)
    if _complete(target):
        return target
    ensure_examples(root)
    with FileLock(str(target) + ".lock"):
        if _complete(target):
            return target
        with atomic_dir(target) as staging:
            rows, files = [], {}
            for identifier, cls, build in (
                (FMRI_IDENTIFIER, "VoxelAssembly", fmri_assembly),
                (EEG_IDENTIFIER, "EEGAssembly", eeg_assembly),
            ):
                name = assembly_filename(identifier)
                sha1 = write_netcdf(build(), staging / name)
                files[name] = sha1
                rows.append(
                    {
                        "identifier": identifier,
                        "lookup_type": "assembly",
                        "class": cls,
                        "location_type": "local",
                        "location": name,
                        "sha1": sha1,
                        "stimulus_set_identifier": STIMULUS_IDENTIFIER,
                    }
                )
            pd.DataFrame(rows).to_csv(staging / "lookup.csv", index=False, lineterminator="\n")
            files["lookup.csv"] = sha1_hash(staging / "lookup.csv")
            (staging / "manifest.json").write_text(
                json.dumps({"version": MODALITIES_VERSION, "files": files}, indent=1, sort_keys=True) + "\n"
            )
    reload_catalogs()
    return target


def built_modality_rows(examples_folder: Path) -> pd.DataFrame | None:
    """The two sets' catalog rows (locations relative to the example's ``lookup.csv``) once they
    are built in ``examples_folder``, else ``None``.

    A cheap check (the manifest and its files exist): every load verifies the file's SHA-1.
    """
    folder = examples_folder / "modalities"
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if not all((folder / name).is_file() for name in manifest["files"]):
            return None
        rows = pd.read_csv(folder / "lookup.csv", dtype=str, keep_default_na=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    rows["location"] = [f"{folder.name}/{name}" for name in rows["location"]]
    return rows


def modalities_catalog():
    """The two sets as a catalog of their own, ``brainbridge-examples-modalities`` (built on first use).

    The example catalog lists the same rows once they are built; this one is for a user who
    wants only these two (``brainbridge.register(modalities_catalog())``).
    """
    from brainbridge.catalogs import Catalog

    return Catalog.from_files(MODALITIES_CATALOG, ensure_modalities() / "lookup.csv")


def register_modalities_catalog():
    """Build the two sets (once) so the example catalog lists them; returns the example catalog."""
    from brainbridge import catalogs

    ensure_modalities()
    return catalogs.get_catalog(CATALOG_NAME)

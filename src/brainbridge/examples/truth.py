"""The example's ground truth and its new images (see :mod:`brainbridge.examples`).

In a module of its own so the example job can use them without importing the package that
runs it (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.errors import InvalidParameterError, valid_values_message
from brainbridge.examples.build import (
    NEW_IMAGES_CSV,
    NEW_IMAGES_FOLDER,
    ensure_examples,
    neural_model,
    new_image_batch,
    stimulus_batch,
    stimulus_features,
)
from brainbridge.examples.model import NeuralModel

__all__ = ["GroundTruth", "ground_truth", "new_images_dir", "new_images_metadata"]


def new_images_dir() -> Path:
    """Folder of 24 PNG stimuli that are not in the stimulus set (built on first use)."""
    return ensure_examples() / NEW_IMAGES_FOLDER


def new_images_metadata() -> pd.DataFrame:
    """Metadata of :func:`new_images_dir`'s images (same columns as the stimulus set)."""
    from brainbridge.stimuli import read_stimulus_csv

    return read_stimulus_csv(ensure_examples() / NEW_IMAGES_CSV)


@dataclass(frozen=True)
class GroundTruth:
    """The noiseless truth behind the example recording, for one set of images.

    Attributes
    ----------
    responses : NeuronRecordingAssembly
        ``presentation x neuroid`` noiseless mean responses ``μ`` (one presentation per image,
        with the image metadata as coordinates; neuroid coordinates as in the recording).
    features : numpy.ndarray
        ``(n_images, 512)`` Gabor energy features V1 reads out (read-only).
    images : numpy.ndarray
        ``(n_images, 64, 64, 3)`` uint8 (read-only).
    metadata : pandas.DataFrame
        One row per image.
    model : NeuralModel
        Every parameter (weights, tuning, baselines, gains, noise SDs, target reliabilities).
    """

    responses: NeuronRecordingAssembly
    features: np.ndarray
    images: np.ndarray
    metadata: pd.DataFrame
    model: NeuralModel

    @property
    def noise_ceiling(self) -> np.ndarray:
        """Target reliability ``ρ_n`` of each neuroid's 10-repetition mean."""
        return self.model.reliability


def ground_truth(which: str = "stimulus_set") -> GroundTruth:
    """The noiseless responses of the example population (no files needed).

    Parameters
    ----------
    which
        ``"stimulus_set"`` (the 400 recorded stimuli) or ``"new_images"`` (the 24 images of
        :func:`new_images_dir`).

    Examples
    --------
    >>> truth = ground_truth()                                    # doctest: +SKIP
    >>> truth.responses.sel(region="V1").shape                   # doctest: +SKIP
    (400, 40)
    """
    if which not in ("stimulus_set", "new_images"):
        raise InvalidParameterError(valid_values_message("which", which, ["stimulus_set", "new_images"]))
    batch = stimulus_batch() if which == "stimulus_set" else new_image_batch()
    population = neural_model()
    features = stimulus_features(which)
    mu = population.noiseless(batch.images, batch.metadata, features)
    metadata = batch.metadata.copy()
    coords = {str(column): ("presentation", _column_values(metadata[column])) for column in metadata.columns}
    neuroids = population.neuroids
    coords.update(
        {
            "neuroid_id": ("neuroid", neuroids["neuroid_id"].to_numpy(dtype=object)),
            "region": ("neuroid", neuroids["region"].to_numpy(dtype=object)),
            "animal": ("neuroid", neuroids["animal"].to_numpy(dtype=object)),
            "x": ("neuroid", neuroids["x"].to_numpy(dtype=np.float64)),
            "y": ("neuroid", neuroids["y"].to_numpy(dtype=np.float64)),
        }
    )
    responses = NeuronRecordingAssembly(
        mu,
        dims=["presentation", "neuroid"],
        coords=coords,
        attrs={"description": f"noiseless ground truth ({which})"},
    )
    return GroundTruth(
        responses=responses, features=features, images=batch.images, metadata=metadata, model=population
    )


def _column_values(column: pd.Series) -> np.ndarray:
    """Float columns as float arrays, everything else as object arrays of Python values."""
    if pd.api.types.is_float_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64)
    return column.to_numpy(dtype=object)

"""The ground-truth generative model of the example recordings (see :mod:`brainbridge.examples`).

Two populations of 40 simulated neuroids each:

* **V1**: a sparse, positive linear readout of :class:`brainbridge.gabor.GaborBank` energy
  features (default parameters, 64 x 64 images) around a receptive-field cell, so a model built
  on the same features can explain them almost perfectly;
* **IT**: position-invariant tuning to the *identity* of the stimulus (which shape; or just
  "grating"/"texture"), passed through a squaring nonlinearity, which Gabor energy features
  capture poorly.

Responses are ``baseline + gain * drive`` (noiseless) plus Gaussian noise on every
presentation, with a per-neuroid noise level set from a target reliability of the
10-repetition mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from brainbridge.errors import InvalidParameterError, valid_values_message
from brainbridge.examples.images import SHAPES, StimulusBatch
from brainbridge.gabor import GaborBank

__all__ = [
    "IDENTITIES",
    "N_IT",
    "N_REPETITIONS",
    "N_V1",
    "TIME_BIN",
    "NeuralModel",
    "build_model",
    "identities",
    "simulate_trials",
]

N_V1 = 40
N_IT = 40
N_REPETITIONS = 10
#: the single time bin (ms after stimulus onset)
TIME_BIN = (70, 170)
#: what IT neuroids are tuned to: the 8 shapes, and gratings / textures as two wholes
IDENTITIES = (*SHAPES, "grating", "texture")
#: target reliability (squared correlation of the 10-repetition mean with the truth), per neuroid
RELIABILITY_RANGE = (0.80, 0.90)
BASELINE_RANGE = (5.0, 20.0)
SIGNAL_SD_RANGE = (4.0, 10.0)
ANIMALS = ("monkey_a", "monkey_b")
ARRAY_PITCH_MM = 0.4  # a 10 x 10 Utah-like array per region and animal


def identities(metadata: pd.DataFrame) -> np.ndarray:
    """The identity each IT neuroid sees: the shape name for shapes, else the category."""
    category = metadata["category_name"].astype(str).to_numpy()
    shape = metadata["object_name"].astype(str).str.removeprefix("shape_").to_numpy()
    return np.where(category == "shape", shape, category).astype(object)


@dataclass(frozen=True)
class NeuralModel:
    """Parameters of the simulated population (one entry per neuroid, V1 first, then IT).

    Attributes
    ----------
    neuroids : pandas.DataFrame
        ``neuroid_id``, ``region``, ``animal``, ``x``, ``y`` (electrode position, mm) and the
        tuning parameters: V1 ``rf_row``, ``rf_col``, ``preferred_orientation`` (degrees),
        ``preferred_frequency`` (cycles/pixel); IT ``preferred_identity``.
    bank : GaborBank
        The feature bank V1 reads out (default parameters).
    v1_weights : numpy.ndarray
        ``(N_V1, bank.n_features)`` non-negative readout weights.
    it_tuning : numpy.ndarray
        ``(N_IT, len(IDENTITIES))`` tuning values in [0, 1], columns in :data:`IDENTITIES` order.
    baseline, gain, noise_sd, reliability : numpy.ndarray
        Per neuroid: ``response = baseline + gain * drive + noise_sd * ε``; ``reliability`` is
        the target squared correlation between the 10-repetition mean and the noiseless truth.
    """

    neuroids: pd.DataFrame
    bank: GaborBank
    v1_weights: np.ndarray
    it_tuning: np.ndarray
    baseline: np.ndarray
    gain: np.ndarray
    noise_sd: np.ndarray
    reliability: np.ndarray

    @property
    def n_neuroids(self) -> int:
        return len(self.neuroids)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Gabor energy features ``(N, n_features)`` of ``(N, 64, 64, 3)`` uint8 images."""
        return self.bank.transform(np.asarray(images), batch_size=64)

    def drive(
        self, images: np.ndarray, metadata: pd.DataFrame, features: np.ndarray | None = None
    ) -> np.ndarray:
        """Unscaled drive ``(N, n_neuroids)``: V1 ``features @ w``; IT ``tuning[identity] ** 2``."""
        feats = self.features(images) if features is None else features
        v1 = feats.astype(np.float64) @ self.v1_weights.T
        columns = pd.Index(IDENTITIES).get_indexer(pd.Index(identities(metadata)))
        if (columns < 0).any():
            unknown = sorted(set(identities(metadata)[columns < 0]))
            raise InvalidParameterError(valid_values_message("stimulus identities", unknown, IDENTITIES))
        it = self.it_tuning[:, columns].T ** 2
        return np.concatenate([v1, it], axis=1)

    def noiseless(
        self, images: np.ndarray, metadata: pd.DataFrame, features: np.ndarray | None = None
    ) -> np.ndarray:
        """Noiseless mean responses ``(N, n_neuroids)`` (``baseline + gain * drive``)."""
        return self.baseline + self.gain * self.drive(images, metadata, features)


def _v1_weights(bank: GaborBank, rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame]:
    """Sparse positive readouts: a preferred channel at a receptive-field cell and its neighbours.

    Weight 1 on (preferred orientation, preferred frequency) at the RF cell; 0.4 on the two
    neighbouring orientations and 0.3 on the neighbouring frequencies at the same cell; 0.25
    on the preferred channel in each 4-connected neighbouring cell.
    """
    n_o, n_f, grid = bank.orientations, len(bank.spatial_frequencies), bank.grid
    weights = np.zeros((N_V1, n_o, n_f, grid, grid))
    rows = rng.choice(grid, size=N_V1, p=_edge_light(grid))
    cols = rng.choice(grid, size=N_V1, p=_edge_light(grid))
    orientations = np.arange(N_V1) % n_o  # every orientation, five times
    rng.shuffle(orientations)
    frequencies = rng.choice(n_f, size=N_V1, p=_edge_light(n_f))
    for i, (r, c, o, f) in enumerate(zip(rows, cols, orientations, frequencies)):
        weights[i, o, f, r, c] = 1.0
        weights[i, (o - 1) % n_o, f, r, c] = 0.4
        weights[i, (o + 1) % n_o, f, r, c] = 0.4
        for nf in (f - 1, f + 1):
            if 0 <= nf < n_f:
                weights[i, o, nf, r, c] = 0.3
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < grid and 0 <= nc < grid:
                weights[i, o, f, nr, nc] = 0.25
    params = pd.DataFrame(
        {
            "rf_row": rows,
            "rf_col": cols,
            "preferred_orientation": orientations * 180.0 / n_o,
            "preferred_frequency": np.asarray(bank.spatial_frequencies)[frequencies],
        }
    )
    # GaborBank's feature order: channel (orientation-major, then frequency), then row, column
    return weights.reshape(N_V1, -1), params


def _edge_light(n: int) -> np.ndarray:
    """Probabilities over ``n`` positions with the two ends a quarter as likely as the middle."""
    p = np.ones(n)
    p[[0, -1]] = 0.25
    return p / p.sum()


def _it_tuning(rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame]:
    """Each IT neuroid prefers one shape (1.0); other shapes 0-0.4; gratings/textures 0-0.25."""
    n_shapes = len(SHAPES)
    preferred = np.arange(N_IT) % n_shapes
    rng.shuffle(preferred)
    tuning = np.empty((N_IT, len(IDENTITIES)))
    tuning[:, :n_shapes] = rng.uniform(0.0, 0.4, size=(N_IT, n_shapes))
    tuning[np.arange(N_IT), preferred] = 1.0
    tuning[:, n_shapes:] = rng.uniform(0.0, 0.25, size=(N_IT, len(IDENTITIES) - n_shapes))
    return tuning, pd.DataFrame({"preferred_identity": np.asarray(SHAPES, dtype=object)[preferred]})


def _electrodes(rng: np.random.Generator, region: str, count: int) -> pd.DataFrame:
    """Half the neuroids per animal; distinct sites on a 10 x 10 array, pitch 0.4 mm."""
    animal = np.asarray(ANIMALS, dtype=object)[np.arange(count) * len(ANIMALS) // count]
    sites = np.concatenate([rng.choice(100, size=int((animal == a).sum()), replace=False) for a in ANIMALS])
    return pd.DataFrame(
        {
            "neuroid_id": [f"{region}_{i:02d}" for i in range(count)],
            "region": region,
            "animal": animal,
            "x": np.round((sites % 10) * ARRAY_PITCH_MM, 2),
            "y": np.round((sites // 10) * ARRAY_PITCH_MM, 2),
        }
    )


def build_model(stimuli: StimulusBatch, seed: int, features: np.ndarray | None = None) -> NeuralModel:
    """Draw the population's parameters and scale each neuroid on ``stimuli``.

    ``features`` are the stimuli's Gabor energy features when already computed.

    ``gain`` is set so that the noiseless response's standard deviation over ``stimuli`` is the
    neuroid's drawn signal SD; ``noise_sd = signal_sd * sqrt(R (1 - ρ) / ρ)`` with ``R`` = 10
    repetitions and ``ρ`` the target reliability, so that the 10-repetition mean has
    ``var_signal / (var_signal + noise_sd² / R) = ρ``.
    """
    v1_rng, it_rng, site_rng, scale_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    bank = GaborBank()
    v1_weights, v1_params = _v1_weights(bank, v1_rng)
    it_tuning, it_params = _it_tuning(it_rng)
    neuroids = pd.concat(
        [
            pd.concat([_electrodes(site_rng, "V1", N_V1), v1_params], axis=1),
            pd.concat([_electrodes(site_rng, "IT", N_IT), it_params], axis=1),
        ],
        ignore_index=True,
    )
    n = N_V1 + N_IT
    baseline = np.round(scale_rng.uniform(*BASELINE_RANGE, size=n), 3)
    signal_sd = scale_rng.uniform(*SIGNAL_SD_RANGE, size=n)
    reliability = scale_rng.uniform(*RELIABILITY_RANGE, size=n)
    provisional = NeuralModel(
        neuroids, bank, v1_weights, it_tuning, baseline, np.ones(n), np.zeros(n), reliability
    )
    drive = provisional.drive(stimuli.images, stimuli.metadata, features)
    gain = signal_sd / drive.std(axis=0)
    noise_sd = signal_sd * np.sqrt(N_REPETITIONS * (1 - reliability) / reliability)
    return NeuralModel(neuroids, bank, v1_weights, it_tuning, baseline, gain, noise_sd, reliability)


def simulate_trials(
    truth: np.ndarray, noise_sd: np.ndarray, seed: int, repetitions: int = N_REPETITIONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy single-trial responses.

    Each repetition presents every stimulus once, in its own seeded random order.

    Parameters
    ----------
    truth
        ``(n_stimuli, n_neuroids)`` noiseless responses.
    noise_sd
        ``(n_neuroids,)`` Gaussian noise SD.

    Returns
    -------
    tuple
        ``(responses, stimulus_index, repetition)``: ``(repetitions * n_stimuli, n_neuroids)``
        float32 responses, and per presentation the stimulus's row in ``truth`` and the
        repetition number (0-based).
    """
    order_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    n_stimuli, n_neuroids = truth.shape
    stimulus_index = np.concatenate([order_rng.permutation(n_stimuli) for _ in range(repetitions)])
    repetition = np.repeat(np.arange(repetitions), n_stimuli)
    noise = noise_rng.standard_normal((len(stimulus_index), n_neuroids)) * noise_sd
    responses = (truth[stimulus_index] + noise).astype(np.float32)
    return responses, stimulus_index, repetition

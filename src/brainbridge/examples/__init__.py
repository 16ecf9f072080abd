"""The bundled example catalog ``brainbridge-examples``: simulated recordings with a known truth.

Generated deterministically on first use into ``<BRAINBRIDGE_HOME>/examples/v1/`` (a few
seconds, under a file lock, atomically) and catalogued with ``local`` rows and real SHA-1s,
so it goes through exactly the code paths real data does::

    import brainbridge
    assembly = brainbridge.get_assembly("brainbridge.example.neural")

Contents
--------
``brainbridge.example.stimuli`` (StimulusSet, 400 PNGs, 64 x 64 RGB, mid-grey background)
    Columns ``stimulus_id`` ("0001"-"0400", strings), ``filename``, ``category_name``,
    ``object_name`` (24 values, 12-20 stimuli each: use it for stratified splits) and the
    rendering parameters ``orientation``, ``spatial_frequency``, ``phase``, ``contrast``,
    ``center_x``, ``center_y``, ``size``, ``rotation``, ``color`` (empty where a category has no such
    parameter). Drawn with seed :data:`STIMULUS_SEED`, in a seeded random order.

    * 144 **gratings** (``object_name`` ``grating_000`` ... ``grating_157``: 8 orientations
      0-157.5 deg, wave-vector direction in image coordinates, 18 each): spatial frequency
      0.06/0.12/0.24 cycles/pixel x contrast 0.3/0.6/1.0, random phase, in a soft circular
      aperture of radius 14-28 px centred in [20, 44]^2;
    * 96 **textures** (``texture_<family>``, 12 each): white noise shaped in the Fourier domain
      (``pink`` 1/f, ``blobs`` low-pass, ``fine`` high-pass, ``bandpass`` 0.12 c/px,
      ``stripes_000/045/090/135`` oriented band-pass), RMS contrast 0.12-0.2, colour tint;
    * 160 **shapes** (``shape_<name>``, 20 each: circle, square, triangle, cross, star,
      hexagon, ring, crescent): circumradius 9-16 px, centre in [20, 44]^2, any rotation, a
      dark or bright saturated colour.

``brainbridge.example.neural`` (NeuronRecordingAssembly, 4000 presentations x 80 neuroids x 1 time bin)
    10 repetitions of every stimulus (each repetition in its own random order), one time bin
    70-170 ms; ``presentation``: ``stimulus_id``, ``repetition`` (+ the stimulus set's
    columns on load); ``neuroid``: ``neuroid_id`` (``V1_00``-``V1_39``, ``IT_00``-``IT_39``),
    ``region``, ``animal`` (``monkey_a``/``monkey_b``, half of each region), ``x``, ``y``
    (electrode position on a 10 x 10 array, mm).

Generative model (exact; parameters drawn with seed :data:`MODEL_SEED`)
-----------------------------------------------------------------------
Let ``F(s)`` be the :class:`brainbridge.gabor.GaborBank` energy features (default
parameters: 8 orientations x 4 frequencies x 4 x 4 cells = 512) of stimulus ``s``.

* **V1** neuroid ``i``: ``drive_i(s) = w_i · F(s)`` with sparse non-negative weights: 1 on its
  preferred (orientation, frequency) channel at its receptive-field cell, 0.4 on the two
  neighbouring orientations and 0.3 on the neighbouring frequencies in that cell, 0.25 on the
  preferred channel in the 4-connected neighbouring cells. RF cells avoid the border (edge
  rows/columns a quarter as likely), each orientation is preferred by 5 neuroids.
* **IT** neuroid ``j``: ``drive_j(s) = t_j[identity(s)] ** 2``, where ``identity`` is the shape
  for shapes and just ``grating`` or ``texture`` otherwise (position, size, rotation, colour
  and grating/texture parameters are ignored: position invariant). ``t_j`` is 1 for its
  preferred shape (5 neuroids per shape), uniform in [0, 0.4] for the other shapes, and in
  [0, 0.25] for ``grating`` and ``texture``.
* Mean response ``μ_n(s) = b_n + g_n · drive_n(s)`` with baseline ``b_n ~ U(5, 20)`` and gain
  ``g_n`` such that the SD of ``μ_n`` over the 400 stimuli is ``σ_signal,n ~ U(4, 10)``.
* Trial ``k``: ``r_n(s, k) = μ_n(s) + σ_noise,n · ε``, ``ε ~ N(0, 1)`` independent (seed
  :data:`TRIAL_SEED`), with ``σ_noise,n = σ_signal,n · sqrt(10 (1 - ρ_n) / ρ_n)`` and target
  reliability ``ρ_n ~ U(0.80, 0.90)``: the squared correlation between the 10-repetition mean
  and ``μ_n``; the split-half (Spearman-Brown corrected) internal consistency estimates it,
  so the noise ceiling is about 0.85.

Consequences (tested): a linear model of the Gabor features reproduces the noiseless V1
responses exactly (R² ≈ 1) and reaches a ceiled score near 1; for IT it stays far lower.

New images
----------
:func:`new_images_dir` holds 24 further stimuli (one per ``object_name``, seed
:data:`NEW_IMAGES_SEED`, ids ``new_01``...), not in the stimulus set, for predicting
responses to unseen images; their metadata is ``new_images.csv`` beside the folder and their
noiseless responses are ``ground_truth("new_images")``.
"""

from __future__ import annotations

from brainbridge.examples.build import (
    ASSEMBLY_IDENTIFIER,
    CATALOG_NAME,
    EXAMPLES_VERSION,
    LOOKUP_NAME,
    MODEL_SEED,
    NEW_IMAGES_SEED,
    STIMULUS_IDENTIFIER,
    STIMULUS_SEED,
    TRIAL_SEED,
    ensure_examples,
    examples_dir,
    neural_model,
    recording_assembly,
)
from brainbridge.examples.model import NeuralModel
from brainbridge.examples.truth import GroundTruth, ground_truth, new_images_dir, new_images_metadata

__all__ = [
    "ASSEMBLY_IDENTIFIER",
    "CATALOG_NAME",
    "EXAMPLES_VERSION",
    "MODEL_SEED",
    "NEW_IMAGES_SEED",
    "STIMULUS_IDENTIFIER",
    "STIMULUS_SEED",
    "TRIAL_SEED",
    "GroundTruth",
    "NeuralModel",
    "ensure_examples",
    "example_catalog",
    "examples_dir",
    "ground_truth",
    "neural_model",
    "new_images_dir",
    "new_images_metadata",
    "recording_assembly",
    "run_main_job",
]


def example_catalog():
    """The ``brainbridge-examples`` catalog (entry point of group ``brainbridge_catalogs``).

    Builds the files on first use (see :func:`ensure_examples`).

    Returns
    -------
    brainbridge.catalogs.Catalog
        Three rows: the stimulus set's CSV and ZIP, and the assembly; ``local`` locations
        relative to the catalog's ``lookup.csv``. Once the simulated fMRI and EEG sets are built
        (:func:`brainbridge.examples.modalities.ensure_modalities`, ``make demo``,
        ``brainbridge example build --modalities``), two more: ``brainbridge.example.fmri`` and
        ``brainbridge.example.eeg``.
    """
    import pandas as pd

    from brainbridge.catalogs import Catalog
    from brainbridge.examples.modalities import built_modality_rows

    folder = ensure_examples()
    catalog = Catalog.from_files(CATALOG_NAME, folder / LOOKUP_NAME)
    extra = built_modality_rows(folder)
    if extra is None:
        return catalog
    # the fMRI and EEG sets, once built (they cost 37 MB and ~10 s, so they are not built with the rest)
    merged = Catalog(
        pd.concat([catalog, extra], ignore_index=True),
        identifier=CATALOG_NAME,
        source_path=catalog.source_path,
    )
    merged.attrs["source_path"] = str(catalog.source_path)
    return merged


def run_main_job(out_dir, **kwargs) -> dict:
    """Run the main job on the example data; see :func:`brainbridge.examples.main_job.run_main_job`."""
    from brainbridge.examples.main_job import run_main_job as _run

    return _run(out_dir, **kwargs)

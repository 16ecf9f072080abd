"""Benchmark: NED/BERG's linearising recipe for fMRI and EEG, and bounded-memory pre-generation.

1. **Recipe throughput** (features -> StandardScaler -> PCA(k) -> OLS per output), brainbridge's
   :mod:`brainbridge.encoding.linearising` against a straightforward scikit-learn implementation
   of the same recipe, in the same run, on the same features and targets:

   * fMRI: one ``Pipeline(StandardScaler, PCA(k), LinearRegression)`` per subject x ROI,
     ``(N, voxels)`` outputs;
   * EEG: NED's one pipeline per training repetition (4), ``63 x 140`` outputs each, stacked
     to ``(N, 4, 63, 140)``. brainbridge shares the scaler and PCA between repetitions and
     predicts every repetition in one matrix product.

   Fit time and prediction throughput (images/s) are printed with the ratio (peer / ours).

2. **Peak memory of pre-generating N images to HDF5** in NED's layout
   (:func:`brainbridge.encoding.ned_export.pregenerate_ned`), at N = 2,000 and 10,000 images read
   from a disk-backed (memory-mapped) array, measured with ``tracemalloc`` (Python and numpy
   allocations): it must be bounded by one batch, not grow with N.

Run: ``python benchmarks/encoding_modalities.py`` (``--quick`` for smaller sizes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _timed(fn, reps: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def sklearn_fits(x, targets, k):
    """The straightforward peer: one scikit-learn pipeline per repetition."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        make_pipeline(StandardScaler(), PCA(k, svd_solver="full"), LinearRegression()).fit(x, targets[:, r])
        for r in range(targets.shape[1])
    ]


def recipe(
    name: str, n_train: int, n_test: int, n_features: int, reps: int, output_shape: tuple, k: int
) -> None:
    from brainbridge.encoding.linearising import LinearisingFit, LinearisingRecipe, fit_linearising

    rng = np.random.default_rng(0)
    outputs = int(np.prod(output_shape))
    x = (rng.normal(size=(n_train + n_test, n_features)) * np.geomspace(3, 0.05, n_features)).astype(
        np.float32
    )
    weights = rng.normal(size=(n_features, outputs)).astype(np.float32) / np.sqrt(n_features)
    targets = (x[:n_train] @ weights)[:, None, :] + rng.normal(size=(n_train, reps, outputs)).astype(
        np.float32
    )
    x_train, x_test = x[:n_train], x[n_train:]

    fit_ours, arrays = _timed(lambda: fit_linearising(x_train, targets, LinearisingRecipe(n_components=k)), 1)
    shape = (reps, *output_shape) if reps > 1 else output_shape
    ours = LinearisingFit(
        key="bench",
        modality=name,
        recipe=LinearisingRecipe(n_components=k),
        output_shape=shape,
        outputs={},
        **arrays,
    )
    fit_peer, pipes = _timed(lambda: sklearn_fits(x_train, targets, k), 1)
    t_ours, pred_ours = _timed(lambda: ours.predict(x_test))
    t_peer, pred_peer = _timed(
        lambda: np.stack([p.predict(x_test) for p in pipes], axis=1).reshape(len(x_test), *shape)
    )
    scale = np.abs(pred_peer).max()
    diff = float(np.abs(pred_ours - pred_peer).max() / scale)
    print(
        f"{name}: train {n_train} x {n_features} features, PCA {k}, "
        f"{reps} repetition(s) x {outputs} outputs; "
        f"predict {n_test} images"
    )
    print(
        f"  fit      brainbridge {fit_ours:7.2f} s   sklearn {fit_peer:7.2f} s   "
        f"ratio {fit_peer / fit_ours:5.1f}x"
    )
    print(
        f"  predict  brainbridge {n_test / t_ours:7.0f} img/s sklearn {n_test / t_peer:7.0f} img/s "
        f"ratio {t_peer / t_ours:5.1f}x   (max |difference| / max |prediction| = {diff:.1e})"
    )


class _MeanPool:
    """A cheap stand-in extractor (8 x 8 mean-pooled luminance): the benchmark measures the writer."""

    identifier = "meanpool8"

    def __init__(self):
        from brainbridge.encoding.features import Preprocessing

        self.preprocessing = Preprocessing(size=32, mean=(0, 0, 0), std=(1, 1, 1))
        self.layers = self.default_layers = ["pool"]

    def resolve_layers(self, layers):
        return ["pool"]

    def fingerprint(self, layers=None):
        return "meanpool8"

    def iter_features(self, stimuli, *, layers=None, batch_size=None, progress=None):
        from brainbridge.encoding.images import image_source

        source = image_source(stimuli)
        for ids, batch in source.batches(int(batch_size or 256), 32):
            gray = batch.astype(np.float32).mean(axis=1)
            pooled = gray.reshape(len(ids), 8, 4, 8, 4).mean(axis=(2, 4)).reshape(len(ids), 64)
            yield ids, pooled, [("pool", (64,))]


def pregeneration_memory(sizes: list[int], voxels: int, folder: Path) -> None:
    from brainbridge.encoding.linearising import (
        LinearisingFit,
        LinearisingModel,
        LinearisingRecipe,
        fit_linearising,
    )
    from brainbridge.encoding.ned_export import pregenerate_ned

    rng = np.random.default_rng(1)
    arrays = fit_linearising(
        rng.normal(size=(300, 64)), rng.normal(size=(300, voxels)), LinearisingRecipe(32)
    )
    fit = LinearisingFit(
        key="bench",
        modality="fmri",
        recipe=LinearisingRecipe(32),
        output_shape=(voxels,),
        outputs={},
        **arrays,
    )
    model = LinearisingModel(
        card=None, rois=["V1"], subject="subj01", extractor=_MeanPool(), layers=["pool"], fits={"V1": fit}
    )
    print(
        f"pre-generation to HDF5 (NED layout, {voxels} voxels, batches of 256 images, images memory-mapped):"
    )
    for n in sizes:
        images = np.lib.format.open_memmap(
            folder / f"images_{n}.npy", mode="w+", dtype=np.uint8, shape=(n, 3, 32, 32)
        )
        for start in range(0, n, 1000):
            images[start : start + 1000] = rng.integers(
                0, 256, size=images[start : start + 1000].shape, dtype=np.uint8
            )
        images.flush()
        images = np.load(folder / f"images_{n}.npy", mmap_mode="r")
        tracemalloc.start()
        start = time.perf_counter()
        path = pregenerate_ned(
            model,
            images,
            folder / f"ned_{n}",
            train_dataset="bench",
            model_name="meanpool",
            imageset=f"n{n}",
            batch_size=256,
            progress=False,
        )
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = path.stat().st_size
        print(
            f"  N = {n:6d}: peak traced memory {peak / 2**20:6.1f} MiB, file {size / 2**20:7.1f} MiB, "
            f"{n / elapsed:6.0f} img/s"
        )
        os.remove(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    q = args.quick
    recipe(
        "fmri",
        1000 if q else 3000,
        500 if q else 2000,
        1024 if q else 4096,
        1,
        (500 if q else 2000,),
        100 if q else 250,
    )
    recipe(
        "eeg", 800 if q else 1654, 200 if q else 1000, 1024 if q else 4096, 4, (63, 140), 100 if q else 250
    )
    with tempfile.TemporaryDirectory() as tmp:
        pregeneration_memory([1000, 5000] if q else [2000, 10000], 2000, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Neural predictivity on an IT-sized problem: our per-target ridge vs Brain-Score's PLS-25.

Problem (MajajHong2015-IT-sized): 3200 stimuli (64 objects x 50 images), 168 neuroids,
1024 features (``--features`` up to 4096). Features have the structure of CNN activations:
rectified, non-negative, correlated, with a power-law eigenspectrum and object-cluster
structure; neural responses are a linear read-out of the latent object/pose variables that
generate the features, plus noise (reliability ~ 0.8 after averaging).

Both sides run the full Brain-Score procedure: 10 ``StratifiedShuffleSplit`` splits (train
0.9, random_state 1, stratified by object), Pearson r per neuroid on the held-out stimuli,
median over neuroids, mean over splits.

* ours: :func:`brainbridge.encoding.neural_predictivity` with ``mapping='ridge'``
  (``RidgeCVPerTarget``: 21 alphas, float32), the alpha of each neuroid chosen inside each
  training split by exact leave-one-out (one eigendecomposition per split, shared with the
  refit; the default of ``score(..., 'ridge')``) and by 5-fold CV (one eigendecomposition per
  fold + one for the refit);
* peer, in the same run: Brain-Score's loop, ``sklearn PLSRegression(25, scale=False)`` per
  split and ``scipy.stats.pearsonr`` per neuroid.

Also measured: images/s of :func:`brainbridge.encoding.encode` with the EfficientNet-lite0
model of the bundled example (IT selection) at batch 64, on 128 images of 224 x 224 px (the
fit is trained once, on first use, outside the timing; skip with ``--no-encode``), against the
plain torch loop over the same network in the same run (``--encode-only`` runs just that).

Run: ``python benchmarks/encoding.py [--features 1024] [--pls-splits 10] [--no-encode]``. With
``--pls-splits k < 10`` the PLS time is measured on ``k`` splits and scaled to 10 (said so
in the output).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def make_problem(
    n_objects: int = 64, per_object: int = 50, n_neuroids: int = 168, n_features: int = 1024, seed: int = 0
):
    """Synthetic CNN-like features and IT-like responses (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = n_objects * per_object
    objects = np.repeat(np.arange(n_objects), per_object)
    # latent variables: object identity (32-d code) + pose/position/size (16-d, image-specific)
    identity = rng.normal(size=(n_objects, 32))[objects]
    pose = rng.normal(size=(n, 16))
    latent = np.hstack([identity, 0.8 * pose])
    # features: rectified random projections of the latents with a power-law spectrum, plus
    # nuisance dimensions the neurons ignore
    mixing = rng.normal(size=(latent.shape[1], n_features)) / np.sqrt(latent.shape[1])
    nuisance = rng.normal(size=(n, 64)) @ rng.normal(size=(64, n_features)) / 8
    spectrum = np.arange(1, n_features + 1) ** -0.5
    background = rng.normal(size=(n, n_features)) * spectrum[rng.permutation(n_features)]
    features = np.maximum(latent @ mixing + 0.5 * nuisance + background, 0).astype(np.float32)
    # neurons: read-outs of identity and pose with a mild output nonlinearity, plus noise
    readout = rng.normal(size=(latent.shape[1], n_neuroids)) / np.sqrt(latent.shape[1])
    drive = latent @ readout
    signal = np.log1p(np.exp(drive))  # softplus: firing rates are not linear in the drive
    signal = (signal - signal.mean(0)) / signal.std(0)
    reliability = rng.uniform(0.6, 0.9, n_neuroids)
    noise = rng.normal(size=signal.shape) * np.sqrt((1 - reliability) / reliability)
    responses = signal + noise
    ids = np.array([f"im{i:05d}" for i in range(n)])
    names = np.array([f"object{o:02d}" for o in objects])
    return features, responses, ids, names


def as_assemblies(features, responses, ids, names):
    from brainbridge.assemblies import ModelFeaturesAssembly, NeuronRecordingAssembly

    source = ModelFeaturesAssembly(
        features,
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids),
            "neuroid_id": ("neuroid", [f"f{i}" for i in range(features.shape[1])]),
        },
    )
    target = NeuronRecordingAssembly(
        responses,
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids),
            "object_name": ("presentation", names),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(responses.shape[1])]),
            "region": ("neuroid", ["IT"] * responses.shape[1]),
        },
    )
    return source, target


def peer_pls(features, responses, ids, names, n_splits_run: int) -> tuple[float, float, int]:
    """Brain-Score's loop: StratifiedShuffleSplit, PLSRegression(25, scale=False), pearsonr."""
    from scipy.stats import pearsonr
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import StratifiedShuffleSplit

    order = np.argsort(ids)  # Brain-Score sorts by stimulus_id
    X, Y, labels = features[order], responses[order], names[order]
    splits = list(
        StratifiedShuffleSplit(n_splits=10, train_size=0.9, random_state=1).split(np.zeros(len(X)), labels)
    )
    medians = []
    start = time.perf_counter()
    for train, test in splits[:n_splits_run]:
        model = PLSRegression(n_components=25, scale=False).fit(X[train], Y[train])
        prediction = model.predict(X[test])
        medians.append(np.median([pearsonr(prediction[:, j], Y[test, j])[0] for j in range(Y.shape[1])]))
    elapsed = time.perf_counter() - start
    return elapsed, float(np.mean(medians)), len(medians)


def ours_ridge(source, target, cv) -> tuple[float, float, object]:
    from brainbridge.encoding import neural_predictivity

    start = time.perf_counter()
    result = neural_predictivity(source, target, mapping="ridge", mapping_params={"cv": cv}, progress=False)
    return time.perf_counter() - start, float(result), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=1024, help="number of model features (1024-4096)")
    parser.add_argument("--stimuli-per-object", type=int, default=50)
    parser.add_argument("--neuroids", type=int, default=168)
    parser.add_argument("--pls-splits", type=int, default=10, help="PLS splits to run (time scaled to 10)")
    parser.add_argument("--no-encode", action="store_true", help="skip the EfficientNet encode throughput")
    parser.add_argument("--encode-images", type=int, default=128)
    parser.add_argument(
        "--encode-repeat", type=int, default=3, help="alternating rounds of ours and the plain loop"
    )
    parser.add_argument("--encode-only", action="store_true", help="only the encode comparison")
    args = parser.parse_args()

    if args.encode_only:
        encode_report(args.encode_images, args.encode_repeat)
        return
    features, responses, ids, names = make_problem(
        per_object=args.stimuli_per_object, n_neuroids=args.neuroids, n_features=args.features
    )
    source, target = as_assemblies(features, responses, ids, names)
    print(
        f"problem: {len(ids)} stimuli x {args.neuroids} neuroids, {args.features} features; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )

    ours = {}
    for cv, label in (("loo", "exact leave-one-out"), (5, "inner 5-fold CV")):
        ridge_time, ridge_r, result = ours_ridge(source, target, cv)
        ours[label] = (ridge_time, ridge_r)
        print(
            f"ours  RidgeCVPerTarget (21 alphas, {label:19s}), 10 splits: {ridge_time:8.1f} s   "
            f"median r {ridge_r:.4f} ± {result.error:.4f}"
        )

    pls_time, pls_r, run = peer_pls(features, responses, ids, names, args.pls_splits)
    scaled = pls_time * 10 / run
    note = "" if run == 10 else f"  (measured on {run} split(s), time scaled to 10)"
    print(
        f"peer  sklearn PLSRegression(25), Brain-Score loop,       10 splits: {scaled:8.1f} s   "
        f"median r {pls_r:.4f}{note}"
    )
    for label, (ridge_time, ridge_r) in ours.items():
        print(
            f"ratio ({label}): ridge is {scaled / ridge_time:.1f}x faster; "
            f"median r {ridge_r - pls_r:+.4f} vs PLS ({'>=' if ridge_r >= pls_r else '<'} PLS)"
        )

    if not args.no_encode:
        encode_report(args.encode_images, args.encode_repeat)


def encode_report(n_images: int, repeat: int, batch_size: int = 64) -> None:
    """:func:`encode` against the plain torch loop over the same network, in alternating rounds.

    The plain loop is what a user writes first: per batch, the same preprocessing, the module in
    its default (contiguous) layout under ``torch.no_grad``, a forward hook reading the layer,
    the whole forward pass. Ours also reads the layer; the ratio compares feature extraction
    (the read-out on top is a small matrix product in both).
    """
    import torch

    from brainbridge.encoding import encode, get_encoding_model

    model = get_encoding_model("ephys-brainbridge_example-efficientnet_lite0", selection={"region": "IT"})
    extractor = model.extractor
    layer = extractor.default_layers[0]
    images = np.random.default_rng(0).integers(0, 256, size=(n_images, 3, 224, 224), dtype=np.uint8)
    # the peer's own copy of the network, in PyTorch's default layout
    import copy

    plain_module = copy.deepcopy(extractor.module).to(memory_format=torch.contiguous_format)

    pool = extractor.spatial_pool

    def plain_loop() -> np.ndarray:
        outputs = []
        captured = {}
        handle = plain_module.get_submodule(layer).register_forward_hook(
            lambda _m, _i, out: captured.__setitem__("x", out)
        )
        try:
            for start in range(0, n_images, batch_size):
                x = torch.from_numpy(extractor.preprocessing.normalize(images[start : start + batch_size]))
                with torch.no_grad():
                    plain_module(x)
                out = captured["x"].float()
                if pool is not None:  # the same spatial pooling as the extractor's
                    out = torch.nn.functional.adaptive_avg_pool2d(
                        out, (min(pool, out.shape[2]), min(pool, out.shape[3]))
                    )
                outputs.append(out.numpy().copy())
        finally:
            handle.remove()
        return np.concatenate(outputs)

    def ours() -> np.ndarray:
        return np.concatenate(
            [
                extractor._batch_features(images[start : start + batch_size], [layer])[layer]
                for start in range(0, n_images, batch_size)
            ]
        )

    encode(model, images[:batch_size], progress=False, batch_size=batch_size)  # warm-up: threads, caches
    plain_loop()
    times = {"encode": [], "ours features": [], "plain torch loop": []}
    for _ in range(repeat):
        start = time.perf_counter()
        encode(model, images, progress=False, batch_size=batch_size)
        times["encode"].append(time.perf_counter() - start)
        start = time.perf_counter()
        mine = ours()
        times["ours features"].append(time.perf_counter() - start)
        start = time.perf_counter()
        peer = plain_loop()
        times["plain torch loop"].append(time.perf_counter() - start)
    relative = float(np.max(np.abs(mine - peer)) / np.max(np.abs(peer)))
    best = {name: min(values) for name, values in times.items()}
    print(
        f"encode: EfficientNet-lite0 model (IT, {layer}), batch {batch_size}, {n_images} images, "
        f"best of {repeat} (load average {os.getloadavg()[0]:.1f}, torch threads {torch.get_num_threads()}):"
    )
    for name, seconds in best.items():
        print(
            f"  {name:18s} {seconds:6.2f} s = {n_images / seconds:6.1f} images/s "
            f"(median {np.median(times[name]):.2f} s)"
        )
    ratio = best["plain torch loop"] / best["ours features"]
    paired = np.median(np.array(times["plain torch loop"]) / np.array(times["ours features"]))
    print(
        f"  ours / plain torch loop: {ratio:.2f}x (median of paired rounds {paired:.2f}x; goal >= 1.5x: "
        f"{'met' if ratio >= 1.5 else 'missed'}); encode (with the read-out) "
        f"{best['plain torch loop'] / best['encode']:.2f}x; features' max relative difference {relative:.1e} "
        "(goal <= 1e-5)"
    )


if __name__ == "__main__":
    main()

"""Benchmark: contrastive loaders, brainbridge.data vs cebra 0.6.1, measured in the same run.

N = 200,000 samples x 120 neurons, a 3-D continuous index (random walk), 10 discrete classes,
batch 512, Offset(5, 5) (a receptive field of 10) and time_offset 10. For each loader: the time
of ``get_indices`` (index sampling) and whole batches per second (sampling + ``load_batch``).

cebra runs in its own virtual environment (it pins its own dependencies), as a subprocess::

    python -m venv benchmarks/_work/cebra-venv
    benchmarks/_work/cebra-venv/bin/pip install torch==2.13.0
    benchmarks/_work/cebra-venv/bin/pip install cebra==0.6.1

Run: ``python benchmarks/loaders.py`` (``--peer-python PATH`` for another cebra install,
``--no-peer`` to measure brainbridge only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N, NEURONS, DIMS, CLASSES, BATCH, LEFT, RIGHT, TIME_OFFSET = 200_000, 120, 3, 10, 512, 5, 5, 10
HERE = Path(__file__).resolve().parent
DEFAULT_PEER = HERE / "_work" / "cebra-venv" / "bin" / "python"

# name -> (loader class name, keyword arguments); the same names exist in both libraries
LOADERS = {
    "continuous time_delta": (
        "ContinuousDataLoader",
        {"conditional": "time_delta", "time_offset": TIME_OFFSET},
    ),
    "continuous delta_normal": ("ContinuousDataLoader", {"conditional": "delta_normal", "delta": 0.5}),
    "continuous time": ("ContinuousDataLoader", {"conditional": "time", "time_offset": TIME_OFFSET}),
    "mixed": ("MixedDataLoader", {"time_offset": TIME_OFFSET}),
    "discrete empirical": ("DiscreteDataLoader", {"prior": "empirical"}),
    "discrete uniform": ("DiscreteDataLoader", {"prior": "uniform"}),
}
#: loaders whose sampling does a nearest-neighbour search (slow in cebra: few repetitions)
SEARCHING = {"continuous time_delta", "continuous delta_normal", "mixed"}


def make_data():
    rng = np.random.default_rng(2024)
    neural = rng.normal(size=(N, NEURONS)).astype(np.float32)
    continuous = np.cumsum(rng.normal(scale=0.05, size=(N, DIMS)), axis=0).astype(np.float32)
    discrete = rng.integers(0, CLASSES, N).astype(np.int64)
    return neural, continuous, discrete


def measure(module, tensor_dataset, offset_cls, loader_kwargs_extra, reps_fast, reps_slow):
    neural, continuous, discrete = make_data()
    dataset = tensor_dataset(neural, continuous=continuous, discrete=discrete)
    dataset.offset = offset_cls(LEFT, RIGHT)
    results = {}
    for name, (cls_name, kwargs) in LOADERS.items():
        reps = reps_slow if name in SEARCHING else reps_fast
        cls = getattr(module, cls_name)
        t0 = time.perf_counter()
        loader = cls(dataset, num_steps=reps, batch_size=BATCH, **kwargs, **loader_kwargs_extra)
        build = time.perf_counter() - t0
        loader.get_indices(BATCH)  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            loader.get_indices(BATCH)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        count = 0
        for batch in loader:
            count += 1
            shape = tuple(batch.reference.shape)
        elapsed = time.perf_counter() - t0
        assert shape == (BATCH, NEURONS, LEFT + RIGHT), shape
        results[name] = {
            "build_s": build,
            "get_indices_ms": statistics.median(times) * 1e3,
            "batches_per_s": count / elapsed,
        }
    return results


def run_ours(reps_fast, reps_slow):
    sys.path.insert(0, str(HERE.parent / "src"))
    import brainbridge.data as bd

    return measure(bd, bd.TensorDataset, bd.Offset, {"seed": 0}, reps_fast, reps_slow)


def run_peer_inside(reps_fast, reps_slow):
    import cebra.data

    return measure(cebra.data, cebra.data.TensorDataset, cebra.data.Offset, {}, reps_fast, reps_slow)


def run_peer(python: Path, reps_fast: int, reps_slow: int):
    cmd = [str(python), __file__, "--as-peer", "--reps-fast", str(reps_fast), "--reps-slow", str(reps_slow)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"cebra run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--reps-fast", type=int, default=50)
    parser.add_argument("--reps-slow", type=int, default=3, help="cebra repetitions for searching loaders")
    parser.add_argument("--as-peer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_peer:
        print(json.dumps(run_peer_inside(args.reps_fast, args.reps_slow)))
        return
    print(
        f"N={N:,} x {NEURONS} neurons, {DIMS}-D continuous, {CLASSES} classes, batch {BATCH}, "
        f"Offset({LEFT}, {RIGHT}), time_offset {TIME_OFFSET}; torch threads: default"
    )
    ours = run_ours(args.reps_fast, args.reps_fast)
    peer = None
    if not args.no_peer:
        if not args.peer_python.exists():
            print(
                f"(cebra not found at {args.peer_python}; see the module docstring; "
                "measuring brainbridge only)"
            )
        else:
            peer = run_peer(args.peer_python, args.reps_fast, args.reps_slow)
    header = f"{'loader':26s} {'get_indices ms':>15s} {'batches/s':>10s} {'build s':>8s}"
    if peer:
        header += f" | {'cebra get_idx ms':>16s} {'cebra b/s':>10s} | {'x get_idx':>9s} {'x batches':>9s}"
    print(header)
    for name, r in ours.items():
        line = f"{name:26s} {r['get_indices_ms']:15.3f} {r['batches_per_s']:10.1f} {r['build_s']:8.3f}"
        if peer:
            p = peer[name]
            line += (
                f" | {p['get_indices_ms']:16.3f} {p['batches_per_s']:10.2f} | "
                f"{p['get_indices_ms'] / r['get_indices_ms']:9.0f} "
                f"{r['batches_per_s'] / p['batches_per_s']:9.1f}"
            )
        print(line)


if __name__ == "__main__":
    main()

"""Scale benchmark: out-of-core repetition averaging, and scoring on 1 and 2 Dask workers.

Run it with ``python benchmarks/scale.py`` (``--quick`` for a small run). It prints:

1. Repetition average of a zarr assembly 3x larger than a memory limit (default 128 MiB):
   brainbridge's chunked, lazy average (``from_files(chunks=...)`` + ``average_repetitions``)
   against the eager way (load everything, ``groupby('stimulus_id').mean()``, as BrainIO
   does), each in its own process: wall time and peak RSS above the process's baseline.
2. Scoring 8 feature sets on the example benchmark (``brainbridge.example.neural``, PLS, 10
   splits, one score per region) with ``score_many``: here without Dask, then on a
   LocalCluster with 1 and 2 worker processes (1 BLAS thread each), and 2 workers with 2 BLAS
   threads each (oversubscribed): wall time, speed-up and parallel efficiency.

The numbers feed the projection in ``docs/scale.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

MiB = 1024 * 1024

# --------------------------------------------------------------------------------------------
# 1. out-of-core average
# --------------------------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time, warnings
    warnings.simplefilter("ignore")
    import dask, numpy as np, xarray as xr
    from brainbridge.assemblies import NeuronRecordingAssembly, average_repetitions

    mode, store, out, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    # warm up (imports, codecs, thread pools) on a tiny store so the baseline is the process
    # ready to work, then measure the growth of the peak RSS during the real work
    warm = xr.Dataset({"data": (("presentation", "neuroid"), np.ones((4, 3), np.float32))},
                      coords={"stimulus_id": ("presentation", np.array(["a", "a", "b", "b"]))})
    warm.to_zarr(out + ".warm", mode="w")
    with dask.config.set({"scheduler": "threads", "num_workers": 2}):
        tiny = NeuronRecordingAssembly.from_files(out + ".warm", chunks={"presentation": 2})
        average_repetitions(tiny).values
        xr.open_zarr(out + ".warm")["data"].load().groupby("stimulus_id").mean("presentation")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if mode == "lazy":
        with dask.config.set({"scheduler": "threads", "num_workers": 2}):
            # neuroid blocks sized so that 2 threads' accumulators (12 B x stimuli x width)
            # and input blocks stay well under the limit
            n_groups = len(set(xr.open_zarr(store)["stimulus_id"].values.tolist()))
            width = max(1, int(limit // 8 // (12 * n_groups)))
            assembly = NeuronRecordingAssembly.from_files(store, chunks={"neuroid": width})
            averaged = average_repetitions(assembly)
            xr.Dataset({"data": averaged.variable}).to_zarr(out, mode="w")
    else:
        data = xr.open_zarr(store)["data"].load()
        averaged = data.groupby("stimulus_id").mean("presentation")
        xr.Dataset({"data": averaged.variable}).to_zarr(out, mode="w")
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "baseline_kib": baseline, "peak_kib": peak}))
    """
)


def _write_big_store(path: Path, n_stimuli: int, repetitions: int, n_neuroids: int, chunk: int) -> int:
    """A float32 zarr assembly written chunk by chunk (never whole in this process's memory)."""
    import dask.array as da
    import xarray as xr

    n = n_stimuli * repetitions
    rng = np.random.default_rng(0)
    stimulus = np.array([f"im{i:05d}" for i in rng.permutation(np.repeat(np.arange(n_stimuli), repetitions))])
    values = da.random.default_rng(1).standard_normal(
        (n, n_neuroids), chunks=(chunk, n_neuroids), dtype=np.float32
    )
    ds = xr.Dataset(
        {"data": (("presentation", "neuroid"), values)},
        coords={
            "stimulus_id": ("presentation", stimulus),
            "repetition": ("presentation", np.arange(n) % repetitions),
            "neuroid_id": ("neuroid", np.array([f"n{i:05d}" for i in range(n_neuroids)])),
        },
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.to_zarr(path, mode="w", encoding={"data": {"chunks": (chunk, n_neuroids)}})
    return n * n_neuroids * 4


def bench_average(limit_mib: int, workdir: Path) -> dict:
    limit = limit_mib * MiB
    n_neuroids = 2000
    repetitions = 10
    n_stimuli = int(np.ceil(3 * limit / (repetitions * n_neuroids * 4)))
    chunk = max(1, (limit // 16) // (n_neuroids * 4))  # input chunks of limit/16
    store = workdir / "big.zarr"
    started = time.perf_counter()
    nbytes = _write_big_store(store, n_stimuli, repetitions, n_neuroids, chunk)
    print(
        f"  wrote {store.name}: {n_stimuli * repetitions} x {n_neuroids} float32 = {nbytes / MiB:.0f} MiB "
        f"(chunks of {chunk} presentations = {chunk * n_neuroids * 4 / MiB:.1f} MiB) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    results = {}
    for mode in ("lazy", "eager"):
        out = workdir / f"avg-{mode}.zarr"
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, mode, str(store), str(out), str(limit)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["delta_mib"] = (result["peak_kib"] - result["baseline_kib"]) / 1024
        results[mode] = result
    import xarray as xr

    lazy = xr.open_zarr(workdir / "avg-lazy.zarr")["data"].values
    eager = xr.open_zarr(workdir / "avg-eager.zarr")["data"]
    # groupby sorts the groups; ours keeps first-appearance order: compare on sorted ids
    ids = xr.open_zarr(store)["stimulus_id"].values
    first = dict.fromkeys(ids)
    order = np.argsort(np.array(list(first)))
    max_diff = float(np.max(np.abs(lazy[order] - eager.values)))
    results.update(store_mib=nbytes / MiB, limit_mib=limit_mib, max_abs_diff=max_diff)
    return results


# --------------------------------------------------------------------------------------------
# 2. scoring on workers
# --------------------------------------------------------------------------------------------


def _feature_sets(n_sets: int, stimulus_set) -> dict:
    """8 feature sets from the Gabor V1 model: random projections of its energy and squared energy."""
    from brainbridge.assemblies import ModelFeaturesAssembly
    from brainbridge.encoding import GaborV1

    base = GaborV1().extract(stimulus_set, progress=False)
    values = np.asarray(base.values, dtype=np.float64)
    stacked = np.concatenate([values, values**2], axis=1)
    stacked = (stacked - stacked.mean(0)) / (stacked.std(0) + 1e-9)
    sets = {}
    for i in range(n_sets):
        rng = np.random.default_rng(100 + i)
        projection = rng.normal(size=(stacked.shape[1], 512)) / np.sqrt(stacked.shape[1])
        feats = np.tanh(stacked @ projection * (0.5 + 0.25 * i))
        sets[f"gabor-proj{i}"] = ModelFeaturesAssembly(
            feats.astype(np.float32),
            dims=["presentation", "neuroid"],
            coords={
                "stimulus_id": ("presentation", np.asarray(base["stimulus_id"].values)),
                "neuroid_id": ("neuroid", np.array([f"f{j}" for j in range(512)])),
            },
        )
    return sets


def bench_scoring(n_sets: int, n_splits: int) -> dict:
    import warnings

    from distributed import get_task_stream

    import brainbridge
    from brainbridge.assemblies import select
    from brainbridge.encoding.scoring import score_many
    from brainbridge.parallel import get_client

    warnings.simplefilter("ignore")
    assembly = brainbridge.get_assembly("brainbridge.example.neural")
    regions = [str(r) for r in dict.fromkeys(np.asarray(assembly["region"].values).astype(str))]
    targets = {region: select(assembly, region=region) for region in regions}
    sources = _feature_sets(n_sets, assembly.attrs["stimulus_set"])
    n_tasks = len(sources) * len(targets) * n_splits
    print(
        f"  {len(sources)} feature sets x {len(targets)} regions {regions} x {n_splits} splits = {n_tasks} "
        f"PLS fits; assembly {dict(assembly.sizes)}"
    )

    runs = {}
    started = time.perf_counter()
    reference = score_many(sources, targets, "pls", n_splits=n_splits, progress=False, record=False)
    runs["local"] = {"seconds": time.perf_counter() - started, "startup": 0.0}
    for label, workers, blas in (
        ("1 worker", 1, 1),
        ("2 workers", 2, 1),
        ("2 workers, 2 BLAS threads", 2, 2),
    ):
        started = time.perf_counter()
        with get_client(workers=workers, blas_threads=blas, memory_limit="4GiB") as client:
            client.wait_for_workers(workers)
            # warm the workers (imports) so the timing is the scoring, as on a long-lived cluster
            client.run(lambda: __import__("sklearn.cross_decomposition"))
            startup = time.perf_counter() - started
            started = time.perf_counter()
            client_cpu = time.process_time()
            # the task stream says where the time goes: task compute on the workers vs the rest
            with get_task_stream(client=client) as stream:
                result = score_many(
                    sources, targets, "pls", n_splits=n_splits, client=client, progress=False, record=False
                )
            elapsed = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu
        compute = sum(
            s["stop"] - s["start"] for t in stream.data for s in t["startstops"] if s["action"] == "compute"
        )
        transfer = sum(
            s["stop"] - s["start"] for t in stream.data for s in t["startstops"] if s["action"] == "transfer"
        )
        same = result["score"].tolist() == reference["score"].tolist()
        runs[label] = {
            "seconds": elapsed,
            "startup": startup,
            "identical": same,
            "tasks": len(stream.data),
            "compute_s": compute,
            "transfer_s": transfer,
            "client_cpu_s": client_cpu,
            "utilisation": compute / (elapsed * workers),
        }
    runs["n_tasks"] = n_tasks
    runs["scores"] = {f"{r.model}/{r.benchmark}": round(float(r.score), 4) for r in reference.itertuples()}
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mib", type=int, default=128, help="memory limit for the average (MiB)")
    parser.add_argument("--sets", type=int, default=8, help="feature sets to score")
    parser.add_argument("--splits", type=int, default=10, help="cross-validation splits")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--part", type=int, choices=(1, 2), help="run only part 1 or part 2")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if args.quick:
        args.limit_mib, args.sets, args.splits = 16, 2, 3
    print(
        f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; "
        f"python {sys.version.split()[0]}"
    )
    numbers: dict = {}
    if args.part in (None, 1):
        numbers["average"] = _report_average(args.limit_mib)
    if args.part in (None, 2):
        numbers["scoring"] = _report_scoring(args.sets, args.splits)
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2))
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(benchmark process peak RSS {usage:.0f} MiB; load average {os.getloadavg()[0]:.1f})")


def _report_average(limit_mib: int) -> dict:
    print("\n1. repetition average of a zarr assembly 3x larger than the memory limit")
    with tempfile.TemporaryDirectory(prefix="bb-scale-") as tmp:
        avg = bench_average(limit_mib, Path(tmp))
    lazy, eager = avg["lazy"], avg["eager"]
    print(f"  store {avg['store_mib']:.0f} MiB, limit {avg['limit_mib']} MiB")
    print(
        f"  brainbridge lazy : {lazy['seconds']:6.2f} s, peak RSS +{lazy['delta_mib']:6.0f} MiB "
        f"({'within' if lazy['delta_mib'] <= avg['limit_mib'] else 'OVER'} the limit)"
    )
    print(f"  eager (load+groupby): {eager['seconds']:6.2f} s, peak RSS +{eager['delta_mib']:6.0f} MiB")
    print(
        f"  ratio eager/lazy: time {eager['seconds'] / lazy['seconds']:.2f}x, "
        f"peak memory {eager['delta_mib'] / max(lazy['delta_mib'], 1):.2f}x; "
        f"max |diff| {avg['max_abs_diff']:.2e}"
    )
    return avg


def _report_scoring(n_sets: int, n_splits: int) -> dict:
    print("\n2. scoring feature sets on the example benchmark (PLS) with score_many")
    args = argparse.Namespace(sets=n_sets, splits=n_splits)
    runs = bench_scoring(args.sets, args.splits)
    base = runs["1 worker"]["seconds"]
    for label in ("local", "1 worker", "2 workers", "2 workers, 2 BLAS threads"):
        run = runs[label]
        line = f"  {label:27s}: {run['seconds']:6.2f} s"
        if label != "local":
            line += (
                f" (cluster start {run['startup']:.1f} s), "
                f"speed-up vs 1 worker {base / run['seconds']:.2f}x, "
                f"identical scores: {run['identical']}"
            )
            line += (
                f"\n  {'':27s}  {run['tasks']} tasks, "
                f"{run['compute_s'] / max(run['tasks'], 1) * 1000:.0f} ms "
                f"compute per task, {run['transfer_s']:.2f} s transfers, "
                f"client CPU {run['client_cpu_s']:.1f} s, "
                f"workers busy {run['utilisation']:.0%} of the wall time"
            )
        print(line)
    efficiency = base / (2 * runs["2 workers"]["seconds"])
    inflation = (runs["2 workers"]["compute_s"] / runs["2 workers"]["tasks"]) / (
        runs["1 worker"]["compute_s"] / runs["1 worker"]["tasks"]
    )
    print(
        f"  per-task compute on 2 workers / on 1 worker: {inflation:.2f}x (1.0 on free cores; above it, the "
        f"workers wait for CPU, not for Dask). Goal >= 1.6x on 2 workers: "
        f"{base / runs['2 workers']['seconds']:.2f}x at load average {os.getloadavg()[0]:.1f}"
    )
    per_task = base / runs["n_tasks"]
    print(
        f"  parallel efficiency on 2 workers: {efficiency:.0%}; "
        f"{per_task * 1000:.0f} ms per split task (1 worker)"
    )
    print(
        f"  oversubscription (2 BLAS threads per worker) slowdown: "
        f"{runs['2 workers, 2 BLAS threads']['seconds'] / runs['2 workers']['seconds']:.2f}x"
    )
    runs["efficiency"] = efficiency
    return runs


if __name__ == "__main__":
    main()

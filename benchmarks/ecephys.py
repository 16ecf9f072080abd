"""Spike counts: brainbridge's vectorised counting vs straightforward per-unit ``np.histogram`` loops.

Writes an NWB file (pynwb) with 500 units and ~10 M spikes, 6000 presentations, then counts
25 bins per presentation:

* ``brainbridge``: ``EcephysSession.presentationwise_spike_counts`` (the full call, NWB read
  excluded, AllenSDK's DataArray), ``session.to_assembly`` on its result (the assembly with every
  coordinate) and the bare ``spike_counts`` kernel;
* ``histogram loop``: for each unit, for each presentation, ``np.histogram(train, start + edges)``
  (what a user writes first) — timed on a subset of units and scaled to 500;
* ``histogram per unit``: one ``np.histogram`` per unit over all presentations' edges (valid
  only because these windows do not overlap) — timed on every unit.

Peak memory is measured with ``tracemalloc`` (numpy allocations are traced) in separate runs.

Run: ``python benchmarks/ecephys.py [--units 500 --presentations 6000 --spikes 10000000]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np


def _peak(fn):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak


def _timed(fn, repeat=1):
    best = np.inf
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--presentations", type=int, default=6000)
    parser.add_argument("--spikes", type=int, default=10_000_000)
    parser.add_argument("--bins", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=5, help="alternating closed/half-open kernel runs")
    parser.add_argument("--loop-units", type=int, default=4, help="units timed for the nested histogram loop")
    args = parser.parse_args()

    from brainbridge.ecephys.counts import spike_counts, window_edges
    from brainbridge.ecephys.session import EcephysSession
    from brainbridge.ecephys.synthetic import write_synthetic_session

    bin_edges = np.linspace(0.0, 0.25, args.bins + 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.nwb"
        t0 = time.perf_counter()
        write_synthetic_session(
            path,
            1,
            n_probes=4,
            channels_per_probe=96,
            n_units=args.units,
            n_spikes=args.spikes,
            n_presentations=args.presentations,
            presentation_duration=0.3,
            extras=False,
        )
        print(f"wrote {path.stat().st_size / 1e6:.0f} MB NWB in {time.perf_counter() - t0:.1f} s")
        with EcephysSession.from_nwb(path) as session:
            t0 = time.perf_counter()
            trains = session.spike_trains
            table = session.stimulus_presentations
            print(
                f"read {int(trains.n_spikes.sum()):,} spikes of {len(trains)} units "
                f"and {len(table)} presentations in {time.perf_counter() - t0:.2f} s"
            )
            edges = window_edges(table["start_time"].to_numpy(float), bin_edges)
            output_bytes = len(table) * args.bins * len(trains) * 2

            # closed and half-open alternate so that load from other processes hits both alike
            # (CPU seconds too: the kernel is single-threaded, so they are less sensitive to other load)
            closed_times, half_times, closed_cpu, half_cpu = [], [], [], []
            for _ in range(args.repeat):
                c0 = time.process_time()
                counts, t = _timed(lambda: spike_counts(trains, edges, progress=False))
                closed_times.append(t)
                closed_cpu.append(time.process_time() - c0)
                c0 = time.process_time()
                half, t = _timed(lambda: spike_counts(trains, edges, closed=False, progress=False))
                half_times.append(t)
                half_cpu.append(time.process_time() - c0)
            t_kernel, t_half = min(closed_times), min(half_times)
            allen_counts, t_full = _timed(
                lambda: session.presentationwise_spike_counts(bin_edges, progress=False)
            )
            converted, t_assembly = _timed(partial(session.to_assembly, allen_counts))
            del converted
            del half
            _, peak_kernel = _peak(lambda: spike_counts(trains, edges, progress=False))
            _, peak_half = _peak(lambda: spike_counts(trains, edges, closed=False, progress=False))
            _, peak_full = _peak(lambda: session.presentationwise_spike_counts(bin_edges, progress=False))
            del allen_counts

            # the nested loop a user writes first (half-open bins but the last, as np.histogram)
            train_dict = trains.to_dict()
            unit_ids = list(train_dict)[: args.loop_units]
            starts = table["start_time"].to_numpy(float)

            def nested():
                out = np.empty((starts.size, args.bins, len(unit_ids)), dtype=np.uint16)
                for u, uid in enumerate(unit_ids):
                    train = train_dict[uid]
                    for p, start in enumerate(starts):
                        out[p, :, u] = np.histogram(train, bins=start + bin_edges)[0]
                return out

            loop_counts, t_loop_subset = _timed(nested)
            t_loop = t_loop_subset * len(trains) / len(unit_ids)

            def per_unit():
                flat = edges.ravel()
                out = np.empty((starts.size, args.bins, len(trains)), dtype=np.uint16)
                keep = np.ones(flat.size - 1, dtype=bool)
                keep[args.bins :: args.bins + 1] = False  # the gaps between windows
                for u, train in enumerate(train_dict.values()):
                    out[:, :, u] = np.histogram(train, bins=flat)[0][keep].reshape(starts.size, args.bins)
                return out

            per_unit_counts, t_per_unit = _timed(per_unit)
            _, peak_per_unit = _peak(per_unit)

            # correctness: same counts as the loops with half-open bins
            ours_half = spike_counts(trains, edges, closed=False, progress=False)
            inner_ok = np.array_equal(ours_half[:, :-1, : len(unit_ids)], loop_counts[:, :-1])
            per_unit_ok = np.array_equal(ours_half[:, :-1], per_unit_counts[:, :-1])
            del ours_half, counts

    mb = 1e6
    print()
    print(
        f"{len(trains)} units x {len(table)} presentations x {args.bins} bins; "
        f"output {output_bytes / mb:.0f} MB (uint16)"
    )
    print(f"{'method':44s} {'time (s)':>10s} {'peak (MB)':>10s} {'vs ours':>9s}")
    print(
        f"{'brainbridge spike_counts (closed bins)':44s} {t_kernel:10.2f} {peak_kernel / mb:10.0f} {1:9.1f}"
    )
    print(
        f"{'brainbridge spike_counts (half-open bins)':44s} {t_half:10.2f} {'':>10s} {t_half / t_kernel:9.1f}"
    )
    print(
        f"{'brainbridge presentationwise_spike_counts':44s} {t_full:10.2f} {peak_full / mb:10.0f} "
        f"{t_full / t_kernel:9.1f}"
    )
    print(
        f"{'  + session.to_assembly (all coordinates)':44s} {t_assembly:10.2f} {'':>10s} "
        f"{t_assembly / t_kernel:9.1f}"
    )
    print(
        f"{'np.histogram loop per unit x presentation*':44s} {t_loop:10.1f} {'':>10s} "
        f"{t_loop / t_kernel:9.1f}"
    )
    print(
        f"{'np.histogram once per unit (no overlap only)':44s} {t_per_unit:10.2f} "
        f"{peak_per_unit / mb:10.0f} {t_per_unit / t_kernel:9.1f}"
    )
    print(f"* timed on {len(unit_ids)} units ({t_loop_subset:.1f} s) and scaled to {len(trains)}")
    print(
        f"speed-up vs the nested loop: {t_loop / t_full:.0f}x (full call), {t_loop / t_kernel:.0f}x (kernel)"
    )
    print(
        f"peak memory / output size: kernel {peak_kernel / output_bytes:.2f}, "
        f"full call {peak_full / output_bytes:.2f}"
    )
    print(f"counts equal to the loops' (half-open inner bins): nested {inner_ok}, per-unit {per_unit_ok}")
    ratios = np.array(closed_times) / np.array(half_times)
    print(
        f"closed / half-open kernel time: min-to-min {t_kernel / t_half:.2f}, median of paired runs "
        f"{np.median(ratios):.2f} (goal <= 1.2; closed min {t_kernel:.2f} s "
        f"median {np.median(closed_times):.2f} s, "
        f"half-open min {t_half:.2f} s median {np.median(half_times):.2f} s, {args.repeat} runs each)"
    )
    print(
        f"closed / half-open kernel CPU time: min-to-min {min(closed_cpu) / min(half_cpu):.2f}, "
        "median of paired "
        f"runs {np.median(np.array(closed_cpu) / np.array(half_cpu)):.2f}"
    )
    print(
        f"peak / output: closed {peak_kernel / output_bytes:.2f}, half-open {peak_half / output_bytes:.2f} "
        "(goal <= 1.3)"
    )
    print(f"load average during the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

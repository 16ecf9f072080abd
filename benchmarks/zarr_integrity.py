"""Benchmark: the cost of zarr integrity checks (per-file SHA-256, every chunk written).

An assembly of ``presentation x neuroid`` float32 (``--mb`` MB, default 152: the
MajajHong2015.public size) with a few coordinates is written and read as zarr v3 three ways,
in the same run:

* ``xarray``: plain ``Dataset.to_zarr`` / ``xr.open_zarr`` (the peer: no checksums);
* ``bb off``: :func:`brainbridge.packaging.write_zarr` with ``checksums=False``;
* ``bb on``: ``write_zarr`` with checksums (the default): every chunk written, then every
  file hashed into the manifest; reading verifies the listing on open and each file's
  SHA-256 as it is read.

Steps (best of ``--repeat`` wall seconds, files in the page cache): ``write``; ``load``
(open and read every value); ``validate`` (hash every file, ``bb on`` only). The ratio
column is ours / xarray's (above 1: slower than the peer).

Usage::

    python benchmarks/zarr_integrity.py [--mb 152] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def make_assembly(mb: int):
    from brainbridge.assemblies import NeuronRecordingAssembly

    n_neuroids = 256
    n = max(1, mb * (1 << 20) // (4 * n_neuroids))
    rng = np.random.default_rng(0)
    return NeuronRecordingAssembly(
        rng.standard_normal((n, n_neuroids), dtype=np.float32),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", [f"s{i % 3200:05d}" for i in range(n)]),
            "repetition": ("presentation", np.arange(n) // 3200),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(n_neuroids)]),
            "region": ("neuroid", ["V4"] * 88 + ["IT"] * (n_neuroids - 88)),
        },
    )


def best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    import xarray as xr

    from brainbridge.assemblies import NeuronRecordingAssembly
    from brainbridge.packaging import to_dataset, write_zarr
    from brainbridge.zarr_checksums import verify_zarr_checksums

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=152)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    assembly = make_assembly(args.mb)
    dataset = to_dataset(assembly)
    work = Path(tempfile.mkdtemp(prefix="bb-zarr-bench-"))
    try:
        paths = {name: work / f"{name}.zarr" for name in ("xarray", "off", "on")}
        writers = {
            "xarray": lambda: dataset.to_zarr(paths["xarray"], mode="w", zarr_format=3, consolidated=False),
            "off": lambda: write_zarr(assembly, paths["off"], mode="w", checksums=False),
            "on": lambda: write_zarr(assembly, paths["on"], mode="w"),
        }
        readers = {
            "xarray": lambda: xr.open_zarr(paths["xarray"], consolidated=False).load(),
            "off": lambda: NeuronRecordingAssembly.from_files(paths["off"]).load(),
            "on": lambda: NeuronRecordingAssembly.from_files(paths["on"]).load(),
        }
        results = {}
        for name in ("xarray", "off", "on"):
            results[(name, "write")] = best(writers[name], args.repeat)
        for name in ("xarray", "off", "on"):
            readers[name]()  # warm the page cache
            results[(name, "load")] = best(readers[name], args.repeat)
        results[("on", "validate")] = best(lambda: verify_zarr_checksums(str(paths["on"])), args.repeat)
        n_files = sum(1 for p in paths["on"].rglob("*") if p.is_file())
        print(
            f"zarr v3 assembly {assembly.shape} float32, {assembly.nbytes / 1e6:.0f} MB, {n_files} files "
            f"(best of {args.repeat})"
        )
        print(
            f"{'step':10s} {'xarray s':>9s} {'bb off s':>9s} {'bb on s':>9s} "
            f"{'on/xarray':>10s} {'on/off':>8s}"
        )
        for step in ("write", "load"):
            x, off, on = (results[(n, step)] for n in ("xarray", "off", "on"))
            print(f"{step:10s} {x:9.3f} {off:9.3f} {on:9.3f} {on / x:9.2f}x {on / off:7.2f}x")
        print(f"{'validate':10s} {'':9s} {'':9s} {results[('on', 'validate')]:9.3f}  (hash every file)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark: the cost of checking HDF5 files for pickles before PyTables opens them.

``brainbridge.data.load_data`` scans every attribute (and every object-atom dataset) of a
pandas/PyTables ``.h5`` file with h5py before handing it to pandas (``scan_hdf5``). This measures
that scan alone, ``load_data`` as a whole, and ``cebra.load_data`` (0.6.1, the peer, no check) on
the same files in the same run:

* a DeepLabCut-style output (fixed format, 3-level column MultiIndex), 2,000 frames x 12 body
  parts (cebra's DeepLabCut reader is slow: ~70 s at 5,000 frames);
* a table-format frame, 200,000 rows x 8 float columns and one string data column (indexed).

Files without pandas groups are read by h5py alone (which never unpickles) and are not scanned.

Run: ``python benchmarks/load_data.py`` (``--no-peer`` to skip cebra).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _best(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) if len(times) < 3 else statistics.median(times)


def make_files(folder: Path) -> dict[str, tuple[Path, str | None]]:
    rng = np.random.default_rng(0)
    parts = [f"part{i}" for i in range(12)]
    cols = pd.MultiIndex.from_product(
        [["DLC_resnet50"], parts, ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )
    values = rng.uniform(0, 100, (2_000, len(cols)))
    values[:, 2::3] = 0.99
    dlc = folder / "videoDLC.h5"
    pd.DataFrame(values, columns=cols).to_hdf(dlc, key="df_with_missing")
    table = folder / "table.h5"
    frame = pd.DataFrame(rng.normal(size=(200_000, 8)), columns=[f"c{i}" for i in range(8)])
    frame["label"] = np.where(rng.random(len(frame)) < 0.5, "left", "right")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame.to_hdf(table, key="behaviour", format="table", data_columns=["label"])
    return {"DeepLabCut 2k frames": (dlc, None), "table 200k rows": (table, "behaviour")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-peer", action="store_true", help="skip cebra")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    import brainbridge.data as bd
    from brainbridge.data.pickles import scan_hdf5

    cebra = None
    if not args.no_peer:
        try:
            import cebra
        except ImportError:
            print("cebra not installed: peer column skipped", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        print(
            f"{'file':<24}{'scan (s)':>10}{'load_data (s)':>15}{'cebra (s)':>11}"
            f"{'scan share':>12}{'vs cebra':>10}"
        )
        for name, (path, key) in files.items():
            scan = _best(lambda p=path: scan_hdf5(p), args.reps)
            ours = _best(lambda p=path, k=key: bd.load_data(p, key=k), args.reps)
            theirs = (
                _best(lambda p=path, k=key: cebra.load_data(str(p), key=k), args.reps)
                if cebra
                else float("nan")
            )
            print(
                f"{name:<24}{scan:>10.4f}{ours:>15.4f}{theirs:>11.4f}{scan / ours:>11.1%}"
                f"{ours / theirs:>9.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

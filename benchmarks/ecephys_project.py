"""Deriving project tables from a folder of NWB files: scaling with N files, and the cached second open.

Builds folders of N = 1, 10, 50 NWB files (copies of the real shared fixtures, DANDI layout
``sub-*/sub-*_ses-*.nwb``) and times:

* ``brainbridge``: ``EcephysProjectCache.from_source(folder).get_session_table()`` (derive the
  sessions, probes, channels and units tables, join and count) — first open, then a second open
  of the same folder (tables from the per-file cache, files only stat'ed);
* ``pynwb by hand``: what a user writes without it — open every file with pynwb and read its
  electrodes and units tables with ``to_dataframe()`` (no joins, no counts, no cache).

Linear scaling shows as a constant time per file. Run: ``python benchmarks/ecephys_project.py``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path


def _fixtures() -> list[Path]:
    root = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "nwb"
    files = sorted(root.glob("*.nwb"))
    if not files:
        raise SystemExit(f"no NWB fixtures in {root}")
    return files


def _folder(base: Path, n: int, fixtures: list[Path]) -> Path:
    folder = base / f"n{n}"
    for i in range(n):
        source = fixtures[i % len(fixtures)]
        subject = f"sub-{i:03d}"
        (folder / subject).mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, folder / subject / f"{subject}_ses-{i:03d}.nwb")
    return folder


def _by_hand(folder: Path) -> int:
    import pynwb

    rows = 0
    for path in sorted(folder.rglob("*.nwb")):
        with pynwb.NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            rows += len(nwb.electrodes.to_dataframe()) if nwb.electrodes is not None else 0
            rows += len(nwb.units.to_dataframe()) if nwb.units is not None else 0
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from brainbridge.ecephys import EcephysProjectCache

    fixtures = _fixtures()
    print(
        f"{'N':>4s} {'first open (s)':>15s} {'per file (ms)':>14s} {'second open (s)':>16s} "
        f"{'2nd/1st':>8s} {'pynwb by hand (s)':>18s} {'ours/hand':>10s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for n in args.sizes:
            folder = _folder(base, n, fixtures)
            manifest = base / f"cache{n}" / "manifest.json"
            t0 = time.perf_counter()
            sessions = EcephysProjectCache.from_source(
                folder, manifest=manifest, progress=False
            ).get_session_table()
            first = time.perf_counter() - t0
            assert len(sessions) == n
            t0 = time.perf_counter()
            again = EcephysProjectCache.from_source(
                folder, manifest=manifest, progress=False
            ).get_session_table()
            second = time.perf_counter() - t0
            assert len(again) == n
            t0 = time.perf_counter()
            _by_hand(folder)
            hand = time.perf_counter() - t0
            print(
                f"{n:4d} {first:15.2f} {1000 * first / n:14.1f} {second:16.3f} {second / first:8.3f} "
                f"{hand:18.2f} {first / hand:10.2f}"
            )


if __name__ == "__main__":
    main()

"""Stimulus set loading: what the safety checks of issue 10 (items 3, 9, 13) cost.

Data: a stimulus set of 3200 small PNG-sized files (4 KiB each) with a CSV of 12 metadata
columns, like BrainIO's ``dicarlo.hvm-public``, packed as a stored ZIP.

Steps (best of ``--repeat`` runs, each in a fresh process per tool):

* ``from_files``: read the CSV and map every ``stimulus_id`` to its file. Ours also checks that
  each filename resolves inside the folder and reads every text exactly (no NA inference); the
  peer (BrainIO 1.1 ``StimulusSetLoader``) does neither.
* ``extract``: extract the ZIP. Ours checks names, sizes, ratio and free space first, hashes
  each file while writing it and registers the folder as a cache entry; the peer calls
  ``ZipFile.extractall``.
* ``warm``: a later load finds the folder: ours takes the entry's lock, reads its record and
  ``stat``s every file (size and time stamp); the peer only checks that the folder exists.

The peer runs in ``benchmarks/_work/brainio-venv`` (see ``assembly_io.py``); without it only
ours is printed. Usage::

    python benchmarks/stimuli.py [--no-peer] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "stimuli"
PEER = HERE / "_work" / "brainio-venv" / "bin" / "python"
N = 3200


def make_data() -> None:
    if (WORK / "done").exists():
        return
    shutil.rmtree(WORK, ignore_errors=True)
    folder = WORK / "files"
    folder.mkdir(parents=True)
    rows = ["stimulus_id,filename," + ",".join(f"m{i}" for i in range(10)) + ",label"]
    with zipfile.ZipFile(WORK / "s.zip", "w") as z:
        for i in range(N):
            name = f"{i:04x}{'0' * 36}.png"
            data = os.urandom(4096)
            (folder / name).write_bytes(data)
            z.writestr(name, data)
            rows.append(f"{name[:40]},{name}," + ",".join(str(i * k / 7) for k in range(10)) + f",obj{i % 8}")
    (WORK / "s.csv").write_text("\n".join(rows) + "\n")
    (WORK / "done").write_text("")


def child(tool: str, step: str) -> float:
    out = WORK / f"out-{tool}"
    if tool == "brainbridge":
        from brainbridge.stimuli import StimulusSet, extract_stimuli

        def run():
            if step == "from_files":
                StimulusSet.from_files(WORK / "s.csv", WORK / "files")
            else:
                extract_stimuli(WORK / "s.zip", "bench", cache_dir=out)
    else:
        from brainio.stimuli import StimulusSet, StimulusSetLoader

        def run():
            if step == "from_files":
                StimulusSetLoader(StimulusSet, WORK / "s.csv", WORK / "files").load()
            elif not (out / "bench").is_dir() or step == "extract":
                with zipfile.ZipFile(WORK / "s.zip") as z:
                    z.extractall(out / "bench")

    if step == "extract":
        shutil.rmtree(out, ignore_errors=True)
    elif step == "warm":
        run()  # the folder exists before the timed call
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    make_data()
    tools = {"brainbridge": sys.executable}
    if not args.no_peer and PEER.exists():
        tools["brainio"] = str(PEER)
    print(f"{'step':12s}" + "".join(f"{t:>14s}" for t in tools) + ("   ratio" if len(tools) == 2 else ""))
    for step in ("from_files", "extract", "warm"):
        best = {}
        for tool, python in tools.items():
            times = []
            for _ in range(args.repeat):
                done = subprocess.run(
                    [python, __file__, "--child", tool, step], capture_output=True, text=True
                )
                if done.returncode != 0:
                    raise SystemExit(done.stderr)
                times.append(json.loads(done.stdout.strip().splitlines()[-1]))
            best[tool] = min(times)
        line = f"{step:12s}" + "".join(f"{best[t]:13.3f}s" for t in tools)
        if len(best) == 2:
            line += f"   {best['brainbridge'] / best['brainio']:.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()

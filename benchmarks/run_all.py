"""Run the benchmarks one after another (each in its own process) and keep their output.

Usage: ``python benchmarks/run_all.py [NAME ...]`` with names such as ``fetch`` or
``assembly_io``; no name runs them all. Output goes to the terminal and to
``benchmarks/_work/results/<name>.txt``. These are measurements against peer tools measured
in the same run, not tests: nothing here asserts a speed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# every benchmark script in this folder, so a new one is never left out of a full run
BENCHMARKS = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "run_all" and not p.stem.startswith("_"))


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmarks {unknown}; choose from {BENCHMARKS}", file=sys.stderr)
        return 2
    results = HERE / "_work" / "results"
    results.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names or BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        with open(results / f"{name}.txt", "w") as log:
            process = subprocess.Popen(
                [sys.executable, str(HERE / f"{name}.py")],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for line in process.stdout:
                sys.stdout.write(line)
                log.write(line)
            process.wait()
        print(f"=== {name}: exit {process.returncode} in {time.perf_counter() - start:.0f} s ===", flush=True)
        if process.returncode:
            failed.append(name)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

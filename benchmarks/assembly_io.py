"""Benchmark: assembly I/O on a MajajHong2015.public-shaped assembly, brainbridge vs BrainIO 1.1.

The assembly is ``presentation 148480 x neuroid 256 x time_bin 1`` float32 (152 MB): 3200
stimulus ids of 40 hex characters shown 46-47 times each in shuffled order; ``repetition``,
``object_name``, ``category_name``, ``variation`` and ten float columns on ``presentation``;
``neuroid_id``, ``animal``, ``region`` (88 V4, 168 IT), ``subregion``, ``arr``, ``x``, ``y``,
``row``, ``col``, ``hemisphere`` on ``neuroid``; a stimulus set CSV of 3200 rows whose extra
columns are merged on load.

Steps, each in a fresh subprocess with the libraries already imported (wall and CPU seconds;
peak memory = the process's high-water resident set during the step minus its resident set
before the step; ``wall x``/``cpu x`` = BrainIO's time / ours):

* ``write``: write the in-memory assembly as netCDF-4 (ours: zlib-1 + shuffle, deterministic;
  BrainIO: its default, zlib-9);
* ``load+merge first``: the first full read of the new file (ours: decompresses the netCDF
  file and keeps its fast local form in the cache, see :mod:`brainbridge.formats.fastform`);
* ``open``: lazy open (``from_files`` without a stimulus set; no values read);
* ``load+merge``: read the stimulus set, open the assembly, merge the stimulus set and read
  every value (``.load()``), warm: the file read before (ours: from its fast form, every
  block's SHA-1 checked as it is read);
* ``sel IT``: ``assembly.sel(region='IT')`` on the loaded assembly;
* ``average``: average over repetitions (ours: :func:`brainbridge.assemblies.average_repetitions`;
  BrainIO: ``multi_groupby`` over every stimulus-level presentation coordinate, then ``mean``);
* ``get warm``: a catalogued assembly already in the cache, fetched and read completely (ours:
  ``get_assembly(...).load()``, whose SHA-1 check of the cached file runs while it is read;
  BrainIO: ``fetch_file`` (which hashes the cached file first) + ``from_files`` + ``.load()``,
  what its ``get_assembly`` does), without the stimulus-set merge;
* ``get warm trust`` (ours only): the same with ``verify=False`` (the cached file is trusted
  on size and mtime): ``get warm`` / ``get warm trust`` is the cost of never serving changed bytes.

The peer runs in its own virtual environment, ``benchmarks/_work/brainio-venv`` (created on
first use: ``brainscore-brainio==1.1.0 "numpy<2" "pandas<3"``; its pinned xarray 2022.3), on
the same files in the same run. Both tools load the file each of them wrote.

Usage::

    python benchmarks/assembly_io.py            # ours and the peer
    python benchmarks/assembly_io.py --no-peer  # ours only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the data folder (BRAINBRIDGE_BENCH_WORK: a private copy, so parallel runs do not share files)
WORK = Path(os.environ.get("BRAINBRIDGE_BENCH_WORK", HERE / "_work" / "assembly_io"))
PEER_VENV = HERE / "_work" / "brainio-venv"
PEER_REQUIREMENTS = ["brainscore-brainio==1.1.0", "numpy<2", "pandas<3"]

N_PRESENTATIONS = 148480
N_STIMULI = 3200
N_V4, N_IT = 88, 168
FLOAT_COLUMNS = ["rxy", "rxz", "ryz", "rxy_semantic", "rxz_semantic", "ryz_semantic", "s", "tz", "ty", "size"]
STIMULUS_SET_IDENTIFIER = "bench.hvm-public"
STEPS = ["write", "load+merge first", "open", "load+merge", "sel IT", "average", "get warm", "get warm trust"]
TARGETS = {"write": 5.0, "load+merge": 5.0, "average": 8.0}


# --------------------------------------------------------------------------------------
# data (written once, by our environment)
# --------------------------------------------------------------------------------------


def make_data(work: Path) -> None:
    """Write the source assembly (uncompressed netCDF) and the stimulus set (CSV + files)."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(2015)
    ids = np.array([rng.bytes(20).hex() for _ in range(N_STIMULI)], dtype=object)
    objects = np.array([f"object{i:02d}" for i in range(64)], dtype=object)
    categories = np.array(
        ["animals", "boats", "cars", "chairs", "faces", "fruits", "planes", "tables"], dtype=object
    )
    stim_object = rng.integers(0, 64, N_STIMULI)
    stim_meta = {
        "object_name": objects[stim_object],
        "category_name": categories[stim_object // 8],
        "variation": rng.choice([0, 3, 6], N_STIMULI),
    }
    for name in FLOAT_COLUMNS:
        stim_meta[name] = np.round(rng.normal(scale=30, size=N_STIMULI), 3)

    stimulus_of = np.resize(np.arange(N_STIMULI), N_PRESENTATIONS)
    stimulus_of = stimulus_of[rng.permutation(N_PRESENTATIONS)]
    repetition = pd.Series(stimulus_of).groupby(stimulus_of).cumcount().to_numpy()

    animals = np.array(["Chabo"] * 128 + ["Tito"] * 128, dtype=object)
    region = np.array(["V4"] * N_V4 + ["IT"] * N_IT, dtype=object)
    region = region[rng.permutation(len(region))]
    subregion = np.where(region == "V4", "V4", rng.choice(["pIT", "cIT", "aIT"], len(region))).astype(object)
    arr = np.where(region == "V4", "P", rng.choice(["M", "A"], len(region))).astype(object)
    row, col = rng.integers(0, 10, 256), rng.integers(0, 10, 256)
    neuroid_id = np.array([f"{a}_L_{r}_{i}_{j}" for a, r, i, j in zip(animals, arr, row, col)], dtype=object)
    neuroid_id = np.array([f"{n}_{k}" for k, n in enumerate(neuroid_id)], dtype=object)

    signal = rng.normal(size=(N_STIMULI, 256)).astype(np.float32)
    values = (0.5 * signal[stimulus_of] + rng.normal(size=(N_PRESENTATIONS, 256)).astype(np.float32))[
        :, :, None
    ]
    coords = {
        "stimulus_id": ("presentation", ids[stimulus_of]),
        "repetition": ("presentation", repetition),
        **{name: ("presentation", column[stimulus_of]) for name, column in stim_meta.items()},
        "neuroid_id": ("neuroid", neuroid_id),
        "animal": ("neuroid", animals),
        "region": ("neuroid", region),
        "subregion": ("neuroid", subregion),
        "arr": ("neuroid", arr),
        "x": ("neuroid", np.round(rng.uniform(-2, 2, 256), 1)),
        "y": ("neuroid", np.round(rng.uniform(-2, 2, 256), 1)),
        "row": ("neuroid", row),
        "col": ("neuroid", col),
        "hemisphere": ("neuroid", np.array(["L"] * 256, dtype=object)),
        "time_bin_start": ("time_bin", [70]),
        "time_bin_end": ("time_bin", [170]),
    }
    dataset = xr.Dataset({"data": (("presentation", "neuroid", "time_bin"), values)}, coords=coords)
    work.mkdir(parents=True, exist_ok=True)
    dataset.to_netcdf(work / "source.nc", engine="h5netcdf")

    stimuli = work / "stimuli"
    stimuli.mkdir(exist_ok=True)
    filenames = [f"{sid}.png" for sid in ids]
    for name in filenames:
        (stimuli / name).touch()
    frame = pd.DataFrame(
        {
            "stimulus_id": ids,
            "filename": filenames,
            "background_id": [rng.bytes(20).hex() for _ in range(N_STIMULI)],
            "image_file_name": [f"astra_{i:04d}_256x256.png" for i in range(N_STIMULI)],
            "id": np.arange(1, N_STIMULI + 1),
            "dataset": "hvm",
            "split": rng.choice(["train", "test"], N_STIMULI),
            "s_px": rng.integers(128, 256, N_STIMULI),
        }
    )
    frame.to_csv(work / "stimulus_set.csv", index=False)
    (work / "ready").write_text("ok")


# --------------------------------------------------------------------------------------
# the steps, run in a child process by either environment
# --------------------------------------------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _load_source(tool: str):
    import xarray as xr

    dataset = xr.open_dataset(WORK / "source.nc", engine="h5netcdf" if tool == "ours" else None)
    array = dataset["data"].load()
    array.attrs = {"stimulus_set_identifier": STIMULUS_SET_IDENTIFIER}
    if tool == "ours":
        from brainbridge.assemblies import NeuronRecordingAssembly
    else:
        from brainio.assemblies import NeuronRecordingAssembly
    return NeuronRecordingAssembly(array)


def _file(tool: str) -> Path:
    return WORK / f"assy_{tool}.nc"


def _group_coords(assembly) -> list[str]:
    """Every stimulus-level presentation coordinate (all but ``repetition``), as brain-score groups."""
    names = list(assembly.indexes["presentation"].names)  # xarray 2022.3 hides levels from .coords
    return [name for name in names if name != "repetition"]


def run_step(tool: str, step: str, repeat: int) -> dict:
    """Set up, then time ``step`` (best of ``repeat``); returns timings and peak memory."""
    if tool == "ours":
        from brainbridge.assemblies import NeuronRecordingAssembly, average_repetitions
        from brainbridge.packaging import write_netcdf
        from brainbridge.stimuli import StimulusSet
    else:
        from brainio.assemblies import NeuronRecordingAssembly
        from brainio.packaging import write_netcdf
        from brainio.stimuli import StimulusSet

        def average_repetitions(a):
            return a.multi_groupby(_group_coords(a)).mean(dim="presentation")

    def load():
        stimulus_set = StimulusSet.from_files(WORK / "stimulus_set.csv", WORK / "stimuli")
        assembly = NeuronRecordingAssembly.from_files(
            _file(tool), stimulus_set_identifier=STIMULUS_SET_IDENTIFIER, stimulus_set=stimulus_set
        )
        return assembly.load()

    # import time is not what is measured: load the lazily imported libraries of both tools
    # (xarray imports dask.array on first use when it is installed; scipy.sparse for averages)
    import importlib

    for module in ("dask.array", "scipy.sparse", "h5netcdf", "netCDF4"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    import xarray

    xarray.backends.list_engines()  # backend entry points are discovered once per process

    setup = None
    if step.startswith("get warm"):
        action = _get_warm(tool, verify=step == "get warm")
    elif step == "write":
        setup = _load_source(tool)
        action = lambda: write_netcdf(setup, _file(tool))  # noqa: E731
    elif step == "open":
        action = lambda: NeuronRecordingAssembly.from_files(_file(tool))  # noqa: E731
    elif step in ("load+merge", "load+merge first"):
        action = load
    elif step == "sel IT":
        setup = load()
        action = lambda: setup.sel(region="IT")  # noqa: E731
    elif step == "average":
        setup = load()
        action = lambda: average_repetitions(setup)  # noqa: E731
    else:
        raise ValueError(step)

    best_cpu = float("inf")
    walls = []
    before = _rss_kb()
    result = None
    for _ in range(repeat):
        result = None
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        walls.append(time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info = {
        "wall": min(walls),
        "median": sorted(walls)[len(walls) // 2],
        "cpu": best_cpu,
        "peak_mb": max(0, peak - before) / 1024,
    }
    if step == "write":
        info["size_mb"] = _file(tool).stat().st_size / 1e6
    if hasattr(result, "shape"):
        info["shape"] = list(result.shape)
    return info


def _get_warm(tool: str, verify: bool):
    """Catalogue our file (ours) / place BrainIO's in its cache (peer), fetch once; return the step."""
    import hashlib

    file = _file(tool)
    digest = hashlib.sha1(file.read_bytes()).hexdigest()
    if tool == "ours":
        import pandas as pd

        import brainbridge
        from brainbridge.catalogs import LOOKUP_COLUMNS, Catalog

        folder = WORK / "catalog"
        folder.mkdir(exist_ok=True)
        row = dict(
            identifier="bench.assembly",
            lookup_type="assembly",
            **{"class": "NeuronRecordingAssembly"},
            location_type="local",
            location=str(file),
            sha1=digest,
            stimulus_set_identifier="",
        )
        pd.DataFrame([row], columns=LOOKUP_COLUMNS).to_csv(folder / "lookup.csv", index=False)
        brainbridge.register(Catalog.from_files("bench", folder / "lookup.csv"))
        brainbridge.get_assembly("bench.assembly")  # fills the cache
        return lambda: brainbridge.get_assembly("bench.assembly", verify=verify).load()
    if not verify:
        raise SystemExit("n/a")
    from brainio.assemblies import NeuronRecordingAssembly
    from brainio.fetch import fetch_file

    location = f"https://bench.s3.amazonaws.com/{file.name}"
    cached = Path(os.environ["BRAINIO_HOME"]) / file.stem / file.name
    cached.parent.mkdir(parents=True, exist_ok=True)
    if not cached.exists():
        os.link(file, cached)
    return lambda: NeuronRecordingAssembly.from_files(fetch_file("S3", location, digest)).load()


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------


def ensure_peer() -> Path | None:
    """The peer's python (creating its venv on first use), or None if it cannot be installed."""
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        return python
    print(f"creating the BrainIO venv in {PEER_VENV} ...", flush=True)
    try:
        subprocess.run(["python3", "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"cannot install the peer ({e}); running ours only")
        return None
    return python


def child(python: str, tool: str, step: str, repeat: int) -> dict:
    env = dict(
        os.environ,
        PYTHONHASHSEED="0",
        BRAINIO_HOME=str(WORK / "brainio-home"),
        BRAINBRIDGE_HOME=str(WORK / "brainbridge-home"),
    )
    proc = subprocess.run(
        [python, __file__, "--child", tool, step, str(repeat)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-peer", action="store_true", help="run brainbridge only")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the fast steps (best is kept)")
    parser.add_argument(
        "--steps", nargs="+", choices=STEPS, help="only these steps (and write, which makes the files)"
    )
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "STEP", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("BRAINBRIDGE_FAST_FORM", "1")  # the warm rows measure the (opt-in) fast form
    if args.child:
        tool, step, repeat = args.child
        print(json.dumps(run_step(tool, step, int(repeat))))
        return

    if not (WORK / "ready").exists():
        print("generating the MajajHong2015.public-shaped data ...", flush=True)
        make_data(WORK)
    peer = None if args.no_peer else ensure_peer()
    tools = {"ours": sys.executable}
    if peer is not None:
        tools["brainio"] = str(peer)

    results: dict[str, dict[str, dict]] = {tool: {} for tool in tools}
    for step in STEPS:
        repeat = 1 if step in ("write", "load+merge first") else args.repeat
        if args.steps and step not in args.steps and step != "write":
            continue
        for tool, python in tools.items():
            print(f"  {tool:8s} {step} ...", flush=True)
            results[tool][step] = child(python, tool, step, repeat)

    print()
    print(
        "assembly I/O, presentation 148480 x neuroid 256 x time_bin 1 float32 (152 MB);"
        f" wall = best of {args.repeat} (median in brackets); load average {os.getloadavg()[0]:.2f}"
    )
    header = f"{'step':16s} {'ours s':>8s} {'(median)':>8s} {'ours cpu':>8s} {'ours MB':>8s}"
    if peer is not None:
        header += (
            f" {'brainio s':>9s} {'(median)':>8s} {'bio cpu':>8s} {'bio MB':>8s} {'wall x':>7s}"
            f" {'cpu x':>7s} {'target':>10s}"
        )
    print(header)
    for step in STEPS:
        if step not in results["ours"]:
            continue
        ours = results["ours"][step]
        if "error" in ours:
            print(f"{step:16s} error: {ours['error']}")
            continue
        line = (
            f"{step:16s} {ours['wall']:8.3f} ({ours['median']:6.3f}) {ours['cpu']:8.3f}"
            f" {ours['peak_mb']:8.0f}"
        )
        if peer is not None:
            theirs = results["brainio"][step]
            if "error" in theirs:
                line += f"  brainio error: {theirs['error']}"
            else:
                ratio = theirs["wall"] / ours["wall"] if ours["wall"] > 0 else float("inf")
                cpu_ratio = theirs["cpu"] / ours["cpu"] if ours["cpu"] > 0 else float("inf")
                target = TARGETS.get(step)
                verdict = (
                    "" if target is None else (f">={target:.0f}x " + ("ok" if ratio >= target else "MISS"))
                )
                line += (
                    f" {theirs['wall']:9.3f} ({theirs['median']:6.3f}) {theirs['cpu']:8.3f}"
                    f" {theirs['peak_mb']:8.0f}"
                    f" {ratio:6.1f}x {cpu_ratio:6.1f}x {verdict:>10s}"
                )
        print(line)
    for tool in tools:
        write = results[tool]["write"]
        if "size_mb" in write:
            print(f"file size {tool}: {write['size_mb']:.1f} MB")
    verified, trusted = results["ours"].get("get warm", {}), results["ours"].get("get warm trust", {})
    if "wall" in verified and "wall" in trusted:
        cost = verified["wall"] / trusted["wall"] - 1
        print(
            f"integrity check on warm get_assembly: +{100 * cost:.1f} % wall (budget 15 %)"
            f" ({verified['wall']:.3f} s verified vs {trusted['wall']:.3f} s trusted)"
        )


if __name__ == "__main__":
    main()

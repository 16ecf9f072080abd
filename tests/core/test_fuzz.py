"""Fuzzing the readers of untrusted inputs (issue 10, "Also").

Hypothesis generates catalog CSVs, stimulus set CSVs, ZIP archives (built, then possibly
damaged) and netCDF files with arbitrary attributes and coordinates. Whatever the input, each
public reader must return a result or raise a :class:`~brainbridge.errors.BrainbridgeError`,
never another exception, and must never create a file outside the cache (a canary folder and
the inputs' folder are compared before and after).

The examples are bounded (``BRAINBRIDGE_FUZZ_EXAMPLES``, default 25 per target) and
derandomized, so the suite is reproducible and takes well under two minutes; raise the
number locally to search longer.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import shutil
import stat
import tempfile
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from brainbridge import catalogs
from brainbridge.assemblies import DataAssembly
from brainbridge.catalogs import LOOKUP_COLUMNS, Catalog
from brainbridge.errors import BrainbridgeError
from brainbridge.readers import open_assembly_array
from brainbridge.stimuli import StimulusSet, archive_members, extract_stimuli, read_stimulus_csv

EXAMPLES = int(os.environ.get("BRAINBRIDGE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="BRAINBRIDGE_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: on this shared machine it can take many minutes
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

#: strings that have broken readers before: traversal, NA words, separators, quotes, BOMs
NASTY = [
    "",
    " ",
    "NA",
    "None",
    "nan",
    "null",
    "N/A",
    "007",
    "1e3",
    "-0",
    "True",
    "../x.png",
    "../../etc/passwd",
    "/etc/passwd",
    "C:\\x.png",
    "a\\..\\..\\b",
    "a/./b.png",
    ".",
    "..",
    "a/",
    "\x00",
    "\ufeff",
    '"',
    "'",
    ",",
    "\n",
    "\r\n",
    ";",
    "日本.png",
    "s.csv",
    "s.zip",
    "a.nc",
    "img.png",
    "local",
    "http",
    "s3",
    "assembly",
    "stimulus_set",
    "StimulusSet",
    "NeuronRecordingAssembly",
    "lab.set",
    "lab.assy",
    "x" * 300,
]
nasty_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))


def snapshot(root: Path, cache: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` but outside ``cache``, with size and modification time.

    Links are not followed.
    """
    seen = {}
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if Path(dirpath) / d != cache]
        for name in [*dirs, *names]:
            path = Path(dirpath) / name
            info = path.lstat()
            regular = stat.S_ISREG(info.st_mode)  # folders only count by name: the cache's parent changes
            seen[str(path)] = (info.st_size, info.st_mtime_ns) if regular else (-1, 0)
    return seen


@contextlib.contextmanager
def sandbox():
    """A fresh home (cache), inputs folder and canary folder; checks nothing outside the cache changed."""
    root = Path(tempfile.mkdtemp(prefix="bb-fuzz-"))
    home, inputs, canary = root / "home", root / "inputs", root / "canary"
    for folder in (home, inputs, canary):
        folder.mkdir()
    saved = {
        k: os.environ.get(k) for k in ("BRAINBRIDGE_HOME", "BRAINBRIDGE_CATALOGS", "BRAINBRIDGE_OFFLINE")
    }
    os.environ.update(
        BRAINBRIDGE_HOME=str(home), BRAINBRIDGE_CATALOGS=str(home / "catalogs"), BRAINBRIDGE_OFFLINE="1"
    )
    catalogs._registered.clear()
    catalogs.reload_catalogs()
    # an empty stand-in for the bundled example catalog, which would otherwise be built (slow)
    # into the home on the first lookup
    catalogs.register(Catalog(pd.DataFrame(columns=LOOKUP_COLUMNS), identifier="brainbridge-examples"))
    try:
        yield inputs, canary, lambda: snapshot(root, home / "cache")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        catalogs._registered.clear()
        catalogs.reload_catalogs()
        shutil.rmtree(root, ignore_errors=True)


def tolerated(call, *args, **kwargs):
    """Run ``call``: a result or a BrainbridgeError (returned), anything else fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call(*args, **kwargs)
        except BrainbridgeError as e:
            return e


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------
# ZIP archives
# --------------------------------------------------------------------------------------

member = st.tuples(
    nasty_text,
    st.binary(max_size=64),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]),
    st.sampled_from(["file", "dir", "link", "exec"]),
)
damage = st.one_of(
    st.none(),
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000)),
)


def build_zip(path: Path, members, harm) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the point
        with zipfile.ZipFile(path, "w") as z:
            for name, data, method, kind in members:
                info = zipfile.ZipInfo((name or "x") + ("/" if kind == "dir" else ""))
                info.compress_type = method
                if kind == "link":
                    info.create_system = 3
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                elif kind == "exec":
                    info.create_system = 3
                    info.external_attr = (stat.S_IFREG | 0o4755) << 16
                z.writestr(info, b"" if kind == "dir" else data)
    if harm is not None:
        data = bytearray(path.read_bytes())
        if harm[0] == "flip" and data:
            data[harm[1] % len(data)] ^= harm[2]
        elif harm[0] == "cut":
            data = data[: harm[1] % (len(data) + 1)]
        path.write_bytes(bytes(data))
    return path


@FUZZ
@given(members=st.lists(member, max_size=6), harm=damage)
def test_zip_archives(members, harm):
    with sandbox() as (inputs, canary, state):
        archive = build_zip(inputs / "s.zip", members, harm)
        before = state()
        names = tolerated(archive_members, archive, verify=True)
        folder = tolerated(extract_stimuli, archive, sha1(archive))
        assert state() == before  # nothing written outside the cache
        if isinstance(folder, Path):
            assert not isinstance(names, BrainbridgeError)
            cache = Path(os.environ["BRAINBRIDGE_HOME"]) / "cache"
            assert folder.resolve().is_relative_to(cache.resolve())
            for path in folder.rglob("*"):
                assert not path.is_symlink() and path.resolve().is_relative_to(folder.resolve())
            assert sorted(
                p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
            ) == sorted(names)


# --------------------------------------------------------------------------------------
# stimulus set CSVs (against a real folder of files)
# --------------------------------------------------------------------------------------


def csv_bytes(header, rows, encoding, raw) -> bytes:
    if raw:  # no quoting at all: separators and quotes inside cells break the table
        text = "\n".join(",".join(r) for r in [header, *rows])
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        text = buffer.getvalue()
    return text.encode(encoding, errors="replace")


encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"])


@FUZZ
@given(
    extra=st.lists(nasty_text, max_size=2),
    rows=st.lists(st.lists(nasty_text, min_size=3, max_size=3), max_size=5),
    encoding=encodings,
    raw=st.booleans(),
)
def test_stimulus_csvs(extra, rows, encoding, raw):
    with sandbox() as (inputs, canary, state):
        folder = inputs / "stimuli"
        (folder / "sub").mkdir(parents=True)
        for name in ("img.png", "NA", "007", "sub/img.png"):
            (folder / name).write_bytes(b"image")
        os.symlink(canary, folder / "outside")
        header = ["stimulus_id", "filename", *extra][:3]
        path = inputs / "s.csv"
        path.write_bytes(csv_bytes(header, [r[: len(header)] for r in rows], encoding, raw))
        before = state()
        tolerated(read_stimulus_csv, path)
        loaded = tolerated(StimulusSet.from_files, path, folder)
        assert state() == before
        if isinstance(loaded, StimulusSet):
            for sid in loaded["stimulus_id"]:
                assert loaded.get_stimulus(sid).resolve().is_relative_to(folder.resolve())


# --------------------------------------------------------------------------------------
# catalog CSVs (with real files to point at), looked up and loaded
# --------------------------------------------------------------------------------------


def _catalog_files(inputs: Path) -> dict[str, str]:
    ids = ["a", "b"]
    xr.DataArray(
        np.arange(4.0).reshape(4, 1),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids * 2),
            "repetition": ("presentation", [0, 0, 1, 1]),
            "neuroid_id": ("neuroid", ["n"]),
        },
    ).to_netcdf(inputs / "a.nc", engine="h5netcdf")
    (inputs / "s.csv").write_text("stimulus_id,filename\na,a.png\nb,b.png\n")
    with zipfile.ZipFile(inputs / "s.zip", "w") as z:
        z.writestr("a.png", b"a")
        z.writestr("b.png", b"b")
    return {name: sha1(inputs / name) for name in ("a.nc", "s.csv", "s.zip")}


cell_of = {
    "identifier": st.sampled_from(["lab.set", "lab.assy", "", "../x", "NA"]),
    "lookup_type": st.sampled_from(["assembly", "stimulus_set", "", "other"]),
    "class": st.sampled_from(["NeuronRecordingAssembly", "StimulusSet", "", "DataAssembly", "os.system"]),
    "location_type": st.sampled_from(["local", "", "http", "s3", "file", "ftp"]),
    "location": st.sampled_from(
        [
            "a.nc",
            "s.csv",
            "s.zip",
            "../a.nc",
            "/etc/passwd",
            "missing.nc",
            "",
            "http://127.0.0.1:9/x.nc",
            "s3://bucket/x.nc",
            "file:///etc/passwd",
        ]
    ),
    "sha1": st.sampled_from(["", "0" * 40, "zz", "SHA"]),  # real checksums are mixed in below
    "stimulus_set_identifier": st.sampled_from(["", "lab.set", "other.set"]),
}


@FUZZ
@given(
    rows=st.lists(
        st.fixed_dictionaries({c: st.one_of(cell_of[c], nasty_text) for c in LOOKUP_COLUMNS}), max_size=5
    ),
    real_sha1=st.lists(st.booleans(), min_size=5, max_size=5),
    columns=st.permutations(LOOKUP_COLUMNS).flatmap(lambda c: st.sampled_from([c, c[:-1], [*c, "extra"]])),
    encoding=encodings,
    raw=st.booleans(),
)
def test_catalog_csvs(rows, real_sha1, columns, encoding, raw):
    with sandbox() as (inputs, canary, state):
        sums = _catalog_files(inputs)
        for row, real in zip(rows, real_sha1):
            if real and row["location"] in sums:
                row["sha1"] = sums[row["location"]]
        lookup = inputs / "lookup.csv"
        lookup.write_bytes(
            csv_bytes(columns, [[row.get(c, "") for c in columns] for row in rows], encoding, raw)
        )
        before = state()
        catalog = tolerated(Catalog.from_files, "fuzz", lookup)
        if isinstance(catalog, Catalog):
            tolerated(catalog.validate)
            catalogs.register(catalog)
            for identifier in {row["identifier"] for row in rows}:
                tolerated(catalogs.get_stimulus_set, identifier)
                tolerated(catalogs.get_assembly, identifier)
        assert state() == before


# --------------------------------------------------------------------------------------
# netCDF attributes and coordinates
# --------------------------------------------------------------------------------------

attr_value = st.one_of(
    nasty_text,
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.lists(st.integers(-9, 9), max_size=3),
    st.binary(max_size=8),
)
coord_name = st.one_of(
    st.sampled_from(
        [
            "stimulus_id",
            "repetition",
            "neuroid_id",
            "presentation",
            "neuroid",
            "data",
            "region",
            "time_bin",
            "coordinates",
        ]
    ),
    st.text(min_size=1, max_size=6),
)
coord_values = st.one_of(
    st.lists(nasty_text, min_size=4, max_size=4),
    st.lists(st.integers(-5, 5), min_size=4, max_size=4),
    st.lists(st.floats(), min_size=4, max_size=4),
)


def write_netcdf(path: Path, attrs: dict, coords: list, coordinates_attr: str | None) -> bool:
    """A netCDF-4 file of a 4 x 2 ``data`` array with the given extras; False if it cannot be written."""
    data = xr.DataArray(np.arange(8.0).reshape(4, 2), dims=["presentation", "neuroid"])
    try:
        for name, on_presentation, values in coords:
            dim = "presentation" if on_presentation else "neuroid"
            data = data.assign_coords({name: (dim, list(values)[: data.sizes[dim]])})
        dataset = data.to_dataset(name="data")
        dataset.attrs.update(attrs)
        dataset.to_netcdf(path, engine="h5netcdf")
    except Exception:  # xarray refuses to write it: nothing to read
        return False
    if coordinates_attr is not None:  # what a hostile writer can put there
        with h5py.File(path, "r+") as f:
            f["data"].attrs["coordinates"] = coordinates_attr
    return True


@FUZZ
@given(
    attrs=st.dictionaries(st.text(min_size=1, max_size=8), attr_value, max_size=4),
    coords=st.lists(st.tuples(coord_name, st.booleans(), coord_values), max_size=4),
    coordinates_attr=st.one_of(
        st.none(), nasty_text, st.sampled_from(["stimulus_id stimulus_id", "data", "x y z"])
    ),
)
def test_netcdf_attributes_and_coordinates(attrs, coords, coordinates_attr):
    from brainbridge.cli.core import describe_assembly, validate_assembly_file

    with sandbox() as (inputs, canary, state):
        path = inputs / "assy.nc"
        if not write_netcdf(path, attrs, coords, coordinates_attr):
            return
        before = state()
        array = tolerated(open_assembly_array, path)
        if isinstance(array, xr.DataArray):
            tolerated(describe_assembly, array, path=path)
        tolerated(validate_assembly_file, path)
        loaded = tolerated(DataAssembly.from_files, path)
        if isinstance(loaded, DataAssembly):
            tolerated(loaded.load)
        assert state() == before


def test_the_fuzz_targets_can_fail():
    """The harness itself: an exception other than BrainbridgeError is not tolerated."""
    with pytest.raises(ZeroDivisionError):
        tolerated(lambda: 1 / 0)

"""Stimulus sets from untrusted catalogs: escaping filenames and ids that CSV readers mangle.

Each test builds the attack from real files (a CSV, a ZIP, a lookup CSV) and goes through the
same path a user's ``get_stimulus_set`` / ``get_assembly`` takes.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import brainbridge
from brainbridge import catalogs
from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.catalogs import LOOKUP_COLUMNS, Catalog
from brainbridge.errors import StimulusSetError, UnsafeArchiveError
from brainbridge.packaging import package_data_assembly, package_stimulus_set
from brainbridge.stimuli import StimulusSet, extract_zip, read_stimulus_csv


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def hostile_catalog(folder: Path, csv_text: str, members: dict[str, bytes], name: str = "hostile") -> Catalog:
    """A catalog (lookup CSV + stimulus CSV + ZIP, written as files) listing one stimulus set ``evil.set``."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "stimulus_evil.csv"
    csv.write_text(csv_text)
    archive = folder / "stimulus_evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for member, data in members.items():
            z.writestr(member, data)
    rows = [
        dict(
            identifier="evil.set",
            lookup_type="stimulus_set",
            location_type="local",
            location=csv.name,
            sha1=_sha1(csv),
            stimulus_set_identifier="",
            **{"class": "StimulusSet"},
        ),
        dict(
            identifier="evil.set",
            lookup_type="stimulus_set",
            location_type="local",
            location=archive.name,
            sha1=_sha1(archive),
            stimulus_set_identifier="",
            **{"class": ""},
        ),
    ]
    lookup = folder / "lookup.csv"
    pd.DataFrame(rows, columns=LOOKUP_COLUMNS).to_csv(lookup, index=False)
    return brainbridge.register(Catalog.from_files(name, lookup))


# --------------------------------------------------------------------------------------
# issue 10 item 3: stimulus filenames escaping the extracted folder
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename",
    [
        "../../../../../../../../etc/passwd",
        "/etc/passwd",
        "sub/../../../../../../../../etc/passwd",
        "..\\..\\..\\..\\..\\..\\..\\..\\etc\\passwd",
        "C:/Windows/win.ini",
    ],
)
def test_catalogued_filename_escaping_the_archive_is_refused(tmp_path, filename):
    secret = Path("/etc/passwd")
    assert secret.is_file()
    hostile_catalog(
        tmp_path / "cat", f"stimulus_id,filename\ns1,ok.png\ns2,{filename}\n", {"ok.png": b"fine"}
    )
    with pytest.raises(UnsafeArchiveError, match="s2"):
        brainbridge.get_stimulus_set("evil.set")
    with pytest.raises(UnsafeArchiveError):  # also straight from the files
        StimulusSet.from_files(tmp_path / "cat" / "stimulus_evil.csv", tmp_path / "cat")


def test_a_symbolic_link_in_a_stimulus_folder_may_not_lead_outside(tmp_path):
    folder = tmp_path / "stimuli"
    folder.mkdir()
    (folder / "ok.png").write_bytes(b"fine")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, folder / "leak.png")
    (tmp_path / "s.csv").write_text("stimulus_id,filename\na,ok.png\nb,leak.png\n")
    with pytest.raises(UnsafeArchiveError, match="leads outside"):
        StimulusSet.from_files(tmp_path / "s.csv", folder)
    os.symlink(folder / "ok.png", folder / "inside.png")  # a link that stays inside is fine
    (tmp_path / "t.csv").write_text("stimulus_id,filename\na,ok.png\nb,inside.png\n")
    assert StimulusSet.from_files(tmp_path / "t.csv", folder).get_stimulus("b").read_bytes() == b"fine"


def test_an_empty_filename_is_a_clear_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "s.csv").write_text("stimulus_id,filename\na,a.png\nb,\n")
    with pytest.raises(StimulusSetError, match="'b' has an empty filename"):
        StimulusSet.from_files(tmp_path / "s.csv", tmp_path)


# --------------------------------------------------------------------------------------
# issue 10 item 9: ids CSV readers mangle
# --------------------------------------------------------------------------------------

MANGLED_IDS = ["NA", "None", "nan", "null", "N/A", "007", "1e3", "NaN", "TRUE", "-0", "1.50", "#N/A", " x "]


def _proto_stimuli(folder: Path, ids) -> StimulusSet:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i, sid in enumerate(ids):
        paths[sid] = folder / f"img{i}.png"
        paths[sid].write_bytes(f"image {i}".encode())
    s = StimulusSet(
        {
            "stimulus_id": list(ids),
            "label": ["NA", "None", "null", "cat", "N/A", "nan", "dog", "", "x", "y", "z", "w", "v"][
                : len(ids)
            ],
            "contrast": [0.5, np.nan, 1.0, 2.0, 0.25, np.nan, 1.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0][: len(ids)],
        }
    )
    s.stimulus_paths = paths
    return s


def test_ids_survive_packaging_catalog_fetch_and_load_exactly(tmp_path):
    ids = MANGLED_IDS
    catalog = brainbridge.register(Catalog.create("ids", tmp_path / "catalog" / "lookup.csv"))
    proto = _proto_stimuli(tmp_path / "raw", ids)
    package_stimulus_set(catalog.identifier, proto, "test.ids")
    reps = 2
    assembly = NeuronRecordingAssembly(
        np.arange(len(ids) * reps * 2, dtype="float32").reshape(len(ids) * reps, 2),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids * reps),
            "repetition": ("presentation", np.repeat(np.arange(reps), len(ids))),
            "neuroid_id": ("neuroid", ["n0", "n1"]),
            "region": ("neuroid", ["IT", "IT"]),
        },
    )
    package_data_assembly(catalog.identifier, assembly, "test.ids.assembly", "test.ids")
    catalogs.reload_catalogs()

    loaded = brainbridge.get_stimulus_set("test.ids")
    assert list(loaded["stimulus_id"]) == ids
    for i, sid in enumerate(ids):
        assert loaded.get_stimulus(sid).read_bytes() == f"image {i}".encode()
    # a metadata column of words stays words; only the empty cell is missing
    labels = list(loaded["label"])
    assert labels[:7] == ["NA", "None", "null", "cat", "N/A", "nan", "dog"] and pd.isna(labels[7])
    np.testing.assert_array_equal(loaded["contrast"].to_numpy(float), proto["contrast"].to_numpy(float))

    merged = brainbridge.get_assembly("test.ids.assembly")
    assert list(merged["stimulus_id"].values) == ids * reps
    assert list(merged["label"].values[:7]) == labels[:7]


def test_a_file_named_NA_and_numeric_looking_ids_load(tmp_path):
    hostile_catalog(
        tmp_path / "cat", "stimulus_id,filename,size\n007,NA,1\n1e3,None,NA\n", {"NA": b"na", "None": b"none"}
    )
    s = brainbridge.get_stimulus_set("evil.set")
    assert list(s["stimulus_id"]) == ["007", "1e3"]
    assert s.get_stimulus("007").name == "NA" and s.get_stimulus("007").read_bytes() == b"na"
    assert s.get_stimulus("1e3").read_bytes() == b"none"
    assert (
        s["size"].dtype == float and s["size"][0] == 1.0 and np.isnan(s["size"][1])
    )  # numeric column: NA is missing


def test_column_inference_keeps_text_and_numbers(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(
        "\ufeffstimulus_id,n,x,flag,flag2,words,empty,only_na\n"
        "a,1,1.5,True,False,NA,,NA\nb,2,,False,,null,,None\n".encode()
    )
    frame = read_stimulus_csv(path)  # a UTF-8 byte-order mark is not part of the first column's name
    assert list(frame.columns)[0] == "stimulus_id"
    assert frame["n"].tolist() == [1, 2] and frame["n"].dtype.kind == "i"
    assert frame["x"][0] == 1.5 and np.isnan(frame["x"][1])
    assert frame["flag"].dtype == bool and frame["flag"].tolist() == [True, False]
    assert frame["flag2"][0] is False or frame["flag2"][0] == False  # noqa: E712
    assert pd.isna(frame["flag2"][1])
    assert frame["words"].tolist() == ["NA", "null"]
    assert frame["empty"].isna().all()
    assert frame["only_na"].tolist() == ["NA", "None"]


def test_empty_ids_are_still_refused(tmp_path):
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "s.csv").write_text("stimulus_id,filename\n,a.png\n")
    with pytest.raises(StimulusSetError, match="empty stimulus_id"):
        StimulusSet.from_files(tmp_path / "s.csv", tmp_path)


# --------------------------------------------------------------------------------------
# issue 18: the caller's own id types (BrainIO's TestPreservation)
# --------------------------------------------------------------------------------------


def test_integer_ids_and_integer_keyed_paths_are_found():
    stimulus_set = StimulusSet([{"stimulus_id": i} for i in range(100)])
    stimulus_set.stimulus_paths = {i: f"/dummy/path/{i}" for i in range(100)}
    subset = stimulus_set[stimulus_set["stimulus_id"].isin(stimulus_set["stimulus_id"].values[:3])]
    assert subset.get_stimulus(0) == Path("/dummy/path/0")
    assert subset.get_stimulus("2") == Path("/dummy/path/2")  # the text of an integer id finds it too
    s1 = StimulusSet([{"stimulus_id": i} for i in range(10)])
    s1.stimulus_paths = {i: f"/dummy/path/{i}" for i in range(10)}
    s2 = StimulusSet([{"stimulus_id": i} for i in range(10, 20)])
    s2.stimulus_paths = {i: f"/dummy/path/{i}" for i in range(10, 20)}
    both = pd.concat((s1, s2))
    both.stimulus_paths = {**s1.stimulus_paths, **s2.stimulus_paths}
    assert both.get_stimulus(11) == Path("/dummy/path/11")
    with pytest.raises(KeyError, match="'20'"):
        both.get_stimulus(20)


def test_extracted_ids_stay_strings_even_when_numeric(tmp_path):
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        z.writestr("1.png", b"one")
    (tmp_path / "s.csv").write_text("stimulus_id,filename\n1,1.png\n")
    s = StimulusSet.from_files(tmp_path / "s.csv", extract_zip(tmp_path / "s.zip", tmp_path / "out"))
    assert list(s["stimulus_id"]) == ["1"]
    assert s.get_stimulus(1).read_bytes() == s.get_stimulus("1").read_bytes() == b"one"

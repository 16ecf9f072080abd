"""Stimulus sets as CSV + ZIP: writing, reading back, determinism, unsafe archives, errors."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainbridge.errors import StimulusSetError, UnsafeArchiveError
from brainbridge.packaging import ZIP_DATE_TIME, write_stimulus_set
from brainbridge.stimuli import StimulusSet, extract_zip, read_stimulus_csv


def make_files(folder: Path, ids, suffix=".png") -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i, sid in enumerate(ids):
        path = folder / f"source_{i}{suffix}"
        path.write_bytes(f"image {sid}".encode() * (i + 1))
        paths[sid] = path
    return paths


def make_stimulus_set(tmp_path: Path, ids=("001", "002", "010")) -> StimulusSet:
    s = StimulusSet(
        {
            "stimulus_id": list(ids),
            "object_name": ["car", "café", "日本"][: len(ids)],
            "size": [1.5, np.nan, 3.0][: len(ids)],
        }
    )
    s.stimulus_paths = make_files(tmp_path / "sources", ids)
    s.identifier = "test.stimuli"
    return s


def load(csv, zip_path, target) -> StimulusSet:
    return StimulusSet.from_files(csv, extract_zip(zip_path, target))


def test_round_trip_and_brainio_layout(tmp_path):
    s = make_stimulus_set(tmp_path)
    before = s.copy()
    csv_sha1, zip_sha1 = write_stimulus_set(s, tmp_path / "s.csv", tmp_path / "s.zip")
    assert len(csv_sha1) == len(zip_sha1) == 40
    pd.testing.assert_frame_equal(s, before)  # the caller's frame is not modified
    assert "filename" not in s.columns
    with zipfile.ZipFile(tmp_path / "s.zip") as z:
        assert z.namelist() == ["001.png", "002.png", "010.png"]  # flat, id + original extension, row order
        assert all(
            i.date_time == ZIP_DATE_TIME and i.compress_type == zipfile.ZIP_STORED for i in z.infolist()
        )
    header = (tmp_path / "s.csv").read_text().splitlines()[0]
    assert header == "stimulus_id,object_name,size,filename"  # the frame's order, filename appended
    loaded = load(tmp_path / "s.csv", tmp_path / "s.zip", tmp_path / "out")
    assert list(loaded["stimulus_id"]) == ["001", "002", "010"]  # ids stay strings
    assert list(loaded["object_name"]) == ["car", "café", "日本"]
    assert np.isnan(loaded["size"][1]) and loaded["size"][2] == 3.0
    for sid, source in s.stimulus_paths.items():
        assert loaded.get_stimulus(sid).read_bytes() == source.read_bytes()


def test_deterministic_bytes(tmp_path):
    s = make_stimulus_set(tmp_path)
    first = write_stimulus_set(s, tmp_path / "a.csv", tmp_path / "a.zip")
    os.utime(s.stimulus_paths["001"], (1e9, 1e9))  # file times must not leak into the archive
    second = write_stimulus_set(s, tmp_path / "b.csv", tmp_path / "b.zip")
    assert first == second
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_filename_column_and_nested_zip(tmp_path):
    s = make_stimulus_set(tmp_path)
    s["filename"] = ["imgs/a.png", "imgs/b.png", "other/c.png"]
    write_stimulus_set(s, tmp_path / "s.csv", tmp_path / "s.zip")
    with zipfile.ZipFile(tmp_path / "s.zip") as z:
        assert z.namelist() == ["imgs/a.png", "imgs/b.png", "other/c.png"]
    loaded = load(tmp_path / "s.csv", tmp_path / "s.zip", tmp_path / "out")
    assert loaded.get_stimulus("010") == tmp_path / "out" / "other" / "c.png"


def test_stimulus_path_within_store_is_used_and_dropped(tmp_path):
    s = make_stimulus_set(tmp_path)
    s["stimulus_path_within_store"] = ["x1", "x2", "x3"]
    s["stimulus_current_local_file_path"] = ["/tmp/a", "/tmp/b", "/tmp/c"]
    write_stimulus_set(s, tmp_path / "s.csv", tmp_path / "s.zip")
    with zipfile.ZipFile(tmp_path / "s.zip") as z:
        assert z.namelist() == ["x1.png", "x2.png", "x3.png"]
    columns = read_stimulus_csv(tmp_path / "s.csv").columns
    assert "stimulus_path_within_store" not in columns and "stimulus_current_local_file_path" not in columns


def test_zip_with_a_folder_inside_loads(tmp_path):
    # a hand-made archive: every file inside one folder while the CSV names them flat
    s = make_stimulus_set(tmp_path)
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        for sid, path in s.stimulus_paths.items():
            z.write(path, f"stimuli/{sid}.png")
    pd.DataFrame(
        {"stimulus_id": list(s["stimulus_id"]), "filename": [f"{sid}.png" for sid in s["stimulus_id"]]}
    ).to_csv(tmp_path / "s.csv", index=False)
    loaded = load(tmp_path / "s.csv", tmp_path / "s.zip", tmp_path / "out")
    assert loaded.get_stimulus("002").read_bytes() == s.stimulus_paths["002"].read_bytes()


_CELL = {
    "int": st.integers(-(10**12), 10**12),
    "float": st.floats(allow_nan=True, allow_infinity=False, width=64),
    "text": st.text(alphabet=st.characters(whitelist_categories=("L",)), min_size=1, max_size=6).filter(
        lambda t: not _csv_special(t)
    ),
}


def _csv_special(text: str) -> bool:
    """Words CSV readers (pandas, so BrainIO too) turn into numbers or missing values."""
    if text in {"NA", "NaN", "nan", "None", "NULL", "null"}:
        return True
    try:
        float(text)  # inf, INF, Infinity...
    except ValueError:
        return False
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ids=st.lists(
        st.from_regex(r"[0-9]{1,4}|[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=1, max_size=6, unique=True
    ),
    kinds=st.lists(st.sampled_from(sorted(_CELL)), max_size=3),
    data=st.data(),
)
def test_round_trip_column_types(tmp_path_factory, ids, kinds, data):
    tmp_path = tmp_path_factory.mktemp("prop")
    s = StimulusSet({"stimulus_id": ids})
    for i, kind in enumerate(kinds):
        s[f"c{i}_{kind}"] = data.draw(st.lists(_CELL[kind], min_size=len(ids), max_size=len(ids)))
    s.stimulus_paths = make_files(tmp_path / "src", ids, ".jpg")
    write_stimulus_set(s, tmp_path / "s.csv", tmp_path / "s.zip")
    loaded = load(tmp_path / "s.csv", tmp_path / "s.zip", tmp_path / "out")
    assert list(loaded["stimulus_id"]) == ids
    for column in s.columns:
        expected, actual = s[column].to_numpy(), loaded[column].to_numpy()
        if column.endswith("float"):
            np.testing.assert_array_equal(actual.astype(float), expected.astype(float))
        elif column.endswith("int"):
            assert actual.tolist() == expected.tolist()
        elif column.endswith("text"):
            assert [str(v) for v in actual] == [str(v) for v in expected]


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


def test_missing_stimulus_id_duplicates_and_missing_files(tmp_path):
    s = make_stimulus_set(tmp_path)
    no_ids = StimulusSet(s.drop(columns=["stimulus_id"]))
    no_ids.stimulus_paths = s.stimulus_paths
    with pytest.raises(StimulusSetError, match="stimulus_id"):
        write_stimulus_set(no_ids, tmp_path / "a.csv", tmp_path / "a.zip")
    dup = StimulusSet({"stimulus_id": ["1", "1"]})
    dup.stimulus_paths = {"1": s.stimulus_paths["001"]}
    with pytest.raises(StimulusSetError, match="duplicate"):
        write_stimulus_set(dup, tmp_path / "a.csv", tmp_path / "a.zip")
    gone = make_stimulus_set(tmp_path / "other")
    gone.stimulus_paths["002"].unlink()
    with pytest.raises(StimulusSetError, match="do not exist"):
        write_stimulus_set(gone, tmp_path / "a.csv", tmp_path / "a.zip")
    unlisted = make_stimulus_set(tmp_path / "third")
    del unlisted.stimulus_paths["010"]
    with pytest.raises(StimulusSetError, match="no file"):
        write_stimulus_set(unlisted, tmp_path / "a.csv", tmp_path / "a.zip")
    escaping = make_stimulus_set(tmp_path / "fourth")
    escaping["filename"] = ["../a.png", "b.png", "c.png"]
    with pytest.raises(StimulusSetError, match="relative path"):
        write_stimulus_set(escaping, tmp_path / "a.csv", tmp_path / "a.zip")
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "a.zip").exists()


def test_reading_errors(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b'stimulus_id,filename\n"unterminated,x\n')
    with pytest.raises(StimulusSetError):
        read_stimulus_csv(tmp_path / "bad.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(StimulusSetError):
        read_stimulus_csv(tmp_path / "empty.csv")
    (tmp_path / "noid.csv").write_text("filename,thing\na.png,1\n")
    with pytest.raises(StimulusSetError, match="stimulus_id"):
        StimulusSet.from_files(tmp_path / "noid.csv", tmp_path)
    (tmp_path / "dup.csv").write_text("stimulus_id,filename\n01,a.png\n01,b.png\n")
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "b.png").write_bytes(b"b")
    with pytest.raises(StimulusSetError, match="duplicate"):
        StimulusSet.from_files(tmp_path / "dup.csv", tmp_path)
    (tmp_path / "missing.csv").write_text("stimulus_id,filename\n01,a.png\n02,zzz.png\n")
    with pytest.raises(StimulusSetError, match="do not exist"):
        StimulusSet.from_files(tmp_path / "missing.csv", tmp_path)
    (tmp_path / "notazip.zip").write_text("nope")
    with pytest.raises(StimulusSetError):
        extract_zip(tmp_path / "notazip.zip", tmp_path / "out")


# --------------------------------------------------------------------------------------
# zip-slip
# --------------------------------------------------------------------------------------


def _zip_with(path: Path, name: str, *, symlink: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.png", b"fine")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, b"/etc/passwd" if symlink else b"evil")
    return path


@pytest.mark.parametrize(
    ("name", "symlink"),
    [
        ("/etc/evil.png", False),
        ("../evil.png", False),
        ("a/../../evil.png", False),
        ("C:/evil.png", False),
        ("link.png", True),
    ],
)
def test_unsafe_archives_are_rejected(tmp_path, name, symlink):
    archive = _zip_with(tmp_path / "evil.zip", name, symlink=symlink)
    target = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError):
        extract_zip(archive, target)
    assert not target.exists()  # nothing extracted, not even the safe entry
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "deep" / "evil.png").exists()
    assert isinstance(UnsafeArchiveError("x"), ValueError)


# --------------------------------------------------------------------------------------
# the DataFrame subclass
# --------------------------------------------------------------------------------------


def test_identifier_and_paths_survive_pandas_operations(tmp_path):
    s = make_stimulus_set(tmp_path)
    for derived in (
        s[s["stimulus_id"] != "002"],
        s.copy(),
        s.sort_values("stimulus_id", ascending=False),
        s.iloc[:2],
        s.loc[s.index[1:]],
        s.reset_index(drop=True),
        s.head(1),
    ):
        assert type(derived) is StimulusSet
        assert derived.identifier == "test.stimuli"
        assert derived.get_stimulus("001") == s.stimulus_paths["001"]
    column = s["stimulus_id"]
    assert not isinstance(column, StimulusSet)
    assert StimulusSet({"stimulus_id": ["a"]}).identifier is None  # plain construction gets defaults
    with pytest.raises(KeyError, match="'nope'"):
        s.get_stimulus("nope")
    numeric = StimulusSet({"stimulus_id": ["7"]})  # ids are looked up as strings
    numeric.stimulus_paths = {"7": tmp_path / "7.png"}
    assert numeric.get_stimulus(7) == tmp_path / "7.png"

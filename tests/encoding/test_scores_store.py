"""The scores store: what `brainbridge score`, score_many and the example job record, in SQLite."""

from __future__ import annotations

import multiprocessing
import sqlite3
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.cli import main
from brainbridge.encoding.errors import InvalidParameterError, ScoresStoreError
from brainbridge.encoding.scores_store import SCORE_COLUMNS, ScoresStore, record_score, score_rows, store_path
from brainbridge.encoding.scoring import score, score_many
from brainbridge.hashing import sha1_hash
from brainbridge.packaging import write_netcdf


def _data(seed=0, n_stimuli=60, n_reps=4):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_stimuli, 30))  # PLS needs >= 25 features
    signal = features @ rng.normal(size=(30, 6)) / np.sqrt(30)
    ids = np.array([f"s{i:03d}" for i in range(n_stimuli)])
    stim = np.tile(np.arange(n_stimuli), n_reps)
    target = NeuronRecordingAssembly(
        signal[stim] + 0.8 * rng.normal(size=(len(stim), 6)),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids[stim]),
            "repetition": ("presentation", np.repeat(np.arange(n_reps), n_stimuli)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(6)]),
            "region": ("neuroid", ["V1"] * 3 + ["IT"] * 3),
        },
    )
    source = NeuronRecordingAssembly(
        features,
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids),
            "neuroid_id": ("neuroid", [f"f{i}" for i in range(30)]),
        },
    )
    return source, target


def _row(model="m", region="IT", raw=0.5, **extra):
    return {"model": model, "assembly": "a.b", "metric": "pls", "region": region, "raw": raw, **extra}


def test_the_store_lives_under_brainbridge_home(_isolated_home):
    assert store_path() == _isolated_home / "scores" / "scores.sqlite"
    assert len(ScoresStore()) == 0 and ScoresStore().table().columns.tolist() == SCORE_COLUMNS


def test_a_per_region_score_is_recorded_per_region_with_per_neuroid_values():
    source, target = _data()
    result = score(source, target, "ridge_per_neuroid", n_splits=3, stratification_coord=None, progress=False)
    ids = record_score(result, model="feat", assembly="my.assembly", checksum="sha1:abc", source="test")
    table = ScoresStore().table()
    assert len(ids) == 2 and sorted(table["region"]) == ["IT", "V1"]
    it = table[table["region"] == "IT"].iloc[0]
    assert it["ceiled"] == pytest.approx(float(result.regions["IT"]))
    assert it["raw"] == pytest.approx(float(result.regions["IT"].unceiled))
    assert it["ceiling"] == pytest.approx(float(result.regions["IT"].ceiling))
    assert it["ceiled_error"] == pytest.approx(result.regions["IT"].ceiled_error)
    assert (
        it["metric"] == "ridge_per_neuroid" and it["assembly_checksum"] == "sha1:abc" and it["n_splits"] == 3
    )
    detail = ScoresStore().get(int(it["id"]))
    neuroids = detail["neuroids"]
    assert neuroids["neuroid_id"].tolist() == ["n3", "n4", "n5"]
    per_neuroid = result.regions["IT"].per_neuroid()
    np.testing.assert_allclose(neuroids["r"], per_neuroid.values)
    assert neuroids["ceiling"].notna().all()
    assert pd.Timestamp(detail["created"]).tzinfo is not None  # when, in UTC


def test_latest_keeps_the_newest_score_of_each_benchmark():
    store = ScoresStore()
    store.record([_row(raw=0.1), _row(region="V1", raw=0.2)])
    store.record([_row(raw=0.3)])
    assert len(store) == 3
    latest = store.table()
    assert dict(zip(latest["region"], latest["raw"])) == {"IT": 0.3, "V1": 0.2}
    assert len(store.table(latest=False)) == 3


def test_a_failed_write_leaves_nothing_behind():
    store = ScoresStore()
    store.record([_row()])
    with pytest.raises(InvalidParameterError, match="needs metric"):
        store.record([_row(region="V4"), {"model": "m", "assembly": "a", "region": "x"}])
    # a failure inside the transaction (a neuroid list shorter than its ids) rolls back every row
    with pytest.raises(IndexError):
        store.record([_row(region="V4"), _row(region="V2", neuroids={"neuroid_id": ["a", "b"], "r": [0.1]})])
    assert store.table()["region"].tolist() == ["IT"]
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM neuroid_values").fetchone() == (0,)


def _write_many(args):
    path, worker = args
    store = ScoresStore(path)
    for i in range(15):
        store.record(
            [
                _row(
                    model=f"w{worker}",
                    region=f"r{i}",
                    raw=i,
                    neuroids={"neuroid_id": ["a", "b"], "r": [0.1, 0.2], "ceiling": [0.5, 0.6]},
                )
            ]
        )
    return worker


def test_concurrent_writers_in_separate_processes_lose_nothing(tmp_path):
    path = tmp_path / "scores.sqlite"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.map(_write_many, [(path, w) for w in range(4)])) == [0, 1, 2, 3]
    store = ScoresStore(path)
    table = store.table(latest=False)
    assert len(table) == 60 and table.groupby("model").size().tolist() == [15] * 4
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM neuroid_values").fetchone() == (120,)


def test_read_only_store_refuses_writes_and_reads_missing_as_empty(tmp_path):
    store = ScoresStore(tmp_path / "none.sqlite", read_only=True)
    assert store.table().empty and store.get(1) is None
    with pytest.raises(ScoresStoreError, match="read-only"):
        store.record([_row()])
    assert not (tmp_path / "none.sqlite").exists()


def test_a_store_from_a_newer_brainbridge_is_refused(tmp_path):
    store = ScoresStore(tmp_path / "s.sqlite")
    store.record([_row()])
    with sqlite3.connect(store.path) as connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ScoresStoreError, match="schema version 99"):
        store.table()


def test_score_many_returns_a_table_and_records_it():
    source, target = _data()
    sources = {"feat": source, "noise": source.copy(data=np.random.default_rng(3).normal(size=source.shape))}
    table = score_many(
        sources, {"bench": target}, "pls", n_splits=3, stratification_coord=None, progress=False
    )
    assert isinstance(table, pd.DataFrame)
    # one row per model x benchmark (benchmark = assembly x region x metric)
    assert list(zip(table["model"], table["region"])) == [
        ("feat", "V1"),
        ("feat", "IT"),
        ("noise", "V1"),
        ("noise", "IT"),
    ]
    first = table.iloc[0]
    assert first["score"] == float(first["result"]) and first["ceiled"] == first["score"]
    assert first["error"] == first["result"].ceiled_error and first["raw"] == float(first["result"].unceiled)
    feat = table.set_index(["model", "region"])["score"]
    assert feat["feat", "IT"] > feat["noise", "IT"]
    stored = ScoresStore().table().set_index(["model", "region"])
    assert stored.loc[("feat", "IT"), "ceiled"] == pytest.approx(feat["feat", "IT"])
    assert stored.loc[("feat", "IT"), "assembly"] == "bench"
    assert stored.loc[("feat", "IT"), "assembly_checksum"].startswith("sha256:")
    assert set(stored["source"]) == {"score_many"}


def test_score_many_old_dict_is_deprecated_and_record_can_be_off():
    source, target = _data()
    with pytest.warns(DeprecationWarning, match="returns a table"):
        old = score_many(
            {"feat": source},
            {"bench": target},
            "pls",
            n_splits=3,
            stratification_coord=None,
            progress=False,
            as_dict=True,
            record=False,
        )
    assert list(old) == [("feat", "bench")] and old["feat", "bench"].regions
    assert len(ScoresStore()) == 0


def test_brainbridge_score_records_the_rows_it_prints(tmp_path):
    source, target = _data()
    write_netcdf(source, tmp_path / "features.nc")
    write_netcdf(target, tmp_path / "neural.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(
            main,
            [
                "score",
                "--features",
                str(tmp_path / "features.nc"),
                "--assembly",
                str(tmp_path / "neural.nc"),
                "--metric",
                "pls",
                "--n-splits",
                "3",
                "--stratification-coord",
                "none",
            ],
        )
    assert result.exit_code == 0, result.output
    assert "recorded in the scores store" in result.output
    table = ScoresStore().table()
    assert sorted(table["region"]) == ["IT", "V1"]
    assert set(table["model"]) == {"features.nc"} and set(table["assembly"]) == {"neural.nc"}
    assert set(table["assembly_checksum"]) == {f"sha1:{sha1_hash(tmp_path / 'neural.nc')}"}
    assert set(table["source"]) == {"brainbridge score"}
    again = CliRunner().invoke(
        main,
        [
            "score",
            "--features",
            str(tmp_path / "features.nc"),
            "--assembly",
            str(tmp_path / "neural.nc"),
            "--metric",
            "pls",
            "--n-splits",
            "3",
            "--stratification-coord",
            "none",
            "--no-record",
            "--json",
        ],
    )
    assert again.exit_code == 0, again.output
    assert len(ScoresStore()) == 2


def test_score_rows_of_an_unceiled_score():
    source, target = _data()
    result = score(
        source,
        target,
        "pls",
        n_splits=3,
        stratification_coord=None,
        ceiling=False,
        region="IT",
        progress=False,
    )
    (row,) = score_rows(result, model="m", assembly="a", region="IT")
    assert row["ceiled"] is None and row["ceiling"] is None and row["raw"] == float(result)
    assert row["neuroids"]["neuroid_id"] == ["n3", "n4", "n5"] and "ceiling" not in row["neuroids"]

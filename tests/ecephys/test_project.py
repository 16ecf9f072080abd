"""EcephysProjectCache: tables and joins as AllenSDK, filters, manifest, fixed/offline, retries, S3."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from brainbridge.ecephys import (
    EcephysProjectCache,
    EcephysSession,
    Manifest,
    ManifestVersionError,
    ProjectFetchError,
    SessionNotFoundError,
)
from brainbridge.ecephys.project import ProjectTableError
from brainbridge.errors import BrainbridgeError, OfflineError
from brainbridge.fetch import verify_cache
from brainbridge.fetch.cache import DownloadCache

from .conftest import SESSIONS


@pytest.fixture
def cache(project_dir, tmp_path):
    return EcephysProjectCache.from_source(
        project_dir, manifest=tmp_path / "cache" / "manifest.json", retry_wait=0
    )


def _expected_units(project_dir, **thresholds):
    """AllenSDK's project-level unit filter, written out with pandas."""
    units = pd.read_csv(project_dir / "units.csv", index_col="id")
    channels = pd.read_csv(project_dir / "channels.csv", index_col="id")
    t = {
        "amplitude_cutoff_maximum": 0.1,
        "presence_ratio_minimum": 0.95,
        "isi_violations_maximum": 0.5,
        **thresholds,
    }
    inf = np.inf
    keep = (
        (
            units["amplitude_cutoff"]
            <= (t["amplitude_cutoff_maximum"] if t["amplitude_cutoff_maximum"] is not None else inf)
        )
        & (
            units["presence_ratio"]
            >= (t["presence_ratio_minimum"] if t["presence_ratio_minimum"] is not None else -inf)
        )
        & (
            units["isi_violations"]
            <= (t["isi_violations_maximum"] if t["isi_violations_maximum"] is not None else inf)
        )
        & (units["quality"] == "good")
    )
    units = units[keep]
    in_brain = channels.loc[units["ecephys_channel_id"], "ecephys_structure_id"].notna().to_numpy()
    return units[in_brain]


def test_manifest_layout_and_tables_cached(cache, tmp_path):
    table = cache.get_session_table()
    manifest = json.loads((tmp_path / "cache" / "manifest.json").read_text())["manifest"]
    assert manifest[0] == {"type": "manifest_version", "value": "1.0.0"}
    keys = {e.get("key") for e in manifest}
    assert {"sessions", "probes", "channels", "units", "session_data", "session_nwb", "probe_lfp_nwb"} <= keys
    assert cache.manifest.get_path("session_nwb", 5, 5) == tmp_path / "cache" / "session_5" / "session_5.nwb"
    assert (tmp_path / "cache" / "sessions.csv").exists()
    assert table.index.tolist() == list(SESSIONS)


def test_session_table_counts_and_renames(cache, project_dir):
    table = cache.get_session_table()
    units = _expected_units(project_dir)
    channels = pd.read_csv(project_dir / "channels.csv", index_col="id")
    probes = pd.read_csv(project_dir / "probes.csv", index_col="id")
    unit_sessions = probes.loc[
        channels.loc[units["ecephys_channel_id"], "ecephys_probe_id"], "ecephys_session_id"
    ]
    assert (
        table["unit_count"].to_dict()
        == unit_sessions.value_counts().reindex(table.index, fill_value=0).to_dict()
    )
    assert (table["probe_count"] == 2).all() and (table["channel_count"] == 16).all()
    assert "full_genotype" in table.columns and "genotype" not in table.columns
    assert not {"has_nwb", "isi_experiment_id", "date_of_acquisition"} & set(table.columns)
    assert set(table.loc[101, "ecephys_structure_acronyms"]) == {"VISp", "VISl", "CA1", "LGd"}
    assert sorted(cache.get_all_session_types()) == ["brain_observatory_1.1", "functional_connectivity"]
    assert sorted(cache.get_all_sexes()) == ["F", "M"]
    assert set(cache.get_structure_acronyms()) - {np.nan} >= {"VISp", "CA1"}


def test_probes_and_channels(cache, project_dir):
    probes = cache.get_probes()
    assert len(probes) == 6 and (probes["channel_count"] == 8).all()
    np.testing.assert_allclose(probes["lfp_sampling_rate"], 2500.0)  # divided by the subsampling factor
    assert not {"air_channel_index", "sex", "lfp_temporal_subsampling_factor"} & set(probes.columns)
    assert probes["unit_count"].sum() == len(_expected_units(project_dir))
    channels = cache.get_channels()
    assert len(channels) == 48 and channels["unit_count"].sum() == len(_expected_units(project_dir))
    assert "ecephys_session_id" in channels.columns and "name" not in channels.columns


def test_units_filters_joins_and_suppression(cache, project_dir):
    units = cache.get_units()
    expected = _expected_units(project_dir)
    assert sorted(units.index) == sorted(expected.index)
    assert {
        "waveform_amplitude",
        "waveform_PT_ratio",
        "L_ratio",
        "ecephys_session_id",
        "session_type",
    } <= set(units.columns)
    assert "quality" not in units.columns and "amplitude" not in units.columns
    loose = cache.get_units(
        amplitude_cutoff_maximum=None, presence_ratio_minimum=None, isi_violations_maximum=None
    )
    assert sorted(loose.index) == sorted(
        _expected_units(
            project_dir,
            amplitude_cutoff_maximum=None,
            presence_ratio_minimum=None,
            isi_violations_maximum=None,
        ).index
    )
    assert len(loose) > len(units)
    everything = cache.get_units(
        filter_by_validity=False,
        amplitude_cutoff_maximum=None,
        presence_ratio_minimum=None,
        isi_violations_maximum=None,
        filter_out_of_brain_units=False,
    )
    all_units = pd.read_csv(project_dir / "units.csv")
    # open bounds still drop NaN metrics, as AllenSDK
    assert (
        len(everything)
        == all_units[["amplitude_cutoff", "presence_ratio", "isi_violations"]].notna().all(axis=1).sum()
    )
    assert len(cache.get_units(isi_violations_maximum=0)) == 0


def test_parquet_tables_without_index(parquet_project_dir, tmp_path):
    cache = EcephysProjectCache.from_source(parquet_project_dir, manifest=tmp_path / "m.json")
    table = cache.get_session_table()
    assert table.index.tolist() == list(SESSIONS)
    assert (tmp_path / "sessions.parquet").exists()
    with cache.get_session_data(102) as session:
        assert len(session.units) == len(cache.get_units().query("ecephys_session_id == 102"))


def test_get_session_data_filters_and_structures(cache, project_dir):
    with cache.get_session_data("101") as session:  # string ids resolve
        assert isinstance(session, EcephysSession) and session.session_id == 101
        expected = cache.get_units()
        assert sorted(session.units.index) == sorted(expected.index[expected["ecephys_session_id"] == 101])
        assert session.units["ecephys_structure_id"].notna().all()
        counts = session.presentationwise_spike_counts([0.0, 0.125, 0.25])
        assert counts.attrs["session_id"] == "101"
    assert cache.session_nwb_path(101).exists()


def test_unknown_session_and_missing_table(cache, project_copy, tmp_path):
    with pytest.raises(SessionNotFoundError, match="no session 999") as info:
        cache.get_session_data(999)
    assert isinstance(info.value, KeyError) and "101" in str(info.value)
    (project_copy / "probes.csv").unlink()
    (project_copy / "project.json").unlink()
    broken = EcephysProjectCache.from_source(project_copy, manifest=tmp_path / "b" / "m.json")
    with pytest.raises(ProjectTableError, match="no probes table"):
        broken.get_probes()


def test_manifest_version_mismatch(tmp_path, project_dir):
    path = tmp_path / "manifest.json"
    EcephysProjectCache.from_source(project_dir, manifest=path)
    with pytest.raises(ManifestVersionError, match="out of date"):
        EcephysProjectCache.from_source(project_dir, manifest=path, version="1.2.0")
    with pytest.raises(ManifestVersionError, match="newer") as info:
        EcephysProjectCache.from_source(project_dir, manifest=path, version="0.3.0")
    assert isinstance(info.value, ValueError) and info.value.found == "1.0.0"
    # semantic, not string comparison: 0.10.0 is newer than 0.3.0
    m = Manifest.load_or_create(tmp_path / "other.json", version="0.10.0")
    with pytest.raises(ManifestVersionError, match="newer"):
        Manifest.load_or_create(m.path, version="0.3.0")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a project cache manifest"):
        Manifest.load_or_create(tmp_path / "bad.json")


def test_fixed_mode_reads_cache_and_never_fetches(project_copy, tmp_path):
    manifest = tmp_path / "c" / "manifest.json"
    online = EcephysProjectCache.from_source(project_copy, manifest=manifest)
    online.get_units()
    online.get_session_data(101).close()
    shutil.rmtree(project_copy)  # the store is gone
    fixed = EcephysProjectCache.fixed(manifest=manifest)
    assert fixed.offline and len(fixed.get_units()) == len(online.get_units())
    with fixed.get_session_data(101) as session:
        assert len(session.units) > 0
    with pytest.raises(OfflineError, match="never fetches"):
        fixed.get_session_data(102)


def test_fetch_tries_retry_then_fail(project_copy, tmp_path, caplog):
    nwb = project_copy / "session_103" / "session_103.nwb"
    nwb.write_bytes(nwb.read_bytes()[:-10] + b"0123456789")  # same size, wrong SHA-1
    cache = EcephysProjectCache.from_source(
        project_copy, manifest=tmp_path / "m.json", fetch_tries=3, retry_wait=0
    )
    caplog.set_level(logging.WARNING, logger="brainbridge.fetch")
    with pytest.raises(ProjectFetchError, match="after 3 tries") as info:
        cache.get_session_data(103)
    assert isinstance(info.value, OSError)
    # fetch's one retry loop did the tries (no loop of ecephys's own)
    assert len([r for r in caplog.records if "downloading again" in r.getMessage()]) == 2
    assert not cache.session_nwb_path(103).exists()
    assert not list(cache.session_nwb_path(103).parent.glob(".*"))  # no partial file left
    assert not list(DownloadCache().root.rglob("*.part"))


def test_project_downloads_are_cache_entries_and_resume(project_dir, tmp_path):
    """ecephys downloads through brainbridge.fetch: an interrupted transfer resumes (no whole
    re-download), and the file is a cache entry that `brainbridge cache` lists and verifies."""
    from tests.support.servers import HTTPFileServer

    with HTTPFileServer() as server:
        for path in project_dir.rglob("*"):
            if path.is_file():
                server.add(f"/lab/{path.relative_to(project_dir).as_posix()}", path)
        nwb = "/lab/session_101/session_101.nwb"
        size = (project_dir / "session_101" / "session_101.nwb").stat().st_size
        server.add_fault(nwb, drop_after=size // 2)
        cache = EcephysProjectCache.from_source(
            server.url("/lab"), manifest=tmp_path / "m.json", fetch_tries=2, retry_wait=0
        )
        cache.get_session_data(101).close()
        gets = server.records(nwb)
        assert [g.range for g in gets] == [None, f"bytes={size // 2}-"]  # resumed where it broke
    entries = {e.relpath.rsplit("/", 1)[-1]: e for e in DownloadCache().manifest.all()}
    assert "session_101.nwb" in entries and entries["session_101.nwb"].size == size
    assert os.path.samefile(
        DownloadCache().root / entries["session_101.nwb"].relpath, cache.session_nwb_path(101)
    )
    assert verify_cache() == []


def test_damaged_cached_file_is_fetched_again(cache):
    cache.get_session_data(102).close()
    path = cache.session_nwb_path(102)
    path.write_bytes(b"\0" * path.stat().st_size)  # same size, unreadable
    with pytest.warns(UserWarning, match="unreadable"):
        session = cache.get_session_data(102)
    with session:
        assert len(session.units) > 0


def test_project_served_from_s3(project_dir, tmp_path):
    servers = pytest.importorskip("tests.support.servers", reason="tests/support/servers.py not available")
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    with servers.S3Server() as server:
        server.create_bucket("lab-project")
        for path in project_dir.rglob("*"):
            if path.is_file():
                server.put_object(
                    "lab-project", f"neuropixels/{path.relative_to(project_dir).as_posix()}", path
                )
        cache = EcephysProjectCache.from_source(
            "s3://lab-project/neuropixels",
            manifest=tmp_path / "s3cache" / "manifest.json",
            fetch_options={"endpoint_url": server.endpoint_url, "s3_anon": True},
            retry_wait=0,
        )
        assert cache.get_session_table().index.tolist() == list(SESSIONS)
        with cache.get_session_data(103) as session:
            local = EcephysSession.from_nwb(
                project_dir / "session_103" / "session_103.nwb", unit_filter_defaults=True
            )
            with local:
                np.testing.assert_array_equal(
                    session.spike_trains.select(session.units.index).times,
                    local.spike_trains.select(session.units.index).times,
                )
        assert (tmp_path / "s3cache" / "project.json").exists()


def test_project_served_over_http_with_a_transient_fault(project_dir, tmp_path):
    from tests.support.servers import HTTPFileServer

    with HTTPFileServer() as server:
        for path in project_dir.rglob("*"):
            if path.is_file():
                server.add(f"/lab/{path.relative_to(project_dir).as_posix()}", path)
        nwb = "/lab/session_102/session_102.nwb"
        server.add_fault(nwb, status=503)  # the first GET fails, the retry succeeds
        cache = EcephysProjectCache.from_source(
            server.url("/lab"), manifest=tmp_path / "http" / "manifest.json", fetch_tries=2, retry_wait=0
        )
        assert cache.get_session_table().index.tolist() == list(SESSIONS)
        assert sorted(cache.get_units().index) == sorted(_expected_units(project_dir).index)
        session = cache.get_session_data(102)  # fetch retries (and logs) the 503
        with session:
            assert server.count(nwb) == 2
            with EcephysSession.from_nwb(project_dir / "session_102" / "session_102.nwb") as local:
                ids = session.units.index
                np.testing.assert_array_equal(
                    session.spike_trains.select(ids).times, local.spike_trains.select(ids).times
                )
        assert (
            cache.session_nwb_path(102).read_bytes()
            == (project_dir / "session_102" / "session_102.nwb").read_bytes()
        )
        # cached now: a second open does not touch the server
        cache.get_session_data(102).close()
        assert server.count(nwb) == 2
        # a file the store does not have is a permanent error, not retried
        server.remove("/lab/session_103/session_103.nwb")
        with pytest.raises(FileNotFoundError, match="404") as info:
            cache.get_session_data(103)
        assert server.count("/lab/session_103/session_103.nwb") == 1
        assert isinstance(info.value, BrainbridgeError) and not isinstance(info.value, ProjectFetchError)

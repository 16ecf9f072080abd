"""Project sources as they exist: Allen's public S3 cache layout (moto), AllenSDK cache folders,
folders of NWB files (DANDI layout) with derived tables, and dandiset ids."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from brainbridge.ecephys import EcephysProjectCache, ManifestVersionError
from brainbridge.ecephys.derive import derive_project
from brainbridge.ecephys.project import ALLEN_S3_SOURCE
from brainbridge.errors import BrainbridgeError, OfflineError, ValidationError

from .conftest import SESSIONS

FIXTURE = "sub-anm369963_ses-20170228.nwb"
FIXTURE_SESSION = 9001


def _allensdk_manifest(path, version):
    """A manifest exactly as AllenSDK's EcephysProjectCache writes it (keys, specs, parents)."""
    entries = [{"type": "manifest_version", "value": version}, {"key": "BASEDIR", "type": "dir", "spec": "."}]
    for key, kind, spec, parent in (
        ("sessions", "file", "sessions.csv", "BASEDIR"),
        ("probes", "file", "probes.csv", "BASEDIR"),
        ("channels", "file", "channels.csv", "BASEDIR"),
        ("units", "file", "units.csv", "BASEDIR"),
        ("session_data", "dir", "session_%d", "BASEDIR"),
        ("session_nwb", "file", "session_%d.nwb", "session_data"),
        ("session_analysis_metrics", "file", "session_%d_analysis_metrics.csv", "session_data"),
        ("probe_lfp_nwb", "file", "probe_%d_lfp.nwb", "session_data"),
        ("movie_dir", "dir", "natural_movie_templates", "BASEDIR"),
        ("typewise_analysis_metrics", "file", "%s_analysis_metrics.csv", "BASEDIR"),
        ("natural_movie", "file", "natural_movie_%d.h5", "movie_dir"),
        ("natural_scene_dir", "dir", "natural_scene_templates", "BASEDIR"),
        ("natural_scene", "file", "natural_scene_%d.tiff", "natural_scene_dir"),
    ):
        entries.append({"key": key, "type": kind, "spec": spec, "parent_key": parent})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"manifest": entries}, indent=2))
    return path


@pytest.fixture(scope="module")
def module_fixtures_dir():
    from tests.conftest import FIXTURES

    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="module")
def allen_layout(project_dir, module_fixtures_dir, tmp_path_factory):
    """Allen's ecephys-cache layout: the synthetic sessions plus the real DANDI fixture as
    session 9001, tables with Allen's columns (AllenSDK writes them with ``to_csv``, index ``id``)."""
    root = tmp_path_factory.mktemp("allen-layout")
    for item in project_dir.iterdir():
        if item.name == "project.json":
            continue  # Allen's bucket has no brainbridge index
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, root / item.name)
    staging = tmp_path_factory.mktemp("fixture-derive")
    shutil.copy2(module_fixtures_dir / "nwb" / FIXTURE, staging / FIXTURE)
    derived = derive_project(staging).tables
    (root / f"session_{FIXTURE_SESSION}").mkdir()
    shutil.copy2(
        module_fixtures_dir / "nwb" / FIXTURE,
        root / f"session_{FIXTURE_SESSION}" / f"session_{FIXTURE_SESSION}.nwb",
    )
    extra = {
        "sessions": derived["sessions"]
        .rename(index=lambda _: FIXTURE_SESSION)[["session_type", "specimen_id", "sex"]]
        .assign(session_type="brain_observatory_1.1", genotype="wt/wt", age_in_days=90.0, has_nwb=True),
        "probes": derived["probes"].assign(ecephys_session_id=FIXTURE_SESSION)[
            ["ecephys_session_id", "name"]
        ],
        "channels": derived["channels"][
            ["ecephys_probe_id", "local_index", "ecephys_structure_acronym"]
        ].assign(ecephys_structure_id=500.0),
        "units": derived["units"][["ecephys_channel_id", "firing_rate"]].assign(
            quality="good", amplitude_cutoff=0.01, presence_ratio=0.99, isi_violations=0.0
        ),
    }
    for name, frame in extra.items():
        table = pd.read_csv(root / f"{name}.csv", index_col="id")
        frame.index.name = "id"
        pd.concat([table, frame]).to_csv(root / f"{name}.csv")
    return root


@pytest.fixture(scope="module")
def s3_allen(allen_layout):
    servers = pytest.importorskip("tests.support.servers", reason="tests/support/servers.py not available")
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    bucket, prefix = ALLEN_S3_SOURCE.removeprefix("s3://").split("/", 1)
    with servers.S3Server() as server:
        server.create_bucket(bucket)
        for path in allen_layout.rglob("*"):
            if path.is_file():
                server.put_object(bucket, f"{prefix}/{path.relative_to(allen_layout).as_posix()}", path)
        yield server


def test_from_warehouse_reads_allens_public_s3_layout(s3_allen, allen_layout, tmp_path):
    manifest = tmp_path / "cache" / "manifest.json"
    cache = EcephysProjectCache.from_warehouse(
        manifest=manifest, fetch_options={"endpoint_url": s3_allen.endpoint_url}
    )
    assert cache.source.location == ALLEN_S3_SOURCE and cache.fetch_options["s3_anon"] is True
    sessions = cache.get_session_table()
    assert sorted(sessions.index) == sorted([*SESSIONS, FIXTURE_SESSION])
    assert {
        "unit_count",
        "probe_count",
        "channel_count",
        "ecephys_structure_acronyms",
        "full_genotype",
    } <= set(sessions)
    assert sessions.loc[FIXTURE_SESSION, "unit_count"] == 1
    assert (tmp_path / "cache" / "units.csv").exists() and not (tmp_path / "cache" / "project.json").exists()

    # the real fixture through Allen's layout (its unit's quality label is "Excellent", not "good")
    with cache.get_session_data(FIXTURE_SESSION, filter_by_validity=False) as session:
        assert session.units.index.tolist() == [1001] and session.session_type == "brain_observatory_1.1"
        assert len(session.stimulus_presentations) == 178
        assert (session.units["ecephys_structure_id"] == 500.0).all()  # from the project's channels
    # a synthetic Allen session: LFP fetched on first use, analysis metrics joined
    with cache.get_session_data(101) as session:
        lfp_file = tmp_path / "cache" / "session_101" / "probe_1010_lfp.nwb"
        assert not lfp_file.exists()
        lfp = session.get_lfp(1010)
        assert lfp_file.exists() and lfp.dims == ("time", "channel")
        assert lfp_file.read_bytes() == (allen_layout / "session_101" / "probe_1010_lfp.nwb").read_bytes()
        assert "g_osi_sg" in session.units.columns and session.units["g_osi_sg"].notna().all()
        csd = session.get_current_source_density(1011)
        assert csd.dims == ("virtual_channel_index", "time")

    metrics = cache.get_unit_analysis_metrics_by_session_type("brain_observatory_1.1")
    assert metrics.index.name == "ecephys_unit_id" and {"g_osi_sg", "ecephys_session_id"} <= set(
        metrics.columns
    )
    expected = pd.read_csv(
        allen_layout / "brain_observatory_1.1_analysis_metrics.csv", index_col="ecephys_unit_id"
    )
    assert set(metrics.index) == set(expected.index) & set(cache.get_units().index)
    per_session = cache.get_unit_analysis_metrics_for_session(103, annotate=False)
    assert set(per_session.index) <= set(expected.index) and len(per_session) > 0
    assert (tmp_path / "cache" / "session_103" / "session_103_analysis_metrics.csv").exists()
    with pytest.raises(ValidationError, match="unrecognized session type"):
        cache.get_unit_analysis_metrics_by_session_type("flashes_only")

    # stimulus templates, as images and as a StimulusSet
    scene = cache.get_natural_scene_template(2)
    from PIL import Image

    np.testing.assert_array_equal(
        scene, np.asarray(Image.open(allen_layout / "natural_scene_templates/natural_scene_2.tiff"))
    )
    movie = cache.get_natural_movie_template(3)
    np.testing.assert_array_equal(movie, np.load(allen_layout / "natural_movie_templates/natural_movie_3.h5"))
    stimuli = cache.get_natural_scene_stimulus_set(range(5))  # the layout has scenes 0-2
    assert stimuli["stimulus_id"].tolist() == ["natural_scene_0", "natural_scene_1", "natural_scene_2"]
    assert (
        stimuli.get_stimulus("natural_scene_1").read_bytes()
        == (allen_layout / "natural_scene_templates/natural_scene_1.tiff").read_bytes()
    )


def test_from_warehouse_mirror_and_bad_arguments(s3_allen, tmp_path):
    cache = EcephysProjectCache.from_warehouse(
        scheme="s3",
        host="allen-brain-observatory",
        manifest=tmp_path / "m.json",
        fetch_options={"endpoint_url": s3_allen.endpoint_url},
        timeout=30,
    )
    assert cache.fetch_options["timeout"] == 30.0
    assert len(cache.get_probes()) > 0
    with pytest.raises(ValidationError, match="cache=False"):
        EcephysProjectCache.from_warehouse(cache=False, manifest=tmp_path / "n.json")
    cache2 = EcephysProjectCache.from_s3_cache(
        tmp_path / "vc", fetch_options={"endpoint_url": s3_allen.endpoint_url}
    )
    assert cache2.manifest.path == tmp_path / "vc" / "ecephys_project_manifest.json"


@pytest.mark.parametrize("version", ["0.2.1", "0.3.0"])
def test_existing_allensdk_cache_folder_opens_and_reuses_files(allen_layout, tmp_path, version):
    """A cache AllenSDK filled: its manifest, tables and a downloaded session file; nothing is fetched."""
    servers = pytest.importorskip("tests.support.servers")
    folder = tmp_path / "allensdk-cache"
    manifest = _allensdk_manifest(folder / "manifest.json", version)
    for name in ("sessions", "probes", "channels", "units"):
        shutil.copy2(allen_layout / f"{name}.csv", folder / f"{name}.csv")
    (folder / "session_102").mkdir()
    shutil.copy2(allen_layout / "session_102" / "session_102.nwb", folder / "session_102" / "session_102.nwb")
    before = manifest.read_text()

    fixed = EcephysProjectCache.fixed(manifest=manifest)  # no version=
    assert fixed.manifest.version == version
    assert len(fixed.get_session_table()) == len(SESSIONS) + 1
    with fixed.get_session_data(102) as session:
        assert len(session.units) > 0
    with pytest.raises(OfflineError):
        fixed.get_session_data(103)
    with pytest.raises(ManifestVersionError):  # an explicit, different version is still refused
        EcephysProjectCache.fixed(manifest=manifest, version="1.0.0")

    with servers.HTTPFileServer() as server:
        for path in allen_layout.rglob("*"):
            if path.is_file():
                server.add(f"/vc/{path.relative_to(allen_layout).as_posix()}", path)
        cache = EcephysProjectCache(
            server.url("/vc"), manifest=manifest, retry_wait=0
        )  # the normal constructor
        assert len(cache.get_units()) == len(fixed.get_units())
        with cache.get_session_data(102) as session:
            assert len(session.units) > 0
        with cache.get_session_data(103) as session:  # not downloaded yet: fetched
            assert len(session.units) > 0
        assert server.count("/vc/session_102/session_102.nwb") == 0
        assert server.count("/vc/sessions.csv") == 0
        assert server.count("/vc/session_103/session_103.nwb") == 1
    assert manifest.read_text() == before  # AllenSDK's manifest is left as AllenSDK wrote it


def test_default_constructor_means_allens_release(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = EcephysProjectCache(manifest=tmp_path / "m.json")
    assert cache.source.location == ALLEN_S3_SOURCE and cache.fetch_options["s3_anon"] is True


def _dandi_layout(fixtures_dir, root):
    names = {
        "sub-anm369963": "sub-anm369963_ses-20170228.nwb",
        "sub-anm372793": "sub-anm372793_ses-20170508.nwb",
        "sub-A8604": "A8604-211122.nwb",
    }
    for subject, name in names.items():
        source = fixtures_dir / "nwb" / name
        if not source.exists():
            continue
        (root / subject).mkdir(parents=True, exist_ok=True)
        target_name = name if name.startswith("sub-") else f"{subject}_ses-211122.nwb"
        shutil.copy2(source, root / subject / target_name)
    return root


def test_folder_of_nwb_files_is_a_project(fixtures_dir, tmp_path):
    import pynwb

    root = _dandi_layout(fixtures_dir, tmp_path / "dandiset")
    manifest = tmp_path / "cache" / "m.json"
    cache = EcephysProjectCache.from_source(root, manifest=manifest)
    sessions = cache.get_session_table()
    files = sorted(root.rglob("*.nwb"))
    assert sorted(sessions.index) == sorted(p.stem for p in files)
    # every table from the files' own metadata, electrodes and units tables (read here with pynwb)
    for path in files:
        with pynwb.NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            row = sessions.loc[path.stem]
            channels = cache.get_channels()
            mine = channels[channels["ecephys_session_id"] == path.stem]
            # units without a peak channel (A8604) hang on one placeholder channel (nwb id -1)
            assert sorted(mine.loc[mine["nwb_channel_id"] >= 0, "nwb_channel_id"]) == sorted(
                nwb.electrodes.id[:]
            )
            assert row["channel_count"] == len(nwb.electrodes) + (mine["nwb_channel_id"] < 0).sum()
            assert row["specimen_id"] == (nwb.subject.subject_id if nwb.subject is not None else None) or (
                nwb.subject is not None and not nwb.subject.subject_id
            )
            units = cache.get_units(filter_by_validity=False)
            mine = units[units["ecephys_session_id"] == path.stem]
            assert sorted(mine["nwb_unit_id"]) == sorted(nwb.units.id[:])
            counts = dict(zip(mine["nwb_unit_id"], mine["spike_count"]))
            for i, uid in enumerate(nwb.units.id[:]):
                assert counts[uid] == len(nwb.units["spike_times"][i])
    anm = "sub-anm369963_ses-20170228"
    assert sessions.loc[anm, "species"] == "Mus musculus" and sessions.loc[anm, "probe_count"] == 1
    units = cache.get_units()
    # lab-specific quality labels are not AllenSDK's good/noise: kept as nwb_quality, units not dropped
    assert "nwb_quality" in units.columns and (units["ecephys_session_id"] == anm).sum() == 1
    assert len(set(units.index)) == len(units)  # unique ids across files (the files all use 1001...)
    with cache.get_session_data(anm) as session:
        assert session.units.index.tolist() == [1001] and len(session.stimulus_presentations) == 178
        assert session.path == root / "sub-anm369963" / f"{anm}.nwb"  # read in place
    assert not (tmp_path / "cache" / "session_sub-anm369963_ses-20170228").exists()


def test_derived_tables_are_cached_and_refreshed_when_a_file_changes(fixtures_dir, tmp_path, project_dir):
    root = _dandi_layout(fixtures_dir, tmp_path / "dandiset")
    manifest = tmp_path / "cache" / "m.json"
    first = EcephysProjectCache.from_source(root, manifest=manifest)
    n_units = len(first.get_units(filter_by_validity=False))
    assert first._derived.derived_files == len(list(root.rglob("*.nwb")))
    second = EcephysProjectCache.from_source(root, manifest=manifest)
    assert len(second.get_units(filter_by_validity=False)) == n_units
    assert second._derived.derived_files == 0  # all from the cache
    # a file replaced by another recording: only it is derived again
    target = next(root.glob("sub-anm372793/*.nwb"))
    shutil.copy2(project_dir / "session_101" / "session_101.nwb", target)
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = EcephysProjectCache.from_source(root, manifest=manifest)
    third.get_session_table()
    units = third._derived.tables["units"]  # before any filter: 12 units in the new file
    assert third._derived.derived_files == 1
    tables = third._derived.tables
    sessions_of_units = (
        units["ecephys_channel_id"]
        .map(tables["channels"]["ecephys_probe_id"])
        .map(tables["probes"]["ecephys_session_id"])
    )
    assert (sessions_of_units == target.stem).sum() == 12
    # fixed mode reads the derived tables the cache kept
    fixed = EcephysProjectCache.fixed(manifest=manifest)
    assert len(fixed.get_session_table()) == len(third.get_session_table())


def test_allen_layout_folder_keeps_session_ids(project_dir, tmp_path):
    root = tmp_path / "nwb-only"
    for sid in SESSIONS[:2]:
        shutil.copytree(project_dir / f"session_{sid}", root / f"session_{sid}")
    cache = EcephysProjectCache.from_source(root, manifest=tmp_path / "c" / "m.json")
    assert sorted(cache.get_session_table().index) == list(SESSIONS[:2])
    units = cache.get_units()
    with cache.get_session_data(SESSIONS[0]) as session:
        assert sorted(session.units.index) == sorted(units.index[units["ecephys_session_id"] == SESSIONS[0]])
        assert session.get_lfp(1010).sizes["channel"] == 8  # LFP files next to the session file
    assert sorted(cache.get_probes().index) == [1010, 1011, 1020, 1021]
    with pytest.raises(BrainbridgeError, match="no NWB files"):
        derive_project(tmp_path / "c" / "nothing-here")


def test_dandiset_source(tmp_path, fixtures_dir, monkeypatch):
    from brainbridge.ecephys.dandi import parse_dandi_source

    assert parse_dandi_source("dandi:000021/draft") == ("000021", "draft")
    with pytest.raises(ValidationError, match="6-digit"):
        parse_dandi_source("dandi:21")
    # offline, a dandiset already downloaded into the cache is a project
    manifest = tmp_path / "cache" / "m.json"
    _dandi_layout(fixtures_dir, tmp_path / "cache" / "dandi" / "000021")
    cache = EcephysProjectCache.from_source("dandi:000021", manifest=manifest)
    assert "sub-anm369963_ses-20170228" in cache.get_session_table().index
    with pytest.raises(BrainbridgeError, match="not cached"):
        EcephysProjectCache.from_source("dandi:000022", manifest=manifest, offline=True)


# AllenSDK's quick-start (ecephys_quickstart / ecephys_session notebooks and the seed's API), as
# an AllenSDK user has it; only the import line differs when it runs on brainbridge.
ALLENSDK_IMPORT = "from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache"
BRAINBRIDGE_IMPORT = "from brainbridge.ecephys import EcephysProjectCache"
ALLENSDK_EXAMPLE = f"""
import os
import numpy as np
import pandas as pd
{ALLENSDK_IMPORT}

manifest_path = os.path.join(data_directory, "manifest.json")
cache = EcephysProjectCache.from_warehouse(manifest=manifest_path)
print(cache.get_all_session_types())
sessions = cache.get_session_table()
brain_observatory_type_sessions = sessions[sessions["session_type"] == "brain_observatory_1.1"]
probes = cache.get_probes()
channels = cache.get_channels()
units = cache.get_units()
print(f"Total number of units: {{len(units)}}")
print(cache.get_structure_acronyms())
units_strict = cache.get_units(amplitude_cutoff_maximum=0.05, presence_ratio_minimum=0.98)
all_units = cache.get_units(amplitude_cutoff_maximum=np.inf, presence_ratio_minimum=-np.inf,
                            isi_violations_maximum=np.inf)

session_id = brain_observatory_type_sessions.index.values[0]
session = cache.get_session_data(session_id)
print(session.structurewise_unit_counts)
print(session.num_units, session.session_type, session.structure_acronyms, session.stimulus_names)
stimulus_epochs = session.get_stimulus_epochs()
presentations = session.get_stimulus_table("static_gratings")
params = session.get_stimulus_parameter_values()
intervals = session.get_inter_presentation_intervals_for_stimulus("static_gratings")
visp_units = session.units[session.units["ecephys_structure_acronym"] == "VISp"]

time_step = 0.01
time_bins = np.arange(-0.1, 0.5 + time_step, time_step)
histograms = session.presentationwise_spike_counts(
    stimulus_presentation_ids=presentations.index.values,
    bin_edges=time_bins,
    unit_ids=visp_units.index.values,
)
mean_histograms = histograms.mean(dim="stimulus_presentation_id")
rates = mean_histograms / time_step
spikes = session.presentationwise_spike_times(
    stimulus_presentation_ids=presentations.index.values, unit_ids=visp_units.index.values)
stats = session.conditionwise_spike_statistics(stimulus_presentation_ids=presentations.index.values)
waveforms = session.mean_waveforms
running_speed = session.running_speed
pupil = session.get_pupil_data()
gaze = session.get_screen_gaze_data()
opto = session.optogenetic_stimulation_epochs
probe_id = session.probes.index.values[0]
lfp = session.get_lfp(probe_id)
lfp_slice = lfp.sel(time=slice(1.5, 2.0))
csd = session.get_current_source_density(probe_id)
metrics = cache.get_unit_analysis_metrics_for_session(session_id)
scene = cache.get_natural_scene_template(1)
movie = cache.get_natural_movie_template(1)
"""


def test_allensdk_example_runs_with_only_the_import_changed(s3_allen, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_S3_ENDPOINT_URL", s3_allen.endpoint_url)  # moto plays AWS's S3
    code = ALLENSDK_EXAMPLE.replace(ALLENSDK_IMPORT, BRAINBRIDGE_IMPORT)
    changed = [(a, b) for a, b in zip(ALLENSDK_EXAMPLE.splitlines(), code.splitlines()) if a != b]
    assert changed == [(ALLENSDK_IMPORT, BRAINBRIDGE_IMPORT)]
    namespace = {"data_directory": str(tmp_path / "ecephys_cache")}
    exec(compile(code, "allensdk_example", "exec"), namespace)
    histograms, session = namespace["histograms"], namespace["session"]
    assert histograms.dims == ("stimulus_presentation_id", "time_relative_to_stimulus_onset", "unit_id")
    assert namespace["rates"].dims == ("time_relative_to_stimulus_onset", "unit_id")
    assert namespace["rates"].sizes["time_relative_to_stimulus_onset"] == len(namespace["time_bins"]) - 1
    assert len(namespace["all_units"]) > len(namespace["units"]) >= len(namespace["units_strict"])
    assert namespace["lfp_slice"].sizes["time"] == 251  # 500 Hz, closed slice
    assert namespace["running_speed"] is not None and namespace["pupil"] is not None
    assert len(namespace["metrics"]) > 0 and namespace["scene"].ndim == 2 and namespace["movie"].ndim == 3
    session.close()

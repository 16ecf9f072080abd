"""Issue 10 item 2: session, probe and unit ids from project tables never leave the cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from brainbridge.ecephys.manifest import Manifest
from brainbridge.ecephys.project import EcephysProjectCache, ProjectSource
from brainbridge.errors import UnsafePathError
from brainbridge.fetch import sha1_hash

EVIL = "../../../victim"


def _evil_project(project_dir: Path, tmp_path: Path) -> Path:
    """The synthetic project whose sessions table (and index) call session 101 ``EVIL``."""
    folder = Path(shutil.copytree(project_dir, tmp_path / "project"))
    for name in ("sessions", "probes", "channels", "units"):
        table = pd.read_csv(folder / f"{name}.csv")
        column = "id" if name == "sessions" else "ecephys_session_id"
        if column in table.columns:
            table[column] = table[column].astype(str).replace("101", EVIL)
            table.to_csv(folder / f"{name}.csv", index=False)
    index = json.loads((folder / "project.json").read_text())
    nwb = folder / "session_101" / "session_101.nwb"
    index["sessions"][EVIL] = {
        "path": "session_101/session_101.nwb",
        "sha1": sha1_hash(nwb),
        "size": nwb.stat().st_size,
    }
    for name in ("sessions", "probes", "channels", "units"):
        path = folder / f"{name}.csv"
        index["tables"][name] = {"path": path.name, "sha1": sha1_hash(path), "size": path.stat().st_size}
    (folder / "project.json").write_text(json.dumps(index))
    return folder


def test_a_session_id_cannot_write_outside_the_cache(project_dir, tmp_path):
    source = _evil_project(project_dir, tmp_path)
    manifest = tmp_path / "cache" / "a" / "b" / "manifest.json"
    cache = EcephysProjectCache.from_source(source, manifest=manifest)
    # where the id lands without the check: outside the cache folder
    escaped = Path(os.path.normpath(manifest.parent / f"session_{EVIL}" / f"session_{EVIL}.nwb"))
    assert manifest.parent not in escaped.parents
    escaped.parent.mkdir(parents=True, exist_ok=True)
    escaped.write_text("precious")
    assert EVIL in [str(i) for i in cache.get_session_table().index]
    with pytest.raises(UnsafePathError, match="session id|manifest key"):
        cache.get_session_data(EVIL)
    assert escaped.read_text() == "precious"
    with pytest.raises(UnsafePathError):
        cache.session_nwb_path(EVIL)
    # a plain id still works
    with cache.get_session_data(102) as session:
        assert str(session.session_id) == "102"


@pytest.mark.parametrize(
    ("key", "args"),
    [
        ("session_nwb", ("../x", "../x")),
        ("probe_lfp_nwb", (101, "../../x")),
        ("probe_lfp_nwb", (101, "a/b")),
        ("typewise_analysis_metrics", ("/etc/x",)),
    ],
)
def test_manifest_paths_refuse_unsafe_ids(tmp_path, key, args):
    manifest = Manifest.load_or_create(tmp_path / "m" / "manifest.json")
    with pytest.raises(UnsafePathError):
        manifest.get_path(key, *args)
    assert (
        manifest.get_path("probe_lfp_nwb", 101, 1010) == tmp_path / "m" / "session_101" / "probe_1010_lfp.nwb"
    )


def test_a_manifest_template_cannot_point_outside(tmp_path):
    manifest = Manifest.load_or_create(tmp_path / "m" / "manifest.json")
    manifest.entries.append(
        {"key": "evil", "type": "file", "spec": "../../evil.csv", "parent_key": "BASEDIR"}
    )
    with pytest.raises(UnsafePathError):
        manifest.get_path("evil")


def test_index_paths_stay_inside_the_project(tmp_path):
    source = ProjectSource(tmp_path / "project")
    for bad in ("../secret.csv", "/etc/passwd", "a/../../x"):
        with pytest.raises(UnsafePathError):
            source.url(bad)
    remote = ProjectSource("https://example.org/project")
    with pytest.raises(UnsafePathError):
        remote.url("../other/x.nwb")
    assert remote.url("session_1/session_1.nwb") == "https://example.org/project/session_1/session_1.nwb"
    with pytest.raises(UnsafePathError):
        source.session_file("../../x")


def test_ecephys_package_catalog_name_cannot_escape(session_path):
    from click.testing import CliRunner

    from brainbridge import config
    from brainbridge.cli import main

    folder = config.user_catalog_dirs()[0]
    for name in ("../../x", "a/b", ".."):
        result = CliRunner().invoke(main, ["ecephys", "package", str(session_path), "--catalog", name])
        assert result.exit_code == 1 and "catalog name" in result.output and "Traceback" not in result.output
    assert not folder.exists() or not any(folder.parent.parent.glob("*.csv"))

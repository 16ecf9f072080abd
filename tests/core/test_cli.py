"""The core CLI through click's runner: output on success, one-line reasons and exit codes on error."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.catalogs import Catalog, get_catalog, register
from brainbridge.cli import main
from brainbridge.examples import ASSEMBLY_IDENTIFIER, STIMULUS_IDENTIFIER
from brainbridge.fetch import sha1_hash
from brainbridge.packaging import write_netcdf


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, ok: bool = True):
    result = runner.invoke(main, list(map(str, args)))
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def _assembly(n_stimuli: int = 4, reps: int = 2) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(1)
    ids = [f"{i:03d}" for i in range(n_stimuli)]
    return NeuronRecordingAssembly(
        rng.standard_normal((n_stimuli * reps, 3, 1)).astype(np.float32),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", np.tile(ids, reps)),
            "repetition": ("presentation", np.repeat(np.arange(reps), n_stimuli)),
            "neuroid_id": ("neuroid", ["a", "b", "c"]),
            "region": ("neuroid", ["V4", "IT", "IT"]),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
        attrs={"stimulus_set_identifier": "test.stimuli"},
    )


def _stimulus_folder(tmp_path: Path, n: int = 4) -> tuple[Path, Path]:
    folder = tmp_path / "stimuli"
    folder.mkdir()
    for i in range(n):
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / f"img{i}.png")
    csv = tmp_path / "stimuli.csv"
    pd.DataFrame(
        {
            "stimulus_id": [f"{i:03d}" for i in range(n)],
            "filename": [f"img{i}.png" for i in range(n)],
            "object_name": ["x", "y"] * (n // 2),
        }
    ).to_csv(csv, index=False)
    return csv, folder


# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("catalogs",),
        ("list",),
        ("describe",),
        ("fetch",),
        ("validate",),
        ("package",),
        ("package", "stimulus-set"),
        ("package", "assembly"),
        ("example",),
        ("example", "run"),
        ("example", "build"),
    ],
)
def test_help_everywhere(runner, args):
    result = invoke(runner, *args, "--help")
    assert "Usage:" in result.output


def test_catalogs_and_list(runner, examples):
    out = invoke(runner, "catalogs").output
    assert "brainbridge-examples" in out and str(examples / "lookup.csv") in out
    out = invoke(runner, "list").output
    assert ASSEMBLY_IDENTIFIER in out and STIMULUS_IDENTIFIER in out and "NeuronRecordingAssembly" in out
    out = invoke(runner, "list", "--kind", "assembly").output
    assert ASSEMBLY_IDENTIFIER in out and "stimulus_set  brainbridge-examples" not in out
    assert len(out.strip().splitlines()) == 3  # header, rule, one row
    out = invoke(runner, "list", "--kind", "stimulus_set", "--catalog", "brainbridge-examples").output
    assert STIMULUS_IDENTIFIER in out and ASSEMBLY_IDENTIFIER not in out
    assert invoke(runner, "list", "--kind", "nonsense", ok=False).exit_code == 2


def test_show_identifiers_and_paths(runner, examples):
    out = invoke(runner, "describe", ASSEMBLY_IDENTIFIER).output
    assert "presentation 4000 x neuroid 80 x time_bin 1" in out
    assert "stimulus set: brainbridge.example.stimuli" in out
    lookup = pd.read_csv(examples / "lookup.csv", dtype=str)
    assert lookup.loc[lookup["lookup_type"] == "assembly", "sha1"].item() in out
    assert "neuroid_id" in out and "repetition" in out
    out = invoke(runner, "describe", STIMULUS_IDENTIFIER).output
    assert "400 stimuli" in out and "object_name" in out
    out = invoke(runner, "describe", examples / "assy_brainbridge_example_neural.nc").output
    assert "presentation 4000" in out
    out = invoke(runner, "describe", examples / "lookup.csv").output
    assert "3 rows" in out
    out = invoke(runner, "describe", examples / "stimulus_brainbridge_example_stimuli.csv").output
    assert "400 stimuli" in out


def test_show_unknown_identifier_suggests(runner, examples):
    result = invoke(runner, "describe", "brainbridge.example.nueral", ok=False)
    assert result.exit_code == 1
    assert "did you mean 'brainbridge.example.neural'" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_fetch_assembly_with_its_stimulus_set(runner, examples):
    out = invoke(runner, "fetch", ASSEMBLY_IDENTIFIER).output
    assert out.count(STIMULUS_IDENTIFIER) == 2 and "assy_brainbridge_example_neural.nc" in out
    assert "cache" in out
    out = invoke(runner, "fetch", ASSEMBLY_IDENTIFIER, "--no-stimuli", "--offline").output
    assert STIMULUS_IDENTIFIER not in out
    result = invoke(runner, "fetch", "nope.nothing", ok=False)
    assert result.exit_code == 1 and "nope.nothing" in result.output


def test_fetch_detects_a_corrupted_source(runner, tmp_path):
    write_netcdf(_assembly(), tmp_path / "rec.nc")
    csv = tmp_path / "corrupt.csv"
    pd.DataFrame(
        [
            {
                "identifier": "test.corrupt",
                "lookup_type": "assembly",
                "class": "NeuronRecordingAssembly",
                "location_type": "local",
                "location": "rec.nc",
                "sha1": "0" * 40,
                "stimulus_set_identifier": "",
            }
        ]
    ).to_csv(csv, index=False)
    register(Catalog.from_files("corrupt", csv))
    result = invoke(runner, "fetch", "test.corrupt", ok=False)
    assert result.exit_code == 1 and "checksum mismatch" in result.output


def test_corrupted_example_file_is_rebuilt_before_fetch(runner, examples):
    victim = examples / "assy_brainbridge_example_neural.nc"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    victim.write_bytes(bytes(data))
    invoke(runner, "fetch", ASSEMBLY_IDENTIFIER, "--no-stimuli")
    lookup = pd.read_csv(examples / "lookup.csv", dtype=str)
    assert sha1_hash(victim) == lookup.loc[lookup["lookup_type"] == "assembly", "sha1"].item()


def test_validate_good_files(runner, examples, tmp_path):
    out = invoke(runner, "validate", examples / "assy_brainbridge_example_neural.nc").output
    assert out.startswith("OK") and "presentation 4000" in out
    out = invoke(runner, "validate", examples / "stimulus_brainbridge_example_stimuli.csv").output
    assert "all 400 files present" in out
    out = invoke(runner, "validate", examples / "lookup.csv", "--verify").output
    assert "verified" in out
    out = invoke(runner, "validate", examples / "stimulus_brainbridge_example_stimuli.zip").output
    assert "400 entries" in out
    write_netcdf(_assembly(), tmp_path / "small.nc")
    assert invoke(runner, "validate", tmp_path / "small.nc").output.startswith("OK")


def test_validate_truncated_netcdf_fails(runner, tmp_path):
    write_netcdf(_assembly(200, 5), tmp_path / "a.nc")
    data = (tmp_path / "a.nc").read_bytes()
    (tmp_path / "cut.nc").write_bytes(data[: len(data) // 2])
    result = invoke(runner, "validate", tmp_path / "cut.nc", ok=False)
    assert result.exit_code == 1 and "Error:" in result.output


def test_validate_assembly_with_duplicate_neuroids_fails(runner, tmp_path):
    bad = _assembly().copy()
    import xarray as xr

    plain = xr.DataArray(
        bad.values,
        dims=bad.dims,
        coords={
            "stimulus_id": ("presentation", bad["stimulus_id"].values),
            "repetition": ("presentation", bad["repetition"].values),
            "neuroid_id": ("neuroid", ["a", "a", "b"]),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
    )
    write_netcdf(plain, tmp_path / "dup.nc")
    result = invoke(runner, "validate", tmp_path / "dup.nc", ok=False)
    assert result.exit_code == 1 and "neuroid_id values are not unique" in result.output


def test_validate_bad_stimulus_set_and_catalog(runner, tmp_path):
    csv, folder = _stimulus_folder(tmp_path)
    assert "all 4 files present" in invoke(runner, "validate", csv, "--stimuli", folder).output
    frame = pd.read_csv(csv, dtype=str)
    frame.loc[1, "stimulus_id"] = frame.loc[0, "stimulus_id"]
    frame.to_csv(tmp_path / "dups.csv", index=False)
    result = invoke(runner, "validate", tmp_path / "dups.csv", ok=False)
    assert result.exit_code == 1 and "duplicate" in result.output
    (folder / "img3.png").unlink()
    result = invoke(runner, "validate", csv, "--stimuli", folder, ok=False)
    assert result.exit_code == 1 and "img3.png" in result.output
    catalog = tmp_path / "cat.csv"
    pd.DataFrame(
        [
            {
                "identifier": "x.y",
                "lookup_type": "assembly",
                "class": "NeuronRecordingAssembly",
                "location_type": "local",
                "location": "assy.nc",
                "sha1": "xyz",
                "stimulus_set_identifier": "",
            }
        ]
    ).to_csv(catalog, index=False)
    result = invoke(runner, "validate", catalog, ok=False)
    assert result.exit_code == 1 and "40 hexadecimal" in result.output


def test_validate_rejects_zip_slip(runner, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../escape.png", b"x")
    result = invoke(runner, "validate", archive, ok=False)
    assert result.exit_code == 1 and "escapes" in result.output
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello")
    assert invoke(runner, "validate", unknown, ok=False).exit_code == 1


def test_package_stimulus_set_and_assembly_into_a_new_catalog(runner, tmp_path):
    csv, folder = _stimulus_folder(tmp_path)
    out = invoke(
        runner,
        "package",
        "stimulus-set",
        "--catalog",
        "mylab",
        "--create",
        "--identifier",
        "test.stimuli",
        "--csv",
        csv,
        "--dir",
        folder,
    ).output
    assert "created catalog mylab" in out and "packaged stimulus set test.stimuli (4 stimuli)" in out
    write_netcdf(_assembly(), tmp_path / "rec.nc")
    out = invoke(
        runner,
        "package",
        "assembly",
        "--catalog",
        "mylab",
        "--identifier",
        "test.recording",
        "--file",
        tmp_path / "rec.nc",
        "--stimulus-set",
        "test.stimuli",
    ).output
    assert "packaged NeuronRecordingAssembly test.recording" in out
    catalog = get_catalog("mylab")
    assert set(catalog["identifier"]) == {"test.stimuli", "test.recording"}
    # the files live in a subfolder, so the user catalog folder holds catalogs only
    assert sorted(p.name for p in catalog.source_path.parent.glob("*.csv")) == ["mylab.csv"]
    assert (catalog.source_path.parent / "mylab" / "assy_test_recording.nc").is_file()
    listed = invoke(runner, "list", "--catalog", "mylab").output
    assert "test.recording" in listed and "test.stimuli" in listed
    out = invoke(runner, "describe", "test.recording").output
    assert "presentation 8 x neuroid 3 x time_bin 1" in out and "test.stimuli" in out
    # same identifier, other content: refused, one line
    write_netcdf(_assembly(4, 3), tmp_path / "rec2.nc")
    result = invoke(
        runner,
        "package",
        "assembly",
        "--catalog",
        "mylab",
        "--identifier",
        "test.recording",
        "--file",
        tmp_path / "rec2.nc",
        "--stimulus-set",
        "test.stimuli",
        ok=False,
    )
    assert result.exit_code == 1 and "already" in result.output
    # stimulus ids the stimulus set lacks: refused
    bad = _assembly(6, 1)
    write_netcdf(bad, tmp_path / "rec3.nc")
    result = invoke(
        runner,
        "package",
        "assembly",
        "--catalog",
        "mylab",
        "--identifier",
        "test.other",
        "--file",
        tmp_path / "rec3.nc",
        "--stimulus-set",
        "test.stimuli",
        ok=False,
    )
    assert result.exit_code == 1 and "not in stimulus set" in result.output


def test_package_into_unknown_catalog_fails(runner, tmp_path):
    csv, folder = _stimulus_folder(tmp_path)
    result = invoke(
        runner,
        "package",
        "stimulus-set",
        "--catalog",
        "nosuch",
        "--identifier",
        "a.b",
        "--csv",
        csv,
        "--dir",
        folder,
        ok=False,
    )
    assert result.exit_code == 1 and "nosuch" in result.output


@pytest.mark.slow
def test_example_run_writes_the_plot(runner, examples, tmp_path):
    # --families: only the encoding steps' cheapest family
    out = invoke(runner, "example", "run", "--out", tmp_path / "job", "--families", "gabor_v1").output
    assert (tmp_path / "job" / "responses.png").stat().st_size > 10_000
    assert (tmp_path / "job" / "summary.csv").exists()
    assert "split_half_reliability" in out and "V1" in out and "IT" in out
    scores = pd.read_csv(tmp_path / "job" / "encoding_scores.csv")
    assert set(scores["family"]) == {"gabor_v1"}


def test_example_run_rejects_unknown_families(runner, examples, tmp_path):
    result = runner.invoke(main, ["example", "run", "--out", str(tmp_path / "job"), "--families", "alexnet"])
    assert result.exit_code != 0
    assert "alexnet" in result.output and "gabor_v1" in result.output
    assert "Traceback" not in result.output


def test_example_build_prints_the_folder(runner, examples):
    out = invoke(runner, "example", "build").output
    assert out.strip() == str(examples)
    assert "brainbridge.example.fmri" not in invoke(runner, "list", "--kind", "assembly").output
    # --modalities: the fMRI and EEG sets too, inside the example's folder; the catalog lists them
    out = invoke(runner, "example", "build", "--modalities").output
    assert out.split() == [str(examples), str(examples / "modalities")]
    listed = invoke(runner, "list", "--kind", "assembly").output
    assert "brainbridge.example.fmri" in listed and "brainbridge.example.eeg" in listed


def test_show_and_validate_a_zarr_store(runner, tmp_path):
    pytest.importorskip("zarr")
    from brainbridge.packaging import write_zarr

    store = write_zarr(_assembly(), tmp_path / "rec.zarr")
    out = invoke(runner, "describe", store).output
    assert "presentation 8 x neuroid 3 x time_bin 1" in out and "test.stimuli" in out
    out = invoke(runner, "validate", store).output
    assert out.startswith("OK") and "3 coordinates" not in out

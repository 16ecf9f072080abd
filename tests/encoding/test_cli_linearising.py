"""``brainbridge encoding train --mapping linearising``, ``encode`` and ``export-ned`` on small fMRI/EEG."""

from __future__ import annotations

import h5py
import numpy as np
from click.testing import CliRunner
from PIL import Image

from brainbridge.cli import main
from brainbridge.formats.netcdf import open_netcdf_array
from brainbridge.ned import NED

FMRI_ID = "fmri-test.lin.fmri-gabor_lin"
EEG_ID = "eeg-test.lin.eeg-gabor_lin"
TRAIN = ["encoding", "train", "--extractor", "gabor_v1", "--layer", "energy", "--mapping", "linearising"]


def run(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    assert result.exit_code == 0, result.output
    return result.output


def test_fmri_train_encode_and_export_to_ned(fmri_catalog, tmp_path):
    from brainbridge.encoding import get_encoding_model

    _, folder, _ = fmri_catalog
    out = run(*TRAIN, "--assembly", "test.lin.fmri", "--n-components", 6, "--model", "gabor_lin")
    assert FMRI_ID in out and "components" in out and "FFA" in out
    # encode: NED's presentation x voxel, labelled, for one subject's selected ROI
    nc = tmp_path / "fmri.nc"
    out = run("encoding", "encode", FMRI_ID, folder, "--out", nc, "--region", "V1", "--subject", "a")
    assert "presentation 24 x voxel 2" in out
    written = open_netcdf_array(nc).load()
    model = get_encoding_model(FMRI_ID, selection={"roi": "V1"}, subject="a", device="cpu")
    np.testing.assert_array_equal(written.values, model.encode(folder))
    assert written["voxel_id"].values.tolist() == ["a_v0", "a_v1"]
    result = CliRunner().invoke(main, ["encoding", "encode", FMRI_ID, str(folder), "--out", str(nc)])
    assert result.exit_code != 0 and "--overwrite" in result.output
    # export in NED's layout with pre-generated responses; NED reads both back
    ned_dir = tmp_path / "ned"
    out = run(
        "encoding",
        "export-ned",
        FMRI_ID,
        "--ned-dir",
        ned_dir,
        "--subject",
        "a",
        "--ned-subject",
        1,
        "--region",
        "V1",
        "--images",
        folder,
        "--imageset",
        "mine",
    )
    assert "pre-generated" in out and "synthetic_neural_responses_sub-01_roi-V1.h5" in out
    ned = NED(ned_dir)
    loaded = ned.get_encoding_model("fmri", "test.lin.fmri", "gabor_lin", 1, roi="V1", device="cpu")
    images = np.stack([np.asarray(Image.open(p)) for p in sorted(folder.iterdir())])
    encoded = ned.encode(loaded, images.transpose(0, 3, 1, 2), return_metadata=False)
    np.testing.assert_allclose(encoded, model.encode(folder), rtol=1e-4, atol=1e-5)
    responses = ned.load_insilico_neural_responses(
        "fmri", "test.lin.fmri", "gabor_lin", "mine", 1, "V1", False
    )
    assert isinstance(responses, h5py.Dataset) and responses.shape == (24, 2)
    np.testing.assert_allclose(responses[:], model.encode(folder), rtol=1e-5, atol=1e-6)
    responses.file.close()


def test_eeg_train_and_encode_channels(eeg_catalog, tmp_path):
    run(*TRAIN, "--assembly", "test.lin.eeg", "--n-components", 5, "--model", "gabor_lin")
    nc = tmp_path / "eeg.nc"
    out = run("encoding", "encode", EEG_ID, eeg_catalog, "--out", nc, "--channel", "Oz", "--channel", "O1")
    assert "presentation 20 x repetition 2 x channel 2 x time_bin 5" in out
    assert open_netcdf_array(nc).load()["channel_name"].values.tolist() == ["Oz", "O1"]
    # export-ned without --images: parameters and metadata only, NED's sub-01 for a one-subject model
    out = run("encoding", "export-ned", EEG_ID, "--ned-dir", tmp_path / "ned")
    assert "LinearRegression_param_sub-01.npy" in out
    assert NED(tmp_path / "ned").which_subjects("eeg", "test.lin.eeg") == [1]


def test_cli_errors_are_one_line(fmri_catalog, tmp_path):
    runner = CliRunner()
    wrong = runner.invoke(
        main, ["encoding", "export-ned", "ephys-brainbridge_example-gabor_v1", "--ned-dir", "x"]
    )
    assert wrong.exit_code != 0 and "not a linearising model" in wrong.output
    run(*TRAIN, "--assembly", "test.lin.fmri", "--n-components", 6, "--model", "gabor_lin")
    two = runner.invoke(main, ["encoding", "export-ned", FMRI_ID, "--ned-dir", str(tmp_path / "ned")])
    assert two.exit_code != 0 and "pass --subject (one of ['a', 'b'])" in two.output

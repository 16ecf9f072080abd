"""A site for the web app's tests: the example catalog, a hostile user catalog, a scores store
and the NWB fixtures as an ecephys project, built once per module in one home."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainbridge.catalogs import reload_catalogs
from brainbridge.hashing import sha1_hash

HOSTILE = '<script>alert("pwned")</script>'
EXAMPLE_MODELS = ["ephys-brainbridge_example-gabor_v1", "ephys-brainbridge_example-random_cnn"]
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def _store_rows() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for model, level in zip(EXAMPLE_MODELS, (0.9, 0.4)):
        for region in ("V1", "IT"):
            ceiling = 0.85
            r = np.clip(rng.normal(level if region == "V1" else level / 2, 0.05, 40), -1, 1)
            raw = float(np.median(r))
            rows.append(
                {
                    "model": model,
                    "layer": "energy" if "gabor" in model else "relu2",
                    "assembly": "brainbridge.example.neural",
                    "assembly_checksum": "sha1:" + "ab" * 20,
                    "metric": "ridge_per_neuroid",
                    "region": region,
                    "raw": raw,
                    "raw_error": 0.01,
                    "ceiling": ceiling,
                    "ceiled": raw**2 / ceiling,
                    "ceiled_error": 0.02,
                    "n_splits": 10,
                    "source": "test",
                    "neuroids": {
                        "neuroid_id": [f"{region}_{i:02d}" for i in range(40)],
                        "r": r.tolist(),
                        "ceiling": np.full(40, ceiling).tolist(),
                    },
                }
            )
    rows.append(
        {
            "model": HOSTILE,
            "assembly": "brainbridge.example.neural",
            "metric": "pls",
            "region": "IT",
            "raw": 0.1,
            "source": "test",
        }
    )
    return rows


FMRI = "test.fmri"
EEG = "test.eeg"
EEG_CHANNELS = ["Oz", "O1", "PO8", "Pz", "CP1", "Cz", "FC2", "Fz", "AF3"]


def _modality_catalog(folder: Path) -> None:
    """A user catalog with a small fMRI and a small EEG assembly (real netCDF files)."""
    from brainbridge.assemblies import EEGAssembly, VoxelAssembly
    from brainbridge.packaging import write_netcdf

    rng = np.random.default_rng(5)
    stim = np.tile(np.arange(20), 3)
    drive = rng.normal(size=(20, 12))
    fmri = VoxelAssembly.from_arrays(
        drive[stim] + rng.normal(size=(len(stim), 12)),
        stimulus_id=[f"im{i:02d}" for i in stim],
        subject=["subj01"] * 6 + ["subj02"] * 6,
        rois={"V1": np.arange(12) % 3 == 0, "V4": np.arange(12) % 3 == 1, "early": np.arange(12) % 3 < 2},
        ncsnr=rng.uniform(0.2, 1.2, 12),
    )
    # 10 stimuli x 4 repetitions and 5 x 8: unbalanced, as THINGS-EEG2's training and test sets
    stim = np.concatenate([np.tile(np.arange(10), 4), np.tile(np.arange(10, 15), 8)])
    times = np.round(np.arange(-5, 25) * 0.01, 3)
    bump = np.exp(-0.5 * ((times - 0.1) / 0.03) ** 2)
    # a stimulus-independent ERP, largest at the back, plus a per-stimulus part (what is reliable)
    erp = np.linspace(2.0, 0.5, len(EEG_CHANNELS))[None, :, None]
    signal = (erp + 0.8 * rng.normal(size=(15, len(EEG_CHANNELS), 1))) * bump
    eeg = EEGAssembly.from_arrays(
        signal[stim] + 0.5 * rng.normal(size=(len(stim), len(EEG_CHANNELS), len(times))),
        stimulus_id=[f"im{i:02d}" for i in stim],
        channel_name=EEG_CHANNELS,
        time=times,
    )
    rows = []
    for identifier, cls, assembly in ((FMRI, "VoxelAssembly", fmri), (EEG, "EEGAssembly", eeg)):
        name = f"{identifier}.nc"
        rows.append(
            {
                "identifier": identifier,
                "lookup_type": "assembly",
                "class": cls,
                "location_type": "local",
                "location": name,
                "sha1": write_netcdf(assembly, folder / name),
                "stimulus_set_identifier": "",
            }
        )
    pd.DataFrame(rows).to_csv(folder / "modalities.csv", index=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``{home, catalogs, store, ecephys}``: the files every web test reads."""
    from brainbridge.encoding.scores_store import ScoresStore
    from brainbridge.examples import ensure_examples

    home = tmp_path_factory.mktemp("web-home")
    catalogs = home / "user-catalogs"
    catalogs.mkdir()
    # a user catalog with a hostile identifier (a real, small assembly) and a row whose file lies
    # outside the catalog's folder
    source = FIXTURES / "brainio" / "assy_test_TestMe.nc"
    if not source.is_file():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    shutil.copy(source, catalogs / "hostile.nc")
    outside = home / "outside"
    outside.mkdir()
    shutil.copy(source, outside / "secret.nc")
    lookup = pd.DataFrame(
        [
            {
                "identifier": HOSTILE,
                "lookup_type": "assembly",
                "class": "NeuronRecordingAssembly",
                "location_type": "local",
                "location": "hostile.nc",
                "sha1": sha1_hash(catalogs / "hostile.nc"),
                "stimulus_set_identifier": "",
            },
            {
                "identifier": "outside.assembly",
                "lookup_type": "assembly",
                "class": "NeuronRecordingAssembly",
                "location_type": "local",
                "location": "../outside/secret.nc",
                "sha1": sha1_hash(outside / "secret.nc"),
                "stimulus_set_identifier": "",
            },
        ]
    )
    lookup.to_csv(catalogs / "hostile.csv", index=False)
    _modality_catalog(catalogs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINBRIDGE_HOME", str(home))
        patch.setenv("BRAINBRIDGE_CATALOGS", str(catalogs))
        ensure_examples()
        store = ScoresStore()
        store.record(_store_rows())
    return {"home": home, "catalogs": catalogs, "store": store.path, "ecephys": FIXTURES / "nwb"}


@pytest.fixture
def home(site, _isolated_home, monkeypatch):
    """This test reads the module's site (after conftest's per-test home)."""
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(site["home"]))
    monkeypatch.setenv("BRAINBRIDGE_CATALOGS", str(site["catalogs"]))
    reload_catalogs()
    yield site["home"]
    reload_catalogs()


@pytest.fixture(scope="module")
def app(site):
    pytest.importorskip("starlette")
    from brainbridge.web import create_app

    return create_app(ecephys={"nwb": str(site["ecephys"])})


@pytest.fixture
def client(app, home):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client

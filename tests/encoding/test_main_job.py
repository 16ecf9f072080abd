"""The encoding steps of the main job on the bundled example (cheap families: Gabor V1, random CNN)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.cli import main
from brainbridge.encoding.errors import InvalidParameterError
from brainbridge.errors import AssemblyError
from brainbridge.examples import encoding_job, ground_truth, modalities_job
from brainbridge.examples.main_job import CORE_STEPS, default_steps, run_main_job

CHEAP = ["gabor_v1", "random_cnn"]
ENCODING_STEPS = [
    ("score", encoding_job.step_score_families),
    ("encode", encoding_job.step_encode_new_images),
    ("plots", encoding_job.step_encoding_plots),
    *modalities_job.MODALITY_STEPS,
]


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One home for the module: the example is built and each fit trained once."""
    return tmp_path_factory.mktemp("main-job-home")


@pytest.fixture(scope="module")
def _runs() -> dict:
    return {}


@pytest.fixture
def home(shared_home, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_HOME", str(shared_home))
    monkeypatch.delenv(encoding_job.FAMILIES_ENV, raising=False)
    return shared_home


def _options(**options):
    def step(context, echo):
        context.update(options)

    return ("options", step)


@pytest.fixture
def job(home, tmp_path_factory, _runs):
    """The whole main job (core steps + encoding steps on the cheap families), run once."""
    if "job" not in _runs:
        out = tmp_path_factory.mktemp("main-job-out")
        lines: list[str] = []
        steps = [*CORE_STEPS, _options(encoding_families=CHEAP, encoding_progress=False), *ENCODING_STEPS]
        context = run_main_job(out, echo=lines.append, steps=steps)
        _runs["job"] = (context, lines)
    return _runs["job"]


def test_the_main_job_runs_the_encoding_steps_after_the_core_steps():
    steps = default_steps()
    names = [name for name, _ in steps]
    assert [step for _name, step in steps[len(CORE_STEPS) :]] == [step for _name, step in ENCODING_STEPS]
    assert names.index("score_families") > names.index("load")


def test_score_table_has_a_row_per_family_and_region(job):
    context, lines = job
    table = context["encoding_scores"]
    assert list(zip(table["family"], table["region"])) == [
        ("gabor_v1", "V1"),
        ("gabor_v1", "IT"),
        ("random_cnn", "V1"),
        ("random_cnn", "IT"),
    ]
    # each family reads its model card's layer for the region
    assert list(table["layer"]) == ["energy", "energy", "relu2", "relu4"]
    assert set(table["model_id"]) == {encoding_job.MODEL_PREFIX + f for f in CHEAP}
    assert (
        (table["fit"] == "trained").all()
        and (table["time_s"] > 0).all()
        and (table["train_time_s"] > 0).all()
    )
    assert table["fit_key"].str.fullmatch("[0-9a-f]{64}").all() and table["fit_key"].is_unique
    assert np.allclose(table["ceiled_score"], table["raw_r"] ** 2 / table["ceiling"])
    saved = pd.read_csv(context["encoding_scores_csv"])
    np.testing.assert_allclose(saved["ceiled_score"], table["ceiled_score"])
    # the printed table
    printed = "\n".join(lines).splitlines()
    header = next(line for line in printed if line.startswith("family"))
    for column in ("region", "layer", "raw r", "ceiling", "ceiled score", "time (s)"):
        assert column in header
    assert sum(line.startswith(("Gabor V1 ", "random CNN ")) for line in printed) == 4
    assert "best for V1: Gabor V1 (energy)" in "\n".join(lines)


def test_the_job_records_its_scores_in_the_scores_store(job):
    from brainbridge.catalogs import lookup_assembly
    from brainbridge.encoding.scores_store import ScoresStore

    context, _lines = job
    table = context["encoding_scores"]
    stored = ScoresStore().table(latest=False)
    mine = stored[stored["id"].isin(context["encoding_scores_recorded"])].set_index(["model", "region"])
    assert len(mine) == len(table) == 4
    sha1 = str(lookup_assembly("brainbridge.example.neural")["sha1"]).lower()
    assert set(mine["assembly"]) == {"brainbridge.example.neural"} and set(mine["assembly_checksum"]) == {
        f"sha1:{sha1}"
    }
    assert set(mine["source"]) == {"example job"} and set(mine["metric"]) == {"ridge_per_neuroid"}
    for row in table.itertuples():
        recorded = mine.loc[(row.model_id, row.region)]
        assert recorded["ceiled"] == pytest.approx(row.ceiled_score) and recorded["layer"] == row.layer
        assert recorded["ceiling"] == pytest.approx(row.ceiling) and recorded["n_splits"] == 10
        neuroids = ScoresStore().get(int(recorded["id"]))["neuroids"]
        assert len(neuroids) == 40 and neuroids["neuroid_id"].str.startswith(row.region).all()
        fit = context["encoding_fits"][(row.family, row.region)]
        np.testing.assert_allclose(neuroids["r"], fit.accuracy["r"])


def test_gabor_wins_v1_near_ceiling_and_scores_far_lower_in_it(job):
    context, _ = job
    table = context["encoding_scores"].set_index(["family", "region"])
    v1, it = table.loc[("gabor_v1", "V1")], table.loc[("gabor_v1", "IT")]
    assert context["encoding_best"]["V1"] == "gabor_v1"
    assert v1["ceiled_score"] > 0.9  # V1 was generated from exactly these Gabor energies
    assert it["ceiled_score"] < 0.3 and it["ceiled_score"] < v1["ceiled_score"] / 3
    assert table.loc[("random_cnn", "V1"), "ceiled_score"] < v1["ceiled_score"]
    assert 0.75 < v1["ceiling"] < 0.95 and 0.75 < it["ceiling"] < 0.95  # reliability ~0.85 by design
    assert 0 < v1["raw_r_sem"] < 0.05


def test_in_silico_file_has_the_new_images_and_every_neuroid(job):
    context, _ = job
    path = context["insilico_path"]
    assert path.name == "insilico_new_images.nc" and path.parent == context["out_dir"]
    loaded = NeuronRecordingAssembly.from_files(path)
    assert isinstance(loaded, NeuronRecordingAssembly)
    assert list(loaded["stimulus_id"].values) == [f"new_{i:02d}" for i in range(1, 25)]
    assert loaded.sizes["neuroid"] == 80
    assert list(pd.unique(loaded["region"].values)) == ["V1", "IT"]
    assert set(loaded.sel(region="V1")["model_id"].values) == {"ephys-brainbridge_example-gabor_v1"}
    np.testing.assert_allclose(
        np.asarray(loaded.transpose("presentation", "neuroid").values), context["insilico"].values, rtol=1e-6
    )
    assert json.loads(loaded.attrs["models"])["V1"] == "ephys-brainbridge_example-gabor_v1"
    assert json.loads(loaded.attrs["layers"])["V1"] == "energy"
    assert json.loads(loaded.attrs["accuracy"])["V1"]["ceiled_score"] > 0.9


def test_in_silico_responses_follow_the_ground_truth(job):
    context, lines = job
    per_region = context["insilico_vs_truth"].set_index("region")
    assert per_region.loc["V1", "median_r"] > 0.95
    assert per_region.loc["V1", "images"] == 24 and per_region.loc["V1", "neuroids"] == 40
    assert per_region.loc["IT", "median_r"] < per_region.loc["V1", "median_r"]
    per_neuroid = context["insilico_r"]
    assert len(per_neuroid) == 80 and per_neuroid["r"].notna().all()
    assert "in silico vs noiseless ground truth" in "\n".join(lines)


def test_plots_are_saved(job):
    context, _ = job
    plots = context["encoding_plots"]
    assert set(plots) == {"family_scores", "neuroid_r_vs_ceiling", "insilico_vs_truth"}
    for path in plots.values():
        assert path.parent == context["out_dir"] and path.suffix == ".png"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 400 and image.height > 300
            assert len(np.unique(np.asarray(image.convert("L")))) > 10  # something was drawn


def test_a_second_run_reads_every_fit_from_the_cache(job):
    context, _ = job
    again = {k: context[k] for k in ("out_dir", "assembly_identifier", "assembly")}
    again.update(encoding_families=CHEAP, encoding_progress=False)
    lines: list[str] = []
    encoding_job.step_score_families(again, lines.append)
    table = again["encoding_scores"]
    assert (table["fit"] == "cached").all()
    # the same fits get_encoding_model uses: one cache, one key per (model, region)
    from brainbridge.encoding.models import get_encoding_model

    model = get_encoding_model(
        "ephys-brainbridge_example-random_cnn", selection={"region": "IT"}, progress=False
    )
    assert model.fits["IT"].key == table.set_index(["family", "region"]).loc[("random_cnn", "IT"), "fit_key"]
    pd.testing.assert_frame_equal(
        table.drop(columns=["time_s", "fit"]), context["encoding_scores"].drop(columns=["time_s", "fit"])
    )
    assert not any("extracting" in line for line in lines)


def test_families_come_from_the_environment(job, monkeypatch):
    context, _ = job
    monkeypatch.setenv(encoding_job.FAMILIES_ENV, "ephys-brainbridge_example-gabor_v1")
    again = {k: context[k] for k in ("out_dir", "assembly_identifier", "assembly")}
    encoding_job.step_score_families(again, lambda line: None)
    assert again["encoding_families"] == ["gabor_v1"]
    assert set(again["encoding_scores"]["family"]) == {"gabor_v1"}


def test_cli_example_run_prints_the_encoding_story(job, tmp_path, monkeypatch):
    monkeypatch.setenv(encoding_job.FAMILIES_ENV, "gabor_v1")
    result = CliRunner().invoke(main, ["example", "run", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "best for V1: Gabor V1 (energy)" in result.output
    assert "in silico vs noiseless ground truth" in result.output
    for name in (
        "encoding_scores.csv",
        "insilico_new_images.nc",
        "insilico_vs_truth.csv",
        "family_scores.png",
        "neuroid_r_vs_ceiling.png",
        "insilico_vs_truth.png",
    ):
        assert (tmp_path / "out" / name).is_file(), name


def test_steps_skip_other_assemblies():
    lines: list[str] = []
    context = {"out_dir": ".", "assembly_identifier": "someone.else", "assembly": object()}
    encoding_job.step_score_families(context, lines.append)
    encoding_job.step_encode_new_images(context, lines.append)
    encoding_job.step_encoding_plots(context, lines.append)
    assert "encoding_scores" not in context and "insilico" not in context
    assert "bundled example" in lines[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, list(encoding_job.FAMILIES)),
        ("all", list(encoding_job.FAMILIES)),
        ("random_cnn, gabor_v1", ["random_cnn", "gabor_v1"]),
        (["ephys-brainbridge_example-efficientnet_lite0", "efficientnet_lite0"], ["efficientnet_lite0"]),
    ],
)
def test_resolve_families(value, expected):
    assert encoding_job.resolve_families(value) == expected


@pytest.mark.parametrize("value", ["alexnet", ",", ["gabor_v1", "vgg"]])
def test_resolve_families_rejects_unknown_names_listing_the_valid_ones(value):
    with pytest.raises(InvalidParameterError, match="gabor_v1.*random_cnn.*efficientnet_lite0"):
        encoding_job.resolve_families(value)


def test_batch_size_option_is_validated(monkeypatch):
    assert encoding_job._batch_size({}) == encoding_job.DEFAULT_BATCH_SIZE
    monkeypatch.setenv(encoding_job.BATCH_SIZE_ENV, "4")
    assert encoding_job._batch_size({}) == 4
    assert encoding_job._batch_size({"encoding_batch_size": 8}) == 8
    with pytest.raises(InvalidParameterError, match="positive integer"):
        encoding_job._batch_size({"encoding_batch_size": "zero"})


def test_best_per_region_uses_ceiled_score_then_raw_r():
    table = pd.DataFrame(
        {
            "family": ["a", "b", "a", "b", "a", "b"],
            "region": ["V1", "V1", "IT", "IT", "MT", "MT"],
            "raw_r": [0.9, 0.5, 0.3, 0.6, 0.2, 0.4],
            "ceiled_score": [0.9, 0.3, 0.1, 0.4, np.nan, np.nan],
        }
    )
    assert encoding_job.best_per_region(table) == {"V1": "a", "IT": "b", "MT": "b"}


def test_compare_with_truth_matches_on_ids_and_checks_coverage():
    truth = ground_truth("new_images").responses
    order = np.arange(truth.sizes["neuroid"])[::-1]  # reversed neuroids, shuffled images
    shuffled = truth.isel(neuroid=order, presentation=np.random.default_rng(0).permutation(24))

    def predicted(neuroid_ids):
        return NeuronRecordingAssembly(
            np.asarray(shuffled.values) * 2 + 1,
            dims=["presentation", "neuroid"],
            coords={
                "stimulus_id": ("presentation", shuffled["stimulus_id"].values),
                "neuroid_id": ("neuroid", neuroid_ids),
                "region": ("neuroid", shuffled["region"].values),
            },
        )

    per_neuroid, per_region = encoding_job.compare_with_truth(predicted(shuffled["neuroid_id"].values), truth)
    np.testing.assert_allclose(per_neuroid["r"], 1.0)
    assert list(per_region["region"]) == ["IT", "V1"] and list(per_region["neuroids"]) == [40, 40]
    missing = predicted(np.asarray([f"X{i}" for i in range(80)], dtype=object))
    with pytest.raises(AssemblyError, match="lacks 0 stimuli and 80 neuroids"):
        encoding_job.compare_with_truth(missing, truth)


def test_summary_and_scores_report_the_same_reliability(job):
    """Issue 11 item 3: summary.csv, encoding_scores.csv and score() give one number per region."""
    from brainbridge.encoding.scoring import ceiling

    context, _ = job
    summary = pd.read_csv(context["summary_csv"]).set_index("region")["split_half_reliability"]
    scores = pd.read_csv(context["encoding_scores_csv"])
    for region in ("V1", "IT"):
        from_scores = scores.loc[scores["region"] == region, "ceiling"].to_numpy()
        assert np.all(from_scores == from_scores[0])  # every family of a region: the same ceiling
        direct = float(ceiling(context["assembly"], "ridge_per_neuroid", region=region).values)
        assert summary[region] == pytest.approx(direct, abs=1e-12)
        assert from_scores[0] == pytest.approx(direct, abs=1e-12)

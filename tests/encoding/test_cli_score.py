"""`brainbridge score` / `brainbridge encoding`: files in, a table (or JSON) and plots out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from brainbridge.assemblies import ModelFeaturesAssembly, NeuronRecordingAssembly
from brainbridge.cli import main
from brainbridge.packaging import write_netcdf


def _files(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    n_stimuli, n_features, n_reps = 160, 20, 4
    features = rng.normal(size=(n_stimuli, n_features))
    signal = features @ rng.normal(size=(n_features, 8)) / np.sqrt(n_features)
    ids = np.array([f"s{i:03d}" for i in range(n_stimuli)])
    stim = np.tile(np.arange(n_stimuli), n_reps)
    target = NeuronRecordingAssembly(
        signal[stim] + 0.7 * rng.normal(size=(len(stim), 8)),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids[stim]),
            "object_name": ("presentation", np.array([f"o{i % 4}" for i in range(n_stimuli)])[stim]),
            "repetition": ("presentation", np.repeat(np.arange(n_reps), n_stimuli)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(8)]),
            "region": ("neuroid", ["V1"] * 4 + ["IT"] * 4),
        },
    )
    model = ModelFeaturesAssembly(
        features.astype(np.float32),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids),
            "neuroid_id": ("neuroid", [f"f{i}" for i in range(n_features)]),
            "layer": ("neuroid", ["conv1"] * 10 + ["conv2"] * 10),
        },
    )
    write_netcdf(target, tmp_path / "neural.nc")
    write_netcdf(model, tmp_path / "features.nc")
    return tmp_path / "features.nc", tmp_path / "neural.nc"


def test_score_table_per_region_with_plots(tmp_path):
    features, neural = _files(tmp_path)
    plot = tmp_path / "plots" / "score.png"
    with pytest.warns(DeprecationWarning, match="--json PATH is deprecated"):  # still works for a release
        result = CliRunner().invoke(
            main,
            [
                "score",
                "--features",
                str(features),
                "--assembly",
                str(neural),
                "--metric",
                "ridge_per_neuroid",
                "--plot",
                str(plot),
                "--json",
                str(tmp_path / "rows.json"),
            ],
        )
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header[:3] == ["region", "metric", "raw"] and "ceiling" in header and "ceiled" in header
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [r["region"] for r in rows] == ["V1", "IT"]
    for row in rows:
        assert row["metric"] == "ridge_per_neuroid" and 0.8 < row["ceiled"] < 1.15 and 0 < row["ceiling"] < 1
        assert row["ceiled"] == pytest.approx(row["raw"] ** 2 / row["ceiling"])
    for region in ("V1", "IT"):
        png = tmp_path / "plots" / f"score-{region}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_score_json_stdout_options_and_aliases(tmp_path):
    features, neural = _files(tmp_path)
    runner = CliRunner()
    base = ["--features", str(features), "--assembly", str(neural)]
    result = runner.invoke(
        main,
        [
            "score",
            *base,
            "--region",
            "IT",
            "--layer",
            "conv1",
            "--no-ceiling",
            "--n-splits",
            "3",
            "--stratification-coord",
            "none",
            "--metric",
            "ridge_per_neuroid",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert (
        row["region"] == "IT"
        and row["ceiling"] is None
        and row["ceiled"] is None
        and row["metric"] == "ridge_per_neuroid"
    )
    # the default metric is Brain-Score's PLS-25, which needs 25 features: a clear one-line error
    pls = runner.invoke(main, ["score", *base, "--layer", "conv1"])
    assert pls.exit_code == 1 and "n_components <= 10" in pls.output
    legacy = runner.invoke(
        main,
        [
            "encoding",
            "score",
            *base,
            "--region",
            "V1",
            "--ceiling-formula",
            "legacy",
            "--metric",
            "ridge_per_neuroid",
            "--json",
        ],
    )
    assert legacy.exit_code == 0, legacy.output
    (row,) = json.loads(legacy.output)
    assert row["ceiled"] == pytest.approx((row["raw"] / row["ceiling"]) ** 2)
    cka = runner.invoke(main, ["score", *base, "--metric", "cka", "--region", "V1", "--json"])
    assert cka.exit_code == 0, cka.output
    assert json.loads(cka.output)[0]["metric"] == "cka"
    assert "score" in runner.invoke(main, ["encoding", "--help"]).output


def test_score_errors(tmp_path):
    features, neural = _files(tmp_path)
    runner = CliRunner()
    neither = runner.invoke(main, ["score", "--assembly", str(neural)])
    assert neither.exit_code == 2 and "exactly one of --features" in neither.output
    unknown = runner.invoke(main, ["score", "--model", "resnet50", "--assembly", str(neural)])
    assert unknown.exit_code == 1 and "Valid values" in unknown.output and "gabor_v1" in unknown.output
    # alexnet is known but its weights are a local file: one line naming it, no traceback, no download
    weights = runner.invoke(main, ["score", "--model", "alexnet", "--assembly", str(neural)])
    assert weights.exit_code == 1 and "alexnet-owt-7be5be79.pth" in weights.output
    assert "Traceback" not in weights.output and len(weights.output.strip().splitlines()) == 1
    bad_bin = runner.invoke(
        main, ["score", "--features", str(features), "--assembly", str(neural), "--time-bin", "x"]
    )
    assert bad_bin.exit_code == 2 and "--time-bin" in bad_bin.output
    plot_rdm = runner.invoke(
        main,
        [
            "score",
            "--features",
            str(features),
            "--assembly",
            str(neural),
            "--metric",
            "rdm",
            "--region",
            "V1",
            "--plot",
            str(tmp_path / "x.png"),
        ],
    )
    assert plot_rdm.exit_code == 2 and "regression metric" in plot_rdm.output


@pytest.mark.slow
def test_example_benchmark_right_family_near_one_wrong_family_lower():
    """The bundled example: V1 comes from Gabor energy features, IT from shape identity."""
    result = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            "gabor_v1",
            "--assembly",
            "brainbridge.example.neural",
            "--metric",
            "ridge_per_neuroid",
            "--json",
            "-",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {row["region"]: row for row in json.loads(result.output)}
    assert 0.9 < rows["V1"]["ceiled"] < 1.1
    assert 0.8 < rows["V1"]["ceiling"] < 0.92  # the generative model's reliability is U(0.80, 0.90)
    assert rows["IT"]["ceiled"] < 0.5
    # a name that is neither a file nor a catalogued assembly: one line, exit 1
    no_such = CliRunner().invoke(main, ["score", "--model", "gabor_v1", "--assembly", "no.such.assembly"])
    assert no_such.exit_code == 1 and "no.such.assembly" in no_such.output


def test_metric_choices_are_the_scoring_metrics():
    from brainbridge.encoding.cli import METRIC_CHOICES
    from brainbridge.encoding.scoring import METRIC_ALIASES, METRICS

    assert set(METRIC_CHOICES) == set(METRICS) | set(METRIC_ALIASES)


def _small_files(tmp_path, n_stimuli=10, n_reps=4, seed=1):
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{i:03d}" for i in range(n_stimuli)])
    stim = np.tile(np.arange(n_stimuli), n_reps)
    target = NeuronRecordingAssembly(
        rng.normal(size=(len(stim), 4)),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids[stim]),
            "repetition": ("presentation", np.repeat(np.arange(n_reps), n_stimuli)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(4)]),
            "region": ("neuroid", ["V1"] * 4),
        },
    )
    model = ModelFeaturesAssembly(
        rng.normal(size=(n_stimuli, 6)),
        dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", ids), "neuroid_id": ("neuroid", [f"f{i}" for i in range(6)])},
    )
    write_netcdf(target, tmp_path / "small.nc")
    write_netcdf(model, tmp_path / "small-features.nc")
    return tmp_path / "small-features.nc", tmp_path / "small.nc"


def test_degenerate_data_exits_non_zero_with_one_line_never_nan_rows(tmp_path):
    features, neural = _small_files(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "score",
            "--features",
            str(features),
            "--assembly",
            str(neural),
            "--metric",
            "ridge_per_neuroid",
            "--stratification-coord",
            "none",
        ],
    )
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and "at least 3 held-out stimuli per split" in lines[0] and "at least 30" in lines[0]
    )
    assert "Traceback" not in result.output and ".py" not in result.output


def test_score_table_reports_both_errors_and_the_real_time(tmp_path):
    features, neural = _files(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "score",
            "--features",
            str(features),
            "--assembly",
            str(neural),
            "--metric",
            "ridge_per_neuroid",
            "--region",
            "IT",
            "--json",
            str(tmp_path / "rows.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "± raw sem" in result.output and "± ceiled" in result.output and "time:" in result.output
    (row,) = json.loads((tmp_path / "rows.json").read_text())
    assert row["ceiled_error"] == pytest.approx(2 * row["raw"] / row["ceiling"] * row["raw_error"])
    assert row["features_time_s"] >= 0 and row["time_s"] > 0

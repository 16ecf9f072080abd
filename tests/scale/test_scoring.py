"""Distributed scoring on a real LocalCluster: the same Score, number for number."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from tests.scale._data import recording, write_netcdf_file

from brainbridge.assemblies import ModelFeaturesAssembly, average_repetitions
from brainbridge.cli import main
from brainbridge.encoding.scoring import score, score_many

pytestmark = pytest.mark.slow  # uses the worker processes


def _features(target, n_features: int, seed: int, noise: float = 1.0) -> ModelFeaturesAssembly:
    """Features that linearly carry the target's signal plus noise (one row per stimulus)."""
    averaged = average_repetitions(target)
    rng = np.random.default_rng(seed)
    signal = np.nan_to_num(np.asarray(averaged.values, dtype=np.float64))
    mixing = rng.normal(size=(signal.shape[1], n_features))
    values = signal @ mixing + noise * rng.normal(size=(signal.shape[0], n_features))
    return ModelFeaturesAssembly(
        values.astype(np.float32),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", np.asarray(averaged["stimulus_id"].values)),
            "neuroid_id": ("neuroid", np.array([f"f{i}" for i in range(n_features)])),
            "layer": (
                "neuroid",
                np.array(["early" if i < n_features // 2 else "late" for i in range(n_features)]),
            ),
        },
    )


@pytest.fixture(scope="module")
def benchmark_data():
    target = recording(n_stimuli=60, repetitions=4, n_neuroids=10, seed=5)
    # scoring needs finite averages, and a ceiling needs responses that repeat: add a stimulus signal
    codes = pd.factorize(np.asarray(target["stimulus_id"].values), sort=True)[0]
    signal = np.random.default_rng(7).normal(size=(codes.max() + 1, target.sizes["neuroid"]))
    target = target.copy(data=(np.nan_to_num(target.values) + 1.5 * signal[codes]).astype(np.float32))
    return target, _features(target, 40, seed=6)


def _same_score(a, b) -> None:
    if a.regions or b.regions:  # scored region by region (the default with a region coordinate)
        assert list(a.regions) == list(b.regions)
        for name in a.regions:
            _same_score(a.regions[name], b.regions[name])
        return
    assert float(a) == float(b)
    assert a.error == b.error
    assert float(a.ceiling) == float(b.ceiling)
    np.testing.assert_array_equal(a.raw.attrs["raw"].values, b.raw.attrs["raw"].values)
    np.testing.assert_array_equal(a.raw.attrs["predictions"].values, b.raw.attrs["predictions"].values)


@pytest.mark.parametrize("metric", ["pls", "ridge_per_neuroid"])
def test_distributed_score_equals_local_score_exactly(dask_client, benchmark_data, metric):
    target, features = benchmark_data
    local = score(features, target, metric, n_splits=4, progress=False)
    remote = score(features, target, metric, n_splits=4, client=dask_client, progress=False)
    assert type(remote) is type(local)
    _same_score(remote, local)


def test_score_many_equals_pairwise_scores(dask_client, benchmark_data):
    target, features = benchmark_data
    targets = {"V4": target.isel(neuroid=slice(0, 5)), "IT": target.isel(neuroid=slice(5, 10))}
    sources = {f"model{i}": _features(target, 30, seed=10 + i, noise=0.5 + i) for i in range(3)}
    remote = score_many(
        sources,
        targets,
        "ridge_per_neuroid",
        layers=["early", "late"],
        n_splits=3,
        client=dask_client,
        progress=False,
    )
    # one row per model x layer x benchmark, a benchmark being a target's region
    regions = {name: list(dict.fromkeys(t["region"].values.tolist())) for name, t in targets.items()}
    assert list(zip(remote["model"], remote["layer"], remote["benchmark"], remote["region"])) == [
        (s, layer, t, r) for s in sources for layer in ("early", "late") for t in targets for r in regions[t]
    ]
    for row in remote.itertuples():
        expected = score(
            sources[row.model],
            targets[row.benchmark],
            "ridge_per_neuroid",
            layer=row.layer,
            n_splits=3,
            progress=False,
        )
        expected = expected.regions[row.region] if expected.ndim else expected
        _same_score(row.result, expected)
        assert row.score == float(expected) and row.ceiling == float(expected.ceiling)
    local = score_many(
        sources, targets, "ridge_per_neuroid", layers=["early", "late"], n_splits=3, progress=False
    )
    columns = ["model", "layer", "benchmark", "score", "raw", "ceiling"]
    assert local[columns].equals(remote[columns])


def test_a_worker_killed_while_scoring_does_not_change_the_scores(dask_client, benchmark_data):
    target, _ = benchmark_data
    sources = {f"model{i}": _features(target, 200, seed=20 + i) for i in range(4)}
    expected = score_many(sources, {"all": target}, "pls", n_splits=5, progress=False)
    killed: list[str] = []

    async def exit_worker():  # Client.run(wait=False) takes only coroutine functions
        os._exit(1)

    def kill_a_busy_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [address for address, keys in dask_client.processing().items() if keys]
            if busy:
                dask_client.run(exit_worker, workers=[busy[0]], wait=False)
                killed.append(busy[0])
            time.sleep(0.005)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    remote = score_many(sources, {"all": target}, "pls", n_splits=5, client=dask_client, progress=False)
    killer.join(timeout=70)
    assert killed, "no worker was killed while tasks ran"
    assert list(remote["model"]) == list(expected["model"])
    for got, want in zip(remote["result"], expected["result"]):
        _same_score(got, want)
    dask_client.wait_for_workers(2, timeout=240)  # a restarted worker is slow on a loaded 2-core machine
    # the nanny restarted the killed worker under a new address: the kill really happened
    assert killed[0] not in dask_client.scheduler_info()["workers"]


def test_cli_score_on_a_scheduler_matches_a_local_run(dask_client, benchmark_data, tmp_path):
    target, features = benchmark_data
    features_path = write_netcdf_file(features, tmp_path / "features.nc")
    target_path = write_netcdf_file(target, tmp_path / "target.nc")
    args = [
        "score",
        "--features",
        features_path,
        "--assembly",
        target_path,
        "--metric",
        "ridge_per_neuroid",
        "--n-splits",
        "3",
        "--json",
        "-",
        "--no-progress",
    ]
    runner = CliRunner()
    local = runner.invoke(main, args)
    assert local.exit_code == 0, local.output
    remote = runner.invoke(main, [*args, "--scheduler", dask_client.scheduler.address])
    assert remote.exit_code == 0, remote.output
    strip = lambda rows: [{k: v for k, v in row.items() if "time" not in k} for row in rows]  # noqa: E731
    assert strip(json.loads(remote.output)) == strip(json.loads(local.output))
    both = runner.invoke(main, [*args, "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"])
    assert both.exit_code != 0 and "not both" in both.output


def test_score_on_a_scheduler_address_equals_local_score(dask_client, benchmark_data):
    target, features = benchmark_data
    local = score(features, target, "ridge_per_neuroid", n_splits=3, progress=False)
    remote = score(
        features,
        target,
        "ridge_per_neuroid",
        n_splits=3,
        scheduler=dask_client.scheduler.address,
        progress=False,
    )
    _same_score(remote, local)
    assert dask_client.status == "running"  # the caller's cluster is left alone


def test_cli_score_with_workers_starts_a_local_cluster(benchmark_data, tmp_path):
    target, features = benchmark_data
    args = [
        "score",
        "--features",
        write_netcdf_file(features, tmp_path / "features.nc"),
        "--assembly",
        write_netcdf_file(target, tmp_path / "target.nc"),
        "--metric",
        "pls",
        "--n-splits",
        "3",
        "--json",
        "-",
        "--no-progress",
    ]
    runner = CliRunner()
    local = runner.invoke(main, args)
    assert local.exit_code == 0, local.output
    remote = runner.invoke(main, [*args, "--workers", "1"])
    assert remote.exit_code == 0, remote.output
    strip = lambda rows: [{k: v for k, v in row.items() if "time" not in k} for row in rows]  # noqa: E731
    assert strip(json.loads(remote.output)) == strip(json.loads(local.output))
    # a command that fails after starting its cluster still shuts the cluster down
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    failed = runner.invoke(main, [*args, "--workers", "1", "--time-bin", "bogus"])
    assert failed.exit_code != 0 and "--time-bin" in failed.output
    deadline = time.monotonic() + 30
    while {p.pid for p in psutil.Process().children(recursive=True)} - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not {p.pid for p in psutil.Process().children(recursive=True)} - before

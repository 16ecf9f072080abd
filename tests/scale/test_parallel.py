"""brainbridge.parallel on a real dask LocalCluster (2 processes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tests.support.servers import free_port

from brainbridge.errors import BrainbridgeError
from brainbridge.parallel import (
    ParallelError,
    TaskFailedError,
    completed_regions,
    dask_map,
    get_client,
    map_tasks,
    region_bounds,
    write_zarr_regions,
)

pytestmark = pytest.mark.slow  # starts worker processes


def _worker_threads():
    import threadpoolctl

    pools = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
    return os.environ.get("OMP_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS"), pools


def test_workers_run_one_blas_thread(dask_client):
    info = dask_client.run(_worker_threads)
    assert len(info) == 2
    for omp, openblas, pools in info.values():
        assert omp == openblas == "1"
        assert pools and set(pools) == {1}
    assert len(set(info)) == 2


def test_get_client_needs_exactly_one_source(dask_client):
    with pytest.raises(ParallelError, match="one of"):
        get_client(client=dask_client, workers=2)
    with pytest.raises(ParallelError, match="scheduler"):
        get_client()
    with pytest.raises(ParallelError, match="cannot connect"):
        get_client(scheduler=f"tcp://127.0.0.1:{free_port()}", timeout="1s")
    assert get_client(client=dask_client) is dask_client
    assert issubclass(ParallelError, BrainbridgeError)


def _square_plus_sum(item, big):
    return item * item + float(big.sum()), os.getpid(), id(big)


def test_map_tasks_keeps_order_and_scatters_once(dask_client):
    big = np.arange(200_000, dtype=np.float64)
    results = map_tasks(_square_plus_sum, range(20), dask_client, broadcast={"big": big}, progress=False)
    assert [r[0] for r in results] == [i * i + float(big.sum()) for i in range(20)]
    # every task on a worker saw the same object: the array was sent once, not per task
    per_process = {}
    for _, pid, ident in results:
        per_process.setdefault(pid, set()).add(ident)
    assert all(len(idents) == 1 for idents in per_process.values())
    # nothing is left behind on the cluster (releasing is asynchronous: wait for it)
    import time

    deadline = time.monotonic() + 30
    while any(dask_client.has_what().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(dask_client.has_what().values())


def _flaky(item, marker_dir):
    marker = Path(marker_dir) / f"{item}.failed"
    if item % 3 == 0 and not marker.exists():
        marker.touch()
        raise RuntimeError(f"transient failure on {item}")
    return item + 100


def _always_fails(item):
    if item == 2:
        raise ValueError("bad item")
    return item


def test_failed_tasks_are_retried_and_final_failures_reported(dask_client, tmp_path):
    results = map_tasks(
        _flaky, range(7), dask_client, broadcast={"marker_dir": str(tmp_path)}, progress=False
    )
    assert results == [i + 100 for i in range(7)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.failed", "3.failed", "6.failed"]
    with pytest.raises(TaskFailedError, match="bad item") as info:
        map_tasks(_always_fails, range(4), dask_client, retries=1, progress=False)
    assert info.value.item == 2
    assert isinstance(info.value.__cause__, ValueError)


def _dies_once(item, marker, big_unused):
    import time

    if item == 5 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)  # the worker process dies mid-run; its nanny restarts it
    time.sleep(0.02)
    return item * 2


def test_a_worker_killed_mid_run_does_not_change_the_result(dask_client, tmp_path):
    marker = tmp_path / "killed"
    big = np.ones(50_000)
    results = map_tasks(
        _dies_once,
        range(12),
        dask_client,
        broadcast={"marker": str(marker), "big_unused": big},
        progress=False,
    )
    assert marker.exists()  # the kill happened
    assert results == [i * 2 for i in range(12)]
    dask_client.wait_for_workers(2, timeout=240)  # a restarted worker is slow on a loaded 2-core machine


def _split_function(X, Y, train, test, name):
    return float(X[train].sum() - Y[test].sum()), name


def test_dask_map_matches_builtin_map(dask_client):
    X = np.random.default_rng(0).normal(size=(100, 200))  # 160 kB: scattered
    Y = np.random.default_rng(1).normal(size=(100, 3))
    splits = [(np.arange(i, 100, 3), np.arange(0, i + 1)) for i in range(5)]
    columns = ([X] * 5, [Y] * 5, [s[0] for s in splits], [s[1] for s in splits], ["pls"] * 5)
    expected = list(map(_split_function, *columns))
    assert dask_map(dask_client, progress=False)(_split_function, *columns) == expected


def _responses(start, stop, weights, fail_at=None):
    if fail_at is not None and start == fail_at:
        raise RuntimeError("interrupted")
    ids = np.arange(start, stop, dtype=np.float32)[:, None]
    return {"responses": ids * weights[None, :], "norm": np.sqrt((ids * weights[None, :]) ** 2).sum(axis=1)}


ARRAYS = {"responses": ((6,), "float32"), "norm": ((), "float64")}


def _store_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_resumed_generation_writes_the_same_store(dask_client, tmp_path):
    weights = np.linspace(0.5, 3.0, 6).astype(np.float32)
    whole = tmp_path / "whole.zarr"
    done = write_zarr_regions(
        whole,
        _responses,
        23,
        ARRAYS,
        chunk_size=5,
        client=dask_client,
        broadcast={"weights": weights},
        attrs={"model": "toy"},
        progress=False,
    )
    assert sorted(done) == region_bounds(23, 5)

    resumed = tmp_path / "resumed.zarr"
    with pytest.raises(TaskFailedError):
        write_zarr_regions(
            resumed,
            _responses,
            23,
            ARRAYS,
            chunk_size=5,
            client=dask_client,
            broadcast={"weights": weights, "fail_at": 10},
            attrs={"model": "toy"},
            retries=0,
            progress=False,
        )
    partial = completed_regions(resumed)
    assert (10, 15) not in partial
    second = write_zarr_regions(
        resumed,
        _responses,
        23,
        ARRAYS,
        chunk_size=5,
        client=dask_client,
        broadcast={"weights": weights},
        attrs={"model": "toy"},
        progress=False,
    )
    assert (10, 15) in second and not set(second) & partial  # completed regions were skipped
    assert _store_files(resumed) == _store_files(whole)
    # a third run has nothing left to do
    assert (
        write_zarr_regions(resumed, _responses, 23, ARRAYS, chunk_size=5, broadcast={"weights": weights})
        == []
    )

    import zarr

    group = zarr.open_group(str(whole), mode="r")
    np.testing.assert_array_equal(group["responses"][:], np.arange(23, dtype=np.float32)[:, None] * weights)
    assert group.attrs["model"] == "toy"


def test_in_process_regions_equal_distributed_ones(dask_client, tmp_path):
    weights = np.arange(1, 7, dtype=np.float32)
    local = tmp_path / "local.zarr"
    remote = tmp_path / "remote.zarr"
    write_zarr_regions(
        local, _responses, 12, ARRAYS, chunk_size=4, broadcast={"weights": weights}, progress=False
    )
    write_zarr_regions(
        remote,
        _responses,
        12,
        ARRAYS,
        chunk_size=4,
        client=dask_client,
        broadcast={"weights": weights},
        progress=False,
    )
    assert _store_files(local) == _store_files(remote)


def test_a_store_with_another_layout_is_refused(tmp_path):
    weights = np.ones(6, dtype=np.float32)
    store = tmp_path / "out.zarr"
    write_zarr_regions(
        store, _responses, 8, ARRAYS, chunk_size=4, broadcast={"weights": weights}, progress=False
    )
    with pytest.raises(ParallelError, match="chunks"):
        write_zarr_regions(store, _responses, 8, ARRAYS, chunk_size=2, broadcast={"weights": weights})
    with pytest.raises(BrainbridgeError, match="invalid array name"):
        write_zarr_regions(store, _responses, 8, {"../x": ((), "f4")}, chunk_size=4)


def test_fewer_tasks_than_workers_still_get_their_data(dask_client):
    big = np.arange(100_000, dtype=np.float64)
    assert map_tasks(_square_plus_sum, [3], dask_client, broadcast={"big": big}, progress=False)[0][0] == (
        9 + float(big.sum())
    )


def test_progress_bar_counts_tasks_done(dask_client, capsys):
    map_tasks(
        _square_plus_sum, range(5), dask_client, broadcast={"big": np.ones(3)}, progress=True, desc="squares"
    )
    err = capsys.readouterr().err
    assert "squares" in err and "5/5" in err and "100%" in err
    map_tasks(_square_plus_sum, range(3), dask_client, broadcast={"big": np.ones(3)}, progress=None)
    assert capsys.readouterr().err == ""  # not a terminal: quiet by default

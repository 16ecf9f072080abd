"""Assemblies to datasets, prefetching, the torch IterableDataset and the `data` CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import brainbridge.data as bd
from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.cli import main


def _assembly(n_pres=6, n_neur=4, n_time=5, seed=0, regions=("V4", "IT"), shift=0):
    rng = np.random.default_rng(seed)
    return NeuronRecordingAssembly(
        rng.normal(size=(n_pres, n_neur, n_time)),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", [f"s{i % 3 + shift}" for i in range(n_pres)]),
            "repetition": ("presentation", np.arange(n_pres) // 3),
            "contrast": ("presentation", np.linspace(0, 1, n_pres)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(n_neur)]),
            "region": ("neuroid", [regions[i % len(regions)] for i in range(n_neur)]),
            "time_bin_start": ("time_bin", np.arange(n_time) * 10),
            "time_bin_end": ("time_bin", np.arange(n_time) * 10 + 10),
        },
    )


def test_dataset_from_assembly_flattens_trials_and_labels():
    a = _assembly()
    ds = bd.TensorDataset.from_assembly(a, continuous=["contrast", "time_bin_start"], discrete="stimulus_id")
    assert ds.neural.shape == (30, 4) and ds.continuous.shape == (30, 2)
    assert ds.sample_dims == ["presentation", "time_bin"]
    # sample k = presentation k // 5, time bin k % 5
    values = a.transpose("presentation", "time_bin", "neuroid").values
    np.testing.assert_allclose(ds.neural[7].numpy(), values[1, 2], rtol=1e-6)
    assert ds.continuous[7].tolist() == pytest.approx([0.2, 20.0])
    assert [ds.discrete_categories[c] for c in ds.discrete[[0, 5, 10, 15]].tolist()] == [
        "s0",
        "s1",
        "s2",
        "s0",
    ]
    assert ds.trial_ids[12] == 2 and ds.trial_borders.tolist() == [0, 5, 10, 15, 20, 25, 30]
    ds.offset = bd.Offset(1, 2)
    windows = ds.expand_index_in_trial(torch.arange(30), ds.trial_ids, ds.trial_borders)
    assert (windows // 5 == torch.arange(30)[:, None] // 5).all()
    loader = bd.DiscreteDataLoader(ds, num_steps=1, batch_size=16, seed=0)
    idx = loader.get_indices(16)
    assert torch.equal(ds.discrete[idx.positive], ds.discrete[idx.reference])


def test_joint_discrete_labels_and_errors():
    a = _assembly()
    ds = bd.dataset_from_assembly(a, discrete=["stimulus_id", "repetition"])
    assert len(ds.discrete_categories) == 6 and ("s1", 1) in ds.discrete_categories
    with pytest.raises(bd.DatasetError, match="not numeric"):
        bd.dataset_from_assembly(a, continuous="stimulus_id")
    with pytest.raises(bd.DatasetError, match="no coordinate"):
        bd.dataset_from_assembly(a, continuous="speed")
    with pytest.raises(bd.DatasetError, match="sample dimensions"):
        bd.dataset_from_assembly(a, discrete="region")
    with pytest.raises(bd.DatasetError, match="at least one"):
        bd.dataset_from_assembly(a)


def test_collection_from_sessions_shares_codes():
    sessions = {
        "a": _assembly(n_pres=6, n_neur=3, seed=1),
        "b": _assembly(n_pres=9, n_neur=7, seed=2, shift=1),
    }
    coll = bd.collection_from_sessions(
        sessions.__getitem__, ["a", "b"], continuous="contrast", discrete="stimulus_id"
    )
    assert coll.num_sessions == 2 and coll.session_lengths == [30, 45]
    cats = coll.discrete_categories
    assert cats == ["s0", "s1", "s2", "s3"]
    assert [cats[c] for c in coll.get_session(1).discrete[[0, 5]].tolist()] == ["s1", "s2"]
    loader = bd.DiscreteMultiSessionDataLoader(coll, num_steps=1, batch_size=8, seed=0)
    with pytest.raises(bd.SamplingError):  # noqa: PT012 - some draw within 20 fails
        # s0 exists only in session a and s3 only in session b: assigning those fails loudly
        for _ in range(20):
            loader.get_indices(8)
    with pytest.raises(bd.DatasetError, match="session_ids"):
        bd.collection_from_sessions(sessions.__getitem__)
    single = bd.collection_from_assemblies([sessions["a"]], continuous="contrast")
    assert single.num_sessions == 1


def _dataset(n=500):
    rng = np.random.default_rng(0)
    return bd.TensorDataset(
        rng.normal(size=(n, 6)).astype(np.float32),
        continuous=np.cumsum(rng.normal(size=(n, 2)), 0),
        offset=bd.Offset(2, 3),
    )


def test_prefetch_yields_the_same_batches_as_the_loader():
    ds = _dataset()
    plain = [b.reference for b in bd.ContinuousDataLoader(ds, num_steps=5, batch_size=16, seed=3)]
    fetched = list(
        bd.PrefetchLoader(bd.ContinuousDataLoader(ds, num_steps=5, batch_size=16, seed=3), prefetch=2)
    )
    assert len(fetched) == 5
    assert all(torch.equal(a, b.reference) for a, b in zip(plain, fetched))
    # stopping early and pinning without CUDA are both fine
    it = iter(
        bd.PrefetchLoader(
            bd.ContinuousDataLoader(ds, num_steps=100, batch_size=8), pin_memory=True, device="cpu"
        )
    )
    assert next(it).reference.shape == (8, 6, 5)
    it.close()


def test_prefetch_forwards_errors():
    class Broken:
        dataset = None

        def __len__(self):
            return 3

        def __iter__(self):
            yield 1
            raise RuntimeError("boom")

    it = iter(bd.PrefetchLoader(Broken()))
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="boom"):
        next(it)


def test_iterable_dataset_with_torch_dataloader():
    ds = _dataset()
    loader = bd.ContinuousDataLoader(ds, num_steps=4, batch_size=8, seed=5)
    batches = list(torch.utils.data.DataLoader(bd.LoaderIterableDataset(loader), batch_size=None))
    assert len(batches) == 4 and batches[0].reference.shape == (8, 6, 5)


@pytest.mark.slow
def test_iterable_dataset_workers_split_steps_and_differ():
    ds = _dataset()
    loader = bd.ContinuousDataLoader(ds, num_steps=6, batch_size=8, seed=5)
    dl = torch.utils.data.DataLoader(bd.LoaderIterableDataset(loader), batch_size=None, num_workers=2)
    batches = list(dl)
    assert len(batches) == 6
    assert not torch.equal(batches[0].reference, batches[1].reference)


def test_cli_inspect(tmp_path):
    np.savez(tmp_path / "d.npz", neural=np.arange(12.0).reshape(4, 3), trial=np.arange(4))
    runner = CliRunner()
    out = runner.invoke(main, ["data", "describe", str(tmp_path / "d.npz"), "--key", "trial"])
    assert out.exit_code == 0, out.output
    assert "shape: [4]" in out.output and "max: 3.0" in out.output
    out = runner.invoke(main, ["data", "describe", str(tmp_path / "d.npz"), "--json"])
    assert '"shape": [4, 3]' in out.output
    out = runner.invoke(main, ["data", "describe", str(tmp_path / "d.npz"), "--key", "nope"])
    assert out.exit_code != 0 and "not found" in out.output
    (tmp_path / "x.pkl").write_bytes(b"\x80\x04N.")
    out = runner.invoke(main, ["data", "describe", str(tmp_path / "x.pkl")])
    assert out.exit_code != 0 and "--allow-pickle" in out.output


def test_allensdk_shaped_spike_counts_use_unit_id_as_features():
    import xarray as xr

    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, (4, 3, 2)).astype(np.uint16)
    counts = xr.DataArray(
        values,
        dims=("stimulus_presentation_id", "time_relative_to_stimulus_onset", "unit_id"),
        coords={
            "stimulus_presentation_id": [10, 11, 12, 13],
            "time_relative_to_stimulus_onset": [0.005, 0.015, 0.025],
            "unit_id": [7, 9],
            "orientation": ("stimulus_presentation_id", [0.0, 90.0, 0.0, 90.0]),
        },
    )
    ds = bd.dataset_from_assembly(
        counts, continuous="time_relative_to_stimulus_onset", discrete="orientation"
    )
    assert ds.neural.shape == (12, 2) and ds.sample_dims == [
        "stimulus_presentation_id",
        "time_relative_to_stimulus_onset",
    ]
    np.testing.assert_array_equal(ds.neural[4].numpy(), values[1, 1].astype(np.float32))
    assert [ds.discrete_categories[c] for c in ds.discrete[::3].tolist()] == [0.0, 90.0, 0.0, 90.0]
    np.testing.assert_allclose(ds.continuous[:3, 0].numpy(), [0.005, 0.015, 0.025])
    assert ds.trial_ids.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]

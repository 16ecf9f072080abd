"""Datasets and value types: offsets, windows, dtype rules, collections, batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainbridge.data as bd
from brainbridge.data.errors import MissingIndexError
from brainbridge.errors import BrainbridgeError


def test_offset_rules():
    assert (bd.Offset(5).left, bd.Offset(5).right) == (5, 5)
    o = bd.Offset(3, 2)
    assert len(o) == 5
    a = np.arange(10)
    assert a[o.left_slice].tolist() == [0, 1, 2]
    assert a[o.right_slice].tolist() == [8, 9]
    assert a[o.valid_slice].tolist() == [3, 4, 5, 6, 7]
    assert o.mask_array(np.ones(10), 0).tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]
    assert bd.Offset(3, 2) == bd.Offset(3, 2) and bd.Offset(3, 2) != bd.Offset(2, 3)
    for bad in [(1, 2, 3), (-1, 2), (2, 0)]:
        with pytest.raises(ValueError):
            bd.Offset(*bad)


def test_expand_index_moves_edges_inward():
    ds = bd.TensorDataset(torch.randn(20, 4), continuous=torch.randn(20, 1), offset=bd.Offset(3, 2))
    out = ds.expand_index(torch.tensor([0, 1, 10, 18, 19]))
    assert out.shape == (5, 5)
    assert out[0].tolist() == out[1].tolist() == [0, 1, 2, 3, 4]
    assert out[2].tolist() == [7, 8, 9, 10, 11]
    assert out[3].tolist() == out[4].tolist() == [15, 16, 17, 18, 19]


def test_expand_index_in_trial_matches_loop_and_stays_in_trial():
    rng = np.random.default_rng(0)
    lengths = rng.integers(6, 30, 40)
    borders = np.concatenate([[0], np.cumsum(lengths)])
    n = int(borders[-1])
    trial_ids = np.repeat(np.arange(len(lengths)), lengths)
    ds = bd.TensorDataset(torch.randn(n, 3), discrete=trial_ids, offset=bd.Offset(2, 4))
    index = torch.from_numpy(rng.integers(0, n, 2000))
    out = ds.expand_index_in_trial(index, torch.from_numpy(trial_ids), torch.from_numpy(borders)).numpy()
    assert out.shape == (2000, 6)
    t = trial_ids[index.numpy()]
    assert (out >= borders[t][:, None]).all() and (out < borders[t + 1][:, None]).all()
    # CEBRA's per-sample loop, for comparison
    expected = [
        np.clip(i, borders[trial_ids[i]] + 2, borders[trial_ids[i] + 1] - 4) + np.arange(-2, 4)
        for i in index.numpy()
    ]
    np.testing.assert_array_equal(out, np.array(expected))


def test_expand_index_in_trial_rejects_short_trials():
    ds = bd.TensorDataset(torch.randn(10, 3), discrete=np.zeros(10, int), offset=bd.Offset(2, 4))
    with pytest.raises(bd.DatasetError, match="shorter"):
        ds.expand_index_in_trial([0], np.r_[np.zeros(3, int), np.ones(7, int)], [0, 3, 10])


def test_tensor_dataset_types_and_sharing():
    neural = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    ds = bd.TensorDataset(neural, discrete=np.arange(50, dtype=np.uint16) % 3)
    assert ds.neural.dtype == torch.float32 and ds.discrete.dtype == torch.int64
    neural[0, 0] = 123.0  # float32 numpy input shares memory
    assert ds.neural[0, 0].item() == 123.0
    assert ds.input_dimension == 8 and len(ds) == 50
    with pytest.raises(TypeError):
        bd.TensorDataset(np.zeros((5, 2), dtype=np.int64), continuous=np.zeros((5, 1)))
    with pytest.raises(TypeError):
        bd.TensorDataset(np.zeros((5, 2)), discrete=np.zeros(5))
    with pytest.raises(ValueError, match="at least one"):
        bd.TensorDataset(np.zeros((5, 2)))
    with pytest.raises(bd.DatasetError, match="samples"):
        bd.TensorDataset(np.zeros((5, 2)), continuous=np.zeros((4, 1)))
    with pytest.raises(NotImplementedError, match="no continuous index: give continuous="):
        _ = bd.TensorDataset(np.zeros((5, 2)), discrete=np.zeros(5, int)).continuous_index
    with pytest.raises(MissingIndexError, match="no discrete index: give discrete="):
        _ = bd.TensorDataset(np.zeros((5, 2)), continuous=np.zeros((5, 1))).discrete_index
    assert issubclass(bd.DatasetError, BrainbridgeError)


def test_getitem_and_load_batch_single_copy_agree():
    ds = bd.TensorDataset(torch.randn(100, 7), continuous=torch.randn(100, 2), offset=bd.Offset(4, 6))
    ref, pos, neg = torch.tensor([0, 50, 99]), torch.tensor([3, 4]), torch.tensor([10, 20, 30, 40])
    expected = ds.neural[ds.expand_index(ref)].transpose(2, 1)
    torch.testing.assert_close(ds[ref], expected)
    batch = ds.load_batch(bd.BatchIndex(ref, pos, neg))
    assert batch.reference.shape == (3, 7, 10)
    assert batch.positive.shape == (2, 7, 10) and batch.negative.shape == (4, 7, 10)
    torch.testing.assert_close(batch.positive, ds[pos])
    torch.testing.assert_close(batch.negative, ds[neg])
    moved = batch.to("cpu")
    assert moved is batch
    r, p, n = batch
    assert r is batch.reference


def test_collection_keeps_only_shared_labels():
    a = bd.TensorDataset(
        torch.randn(30, 5), continuous=torch.randn(30, 2), discrete=torch.zeros(30, dtype=int)
    )
    b = bd.TensorDataset(torch.randn(40, 9), continuous=torch.randn(40, 2))
    coll = bd.DatasetCollection(a, b)
    assert coll.num_sessions == 2 and coll.session_lengths == [30, 40]
    assert coll.continuous_index.shape == (70, 2) and coll.discrete_index is None
    assert coll.get_input_dimension(1) == 9
    assert coll[1, torch.tensor([0, 1])].shape == (2, 9, 1)
    gen = bd.DatasetCollection(x for x in (a, b))
    assert gen.num_sessions == 2
    with pytest.raises(ValueError):
        bd.DatasetCollection()
    with pytest.raises(ValueError):
        bd.DatasetCollection(a)
    c = bd.TensorDataset(torch.randn(40, 9), discrete=torch.zeros(40, dtype=int))
    with pytest.raises(ValueError, match="continuous or discrete"):
        bd.DatasetCollection(b, c)
    with pytest.raises(bd.DatasetError, match="shape"):
        bd.DatasetCollection(a, bd.TensorDataset(torch.randn(10, 2), continuous=torch.randn(10, 3)))


def test_collection_offset_setting_and_configure_for():
    class Model:
        def __init__(self, offset):
            self.offset = offset

        def get_offset(self):
            return self.offset

    a = bd.TensorDataset(torch.randn(30, 5), continuous=torch.randn(30, 2), offset=bd.Offset(1, 2))
    b = bd.TensorDataset(torch.randn(40, 9), continuous=torch.randn(40, 2), offset=bd.Offset(1, 2))
    coll = bd.DatasetCollection(a, b)
    assert coll.offset == bd.Offset(1, 2)  # creating the collection kept the sessions' offsets
    coll.configure_for([Model(bd.Offset(3, 3)), Model(bd.Offset(3, 3))])
    assert a.offset == b.offset == bd.Offset(3, 3)
    with pytest.raises(bd.DatasetError, match="sessions"):
        coll.configure_for([Model(bd.Offset(1))])
    unified = bd.UnifiedDataset(a, b)
    assert unified.input_dimension == 14


def test_datasetxcebra_batches():
    neural = torch.randn(60, 6)
    ds = bd.DatasetxCEBRA(neural, position=torch.randn(60, 2), trial=torch.arange(60))
    ds.offset = bd.Offset(2, 3)
    idx = bd.BatchIndex(reference=torch.tensor([0, 10, 59]), positive=None, negative=None)
    sup = ds.load_batch_supervised(idx, ["trial"])
    assert sup.reference.shape == (3, 6, 5) and sup.positive[0].tolist() == [0, 10, 59]
    con = ds.load_batch_contrastive(
        bd.BatchIndex(
            torch.tensor([1, 2]), [torch.tensor([3, 4]), torch.tensor([5, 6])], torch.tensor([7, 8])
        )
    )
    assert len(con.positive) == 2 and con.negative.shape == (2, 6, 5)
    with pytest.raises(bd.DatasetError, match="unknown labels"):
        ds.load_batch_supervised(idx, ["speed"])

"""Same results as the reference implementation, CEBRA 0.6.1, where the semantics are meant to match.

Skipped when cebra is not installed (it is in the ``[test]`` extra).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

import brainbridge.data as bd

cebra_data = pytest.importorskip("cebra.data")
cebra_distributions = pytest.importorskip("cebra.distributions")
import cebra  # noqa: E402


@pytest.mark.parametrize("args", [(1,), (5,), (3, 2), (0, 1), (10, 1)])
def test_offset(args):
    ours, theirs = bd.Offset(*args), cebra_data.Offset(*args)
    assert (ours.left, ours.right, len(ours)) == (theirs.left, theirs.right, len(theirs))
    assert (ours.left_slice, ours.right_slice, ours.valid_slice) == (
        theirs.left_slice,
        theirs.right_slice,
        theirs.valid_slice,
    )


@pytest.mark.parametrize("bad", [(-1,), (2, 0), (1, 2, 3)])
def test_offset_rejects_what_cebra_rejects(bad):
    with pytest.raises(ValueError):
        cebra_data.Offset(*bad)
    with pytest.raises(ValueError):
        bd.Offset(*bad)


def _pair(n=40, d=6, offset=(3, 2), seed=0):
    rng = np.random.default_rng(seed)
    neural = rng.normal(size=(n, d)).astype(np.float32)
    continuous = rng.normal(size=(n, 3)).astype(np.float32)
    discrete = rng.integers(0, 4, n)
    ours = bd.TensorDataset(neural, continuous=continuous, discrete=discrete, offset=bd.Offset(*offset))
    theirs = cebra_data.TensorDataset(
        neural, continuous=continuous, discrete=discrete, offset=cebra_data.Offset(*offset)
    )
    return ours, theirs


def test_expand_index_and_getitem_match():
    ours, theirs = _pair()
    index = torch.arange(40)
    np.testing.assert_array_equal(ours.expand_index(index).numpy(), theirs.expand_index(index).numpy())
    np.testing.assert_array_equal(ours[index].numpy(), theirs[index].numpy())
    assert ours.input_dimension == theirs.input_dimension
    np.testing.assert_array_equal(ours.continuous_index.numpy(), theirs.continuous_index.numpy())
    np.testing.assert_array_equal(ours.discrete_index.numpy(), theirs.discrete_index.numpy())


def test_expand_index_in_trial_matches():
    ours, theirs = _pair(n=30, offset=(2, 2))
    borders = torch.tensor([0, 10, 18, 30])
    trial_ids = torch.tensor(np.repeat(np.arange(3), np.diff(borders.numpy())))
    index = torch.arange(30)
    expected = theirs.expand_index_in_trial(index, trial_ids, borders)
    np.testing.assert_array_equal(
        ours.expand_index_in_trial(index, trial_ids, borders).numpy(), expected.numpy()
    )


def test_load_batch_matches_for_the_same_indices():
    ours, theirs = _pair(n=60)
    rng = np.random.default_rng(3)
    index = cebra_data.BatchIndex(
        reference=torch.from_numpy(rng.integers(0, 60, 16)),
        positive=torch.from_numpy(rng.integers(0, 60, 16)),
        negative=torch.from_numpy(rng.integers(0, 60, 16)),
    )
    a, b = ours.load_batch(index), theirs.load_batch(index)
    for field in ("reference", "positive", "negative"):
        np.testing.assert_array_equal(getattr(a, field).numpy(), getattr(b, field).numpy())


def test_discrete_empirical_in_global_rng_mode_is_bit_exact():
    labels = np.random.default_rng(0).choice([0, 1, 2], size=3000, p=[0.3, 0.1, 0.6])
    theirs = cebra_distributions.DiscreteEmpirical(labels)
    ours = bd.DiscreteEmpirical(labels, seed=bd.GLOBAL_RNG)
    np.random.seed(7)  # noqa: NPY002 - CEBRA samples from the global RNG
    prior_theirs = theirs.sample_prior(500).numpy()
    positive_theirs = theirs.sample_conditional(labels[prior_theirs]).numpy()
    np.random.seed(7)  # noqa: NPY002 - CEBRA samples from the global RNG
    prior_ours = ours.sample_prior(500).numpy()
    positive_ours = ours.sample_conditional(labels[prior_ours]).numpy()
    np.testing.assert_array_equal(prior_ours, prior_theirs)
    np.testing.assert_array_equal(positive_ours, positive_theirs)


def test_nearest_neighbour_search_returns_cebra_answer_where_it_is_exact():
    rng = np.random.default_rng(1)
    continuous = rng.normal(size=(2000, 3)).astype(np.float32)
    queries = continuous[rng.integers(0, 2000, 128)] + rng.normal(scale=0.01, size=(128, 3)).astype(
        np.float32
    )
    theirs = cebra_distributions.ContinuousIndex(torch.from_numpy(continuous)).search(
        torch.from_numpy(queries)
    )
    ours = bd.ContinuousIndex(continuous).search(queries)
    ours = ours.numpy() if hasattr(ours, "numpy") else np.asarray(ours)
    # both find the true nearest neighbour (CEBRA's float32 expansion can miss it on near ties)
    exact = np.argmin(((continuous[None].astype(np.float64) - queries[:, None]) ** 2).sum(-1), axis=1)
    agree = theirs.numpy() == exact
    np.testing.assert_array_equal(ours[agree], theirs.numpy()[agree])
    np.testing.assert_array_equal(ours, exact)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5", ".mat"])
def test_load_data_reads_the_same_arrays(tmp_path, suffix):
    array = np.random.default_rng(2).normal(size=(50, 4))
    path = tmp_path / f"data{suffix}"
    key = None
    if suffix == ".npy":
        np.save(path, array)
    elif suffix == ".npz":
        np.savez(path, neural=array, other=array * 2)
        key = "neural"
    elif suffix == ".h5":
        import h5py

        with h5py.File(path, "w") as f:
            f["neural"] = array
        key = "neural"
    else:
        scipy.io.savemat(path, {"neural": array})
        key = "neural"
    theirs = cebra.load_data(str(path), key=key)
    ours = bd.load_data(path, key=key)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def _raised(call):
    try:
        call()
    except Exception as e:  # the test compares what each library raises
        return e
    raise AssertionError("no exception")


def test_load_errors_derive_from_what_cebra_raises(tmp_path):
    """Two DataFrames without a key, an empty CSV, a multi-animal DeepLabCut file."""
    import pandas as pd

    two = tmp_path / "two.h5"
    pd.DataFrame({"a": [1.0, 2.0]}).to_hdf(two, key="first")
    pd.DataFrame({"b": [3.0, 4.0]}).to_hdf(two, key="second")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cols = pd.MultiIndex.from_product(
        [["s"], ["mouse1"], ["Hand"], ["x", "y", "likelihood"]],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    multi = tmp_path / "ma.h5"
    pd.DataFrame(np.ones((3, 3)), columns=cols).to_hdf(multi, key="df_with_missing")
    cases = {
        "two frames": (lambda: cebra.load_data(str(two)), lambda: bd.load_data(two), bd.DataKeyError),
        "empty csv": (lambda: cebra.load_data(str(empty)), lambda: bd.load_data(empty), bd.DataFileError),
        "multi-animal load_data": (lambda: cebra.load_data(str(multi)), lambda: bd.load_data(multi), None),
        "multi-animal": (
            lambda: cebra.load_deeplabcut(str(multi)),
            lambda: bd.load_deeplabcut(multi),
            bd.UnsupportedFormatError,
        ),
    }
    for name, (theirs, ours, own) in cases.items():
        theirs, ours = _raised(theirs), _raised(ours)
        assert isinstance(ours, type(theirs)), (name, theirs, ours)
        assert isinstance(ours, own or bd.MultiAnimalFileError), (name, ours)
    assert isinstance(_raised(lambda: bd.load_data(empty)), bd.EmptyFileError)
    assert "first" in str(_raised(lambda: bd.load_data(two))) and "second" in str(
        _raised(lambda: bd.load_data(two))
    )

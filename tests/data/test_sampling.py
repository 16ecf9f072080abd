# ruff: noqa: NPY002  (the legacy global-RNG mode is tested against numpy's global RNG)
"""Distributions and loaders: the positives follow their distribution, priors respect offsets,
seeds reproduce, CEBRA's defects are fixed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import stats

import brainbridge.data as bd


def _walk(n=3000, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=(n, d)), axis=0).astype(np.float32)


def _brute_nn(data, query, candidates):
    d = ((query[:, None, :] - data[candidates][None, :, :]) ** 2).sum(-1)
    return candidates[np.argmin(d, axis=1)], d.min(axis=1)


def test_continuous_index_is_exact():
    data = _walk(2000).astype(np.float64)
    offset = bd.Offset(5, 5)
    index = bd.ContinuousIndex(data, offset)
    query = data[np.random.default_rng(1).integers(0, 2000, 300)] + np.random.default_rng(2).normal(
        size=(300, 3)
    )
    found = index.search(query)
    candidates = np.arange(5, 2000 - 5 + 1)
    _, best = _brute_nn(data, query, candidates)
    np.testing.assert_allclose(((data[found] - query) ** 2).sum(-1), best, rtol=1e-12)
    assert found.min() >= 5 and found.max() <= 1995


def test_conditional_index_is_exact_and_label_matched():
    rng = np.random.default_rng(3)
    data = _walk(1500).astype(np.float64)
    labels = rng.choice(np.array([-3, 7, 1000]), size=1500)  # negative values and gaps
    index = bd.ConditionalIndex(labels, data)
    q = data[rng.integers(0, 1500, 200)] + rng.normal(size=(200, 3))
    want = rng.choice(np.array([-3, 7, 1000]), size=200)
    found = index.search(q, want)
    assert (labels[found] == want).all()
    for i in range(0, 200, 17):
        _, best = _brute_nn(data, q[i : i + 1], np.flatnonzero(labels == want[i]))
        assert np.isclose(((data[found[i]] - q[i]) ** 2).sum(), best[0])
    with pytest.raises(bd.SamplingError, match="label 5"):
        index.search(q[:1], np.array([5]))


@pytest.mark.parametrize("time_offset", [1, 5, 10])
def test_time_contrastive_offset_and_bounds(time_offset):
    n = 500
    ds = bd.TensorDataset(torch.randn(n, 4), continuous=torch.randn(n, 1), offset=bd.Offset(3, 4))
    loader = bd.ContinuousDataLoader(
        ds, num_steps=1, batch_size=400, conditional="time", time_offset=time_offset, seed=0
    )
    idx = loader.get_indices(400)
    assert ((idx.positive - idx.reference) == time_offset).all()
    for part in idx[:3]:
        assert part.min() >= 3 and part.max() <= n - 4
    assert idx.negative.shape == (400,)


def test_delta_normal_positives_follow_the_gaussian():
    # a dense 1-D grid, so the nearest neighbour of the query is the query up to 1e-4
    n = 20001
    grid = np.linspace(0.0, 2.0, n)[:, None]
    ds = bd.TensorDataset(torch.zeros(n, 1), continuous=grid)
    loader = bd.ContinuousDataLoader(
        ds, num_steps=1, batch_size=4000, conditional="delta_normal", delta=0.05, seed=1
    )
    idx = loader.get_indices(4000)
    ref = idx.reference.numpy()
    inner = (grid[ref, 0] > 0.3) & (grid[ref, 0] < 1.7)  # away from the edges, no truncation
    diff = grid[idx.positive.numpy(), 0] - grid[ref, 0]
    assert stats.kstest(diff[inner], "norm", args=(0, 0.05)).pvalue > 0.01
    assert stats.kstest(diff[inner], "norm", args=(0, 0.1)).pvalue < 1e-6


def test_delta_alias_warns():
    ds = bd.TensorDataset(torch.zeros(50, 1), continuous=torch.randn(50, 2))
    with pytest.warns(DeprecationWarning, match="delta_normal"):
        loader = bd.ContinuousDataLoader(ds, num_steps=1, batch_size=4, conditional="delta")
    assert loader.conditional == "delta_normal"


def test_time_delta_positive_is_nearest_to_a_real_change():
    data = _walk(800)
    ds = bd.TensorDataset(torch.zeros(800, 1), continuous=data, offset=bd.Offset(2, 2))
    loader = bd.ContinuousDataLoader(ds, num_steps=1, batch_size=64, time_offset=5, seed=4)
    dist = loader.distribution
    assert len(dist.time_difference) == 800 - 5
    ref = dist.sample_prior(64)
    # replay the query with the same generator state
    state = dist.rng.generator.bit_generator.state
    query = dist.query(ref)
    dist.rng.generator.bit_generator.state = state
    pos = dist.sample_conditional(ref).numpy()
    _, best = _brute_nn(data.astype(np.float64), query, np.arange(2, 800 - 2 + 1))
    np.testing.assert_allclose(((data[pos].astype(np.float64) - query) ** 2).sum(-1), best, rtol=1e-9)


@pytest.mark.parametrize("prior", ["empirical", "uniform"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64])
def test_discrete_positives_share_label(prior, dtype):
    rng = np.random.default_rng(5)
    labels = rng.choice(np.array([0, 3, 9]), p=[0.7, 0.2, 0.1], size=3000).astype(dtype)
    ds = bd.TensorDataset(torch.randn(3000, 2), discrete=labels, offset=bd.Offset(4, 4))
    loader = bd.DiscreteDataLoader(ds, num_steps=2, batch_size=1000, prior=prior, seed=2)
    idx = loader.get_indices(1000)
    np.testing.assert_array_equal(labels[idx.positive.numpy()], labels[idx.reference.numpy()])
    for part in idx[:3]:
        assert part.min() >= 4 and part.max() <= 3000 - 4


def test_empirical_and_uniform_prior_frequencies():
    rng = np.random.default_rng(6)
    n = 20000
    labels = rng.choice([0, 1, 2], p=[0.3, 0.1, 0.6], size=n)
    emp = bd.DiscreteEmpirical(labels, seed=0)
    uni = bd.DiscreteUniform(labels, seed=0)
    f_emp = np.bincount(labels[emp.sample_prior(60000).numpy()], minlength=3) / 60000
    f_uni = np.bincount(labels[uni.sample_prior(60000).numpy()], minlength=3) / 60000
    np.testing.assert_allclose(f_emp, np.bincount(labels) / n, atol=0.01)
    np.testing.assert_allclose(f_uni, [1 / 3] * 3, atol=0.01)
    # within a class, the uniform prior is uniform over its samples
    drawn = uni.sample_prior(60000).numpy()
    ones = drawn[labels[drawn] == 1]
    counts = np.bincount(ones, minlength=n)[labels == 1]
    assert stats.chisquare(counts).pvalue > 1e-4


def test_uniform_prior_with_label_gaps_is_balanced():
    # CEBRA gave 17 % / 83 % here and one sample 66 % of the draws
    labels = np.r_[np.zeros(500, int), np.full(100, 5)]
    uni = bd.DiscreteUniform(labels, seed=0)
    drawn = uni.sample_prior(40000).numpy()
    np.testing.assert_allclose(
        np.bincount(labels[drawn], minlength=6)[[0, 5]] / 40000, [0.5, 0.5], atol=0.015
    )
    assert np.bincount(drawn).max() / 40000 < 0.02
    with pytest.raises(bd.SamplingError, match="label 3"):
        uni.sample_conditional(np.array([3]))


def test_global_rng_mode_reproduces_cebra_pinned_frequencies():
    # CEBRA's tests/test_distributions.py::test_discrete_uniform_discrete, same numpy calls
    np.random.seed(0)
    n = 10000
    samples = np.random.choice([0, 1, 2], p=[0.3, 0.1, 0.6], size=(n,))
    dist = bd.Discrete(samples, seed=bd.GLOBAL_RNG)
    resample_uni = samples[dist.sample_uniform(n).numpy()]
    resample_emp = samples[dist.sample_empirical(n).numpy()]
    assert np.allclose(np.bincount(samples) / n, [0.3055, 0.0974, 0.5971])
    assert np.allclose(np.bincount(resample_uni) / n, [0.3424, 0.3278, 0.3298])
    assert np.allclose(np.bincount(resample_emp) / n, [0.2969, 0.098, 0.6051])


def test_mixed_loader_label_matched_nearest_positive():
    rng = np.random.default_rng(7)
    data = _walk(2000)
    labels = rng.integers(0, 4, 2000) * 10
    ds = bd.TensorDataset(torch.zeros(2000, 1), continuous=data, discrete=labels, offset=bd.Offset(3, 3))
    loader = bd.MixedDataLoader(ds, num_steps=1, batch_size=2000, time_offset=3, seed=3)
    idx = loader.get_indices(2000)
    ref, pos = idx.reference.numpy(), idx.positive.numpy()
    np.testing.assert_array_equal(labels[pos], labels[ref])
    np.testing.assert_allclose(np.bincount(labels[ref] // 10) / 2000, [0.25] * 4, atol=0.04)
    for part in idx[:3]:
        assert part.min() >= 3 and part.max() <= 2000 - 3
    with pytest.raises(bd.SamplingError, match="time_delta"):
        bd.MixedDataLoader(ds, num_steps=1, batch_size=4, conditional="delta_normal")


def test_hybrid_loader_returns_behaviour_then_time_positives():
    ds = bd.TensorDataset(torch.randn(600, 3), continuous=_walk(600))
    loader = bd.HybridDataLoader(ds, num_steps=1, batch_size=50, time_offset=4, seed=0)
    idx = loader.get_indices(50)
    assert idx.positive.shape == (100,)
    assert ((idx.positive[50:] - idx.reference) == 4).all()
    batch = ds.load_batch(idx)
    assert batch.positive.shape == (100, 3, 1)
    with pytest.raises(bd.SamplingError):
        bd.HybridDataLoader(ds, num_steps=1, batch_size=4, conditional="bogus")


def test_full_loader_covers_every_valid_sample():
    n = 300
    ds = bd.TensorDataset(torch.randn(n, 3), continuous=_walk(n), offset=bd.Offset(4, 6))
    loader = bd.FullDataLoader(ds, num_steps=2, seed=0)
    assert loader.batch_size is None
    idx = next(iter(loader))
    np.testing.assert_array_equal(idx.reference.numpy(), np.arange(4, n - 6 + 1))
    assert sorted(idx.negative.tolist()) == idx.reference.tolist()
    assert len(list(loader)) == 2


def test_seed_reproduces_and_differs():
    ds = bd.TensorDataset(torch.randn(1000, 3), continuous=_walk(1000), discrete=np.arange(1000) % 4)

    def draw(loader_cls, seed, **kw):
        loader = loader_cls(ds, num_steps=3, batch_size=32, seed=seed, **kw)
        return [torch.cat(loader.get_indices(32)[:3]) for _ in range(3)]

    for cls, kw in [
        (bd.ContinuousDataLoader, {}),
        (bd.ContinuousDataLoader, {"conditional": "delta_normal"}),
        (bd.ContinuousDataLoader, {"conditional": "time"}),
        (bd.DiscreteDataLoader, {"prior": "uniform"}),
        (bd.MixedDataLoader, {}),
        (bd.HybridDataLoader, {}),
    ]:
        a, b, c = draw(cls, 11, **kw), draw(cls, 11, **kw), draw(cls, 12, **kw)
        assert all(torch.equal(x, y) for x, y in zip(a, b)), cls
        assert not all(torch.equal(x, y) for x, y in zip(a, c)), cls
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(draw(bd.ContinuousDataLoader, g1)[0], draw(bd.ContinuousDataLoader, g2)[0])
    np.random.seed(1)
    x = draw(bd.DiscreteDataLoader, bd.GLOBAL_RNG)
    np.random.seed(1)
    y = draw(bd.DiscreteDataLoader, bd.GLOBAL_RNG)
    assert torch.equal(x[0], y[0])


def test_loader_follows_offset_changes():
    n = 200
    ds = bd.TensorDataset(torch.randn(n, 3), continuous=_walk(n))
    loader = bd.ContinuousDataLoader(ds, num_steps=1, batch_size=500, seed=0)
    ds.offset = bd.Offset(20, 30)
    idx = loader.get_indices(500)
    for part in idx[:3]:
        assert part.min() >= 20 and part.max() <= n - 30
    assert next(iter(loader)).reference.shape == (500, 3, 50)


def test_loader_validation_errors():
    ds = bd.TensorDataset(torch.randn(100, 3), continuous=_walk(100))
    with pytest.raises(ValueError, match="num_steps"):
        bd.ContinuousDataLoader(ds, batch_size=4)
    with pytest.raises(ValueError, match="Batch size"):
        bd.ContinuousDataLoader(ds, num_steps=1, batch_size=0)
    with pytest.raises(ValueError, match="discrete index"):
        bd.DiscreteDataLoader(ds, num_steps=1, batch_size=4)
    with pytest.raises(ValueError, match="prior"):
        bd.DiscreteDataLoader(
            bd.TensorDataset(torch.randn(10, 3), discrete=np.zeros(10, int)),
            num_steps=1,
            batch_size=4,
            prior="x",
        )
    with pytest.raises(ValueError, match="conditional"):
        bd.ContinuousDataLoader(ds, num_steps=1, batch_size=4, conditional="nope")
    short = bd.TensorDataset(torch.randn(5, 3), continuous=_walk(5), offset=bd.Offset(2, 2))
    with pytest.raises(ValueError, match="too few"):
        bd.ContinuousDataLoader(short, num_steps=1, batch_size=2, conditional="time", time_offset=3)
    nan = _walk(50)
    nan[7] = np.nan
    with pytest.raises(bd.DatasetError, match="NaN"):
        bd.ContinuousDataLoader(
            bd.TensorDataset(torch.randn(50, 3), continuous=nan), num_steps=1, batch_size=2
        )
    loader = bd.ContinuousDataLoader(ds, num_steps=1)
    with pytest.raises(bd.SamplingError, match="batch_size"):
        next(iter(loader))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bd.ContinuousDataLoader(ds, num_steps=1, batch_size=4, conditional="delta_normal")


def test_multisession_continuous_pairs_and_permutation():
    rng = np.random.default_rng(8)
    sessions = [
        bd.TensorDataset(torch.randn(n, d), continuous=_walk(n, 2, seed=n), offset=bd.Offset(2, 3))
        for n, d in [(300, 5), (450, 7), (380, 4)]
    ]
    coll = bd.DatasetCollection(*sessions)
    loader = bd.ContinuousMultiSessionDataLoader(coll, num_steps=2, batch_size=64, time_offset=5, seed=1)
    idx = loader.get_indices(64)
    assert idx.reference.shape == idx.positive.shape == idx.negative.shape == (3, 64)
    np.testing.assert_array_equal(idx.index[idx.index_reversed], np.arange(3 * 64))
    for s, session in enumerate(sessions):
        for part in idx[:3]:
            assert part[s].min() >= 2 and part[s].max() <= len(session) - 3
    batches = coll.load_batch(idx)
    assert [b.reference.shape for b in batches] == [(64, 5, 5), (64, 7, 5), (64, 4, 5)]
    assert all(b.index is idx.index for b in batches)
    # num_samples is honoured (CEBRA ignores it)
    assert loader.get_indices(10).reference.shape == (3, 10)
    with pytest.raises(bd.SamplingError):
        bd.ContinuousMultiSessionDataLoader(coll, num_steps=1, batch_size=4, conditional="time")
    del rng


def test_multisession_discrete_positive_matches_permuted_reference_label():
    rng = np.random.default_rng(9)
    labels = [rng.integers(0, 3, n) for n in (200, 260)]
    sessions = [bd.TensorDataset(torch.randn(len(y), 4), discrete=y) for y in labels]
    coll = bd.DatasetCollection(*sessions)
    loader = bd.DiscreteMultiSessionDataLoader(coll, num_steps=1, batch_size=50, seed=2)
    idx = loader.get_indices(50)
    ref_labels = np.stack([labels[s][idx.reference[s].numpy()] for s in range(2)]).reshape(-1)
    pos_labels = np.stack([labels[s][idx.positive[s].numpy()] for s in range(2)]).reshape(-1)
    np.testing.assert_array_equal(pos_labels, ref_labels[idx.index])
    np.testing.assert_array_equal(pos_labels[idx.index_reversed], ref_labels)
    # a label missing from one session gives a clear error, not a wrong positive
    missing = bd.DatasetCollection(
        bd.TensorDataset(torch.randn(100, 2), discrete=np.r_[np.zeros(50, int), np.ones(50, int)]),
        bd.TensorDataset(torch.randn(100, 2), discrete=np.zeros(100, int)),
    )
    loader = bd.DiscreteMultiSessionDataLoader(missing, num_steps=1, batch_size=200, seed=0)
    with pytest.raises(bd.SamplingError, match="session 1"):
        loader.get_indices(200)


def test_unified_loader_aligns_sessions():
    walk = _walk(400, 2)
    sessions = [bd.TensorDataset(torch.randn(400, d), continuous=walk) for d in (3, 5)]
    unified = bd.UnifiedDataset(*sessions)
    loader = bd.UnifiedLoader(unified, num_steps=1, batch_size=32, seed=0)
    idx = loader.get_indices(32)
    # identical continuous indexes: the aligned references are the same samples
    assert torch.equal(idx.reference[0], idx.reference[1])
    batch = unified.load_batch(idx)
    assert batch.reference.shape == (32, 8, 1)


def test_equivalence_with_cebra_if_installed():
    cebra_distr = pytest.importorskip("cebra.distributions")
    np.random.seed(0)
    labels = np.random.choice([0, 1, 2, 3], size=5000)
    theirs = cebra_distr.DiscreteUniform(labels)
    np.random.seed(1)
    a = theirs.sample_prior(1000).numpy()
    b = theirs.sample_conditional(labels[a]).numpy()
    ours = bd.DiscreteUniform(labels, seed=bd.GLOBAL_RNG)
    np.random.seed(1)
    c = ours.sample_prior(1000).numpy()
    d = ours.sample_conditional(labels[c]).numpy()
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, d)

"""CEBRA 0.6.1 API details that code switching from ``cebra.data`` relies on: module paths,
``.to(device)`` everywhere, tensor results of index searches, the distributions' positional
``device`` argument, ``Mixed``, ``UnifiedSampler.sample_all_sessions`` and ``_to_tensor``.

Compared with cebra itself where it is installed (the ``test`` extra); CEBRA's own tests also run
against brainbridge in tests/conformance.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import brainbridge.data as bd  # noqa: E402
from brainbridge.data import distributions as bdist  # noqa: E402

cebra_data = pytest.importorskip("cebra.data")
cebra_distributions = pytest.importorskip("cebra.distributions")


@pytest.mark.parametrize("module", ["base", "datatypes", "single_session", "multi_session", "datasets"])
def test_cebra_data_module_paths_exist_with_cebras_names(module):
    ours = importlib.import_module(f"brainbridge.data.{module}")
    theirs = importlib.import_module(f"cebra.data.{module}")
    names = getattr(theirs, "__all__", None) or [
        n for n, v in vars(theirs).items() if isinstance(v, type) and v.__module__ == theirs.__name__
    ]
    wanted = set(names)
    assert wanted <= set(dir(ours)), sorted(wanted - set(dir(ours)))


@pytest.mark.parametrize("module", ["continuous", "discrete", "index", "mixed", "multisession"])
def test_cebra_distribution_module_paths(module):
    ours = importlib.import_module(f"brainbridge.data.distributions.{module}")
    theirs = importlib.import_module(f"cebra.distributions.{module}")
    # the public classes brainbridge implements (the brute-force matrices are replaced by KD-trees)
    skip = {
        "DistanceMatrix",
        "OffsetDistanceMatrix",
        "MultiSessionIndex",
        "DirectTimedeltaDistribution",
        "CEBRADistribution",
        "ConfigurableDistribution",
        "Offset",
        "Index",
        "HasGenerator",
        "PriorDistribution",
        "ConditionalDistribution",
        "JointDistribution",
        "MultivariateDiscrete",
    }
    names = {n for n, v in vars(theirs).items() if isinstance(v, type) and v.__module__ == theirs.__name__}
    assert names - skip <= set(dir(ours)), sorted(names - skip - set(dir(ours)))


def _dataset(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return bd.TensorDataset(
        rng.normal(size=(n, 4)).astype("float32"),
        continuous=rng.normal(size=(n, 2)),
        discrete=rng.integers(0, 3, n),
    )


def test_to_device_moves_every_dataset_kind_and_the_loaders():
    single = _dataset()
    assert single.to("meta") is single and single.neural.device.type == "meta"
    collection = bd.DatasetCollection(_dataset(seed=1), _dataset(seed=2))
    collection.to("meta")
    assert collection.device == "meta"
    assert all(s.neural.device.type == "meta" for s in collection.iter_sessions())
    assert collection.continuous_index.device.type == "meta"
    unified = bd.UnifiedDataset(_dataset(seed=3), _dataset(seed=4)).to("meta")
    assert all(s.neural.device.type == "meta" for s in unified.iter_sessions())

    class Custom(bd.SingleSessionDataset):  # a user dataset keeping its data in tensor attributes
        def __init__(self):
            super().__init__()
            self.neural = torch.zeros(10, 3)
            self.labels = torch.zeros(10, dtype=torch.long)

        @property
        def input_dimension(self):
            return 3

        def __len__(self):
            return 10

        def __getitem__(self, index):
            return self.neural[index]

    custom = Custom().to("meta")
    assert custom.device == "meta" and custom.labels.device.type == "meta"
    loader = bd.ContinuousDataLoader(_dataset(), num_steps=1, batch_size=4, seed=0)
    assert loader.to("meta") is loader and loader.device == "meta"
    assert loader.dataset.neural.device.type == "meta"


def test_index_search_returns_tensors_like_cebra():
    rng = np.random.default_rng(0)
    points = torch.from_numpy(rng.normal(size=(200, 2)).astype("float32"))
    labels = torch.from_numpy(rng.integers(0, 3, 200))
    queries = points[:20] + 1e-3
    ours = bd.ContinuousIndex(points).search(queries)
    theirs = cebra_distributions.ContinuousIndex(points).search(queries)
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.int64
    assert torch.equal(ours, theirs)
    ours_c = bd.ConditionalIndex(labels, points).search(queries, labels[:20])
    theirs_c = cebra_distributions.ConditionalIndex(labels, points).search(queries, labels[:20])
    assert isinstance(ours_c, torch.Tensor) and torch.equal(ours_c, theirs_c)
    anywhere = bd.ConditionalIndex(labels, points).search(queries, discrete=None)
    assert torch.equal(anywhere, ours)


def test_distributions_take_cebras_positional_device():
    continuous = torch.randn(100, 2)
    labels = torch.randint(0, 3, (100,))
    # cebra's positional order: the device lands on `device`, never on an offset
    made = [
        bdist.Prior(continuous, "cpu"),
        bdist.TimeContrastive(continuous, 1, 100, "cpu"),
        bdist.TimedeltaDistribution(continuous, 1, "cpu"),
        bdist.DeltaNormalDistribution(continuous, 0.1, "cpu"),
        bdist.Discrete(labels, "cpu"),
        bdist.DiscreteUniform(labels, "cpu"),
        bdist.DiscreteEmpirical(labels, "cpu"),
    ]
    for dist in made:
        assert dist.device == "cpu" and dist.offset == bd.Offset(0, 1)
    meta = bdist.Prior(continuous, "meta", seed=0)
    assert meta.sample_prior(5).device.type == "meta"
    with pytest.raises(TypeError):  # the seed stays keyword-only
        bdist.Prior(continuous, "cpu", 0)


def test_mixed_samples_like_cebras_mixed():
    rng = np.random.default_rng(1)
    discrete = torch.from_numpy(rng.integers(0, 3, 500))
    continuous = torch.from_numpy(rng.normal(size=(500, 2)).astype("float32"))
    ours = bdist.mixed.Mixed(discrete, continuous, seed=0)
    theirs = cebra_distributions.mixed.Mixed(discrete, continuous)
    ref = ours.sample_prior(64)
    assert set(np.unique(discrete[ref].numpy())) == {0, 1, 2}
    same_label = ours.sample_conditional_discrete(discrete[ref])
    assert torch.equal(discrete[same_label], discrete[ref])
    query = continuous[ref] + 0.01
    assert torch.equal(
        ours.sample_conditional(discrete[ref], query), theirs.sample_conditional(discrete[ref], query)
    )
    nearest = ours.sample_conditional_continuous(query)
    assert torch.equal(nearest, bd.ContinuousIndex(continuous).search(query))


def test_unified_sampler_sample_all_sessions_maps_references_to_nearest_samples():
    sessions = [_dataset(n, seed) for n, seed in ((50, 1), (70, 2), (90, 3))]
    sampler = bd.UnifiedSampler(bd.UnifiedDataset(*sessions), time_offset=2, seed=0)
    independent = sampler.sample_all_uniform_prior(16)
    assert independent.shape == (3, 16) and all(independent[s].max() < len(sessions[s]) for s in range(3))
    ref = torch.from_numpy(independent[1])
    aligned = sampler.sample_all_sessions(ref, session_id=1)
    assert isinstance(aligned, torch.Tensor) and aligned.shape == (3, 16)
    assert torch.equal(aligned[1], ref)
    query = sessions[1].continuous[ref]
    for s in (0, 2):
        assert torch.equal(aligned[s], bd.ContinuousIndex(sessions[s].continuous).search(query))
    prior = sampler.sample_prior(8, session_id=2)
    assert prior.shape == (3, 8) and isinstance(prior, np.ndarray)


@pytest.mark.parametrize(
    ("array", "check_dtype"),
    [
        (np.linspace(0, 1, 15).reshape(5, 3), "float"),
        (np.arange(6).reshape(3, 2), "int"),
        (torch.randn(4, 2), "float"),
        (torch.arange(4), "int"),
        (None, None),
        (np.arange(3.0), None),
    ],
)
def test_to_tensor_matches_cebra(array, check_dtype):
    ours = bd.TensorDataset(np.zeros((4, 2)), continuous=np.zeros((4, 1)))
    theirs = cebra_data.TensorDataset(np.zeros((4, 2)), continuous=np.zeros((4, 1)))
    a = ours._to_tensor(array, check_dtype=check_dtype)
    b = theirs._to_tensor(array, check_dtype=check_dtype)
    assert (a is None) == (b is None)
    if a is not None:
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_to_tensor_errors_are_cebras():
    ds = bd.TensorDataset(np.zeros((4, 2)), continuous=np.zeros((4, 1)))
    with pytest.raises(TypeError):
        ds._to_tensor(np.linspace(0, 1, 3), check_dtype="int")
    with pytest.raises(TypeError):
        ds._to_tensor(np.arange(3), check_dtype="float")
    with pytest.raises(ValueError, match="check_dtype must be 'int' or 'float', got"):
        ds._to_tensor(np.arange(3), check_dtype="integer")

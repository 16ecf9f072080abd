"""An ecephys project feeds the ML loaders: one session per dataset, shared stimulus labels."""

from __future__ import annotations

import numpy as np
import pytest

from brainbridge.ecephys import EcephysProjectCache

from .conftest import SESSIONS

torch = pytest.importorskip("torch")


def test_multi_session_collection_from_an_ecephys_project(project_dir, tmp_path):
    import brainbridge.data as bd

    cache = EcephysProjectCache.from_source(project_dir, manifest=tmp_path / "m.json", retry_wait=0)
    edges = np.linspace(0.0, 0.25, 6)
    counts = {}

    def session_counts(session_id):
        with cache.get_session_data(session_id) as session:
            counts[session_id] = session.to_assembly(session.presentationwise_spike_counts(edges))
        return counts[session_id]

    coll = bd.collection_from_sessions(session_counts, SESSIONS, discrete="stimulus_id")
    assert coll.num_sessions == len(SESSIONS)
    categories = coll.discrete_categories
    for i, session_id in enumerate(SESSIONS):
        assembly = counts[session_id]
        ds = coll.get_session(i)
        assert ds.neural.shape == (assembly.sizes["presentation"] * 5, assembly.sizes["neuroid"])
        # sample k is presentation k // 5, time bin k % 5; labels decode to the stimulus ids
        values = assembly.transpose("presentation", "time_bin", "neuroid").values
        np.testing.assert_array_equal(ds.neural[7].numpy(), values[1, 2].astype(np.float32))
        decoded = [categories[c] for c in ds.discrete[::5].tolist()]
        assert decoded == assembly["stimulus_id"].values.tolist()
    loader = bd.DiscreteMultiSessionDataLoader(coll, num_steps=1, batch_size=16, seed=0)
    batch = next(iter(loader))
    assert len(batch) == len(SESSIONS) and batch[0].reference.shape[0] == 16

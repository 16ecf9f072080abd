"""Score plots a scientist can publish: units, explained markers, a title naming model and data."""

from __future__ import annotations

import numpy as np
import pytest

from brainbridge.assemblies import ModelFeaturesAssembly, NeuronRecordingAssembly
from brainbridge.encoding.errors import InvalidParameterError
from brainbridge.encoding.plots import plot_score
from brainbridge.encoding.scoring import score


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(0)
    n_stim, n_reps = 90, 4
    features = rng.normal(size=(n_stim, 12))
    signal = 10 + 3 * features @ rng.normal(size=(12, 6)) / np.sqrt(12)
    stim = np.tile(np.arange(n_stim), n_reps)
    ids = np.array([f"s{i:03d}" for i in range(n_stim)])
    target = NeuronRecordingAssembly(
        signal[stim] + rng.normal(size=(len(stim), 6)),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids[stim]),
            "repetition": ("presentation", np.repeat(np.arange(n_reps), n_stim)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(6)]),
            "region": ("neuroid", ["V1"] * 3 + ["IT"] * 3),
        },
        attrs={"units": "spikes/s"},
    )
    model = ModelFeaturesAssembly(
        features,
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids),
            "neuroid_id": ("neuroid", [f"f{i}" for i in range(12)]),
        },
    )
    return score(model, target, "ridge_per_neuroid", n_splits=3, stratification_coord=None)


def test_score_plot_names_model_and_data_with_units_and_explained_markers(scored, tmp_path):
    import matplotlib.pyplot as plt

    figure = plot_score(scored.regions["V1"], tmp_path / "v1.png", title="features.nc vs neural.nc, V1")
    try:
        assert figure._suptitle.get_text() == "features.nc vs neural.nc, V1"
        predictions, ceiling = figure.axes
        assert "(spikes/s)" in predictions.get_xlabel() and "(spikes/s)" in predictions.get_ylabel()
        for ax in (predictions, ceiling):
            labels = [text.get_text() for text in ax.get_legend().get_texts()]
            assert labels and all(labels)
        assert any("medians" in label for label in [t.get_text() for t in ceiling.get_legend().get_texts()])
        assert f"± {scored.regions['V1'].ceiled_error:.3f}" in ceiling.get_title()
        assert any("SEM over splits" in text.get_text() for text in figure.texts)  # the caption
        # the r-vs-ceiling panel spans its data, not the whole unit square
        low, high = ceiling.get_xlim()
        c = scored.regions["V1"].ceiling.per_neuroid().values
        assert low <= c.min() and high >= c.max() and high - low <= 0.5
    finally:
        plt.close(figure)
    assert (tmp_path / "v1.png").read_bytes()[:4] == b"\x89PNG"


def test_a_per_region_score_is_plotted_region_by_region(scored):
    with pytest.raises(InvalidParameterError, match="pick a region"):
        plot_score(scored)

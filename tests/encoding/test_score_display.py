"""Jupyter displays of scores and model cards."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest

from brainbridge.assemblies import ModelFeaturesAssembly, NeuronRecordingAssembly
from brainbridge.encoding.registry import get_card, list_cards
from brainbridge.encoding.scoring import score


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(1)
    n_stim, n_reps = 60, 4
    features = rng.normal(size=(n_stim, 8))
    signal = 10 + 3 * features @ rng.normal(size=(8, 6)) / np.sqrt(8)
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
    )
    model = ModelFeaturesAssembly(
        features,
        dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", ids), "neuroid_id": ("neuroid", [f"f{i}" for i in range(8)])},
    )
    return score(model, target, "ridge_per_neuroid", n_splits=3, stratification_coord=None)


def _text(html: str) -> str:
    return unescape(re.sub(r"<style>.*?</style>|<[^>]+>", " ", html))


def test_a_score_shows_its_value_error_ceiling_and_formula_not_xarrays_table(scored):
    v1 = scored.regions["V1"]
    text = " ".join(_text(v1._repr_html_()).split())
    assert f"Score ridge_per_neuroid: {float(v1):.4f} ± {v1.ceiled_error:.4f}" in text
    assert f"raw (unceiled) {float(v1.unceiled):.4f} {v1.raw_error:.4f}" in text
    assert f"ceiling {float(v1.ceiling):.4f}" in text
    assert "ceiled = r² / ceiling" in text and "3 splits" in text
    assert "xr-" not in v1._repr_html_()  # not xarray's own HTML, which hides the summary in attrs


def test_a_per_region_score_shows_one_row_per_region(scored):
    html = scored._repr_html_()
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)]
    regions = {cells[0]: cells for cells in rows if cells}
    assert set(regions) == {"V1", "IT"}
    it = scored.regions["IT"]
    assert regions["IT"][1:] == [
        f"{float(it):.4f}",
        f"{it.ceiled_error:.4f}",
        f"{float(it.unceiled):.4f}",
        f"{it.raw_error:.4f}",
        f"{float(it.ceiling):.4f}",
    ]


def test_an_unceiled_score_says_so():
    from brainbridge.encoding.scoring import _make_score

    text = _text(_make_score(0.5, metric="rdm", error=0.1, raw_error=0.1)._repr_html_())
    assert "0.5000 ± 0.1000" in text and "not ceiled" in text
    assert "ceiling" not in text.replace("not ceiled", "")


def test_model_cards_show_selection_options_and_a_usage_snippet():
    card = get_card(list_cards()[0].model_id)
    text = _text(card._repr_html_())
    assert card.model_id in text and card.description[:30] in text
    for value in card.roi_key.valid_values:
        assert value in text
    assert f"get_encoding_model({card.model_id!r}, selection={{{card.roi_key.name!r}:" in text

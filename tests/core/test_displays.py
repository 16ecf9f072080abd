"""Rich displays (``_repr_html_``) and quick plots of assemblies and stimulus sets."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from html import unescape

import matplotlib
import numpy as np
import pytest
from PIL import Image

from brainbridge.assemblies import DataAssembly, NeuronRecordingAssembly
from brainbridge.display import MAX_THUMBNAIL_SOURCE_BYTES, assembly_html, stimulus_set_html
from brainbridge.errors import InvalidParameterError
from brainbridge.packaging import write_netcdf
from brainbridge.stimuli import StimulusSet

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _recording(n_stim=6, n_reps=3, n_bins=4, seed=0) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(seed)
    stim = np.tile(np.arange(n_stim), n_reps)
    data = rng.normal(size=(n_stim * n_reps, 5, n_bins)) + np.arange(5)[None, :, None]
    return NeuronRecordingAssembly(
        data,
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", [f"s{i}" for i in stim]),
            "repetition": ("presentation", np.repeat(np.arange(n_reps), n_stim)),
            "category_name": ("presentation", ["<b>cat</b>" if i % 2 else "dog" for i in stim]),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(5)]),
            "region": ("neuroid", ["V1", "V1", "IT", "IT", "IT"]),
            "time_bin_start": ("time_bin", np.arange(n_bins) * 10.0),
            "time_bin_end": ("time_bin", np.arange(n_bins) * 10.0 + 10),
        },
        attrs={"units": "spikes/s"},
    )


def _cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    return [[unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)] for row in rows]


# --------------------------------------------------------------------------------------
# assemblies
# --------------------------------------------------------------------------------------


def test_the_assembly_summary_lists_dims_and_coordinates_without_reading_the_values(tmp_path):
    write_netcdf(_recording(), tmp_path / "a.nc")
    lazy = NeuronRecordingAssembly.from_files(tmp_path / "a.nc")
    assert not lazy.variable._in_memory

    html = lazy._repr_html_()

    assert not lazy.variable._in_memory  # the display did not read the values
    assert "NeuronRecordingAssembly" in html and "presentation: 18 × neuroid: 5 × time_bin: 4" in html
    assert "values not loaded yet" in html
    rows = {cells[0]: cells for cells in _cells(html) if cells}
    assert rows["region"][1:4] == ["neuroid", "<U2", "2"]  # dim, dtype, distinct values
    assert rows["region"][4] == "V1, IT"
    assert rows["stimulus_id"][3] == "6"
    assert rows["units"][1] == "spikes/s"  # attributes
    # text from the data is escaped: no markup of the file's own reaches the page
    assert "<b>cat</b>" not in html and "&lt;b&gt;cat&lt;/b&gt;" in html
    lazy.load()
    assert "values in memory" in lazy._repr_html_()


def test_a_plain_dataarray_and_a_scalar_get_a_summary_too():
    import xarray as xr

    html = assembly_html(xr.DataArray(np.zeros(3), dims=["x"], coords={"x": [1, 2, 3]}, name="plain"))
    assert "DataArray 'plain' (x: 3)" in unescape(html) and "values in memory" in html
    assert "(a scalar)" in assembly_html(DataAssembly(np.float64(1.0)))


def test_assembly_plot_works_on_multiindexed_dims_and_keeps_the_levels():
    rec = _recording()
    # xarray alone cannot put the presentation MultiIndex (tuples) on an axis
    with pytest.raises(TypeError, match="numeric"):
        _ = __import__("xarray").DataArray(rec).isel(time_bin=0).plot()
    mesh = rec.isel(time_bin=0).plot()
    try:
        assert mesh.get_array().shape == (18 * 5,) or mesh.get_array().shape == (18, 5)
        lines = rec.isel(time_bin=0, neuroid=0).plot.line()
        assert len(lines) == 1 and len(lines[0].get_xdata()) == 18
    finally:
        plt.close("all")


# --------------------------------------------------------------------------------------
# the .brainbridge.plot accessor
# --------------------------------------------------------------------------------------


def test_regions_plot_has_one_box_per_region_with_each_neuroids_mean():
    rec = _recording()
    ax = rec.brainbridge.plot(kind="regions")
    try:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == ["V1\n(n=2)", "IT\n(n=3)"]
        points = [line for line in ax.lines if line.get_marker() == "."]
        expected = rec.values.mean(axis=(0, 2))
        np.testing.assert_allclose(np.concatenate([p.get_ydata() for p in points]), expected)
        assert "(spikes/s)" in ax.get_ylabel()
    finally:
        plt.close(ax.figure)


def test_psth_plot_draws_the_mean_per_region_at_the_bin_centres():
    rec = _recording()
    ax = rec.brainbridge.plot(kind="psth")
    try:
        assert [line.get_label() for line in ax.lines] == ["V1 (n=2)", "IT (n=3)"]
        np.testing.assert_allclose(ax.lines[0].get_xdata(), [5, 15, 25, 35])
        np.testing.assert_allclose(ax.lines[1].get_ydata(), rec.values[:, 2:].mean(axis=(0, 1)))
    finally:
        plt.close(ax.figure)
    with pytest.raises(InvalidParameterError, match="time_bin"):
        rec.isel(time_bin=0).brainbridge.plot(kind="psth")


def test_rdm_plot_is_one_minus_pearson_over_averaged_repetitions():
    rec = _recording()
    ax = rec.brainbridge.plot(kind="rdm", region="IT", sort_by="stimulus_id")
    try:
        shown = ax.images[0].get_array()
        # an independent computation: average the repetitions and the time bins by hand
        ids = rec["stimulus_id"].values
        order = sorted(set(ids))
        patterns = np.stack([rec.values[ids == s][:, 2:, :].mean(axis=(0, 2)) for s in order])
        np.testing.assert_allclose(shown, 1 - np.corrcoef(patterns), atol=1e-12)
        assert "(IT)" in ax.get_title()
    finally:
        plt.close(ax.figure)
    with pytest.raises(InvalidParameterError, match="Valid values are: \\['V1', 'IT'\\]"):
        rec.brainbridge.plot(kind="rdm", region="V4")


def test_an_unknown_plot_kind_lists_the_valid_ones():
    with pytest.raises(InvalidParameterError, match="Valid values are: \\['regions', 'psth', 'rdm'\\]"):
        _recording().brainbridge.plot(kind="raster")


def test_the_plot_modules_do_not_load_matplotlib_until_a_plot_is_drawn():
    code = (
        "import sys, json, brainbridge.assemblies, brainbridge.display, brainbridge.assembly_plots; "
        "print(json.dumps('matplotlib' in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False


# --------------------------------------------------------------------------------------
# stimulus sets
# --------------------------------------------------------------------------------------


def _stimuli(tmp_path, n=10) -> StimulusSet:
    paths = {}
    for i in range(n):
        path = tmp_path / f"im{i}.png"
        Image.new("RGB", (200, 100), (25 * i, 0, 0)).save(path)
        paths[f"im{i}"] = path
    return StimulusSet.from_paths(paths, identifier="lab.<Me>2025", object_name=[f"obj{i}" for i in range(n)])


def test_stimulus_set_display_shows_small_inline_thumbnails_and_the_metadata_head(tmp_path):
    stimuli = _stimuli(tmp_path)
    html = stimuli._repr_html_()

    uris = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    assert len(uris) == 8  # a few, not all ten
    first = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert first.size == (64, 32)  # aspect kept, small
    assert Image.open(io.BytesIO(base64.b64decode(uris[3]))).getpixel((5, 5))[0] == 75  # the 4th image
    assert "obj0" in html and "obj4" in html and "obj5" not in html  # the head: 5 rows
    assert "10 stimuli" in html and "lab.&lt;Me&gt;2025" in html and "<Me>" not in html
    assert "file://" not in html and str(tmp_path) not in html  # nothing points at local files


def test_non_images_and_oversized_files_get_a_placeholder(tmp_path, monkeypatch):
    (tmp_path / "sound.wav").write_bytes(b"RIFF....WAVE")
    big = tmp_path / "big.png"
    Image.new("RGB", (10, 10)).save(big)
    stimuli = StimulusSet.from_paths({"sound": tmp_path / "sound.wav", "big": big})
    monkeypatch.setattr("brainbridge.display.MAX_THUMBNAIL_SOURCE_BYTES", 10)
    html = stimulus_set_html(stimuli)
    assert "data:image" not in html and ".wav" in html and ".png" in html
    assert MAX_THUMBNAIL_SOURCE_BYTES > 10


def test_the_example_stimulus_set_and_assembly_display(examples):
    import brainbridge as bb

    neural = bb.get_assembly("brainbridge.example.neural")
    html = neural._repr_html_()
    assert "neuroid: 80" in html and "region" in html
    stimuli = neural.attrs["stimulus_set"]
    assert stimuli._repr_html_().count("data:image/png;base64,") == 8

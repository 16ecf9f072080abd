"""`brainbridge serve` over HTTP (Starlette's TestClient): every page, bad URLs, escaping, laziness."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner
from tests.web.conftest import EEG, EXAMPLE_MODELS, FMRI, HOSTILE

from brainbridge.cli import main

ASSEMBLY = "brainbridge.example.neural"
STIMULI = "brainbridge.example.stimuli"


def _svg(response) -> ET.Element:
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag.endswith("svg")
    return root


def _cells(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)]
        for r in rows
    ]


def test_index_lists_the_catalogs_and_their_entries(client):
    page = client.get("/")
    assert page.status_code == 200
    assert f'href="/assemblies/{ASSEMBLY}"' in page.text and f'href="/stimulus-sets/{STIMULI}"' in page.text
    assert "brainbridge-examples" in page.text
    rows = {r[0]: r for r in _cells(page.text, "entries")[1:]}
    assert rows[ASSEMBLY][1:3] == ["assembly", "ephys"] and rows[ASSEMBLY][4] == "V1, IT"
    assert rows[STIMULI][1:3] == ["stimulus set", "stimuli"]
    assert re.search(r"\d+(\.\d+)? (KiB|MiB|kB|MB)", rows[ASSEMBLY][5]), rows[ASSEMBLY][5]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=stimulus+set", {STIMULI}),
        ("region=IT", {ASSEMBLY}),
        ("modality=ephys&q=example", {ASSEMBLY}),
        ("q=NEURAL", {ASSEMBLY}),
        ("min_mb=0.5", {ASSEMBLY, STIMULI}),
        ("max_mb=0.000001", set()),
    ],
)
def test_index_filters_by_kind_region_modality_size_and_text(client, query, expected):
    page = client.get(f"/?{query}")
    assert page.status_code == 200
    shown = {r[0] for r in _cells(page.text, "entries")[1:]}
    assert shown & {ASSEMBLY, STIMULI} == expected
    if query.startswith("region") or query.startswith("kind"):
        assert "outside.assembly" not in shown


def test_index_refuses_a_size_that_is_not_a_number(client):
    page = client.get("/?min_mb=lots")
    assert page.status_code == 400 and "min_mb must be a number" in page.text


def test_assembly_page_shows_dims_coordinates_checksum_location_and_plots(client, home):
    from brainbridge.catalogs import lookup_assembly

    page = client.get(f"/assemblies/{ASSEMBLY}")
    assert page.status_code == 200
    dims = dict(r[:2] for r in _cells(page.text, "dims"))
    assert dims["presentation"] == "4,000" and dims["neuroid"] == "80" and dims["time_bin"] == "1"
    coords = {r[0]: r for r in _cells(page.text, "coords")[1:]}
    assert coords["region"][1:4] == ["neuroid", coords["region"][2], "2"]
    assert coords["stimulus_id"][3] == "400" and coords["repetition"][3] == "10"
    assert str(lookup_assembly(ASSEMBLY)["sha1"]) in page.text
    assert "neural.nc" in page.text
    regions = {r[0]: r for r in _cells(page.text, "regions")[1:]}
    # the example's reliability is 0.80-0.90 by construction
    assert set(regions) == {"V1", "IT"} and all(0.75 < float(r[2]) < 0.95 for r in regions.values())
    plots = re.findall(r'src="(/assemblies/[^"]+\.svg)"', page.text)
    assert len(plots) == 4
    for url in plots:
        root = _svg(client.get(url))
        assert len(ET.tostring(root)) > 5000  # a drawn plot, not an empty figure


def test_assembly_summary_reads_a_bounded_slab_not_the_whole_file(home):
    from brainbridge.web import data

    entry = data.Catalogs().get(ASSEMBLY, "assembly")
    whole = data.summarize_assembly(entry)
    assert whole.values.shape == (4000, 80) and whole.sample_note == ""
    part = data.summarize_assembly(entry, max_values=4000 * 10)
    assert part.values.shape == (4000, 10)
    assert "10 of 80 neuroids" in part.sample_note and "not read whole" in part.sample_note
    # the sampled neuroids are the file's own columns (evenly spaced, first and last included)
    assert (part.values[:, 0] == whole.values[:, 0]).all() and (
        part.values[:, -1] == whole.values[:, -1]
    ).all()
    # read window by window (500 presentations at a time here): every value is the file's own
    np.testing.assert_array_equal(part.values, whole.values[:, np.linspace(0, 79, 10).round().astype(int)])


@pytest.mark.parametrize(
    ("identifier", "names"),
    [(FMRI, ["ceiling", "responses", "repetitions"]), (EEG, ["erp", "reliability", "repetitions"])],
)
def test_fmri_and_eeg_assembly_pages_show_their_modality_plots(client, identifier, names):
    page = client.get(f"/assemblies/{identifier}")
    assert page.status_code == 200 and "no summary plots" not in page.text
    urls = re.findall(r'src="(/assemblies/[^"]+\.svg)"', page.text)
    assert [u.rsplit("/", 1)[1] for u in urls] == [f"{n}.svg" for n in names]
    for url in urls:
        root = _svg(client.get(url))
        assert len(ET.tostring(root)) > 5000  # a drawn plot, not an empty figure or a message
    if identifier == FMRI:  # the index lists an fMRI assembly's ROIs as its regions
        index = client.get("/?region=V4")
        assert identifier in {r[0] for r in _cells(index.text, "entries")[1:]}
    # the plots of another modality are not served for this one
    other = "erp" if identifier == FMRI else "ceiling"
    assert client.get(f"/assemblies/{identifier}/plots/{other}.svg").status_code == 404


def test_modality_summaries_hold_the_numbers_their_plots_show(home):
    from brainbridge.assembly_plots import plot_assembly
    from brainbridge.web import data

    fmri = data.summarize_assembly(data.Catalogs().get(FMRI, "assembly"))
    assert fmri.modality == "fmri" and fmri.values.shape == (60, 12) and fmri.sample_note == ""
    assert [name for name, _ in fmri.neuroid_groups] == ["V1", "V4", "early"]
    assert len(fmri.neuroid_groups[2][1]) == 8  # early = V1 and V4: groups overlap
    ax = plot_assembly(fmri.sample, "ceiling")
    assert "n=3 repetitions" in ax.get_title()
    eeg = data.summarize_assembly(data.Catalogs().get(EEG, "assembly"))
    assert eeg.modality == "eeg" and eeg.values is None and eeg.sample.shape == (80, 9, 30)
    assert np.bincount(eeg.stimulus_codes).tolist() == [4] * 10 + [8] * 5


def test_an_eeg_summary_reads_a_bounded_balanced_sample_and_says_so(home):
    from brainbridge.web import data

    entry = data.Catalogs().get(EEG, "assembly")
    whole = data.summarize_assembly(entry)
    per_trial = 9 * 30
    # room for 25 trials: the 15 stimuli shown >= 4 times, 6 of them (evenly spaced), 4 repetitions each
    part = data.summarize_assembly(entry, max_values=25 * per_trial)
    assert part.sample.sizes["presentation"] == 24 and part.sample.size <= 25 * per_trial
    assert (
        "24 of 80 trials" in part.sample_note
        and "6 of the 15 stimuli shown at least 4 times" in part.sample_note
    )
    assert "not read whole" in part.sample_note
    ids = part.sample["stimulus_id"].values
    assert sorted(np.unique(ids, return_counts=True)[1].tolist()) == [4] * 6
    # the sampled trials are the file's own: each is one of the whole file's trials, first repetitions
    whole_ids = np.asarray(whole.sample["stimulus_id"].values)
    for i in range(len(ids)):
        matches = np.flatnonzero(whole_ids == ids[i])[:4]
        assert any(np.array_equal(part.sample.values[i], whole.sample.values[m]) for m in matches)
    # the repetitions plot still counts every trial
    assert np.bincount(part.stimulus_codes).sum() == 80
    tiny = data.summarize_assembly(entry, max_values=per_trial - 1)
    assert tiny.sample is None and "no summary plots: one trial holds 270 values" in tiny.sample_note


def test_stimulus_set_grid_has_cached_thumbnails_and_metadata(client, home):
    from brainbridge import config

    page = client.get(f"/stimulus-sets/{STIMULI}")
    assert page.status_code == 200
    thumbnails = re.findall(r'src="(/stimulus-sets/[^"]+/thumbnails/[^"]+\.png)"', page.text)
    assert len(thumbnails) == 120  # the first page of 400
    header = _cells(page.text, "metadata")[0]
    assert {"stimulus_id", "category_name", "object_name"} <= set(header)
    first = client.get(thumbnails[0])
    assert first.status_code == 200 and first.content[:8] == b"\x89PNG\r\n\x1a\n"
    cached = list((config.cache_dir() / "thumbnails").rglob("*.png"))
    assert len(cached) >= 1
    before = {p: p.stat().st_mtime_ns for p in cached}
    again = client.get(thumbnails[0])
    assert again.content == first.content
    assert {p: p.stat().st_mtime_ns for p in cached} == before  # made once, served from the cache
    second_page = client.get(f"/stimulus-sets/{STIMULI}?start=120")
    assert "Stimuli 121–240 of 400" in second_page.text


def test_stimulus_page_and_image(client):
    page = client.get(f"/stimulus-sets/{STIMULI}/stimuli/0002")
    assert page.status_code == 200 and "Stimulus 0002" in page.text
    metadata = dict(r[:2] for r in _cells(page.text, "metadata"))
    assert metadata["stimulus_id"] == "0002" and metadata["category_name"] in {"grating", "texture", "shape"}
    assert 'href="/stimulus-sets/brainbridge.example.stimuli/stimuli/0001"' in page.text
    image = client.get(f"/stimulus-sets/{STIMULI}/images/0002")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert client.get(f"/stimulus-sets/{STIMULI}/stimuli/9999").status_code == 404
    assert client.get("/stimulus-sets/no.such.set").status_code == 404


def test_models_and_model_cards(client):
    page = client.get("/models")
    assert page.status_code == 200
    for model in EXAMPLE_MODELS:
        assert f'href="/models/{model}"' in page.text
    card = client.get(f"/models/{EXAMPLE_MODELS[0]}")
    assert card.status_code == 200
    selection = _cells(card.text, "selection")
    assert [r[:3] for r in selection[1:3]] == [["region", "V1", "energy"], ["region", "IT", "energy"]]
    assert "get_encoding_model(&#39;ephys-brainbridge_example-gabor_v1&#39;" in card.text
    assert len(_cells(card.text, "model-scores")) == 3  # header + V1 + IT from the store
    missing = client.get("/models/ephys-nothing-here")
    assert (
        missing.status_code == 404 and "ephys-brainbridge_example-gabor_v1" in missing.text
    )  # lists valid ids


def test_scores_leaderboard_sorts_and_links_to_per_neuroid_plots(client):
    page = client.get("/scores")
    assert page.status_code == 200
    rows = _cells(page.text, "scores")[1:]
    ceiled = [float(r[5]) for r in rows if r[5] != "–"]
    assert ceiled == sorted(ceiled, reverse=True) and len(ceiled) == 4
    assert rows[0][0] == EXAMPLE_MODELS[0] and rows[0][3] == "V1"
    assert rows[-1][5] == "–"  # the unceiled score comes last
    # registered models link to their card; others (a features file, a hostile name) do not
    assert page.text.count('href="/models/ephys-') == page.text.count('href="/models/') == 4
    ascending = [
        float(r[5])
        for r in _cells(client.get("/scores?sort=ceiled&order=asc").text, "scores")[1:]
        if r[5] != "–"
    ]
    assert ascending == sorted(ceiled)
    by_model = [r[0] for r in _cells(client.get("/scores?sort=model&order=asc").text, "scores")[1:]]
    assert by_model == sorted(by_model)
    assert client.get("/scores?sort=password").status_code == 400
    detail_url = re.search(r'href="(/scores/\d+)">per neuroid', page.text).group(1)
    detail = client.get(detail_url)
    assert detail.status_code == 200 and len(_cells(detail.text, "neuroids")) == 41
    _svg(client.get(detail_url + "/neuroids.svg"))
    assert client.get("/scores/99999").status_code == 404
    assert client.get("/scores/abc").status_code == 404


def test_an_empty_store_says_how_to_fill_it(home, tmp_path):
    from starlette.testclient import TestClient

    from brainbridge.web import create_app

    with TestClient(create_app(scores_store=tmp_path / "empty.sqlite"), base_url="http://localhost") as fresh:
        page = fresh.get("/scores")
    assert page.status_code == 200 and "No scores yet" in page.text
    assert not (tmp_path / "empty.sqlite").exists()  # read-only: nothing created


def test_ecephys_project_sessions_units_filters_raster_and_psth(client):
    assert "/ecephys/nwb" in client.get("/ecephys").text
    page = client.get("/ecephys/nwb")
    assert page.status_code == 200
    sessions = [r[0] for r in _cells(page.text, "sessions")[1:]]
    assert sessions == ["A8604-211122", "sub-anm369963_ses-20170228", "sub-anm372793_ses-20170508"]
    every = client.get("/ecephys/nwb?all=1")
    units = _cells(every.text, "units")[1:]
    assert len(units) == 5 and "5 units pass" in every.text
    strict = client.get("/ecephys/nwb?valid=1&amplitude_cutoff_maximum=0.1")
    assert "units pass these filters" in strict.text
    assert client.get("/ecephys/nwb?presence_ratio_minimum=high").status_code == 400
    link = re.search(
        r'href="(/ecephys/nwb/sessions/sub-anm369963_ses-20170228/units/[^"?]+)\?([^"]*)"', every.text
    )
    unit = client.get(link.group(1) + "?" + link.group(2).replace("&amp;", "&"))
    assert unit.status_code == 200 and "178 presentations" in unit.text
    raster = re.search(r'id="raster" src="([^"]+)"', unit.text).group(1).replace("&amp;", "&")
    root = _svg(client.get(raster))
    assert len(ET.tostring(root)) > 20000  # 1679 spikes' raster ticks and the PSTH
    no_trials = re.search(r'href="(/ecephys/nwb/sessions/A8604-211122/units/[^"?]+)\?', every.text).group(1)
    svg = client.get(no_trials + "/plot.svg?all=1")
    assert svg.status_code == 200 and b"<svg" in svg.content  # says there is nothing to align to
    assert client.get("/ecephys/elsewhere").status_code == 404
    assert client.get("/ecephys/nwb/sessions/nope/units/1").status_code == 404
    assert (
        client.get("/ecephys/nwb/sessions/sub-anm369963_ses-20170228/units/424242?all=1").status_code == 404
    )
    assert client.get(link.group(1) + "?all=1&before=1&after=0").status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/assemblies/..%2F..%2Fetc%2Fpasswd",
        "/assemblies/../../etc/passwd",
        "/assemblies/%2Fetc%2Fpasswd",
        "/assemblies/brainbridge.example.neural/plots/..%2F..%2Fetc%2Fpasswd.svg",
        "/stimulus-sets/brainbridge.example.stimuli/images/..%2F..%2F..%2Fetc%2Fpasswd",
        "/stimulus-sets/brainbridge.example.stimuli/images/..%2Flookup.csv",
        "/stimulus-sets/brainbridge.example.stimuli/thumbnails/..%2F..%2Fscores.png",
        "/static/..%2F..%2Fweb%2Fapp.py",
        "/static/../app.py",
        "/ecephys/..%2F..%2Fetc",
        "/ecephys/nwb/sessions/..%2F..%2F..%2Fetc%2Fpasswd/units/1",
        "/no/such/page",
    ],
)
def test_bad_urls_get_a_clear_404_and_never_a_file_outside(client, url):
    response = client.get(url)
    assert response.status_code == 404, (url, response.status_code)
    assert "Not found" in response.text and 'id="error-message"' in response.text
    assert "root:" not in response.text and "def create_app" not in response.text


def test_a_hostile_identifier_is_escaped_everywhere(client):
    index = client.get("/")
    assert HOSTILE not in index.text and "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in index.text
    page = client.get("/assemblies/" + HOSTILE.replace("/", "%2F"))
    # the identifier has a '/': it cannot be one URL part, so it is found by no route
    assert page.status_code == 404 and HOSTILE not in page.text
    scores = client.get("/scores")
    assert HOSTILE not in scores.text and "&lt;script&gt;" in scores.text
    missing = client.get("/models/<img src=x onerror=alert(1)>")
    assert missing.status_code == 404 and "<img src=x" not in missing.text and "&lt;img src=x" in missing.text


def test_a_catalog_row_pointing_outside_its_folder_is_never_read(client):
    index = client.get("/")
    assert "outside.assembly" in index.text
    row = {r[0]: r for r in _cells(index.text, "entries")[1:]}["outside.assembly"]
    assert "not local" in row[5]
    page = client.get("/assemblies/outside.assembly")
    assert page.status_code == 404 and "outside the catalog" in page.text


def test_serve_command_binds_localhost_by_default_and_checks_projects():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "127.0.0.1" in result.output and "--open" in result.output
    bad = CliRunner().invoke(main, ["serve", "--ecephys", "no-equals-sign"])
    assert bad.exit_code != 0 and "NAME=FOLDER" in bad.output
    hostile = CliRunner().invoke(main, ["serve", "--ecephys", "../x=/tmp"])
    assert hostile.exit_code != 0 and "project name" in hostile.output and "Traceback" not in hostile.output


def test_requests_naming_another_host_are_refused(client):
    # DNS rebinding: a page on evil.example resolves its name to 127.0.0.1 and reads the app
    refused = client.get("/scores", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and "ephys-brainbridge" not in refused.text
    assert client.get("/scores", headers={"Host": "localhost:8765"}).status_code == 200

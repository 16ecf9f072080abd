"""`brainbridge serve` in a real browser: the command runs as a real process on a free port and
Debian's chromium (headless, driven by chromium-driver through Selenium) loads each page.

Each test checks what a person would look for and saves a screenshot (into
``$BRAINBRIDGE_SCREENSHOTS`` when set, e.g. ``docs/screenshots``; else a temporary folder).
Without chromium, chromium-driver or selenium the tests skip saying so; CI installs them
(``.ci/run``), and there a skip is a failure (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.web.conftest import EEG, EXAMPLE_MODELS, FMRI

ASSEMBLY = "brainbridge.example.neural"
STIMULI = "brainbridge.example.stimuli"
ROOT = Path(__file__).resolve().parents[2]


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed "
            "(apt-get install -y chromium chromium-driver; .ci/run does it)"
        )
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(site):
    """``brainbridge serve`` as a real process on the test site; its base URL."""
    pytest.importorskip("uvicorn")
    port = _free_port()
    env = {
        **os.environ,
        "BRAINBRIDGE_HOME": str(site["home"]),
        "BRAINBRIDGE_CATALOGS": str(site["catalogs"]),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p),
    }
    log = site["home"] / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from brainbridge.cli import main; main()",
                "serve",
                "--port",
                str(port),
                "--ecephys",
                f"nwb={site['ecephys']}",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(base + "/models", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"brainbridge serve did not start: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _browser_paths()
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("BRAINBRIDGE_SCREENSHOTS")
    target = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _screenshot(browser, shots: Path, name: str, height: int | None = None) -> Path:
    full = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(int(height or full), 600), 2400))
    path = shots / f"{name}.png"
    assert browser.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    browser.set_window_size(1280, 1000)
    return path


def _images_loaded(browser, selector: str, timeout: float = 30) -> int:
    """Wait until every image matching ``selector`` has loaded; their count."""
    deadline = time.monotonic() + timeout
    script = (
        f"const imgs = Array.from(document.querySelectorAll({selector!r}));"
        "return [imgs.length, imgs.filter(i => i.complete && i.naturalWidth > 0).length];"
    )
    while True:
        total, loaded = browser.execute_script(script)
        if total and total == loaded:
            return total
        if time.monotonic() > deadline:
            raise AssertionError(f"{loaded} of {total} images {selector!r} loaded")
        time.sleep(0.2)


def _text(browser, css: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css).text


def test_index_shows_the_example_assembly_and_sorts_in_the_browser(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    assert browser.title.startswith("Catalogs")
    link = browser.find_element(By.LINK_TEXT, ASSEMBLY)
    assert link.is_displayed()
    assert STIMULI in _text(browser, "#entries")
    first_column = (
        "return Array.from(document.querySelectorAll('#entries tbody tr')).map(r => r.cells[0].innerText)"
    )
    header = browser.find_element(By.CSS_SELECTOR, "#entries thead th")
    header.click()  # app.js sorts the table
    ascending = browser.execute_script(first_column)
    header.click()
    descending = browser.execute_script(first_column)
    assert ascending == sorted(ascending, key=str.lower) and descending == ascending[::-1]
    _screenshot(browser, shots, "index")
    # the filter form, submitted the way a person does
    browser.find_element(By.NAME, "q").send_keys("neural")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    assert browser.execute_script(first_column) == [ASSEMBLY]


def test_assembly_page_shows_dims_and_draws_its_plots(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/assemblies/{ASSEMBLY}")
    assert browser.find_element(By.TAG_NAME, "h1").text == ASSEMBLY
    dims = _text(browser, "#dims")
    assert "presentation 4,000" in dims and "neuroid 80" in dims
    assert _images_loaded(browser, "img.plot", timeout=60) == 4
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('img.plot')).map(i => i.naturalWidth)"
    )
    assert all(width >= 400 for width in widths)
    assert "V1" in _text(browser, "#regions") and "IT" in _text(browser, "#regions")
    _screenshot(browser, shots, "assembly")


@pytest.mark.parametrize(("identifier", "shot"), [(FMRI, "assembly-fmri"), (EEG, "assembly-eeg")])
def test_fmri_and_eeg_assembly_pages_draw_their_modality_plots(server, browser, shots, identifier, shot):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/assemblies/{identifier}")
    assert browser.find_element(By.TAG_NAME, "h1").text == identifier
    assert "no summary plots" not in browser.page_source
    assert _images_loaded(browser, "img.plot", timeout=60) == 3
    captions = [f.text for f in browser.find_elements(By.CSS_SELECTOR, "figcaption")]
    assert ("Noise ceiling" in captions[0]) if identifier == FMRI else ("ERP" in captions[0])
    _screenshot(browser, shots, shot)


def test_stimulus_set_grid_and_a_stimulus(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/stimulus-sets/{STIMULI}")
    assert "400 stimuli" in browser.page_source
    loaded = browser.execute_script(
        "return Array.from(document.querySelectorAll('#thumbnails img')).slice(0, 10).map(i => i.src)"
    )
    assert len(loaded) == 10
    _images_loaded(browser, "#thumbnails a:nth-child(-n+10) img")
    _screenshot(browser, shots, "stimulus-set", height=1000)
    browser.find_element(By.CSS_SELECTOR, "#thumbnails a").click()
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Stimulus ")
    _images_loaded(browser, "img.stimulus")
    assert "category_name" in _text(browser, "#metadata")


def test_models_and_a_model_card(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(server + "/models")
    table = _text(browser, "#models")
    for model in EXAMPLE_MODELS:
        assert model in table
    browser.find_element(By.LINK_TEXT, EXAMPLE_MODELS[0]).click()
    assert browser.find_element(By.TAG_NAME, "h1").text == EXAMPLE_MODELS[0]
    assert "get_encoding_model" in _text(browser, "#usage")
    assert "region V1 energy" in _text(browser, "#selection")
    _screenshot(browser, shots, "model")


def test_scores_leaderboard_shows_models_and_scores_and_links_to_neuroids(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(server + "/scores")
    board = _text(browser, "#scores")
    for model in EXAMPLE_MODELS:
        assert model in board
    ceiled = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#scores tbody td:nth-child(6)")]
    numbers = [float(c) for c in ceiled if c != "–"]
    assert len(numbers) == 4 and numbers == sorted(numbers, reverse=True)
    assert browser.find_element(By.ID, "matrix").is_displayed()
    _screenshot(browser, shots, "scores")
    browser.find_element(By.LINK_TEXT, "ceiled score").click()  # sort the other way
    again = [
        float(c.text)
        for c in browser.find_elements(By.CSS_SELECTOR, "#scores tbody td:nth-child(6)")
        if c.text != "–"
    ]
    assert again == sorted(numbers)
    browser.find_elements(By.LINK_TEXT, "per neuroid")[0].click()
    assert _images_loaded(browser, "img.plot") == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#neuroids tbody tr")) == 40
    _screenshot(browser, shots, "score-neuroids")


def test_ecephys_project_units_and_a_raster(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(server + "/ecephys/nwb?all=1")
    assert "sub-anm369963_ses-20170228" in _text(browser, "#sessions")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#units tbody tr")) == 5
    _screenshot(browser, shots, "ecephys")
    links = [
        a
        for a in browser.find_elements(By.LINK_TEXT, "raster & PSTH")
        if "sub-anm369963" in a.get_attribute("href")
    ]
    links[0].click()
    assert _images_loaded(browser, "#raster", timeout=60) == 1
    assert browser.execute_script("return document.querySelector('#raster').naturalWidth") >= 400
    _screenshot(browser, shots, "ecephys-unit")


def test_a_bad_url_shows_a_clear_not_found_page(server, browser, shots):
    browser.get(server + "/assemblies/..%2F..%2Fetc%2Fpasswd")
    assert "404" in browser.find_element("css selector", "h1").text
    assert "root:" not in browser.page_source

"""One word per idea; the old words keep working for one release, with a DeprecationWarning.

``progress`` (not ``show_progress``/``--quiet``), ``workers`` (not ``max_workers``/``--jobs``),
``describe`` (not ``show``/``session``/``inspect``/``info``), ``--json`` (not ``--json PATH``
/``--format``), ``--region`` (not ``--roi``), ``gabor_v1`` (not ``gabor-v1``); and the
``brainbridge`` command starts without loading xarray or pandas.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from brainbridge.cli import main
from brainbridge.deprecation import renamed_parameters


def _run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


# --------------------------------------------------------------------------------------
# the command starts light
# --------------------------------------------------------------------------------------

_LOADED = (
    "import sys, json; {setup}; "
    "print(json.dumps(sorted(m for m in ('xarray', 'pandas', 'numpy', 'scipy', 'torch') "
    "if m in sys.modules)))"
)


@pytest.mark.parametrize(
    "setup",
    [
        "import brainbridge.cli",
        "import brainbridge",
        "from brainbridge.cli import main\n"
        "try:\n    main(['--help'], standalone_mode=False)\nexcept SystemExit: pass",
    ],
    ids=["import brainbridge.cli", "import brainbridge", "brainbridge --help"],
)
def test_the_command_line_starts_without_xarray_or_pandas(setup):
    code = _LOADED.format(setup="pass")
    code = setup + "\n" + code
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_help_lists_the_new_words_only():
    out = _run("--help").output
    assert "describe" in out and " show " not in out


# --------------------------------------------------------------------------------------
# Python: renamed parameters
# --------------------------------------------------------------------------------------


def test_renamed_parameters_warn_and_forward():
    @renamed_parameters(show_progress="progress")
    def run(*, progress=None):
        return progress

    assert run(progress=False) is False
    with pytest.warns(DeprecationWarning, match=r"run\(show_progress=...\) is deprecated; use progress=..."):
        assert run(show_progress=True) is True
    with pytest.raises(TypeError, match="both"):
        run(show_progress=True, progress=False)


def test_show_progress_still_works_on_the_encoding_api():
    pytest.importorskip("sklearn")
    from brainbridge.encoding.features import GaborV1

    images = np.zeros((2, 3, 32, 32), dtype=np.uint8)
    with pytest.warns(DeprecationWarning, match="show_progress"):
        old = GaborV1(image_size=32).extract(images, show_progress=False)
    new = GaborV1(image_size=32).extract(images, progress=False)
    np.testing.assert_array_equal(old.values, new.values)


def test_max_workers_still_works_for_fetch_files(tmp_path):
    from brainbridge.fetch import fetch_files
    from brainbridge.hashing import sha1_hash

    source = tmp_path / "a.bin"
    source.write_bytes(b"abc")
    with pytest.warns(DeprecationWarning, match=r"fetch_files\(max_workers=...\)"):
        (path,) = fetch_files([("local", str(source), sha1_hash(source))], max_workers=2, progress=False)
    assert path.read_bytes() == b"abc"
    (again,) = fetch_files([("local", str(source), sha1_hash(source))], workers=2, progress=False)
    assert again == path


def test_hyphenated_extractor_names_still_resolve():
    pytest.importorskip("sklearn")
    from brainbridge.encoding.registry import extractor_names, get_extractor

    assert extractor_names()[:2] == ["gabor_v1", "efficientnet_lite0"]
    with pytest.warns(DeprecationWarning, match="'gabor-v1' is deprecated; use 'gabor_v1'"):
        old = get_extractor("gabor-v1")
    assert old is get_extractor("gabor_v1") and old.identifier == "gabor_v1"
    with pytest.warns(DeprecationWarning, match="'random-cnn-seed3' is deprecated"):
        assert get_extractor("random-cnn-seed3", device="cpu") is get_extractor(
            "random_cnn_seed3", device="cpu"
        )


# --------------------------------------------------------------------------------------
# command line: renamed commands and options
# --------------------------------------------------------------------------------------


@pytest.fixture
def deprecations():
    """DeprecationWarnings raised while a CLI command runs."""
    with pytest.warns(DeprecationWarning, match="deprecated") as records:
        yield records


def test_show_is_describe(examples, deprecations):
    new = _run("describe", "brainbridge.example.neural").output
    old = _run("show", "brainbridge.example.neural").output
    assert "note: brainbridge show is deprecated; use brainbridge describe" in old
    assert new in old  # the same description, after the note
    assert any("brainbridge show" in str(w.message) for w in deprecations)


def test_fetch_jobs_is_workers(examples, deprecations):
    new = _run("fetch", "brainbridge.example.neural", "--workers", "2", "--no-progress").output
    old = _run("fetch", "brainbridge.example.neural", "-j", "2").output
    assert "--jobs is deprecated; use --workers" in old
    assert new.splitlines()[-1] == old.splitlines()[-1]


def test_cache_info_is_describe_and_quiet_is_no_progress(deprecations):
    described = _run("cache", "describe", "--json")
    info = _run("cache", "info", "--json")
    assert "brainbridge cache info is deprecated" in info.output
    assert json.loads(described.output) == json.loads(info.output.split("\n", 1)[1])
    quiet = _run("cache", "verify", "--quiet")
    assert "--quiet is deprecated; use --no-progress" in quiet.output
    assert _run("cache", "verify", "--no-progress").exit_code == 0


def test_data_inspect_is_describe(tmp_path, deprecations):
    np.savez(tmp_path / "d.npz", x=np.arange(6.0).reshape(2, 3))
    new = _run("data", "describe", tmp_path / "d.npz", "--key", "x", "--json").output
    old = _run("data", "inspect", tmp_path / "d.npz", "--key", "x", "--json").output
    assert "brainbridge data inspect is deprecated" in old
    assert json.loads(new) == json.loads(old.splitlines()[-1])
    assert json.loads(new)["shape"] == [2, 3]


def test_help_of_a_deprecated_alias_points_to_the_new_name():
    out = _run("show", "--help").output
    assert "Deprecated: use brainbridge describe." in out


def test_deprecations_are_dated_one_release():
    """Every alias says it goes in the next release (so it can be removed then)."""
    from brainbridge.deprecation import deprecated

    with pytest.warns(DeprecationWarning, match=r"the old name goes in the next release"):
        deprecated("old", "new")

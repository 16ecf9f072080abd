"""Issue 10 item 2: ids and names from data never make a path outside its root."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from brainbridge.errors import UnsafePathError, ValidationError
from brainbridge.paths import check_relative, path_within, safe_component


@pytest.mark.parametrize(
    "bad",
    ["", ".", "..", "../x", "a/b", "a\\b", "/etc/passwd", "C:x", "a\x00b", "a\nb", " x", "x ", "x" * 256],
)
def test_safe_component_refuses(bad):
    with pytest.raises(UnsafePathError):
        safe_component(bad, "id")
    assert issubclass(UnsafePathError, ValidationError)


@pytest.mark.parametrize(
    "good", ["101", 101, "sub-01_ses-02", "lab.Author2024", "..x", "x..", "a b", "é日本"]
)
def test_safe_component_accepts(good):
    assert safe_component(good) == str(good)


@pytest.mark.parametrize("bad", ["", "/abs", "../x", "a/../../x", "C:/x", "\\\\server\\x"])
def test_check_relative_refuses(bad):
    with pytest.raises(UnsafePathError):
        check_relative(bad)


def test_path_within_follows_dotdot_and_symlinks(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    assert path_within(root, "sub", "x.nc") == root / "sub" / "x.nc"
    assert path_within(root, "a/../b") == root / "a/../b"
    with pytest.raises(UnsafePathError):
        path_within(root, "sub/../../x")
    with pytest.raises(UnsafePathError):
        path_within(root, tmp_path / "elsewhere")
    os.symlink(tmp_path, root / "link")  # a link inside the root pointing out of it
    with pytest.raises(UnsafePathError):
        path_within(root, "link", "x")


def test_cli_package_catalog_name_cannot_escape(tmp_path, monkeypatch):
    """``package --catalog ../../x --create`` wrote its catalog (and files) outside the catalog folder."""
    from PIL import Image

    from brainbridge import config
    from brainbridge.cli import main

    catalogs = config.user_catalog_dirs()[0]
    catalogs.mkdir(parents=True)
    victim = catalogs.parent.parent / "x.csv"  # where '../../x' + '.csv' lands
    victim.write_text("precious\n")
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (4, 4)).save(images / "a.png")
    (tmp_path / "meta.csv").write_text("stimulus_id,filename\na,a.png\n")
    for name in ("../../x", "/tmp/x", "a/b"):
        result = CliRunner().invoke(
            main,
            [
                "package",
                "stimulus-set",
                "--catalog",
                name,
                "--create",
                "--identifier",
                "t.set",
                "--csv",
                str(tmp_path / "meta.csv"),
                "--dir",
                str(images),
            ],
        )
        assert result.exit_code != 0, result.output
        assert "catalog name" in result.output and "Traceback" not in result.output
    assert victim.read_text() == "precious\n"
    assert list(catalogs.parent.parent.glob("*.csv")) == [victim]
    assert list(catalogs.iterdir()) == [] and not list(catalogs.parent.glob("*.csv"))

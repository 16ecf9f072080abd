"""Errors: one module per layer, one readable KeyError, one valid-values wording, no bare builtins
in the core."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest

import brainbridge
from brainbridge.errors import (
    BrainbridgeError,
    BrainbridgeKeyError,
    InvalidParameterError,
    StimulusNotFoundError,
    valid_values_message,
)
from brainbridge.gabor import GaborBank, to_grayscale

SRC = Path(brainbridge.__file__).resolve().parent
#: the one errors module of each layer (core, then each consumer)
ERROR_MODULES = {
    "brainbridge.errors": "core",
    "brainbridge.ecephys.errors": "ecephys",
    "brainbridge.encoding.errors": "encoding",
    "brainbridge.data.errors": "data",
    "brainbridge.web.errors": "web",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _error_classes_defined(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and (node.name.endswith("Error") or node.name.endswith("Exception"))
    ]


def test_every_error_class_is_defined_in_its_layers_errors_module():
    outside = {}
    for path in SRC.rglob("*.py"):
        module = _module_name(path)
        if module in ERROR_MODULES:
            continue
        classes = _error_classes_defined(path)
        if classes:
            outside[module] = classes
    assert outside == {}


def test_the_errors_modules_hold_every_class_and_old_import_paths_still_work():
    from brainbridge.encoding.insilico import InsilicoIncompleteError
    from brainbridge.encoding.scoring import ScoringError
    from brainbridge.fetch.errors import RemoteNotFoundError
    from brainbridge.parallel import ParallelError, TaskFailedError

    for cls in (InsilicoIncompleteError, ScoringError, RemoteNotFoundError, ParallelError, TaskFailedError):
        assert cls.__module__ in ERROR_MODULES, cls
        assert issubclass(cls, BrainbridgeError)
    classes = [
        obj
        for name in ERROR_MODULES
        for obj in vars(importlib.import_module(name)).values()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == name
    ]
    assert len(classes) >= 40
    assert all(issubclass(cls, BrainbridgeError) for cls in classes)


def test_every_key_error_is_one_readable_key_error():
    key_errors = [
        obj
        for name in ERROR_MODULES
        for obj in vars(importlib.import_module(name)).values()
        if inspect.isclass(obj) and issubclass(obj, KeyError)
    ]
    assert len(key_errors) >= 8
    for cls in key_errors:
        assert issubclass(cls, BrainbridgeKeyError), cls
        # KeyError would print "'no such thing'" with quotes
        assert str(cls("no such thing: 'x'")) == "no such thing: 'x'"
    # the __str__ fix is written once
    overrides = {cls for cls in key_errors if "__str__" in vars(cls)}
    assert overrides == {BrainbridgeKeyError}


def test_the_valid_values_wording_is_written_once():
    assert (
        valid_values_message("roi", "V7", ("V1", "IT")) == "Invalid roi: 'V7'. Valid values are: ['V1', 'IT']"
    )
    assert valid_values_message("cv", 0, "an int >= 2") == "Invalid cv: 0. Valid values are: an int >= 2"
    assert valid_values_message("family", ["x"], ["a"], note=" (or 'all')").endswith("['a'] (or 'all')")
    inline = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "Valid values are" in node.value
            ):
                inline.append(f"{_module_name(path)}:{node.lineno}")
    assert inline == []


CORE_FILES = [
    p
    for p in SRC.rglob("*.py")
    if p.relative_to(SRC).parts[0]
    not in ("ecephys", "encoding", "data", "cli", "examples", "web", "__init__.py")
]


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_the_core_raises_no_bare_value_or_key_errors(path):
    bare = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name = getattr(node.exc.func, "id", None)
            if name in ("ValueError", "KeyError", "OSError", "RuntimeError", "LookupError"):
                bare.append(f"line {node.lineno}: {name}")
    assert bare == []


def test_gabor_rejects_bad_parameters_with_brainbridge_errors_that_are_still_value_errors():
    with pytest.raises(
        InvalidParameterError, match=r"Invalid output: 'phase'\. Valid values are: \['energy'"
    ):
        GaborBank(output="phase")
    with pytest.raises(ValueError, match="not a multiple of grid"):
        GaborBank(image_size=65, grid=4)
    with pytest.raises(InvalidParameterError, match="spatial frequencies"):
        GaborBank(spatial_frequencies=(0.6,))
    with pytest.raises(InvalidParameterError, match="expected images of shape"):
        to_grayscale(np.zeros((2, 3)))
    with pytest.raises(BrainbridgeError, match="the bank expects 64x64"):
        GaborBank().complex_responses(np.zeros((1, 32, 32)))


def test_a_missing_stimulus_file_is_a_readable_key_error(tmp_path):
    from brainbridge.stimuli import StimulusSet

    stimuli = StimulusSet({"stimulus_id": ["a"]})
    stimuli.identifier = "set"
    stimuli.stimulus_paths = {"a": str(tmp_path / "a.png")}
    assert stimuli.get_stimulus("a") == tmp_path / "a.png"
    with pytest.raises(KeyError) as info:
        stimuli.get_stimulus("b")
    assert isinstance(info.value, StimulusNotFoundError)
    assert str(info.value) == "no file for stimulus_id 'b' in stimulus set 'set'"

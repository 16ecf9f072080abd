"""Distributed, resumable in silico generation into a zarr store (E1's pre-generation on Dask)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.encoding.insilico import generate_insilico_responses
from brainbridge.encoding.models import encode, get_encoding_model
from brainbridge.examples import new_images_dir
from brainbridge.parallel import completed_regions

pytestmark = pytest.mark.slow  # trains the example encoding model once, uses the worker processes

GABOR = "ephys-brainbridge_example-gabor_v1"


@pytest.fixture(scope="module")
def v1_model(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("insilico-home")
    previous = os.environ.get("BRAINBRIDGE_HOME")
    os.environ["BRAINBRIDGE_HOME"] = str(home)
    try:
        yield get_encoding_model(GABOR, selection={"region": "V1"}, subject="monkey_a", progress=False)
    finally:
        if previous is not None:
            os.environ["BRAINBRIDGE_HOME"] = previous


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_distributed_generation_resumes_to_the_same_store(dask_client, v1_model, tmp_path):
    images = new_images_dir()
    whole = generate_insilico_responses(
        v1_model, images, tmp_path / "whole.zarr", client=dask_client, chunk_size=5, progress=False
    )
    responses = NeuronRecordingAssembly.from_files(whole, chunks={})
    expected = encode(v1_model, images, progress=False)
    assert list(responses["stimulus_id"].values) == list(expected["stimulus_id"].values)
    assert list(responses["neuroid_id"].values) == list(expected["neuroid_id"].values)
    assert set(responses["region"].values) == {"V1"}
    np.testing.assert_allclose(responses.values, expected.values, rtol=1e-5, atol=1e-6)

    # an interrupted run: only the first two regions (and their markers) made it to disk
    resumed = tmp_path / "resumed.zarr"
    generate_insilico_responses(v1_model, images, resumed, client=dask_client, chunk_size=5, progress=False)
    for region in sorted(completed_regions(resumed))[2:]:
        start, stop = region
        (resumed / "_brainbridge_regions" / f"{start:012d}-{stop:012d}.json").unlink()
        (resumed / "data" / "c" / str(start // 5) / "0").unlink()
    assert len(completed_regions(resumed)) == 2
    generate_insilico_responses(v1_model, images, resumed, client=dask_client, chunk_size=5, progress=False)
    assert _files(resumed) == _files(whole)
    # the same store without Dask, in this process
    local = generate_insilico_responses(
        v1_model, images, tmp_path / "local.zarr", chunk_size=5, progress=False
    )
    assert _files(local) == _files(whole)

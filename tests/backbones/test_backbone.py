"""Backbones: Keras names, the cut network, frozen weights, and every way loading weights can fail."""

import pickle
from urllib.error import URLError

import pytest
import torch
import torchvision
from torch import nn

from convis.backbones import build_backbone
from convis.backbones.probe import probe
from convis.runtime.errors import ConvisError


@pytest.fixture(scope="module")
def vgg():
    return build_backbone("vgg16", weights=None, seed=0)


@pytest.fixture(scope="module")
def mobilenet():
    return build_backbone("mobilenet_v2", weights=None, seed=0)


def test_vgg_names_are_post_relu_like_keras(vgg):
    convs = [n for n in vgg.names if "_conv" in n]
    assert len(convs) == 13 and convs[0] == "block1_conv1" and convs[-1] == "block5_conv3"
    for name in convs:
        assert isinstance(vgg.net.get_submodule(vgg.names[name]), nn.ReLU)
    assert vgg.names["block5_conv3"] == "features.29"
    assert isinstance(vgg.net.get_submodule(vgg.names["block5_pool"]), nn.MaxPool2d)


def test_mobilenet_names_cover_every_block(mobilenet):
    adds = sorted(int(n.split("_")[1]) for n in mobilenet.names if n.endswith("_add"))
    assert adds == [2, 4, 5, 7, 8, 9, 11, 12, 14, 15]  # Keras MobileNetV2's residual blocks
    assert mobilenet.names["out_relu"] == "features.18"
    for path in mobilenet.names.values():
        mobilenet.net.get_submodule(path)


@pytest.mark.parametrize("arch", ["vgg16", "mobilenet_v2"])
def test_chain_computes_the_torchvision_model(arch):
    backbone = build_backbone(arch, weights=None, seed=3)
    torch.manual_seed(3)
    model = torchvision.models.get_model(arch, weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(backbone.net(x), model(x))


def test_extractor_is_cut_after_the_layer_and_matches_the_full_net(vgg):
    extractor = vgg.extractor(["block3_conv1"])
    assert list(extractor.net._modules) == ["features"]
    assert len(extractor.net.features) == 12  # features.0 ... features.11, nothing after
    x = torch.randn(1, 3, 32, 32)
    seen = {}
    handle = vgg.net.get_submodule("features.11").register_forward_hook(lambda m, i, o: seen.setdefault("a", o))
    vgg.net(x)
    handle.remove()
    torch.testing.assert_close(extractor(x)["block3_conv1"], seen["a"])


def test_extractor_returns_several_layers_and_module_paths(mobilenet):
    extractor = mobilenet.extractor(["block_2_add", "features.5.conv.1", "logits"])
    acts = extractor(torch.randn(1, 3, 32, 32))
    assert acts["block_2_add"].shape == (1, 24, 8, 8)
    assert acts["features.5.conv.1"].shape[1] == 192
    assert acts["logits"].shape == (1, 1000)


def test_network_is_frozen_and_stays_in_eval(vgg):
    extractor = vgg.extractor(["block2_conv1"])
    extractor.train()
    assert not extractor.training and not any(m.training for m in extractor.modules())
    assert not any(p.requires_grad for p in vgg.net.parameters())
    assert not any(getattr(m, "inplace", False) for m in vgg.net.modules())


def test_random_init_is_seeded():
    a, b, c = (build_backbone("mobilenet_v2", None, seed=s).net for s in (1, 1, 2))
    first = lambda net: next(net.parameters())  # noqa: E731
    assert torch.equal(first(a), first(b)) and not torch.equal(first(a), first(c))


def test_probe_gives_shapes_and_receptive_field_strides(vgg):
    info = {i.name: i for i in probe(vgg.net, vgg.names, 224)}
    assert info["block3_conv1"].stride == 4 and info["block3_conv1"].shape == (256, 56, 56)
    assert info["block5_conv3"].stride == 16 and info["block5_pool"].shape == (512, 7, 7)


def test_unknown_layer_names_the_valid_ones(vgg):
    with pytest.raises(ConvisError, match=r"unknown layer 'block5_conv4'.*did you mean.*block5_conv3.*block1_conv1"):
        vgg.path("block5_conv4")


def test_unknown_backbone():
    with pytest.raises(ConvisError, match=r"unknown backbone 'resnet9000'.*vgg16, mobilenet_v2"):
        build_backbone("resnet9000", None)


def test_state_dict_file_round_trip(tmp_path, vgg):
    path = tmp_path / "vgg.pth"
    torch.save(build_backbone("vgg16", None, seed=5).net.state_dict(), path)
    loaded = build_backbone("vgg16", str(path), seed=0)
    assert torch.equal(next(loaded.net.parameters()), next(build_backbone("vgg16", None, seed=5).net.parameters()))


def test_lightning_style_checkpoint_is_unwrapped(tmp_path):
    path = tmp_path / "model.ckpt"
    saved = build_backbone("mobilenet_v2", None, seed=5).net.state_dict()
    torch.save({"state_dict": {f"model.{key}": value for key, value in saved.items()}, "epoch": 3}, path)
    loaded = build_backbone("mobilenet_v2", str(path), seed=0).net.state_dict()
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[key], saved[key]) for key in saved)
    assert not torch.equal(
        build_backbone("mobilenet_v2", None, seed=0).net.features[0][0].weight, saved["features.0.0.weight"]
    )


def test_missing_weights_file(tmp_path):
    with pytest.raises(ConvisError, match=r"weights file not found: .*nope\.pth"):
        build_backbone("vgg16", str(tmp_path / "nope.pth"))


def test_corrupt_weights_file(tmp_path):
    path = tmp_path / "bad.pth"
    path.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(ConvisError, match=r"bad\.pth is not a readable PyTorch file"):
        build_backbone("vgg16", str(path))


def test_weights_for_another_architecture(tmp_path):
    path = tmp_path / "mobilenet.pth"
    torch.save(build_backbone("mobilenet_v2", None).net.state_dict(), path)
    with pytest.raises(ConvisError, match=r"do not fit backbone vgg16: \d+ missing .*another architecture"):
        build_backbone("vgg16", str(path))


class Payload:
    """A pickled object that would run code when unpickled without weights_only."""

    def __reduce__(self):
        return (print, ("code ran",))


def test_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"x": Payload()}, path, pickle_module=pickle)
    with pytest.raises(ConvisError, match=r"evil\.pth holds objects other than tensors.*weights_only=True"):
        build_backbone("vgg16", str(path))


def test_pretrained_weights_offline_name_the_three_ways_out(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(ConvisError) as info:
        build_backbone("vgg16", "IMAGENET1K_V1")
    message = str(info.value)
    assert "vgg16-397923af.pth" in message and str(tmp_path / "checkpoints") in message
    assert "backbone.weights=/path" in message and "backbone.weights=null" in message
    assert "\n" not in message


def test_unknown_weights_name():
    with pytest.raises(ConvisError, match=r"unknown backbone.weights='IMAGENET9'.*IMAGENET1K_V1"):
        build_backbone("vgg16", "IMAGENET9")


class Reuse(nn.Module):
    """A module applied twice in one forward pass."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.relu(self.conv(x)))


def test_reused_module_is_refused_not_silently_wrong():
    from convis.backbones import FeatureExtractor

    extractor = FeatureExtractor(Reuse(), {"conv": "conv"})
    with pytest.raises(ConvisError, match=r"layer 'conv' \(conv\) runs more than once"):
        extractor(torch.randn(1, 3, 8, 8))

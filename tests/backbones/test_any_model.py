"""Any model: torchvision by name, the user's own nn.Module, cut or hooked, and outputs that are not tensors."""

import json
import math

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from convis import experiments
from convis.attribution.gradient import gradient
from convis.backbones import FeatureExtractor, custom_backbone, torchvision_backbone
from convis.runtime.errors import ConvisError
from tests.backbones.tiny_nets import SkipNet, TinyNet

TINY = "tests.backbones.tiny_nets"


def custom(name: str, **kwargs):
    return custom_backbone({"_target_": f"{TINY}.{name}", **kwargs.pop("model", {})}, **kwargs)


def test_torchvision_models_become_chains_with_their_own_paths():
    resnet = torchvision_backbone("resnet18", weights=None)
    assert resnet.cut and "layer3.1.conv2" in resnet.names
    extractor = resnet.extractor(["layer2"])
    assert list(extractor.net._modules)[-1] == "layer2" and "fc" not in extractor.net._modules
    effnet = torchvision_backbone("efficientnet_b0", weights=None)
    assert effnet.cut and effnet.categories[281] == "tabby"


def test_unknown_torchvision_name_suggests_close_ones():
    with pytest.raises(ConvisError, match=r"unknown backbone 'resnet19'.*did you mean .*resnet18"):
        torchvision_backbone("resnet19", weights=None)


def test_hook_fallback_gives_the_same_numbers_as_the_cut_path():
    cut = custom("TinyNet", seed=3)
    assert cut.cut and list(cut.extractor(["conv2"]).net._modules) == ["conv1", "relu1", "conv2"]
    torch.manual_seed(3)  # the weights custom_backbone(seed=3) builds
    hooked = FeatureExtractor(TinyNet().eval(), {"conv2": "conv2", "relu1": "relu1"})
    assert isinstance(hooked.net, TinyNet)  # not a chain: the whole model runs, hooks read the layers
    x = torch.randn(2, 3, 16, 16)
    a, b = cut.extractor(["conv2", "relu1"])(x), hooked(x)
    torch.testing.assert_close(a["conv2"], b["conv2"])
    torch.testing.assert_close(a["relu1"], b["relu1"])
    skip = custom("SkipNet", output="logits")
    assert not skip.cut and isinstance(skip.net, SkipNet)


def test_dict_output_is_refused_until_backbone_output_names_the_logits():
    x = torch.randn(1, 3, 16, 16)
    with pytest.raises(ConvisError, match=r"returns a dict \(\['logits', 'features'\]\).*backbone.output="):
        custom("SkipNet").extractor(["logits"])(x)
    net = custom("SkipNet", output="logits", seed=1)
    logits = net.extractor(["logits"])(x)["logits"]
    torch.testing.assert_close(logits, net.net(x)["logits"])


def test_reused_module_saliency_matches_finite_differences():
    """Input gradients flow through both uses of the shared conv: the map is the true derivative."""
    backbone = custom("ReusedNet", seed=2)
    with pytest.raises(ConvisError, match="runs more than once"):
        backbone.extractor(["conv2"])(torch.randn(1, 3, 8, 8))
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    net = backbone.net.double()
    method = gradient(net, backbone, 8)
    saliency = method.attribute(x, torch.tensor([1]))[0]
    eps, grad = 1e-6, torch.zeros_like(x)
    for index in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=torch.float64)
        step[index] = eps
        step = step.view_as(x)
        grad.view(-1)[index] = (net(x + step)[0, 1] - net(x - step)[0, 1]) / (2 * eps)
    torch.testing.assert_close(saliency, grad.abs().amax(1)[0].to(saliency.dtype), atol=1e-5, rtol=1e-4)


def test_lightning_checkpoint_of_the_users_own_module_loads(tmp_path):
    class Wrapper(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = custom("TinyNet", seed=9).net

    path = tmp_path / "mine.ckpt"
    torch.save({"state_dict": Wrapper().state_dict(), "epoch": 1}, path)
    loaded = custom("TinyNet", weights=str(path), seed=0)
    torch.testing.assert_close(loaded.net.conv1.weight, custom("TinyNet", seed=9).net.conv1.weight)


def run(cfg_factory, *overrides):
    return experiments.run(cfg_factory(*overrides)).metrics


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
def test_every_objective_runs_on_torchvision_models(cfg_factory, tmp_path, name):
    base = ["backbone=torchvision", f"backbone.name={name}", "backbone.weights=null", "image_size=32", "steps=2"]
    layer = {"resnet18": "layer2", "efficientnet_b0": "features.3"}[name]
    inverted = run(cfg_factory, *base, f"layer={layer}", "objective.init=original", "prior=none", "objective.jitter=0")
    assert inverted["results"][0]["normalized_error"] < 1e-6
    assert (
        run(cfg_factory, *base, "objective=class_score", "target=tabby", "prior=simonyan")["results"][0]["target"]
        == "tabby"
    )
    (activated,) = run(cfg_factory, *base, "objective=activation", f"layer={layer}", "objective.channel=1")["results"]
    assert math.isfinite(activated["activation"])
    (saliency,) = run(cfg_factory, *base, "objective=saliency", "method=gradient")["results"]
    assert np.load(tmp_path / saliency["map"]).shape == (32, 32)


@pytest.mark.parametrize("net", ["TinyNet", "SkipNet"])
def test_every_objective_runs_on_a_users_network(cfg_factory, tmp_path, net):
    base = [
        "backbone=custom",
        f"backbone.model._target_={TINY}.{net}",
        "image_size=16",
        "steps=2",
        "backbone.classes=[a,b,c,d]",
    ]
    if net == "SkipNet":
        base.append("backbone.output=logits")
    inverted = run(cfg_factory, *base, "layer=conv2", "objective.init=original", "prior=none", "objective.jitter=0")
    assert inverted["results"][0]["normalized_error"] < 1e-6
    assert (
        run(cfg_factory, *base, "objective=class_score", "target=c", "prior=simonyan")["results"][0]["target_index"]
        == 2
    )
    (activated,) = run(cfg_factory, *base, "objective=activation", "layer=conv1", "objective.channel=3")["results"]
    assert math.isfinite(activated["activation"])
    saliency = run(cfg_factory, *base, "objective=saliency", "method=gradient")
    assert json.loads((tmp_path / "metrics.json").read_text()) == saliency
    assert np.load(tmp_path / saliency["results"][0]["map"]).shape == (16, 16)


def test_grayscale_network_inverts_a_grayscale_picture(cfg_factory, tmp_path):
    base = [
        "backbone=custom",
        f"backbone.model._target_={TINY}.TinyNet",
        "+backbone.model.channels=1",
        "backbone.mean=[0.5]",
        "backbone.std=[0.25]",
        "image_size=16",
        "steps=2",
    ]
    result = run(cfg_factory, *base, "layer=conv2", "objective.init=original", "prior=none", "objective.jitter=0")
    assert result["results"][0]["normalized_error"] < 1e-6
    picture = np.asarray(Image.open(tmp_path / result["results"][0]["png"]))
    assert picture.shape == (16, 16, 3) and (picture == picture[..., :1]).all()  # grey: R = G = B


def test_timm_models_by_name():
    pytest.importorskip("timm")
    from convis.backbones import timm_backbone

    backbone = timm_backbone("resnet18", weights=None, seed=0)
    assert backbone.cut and backbone.mean == pytest.approx((0.485, 0.456, 0.406))
    acts = backbone.extractor(["layer2", "logits"])(torch.randn(1, 3, 32, 32))
    assert acts["layer2"].shape == (1, 128, 4, 4) and acts["logits"].shape == (1, 1000)
    with pytest.raises(ConvisError, match=r"unknown timm model 'resnet1'"):
        timm_backbone("resnet1", weights=None)

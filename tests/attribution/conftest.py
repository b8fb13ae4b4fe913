"""Saliency methods built as a run builds them: conf/method/NAME.yaml's builder and options, on a tiny network."""

from collections import OrderedDict
from collections.abc import Callable

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from convis.attribution import SaliencyMethod
from convis.backbones import Backbone
from convis.config import conf_dir

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def make_tiny_net(seed: int = 0, activation: type[nn.Module] = nn.ReLU, dtype=torch.float32) -> nn.Sequential:
    """conv-act-conv-act, global average pool, linear: the shape of the real backbones, 5 classes."""
    torch.manual_seed(seed)
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), activation(), nn.Conv2d(4, 6, 3, padding=1), activation())
    head = nn.Linear(6, 5)
    chain = OrderedDict(features=features, pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), classifier=head)
    return nn.Sequential(chain).to(dtype).eval().requires_grad_(False)


def make_method(name: str, net: nn.Module, **options: object) -> SaliencyMethod:
    """The method `name` (conf/method/NAME.yaml, its options overridden) on `net`, ImageNet normalisation."""
    config = OmegaConf.merge(OmegaConf.load(conf_dir() / "method" / f"{name}.yaml"), options)
    names = {path: path for path, _ in net.named_modules() if path}
    backbone = Backbone(arch="tiny", net=net, names=names, mean=MEAN, std=STD, categories=[])
    return instantiate(config)(net, backbone=backbone, image_size=8)


@pytest.fixture
def tiny_net() -> Callable[..., nn.Sequential]:
    return make_tiny_net


@pytest.fixture
def method() -> Callable[..., SaliencyMethod]:
    return make_method

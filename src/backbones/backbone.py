"""A frozen torchvision classifier as a chain of modules, with its layer names and metadata."""

from __future__ import annotations

import difflib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torchvision
from torch import nn
from torchvision.models import get_model_weights

from src.backbones import names as layer_names
from src.backbones.extractor import FeatureExtractor
from src.backbones.weights import file_weights, load_into, looks_like_path, pretrained_state_dict
from src.errors import ConvisError


def _vgg_chain(model: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(features=model.features, avgpool=model.avgpool, flatten=nn.Flatten(1), classifier=model.classifier)
    )


def _mobilenet_v2_chain(model: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            features=model.features,
            avgpool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(1),
            classifier=model.classifier,
        )
    )


# arch -> (chain with the same forward as the model and the same module paths, Keras-style names)
ARCHS: dict[str, tuple[Callable[[nn.Module], nn.Sequential], Callable[[nn.Module], dict[str, str]]]] = {
    "vgg16": (_vgg_chain, layer_names.vgg_names),
    "mobilenet_v2": (_mobilenet_v2_chain, layer_names.mobilenet_v2_names),
}


@dataclass
class Backbone:
    """A frozen network (eval mode, no gradients) and what a run needs to know about it."""

    arch: str
    net: nn.Sequential
    names: dict[str, str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    categories: list[str]
    channels_last: bool = False

    def path(self, layer: str) -> str:
        """The module path of a Keras-style layer name or of a module path itself."""
        if layer in self.names:
            return self.names[layer]
        try:
            self.net.get_submodule(layer)
            return layer
        except AttributeError:
            close = difflib.get_close_matches(layer, list(self.names), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConvisError(
                f"unknown layer {layer!r} for {self.arch}{hint}: valid names are {', '.join(self.names)}, "
                "or a module path such as features.28 (python scripts/layers.py lists them)"
            ) from None

    def extractor(self, layers: Sequence[str]) -> FeatureExtractor:
        """The network cut after the deepest of `layers`, returning each of them."""
        return FeatureExtractor(self.net, {layer: self.path(layer) for layer in layers}, self.channels_last)


def _frozen(net: nn.Module) -> nn.Module:
    for module in net.modules():
        if hasattr(module, "inplace"):
            module.inplace = False  # a kept activation must not be overwritten by a later in-place op
    return net.eval().requires_grad_(False)


def normalisation(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The input mean and std that `arch`'s pretrained weights expect."""
    preprocess = get_model_weights(arch).DEFAULT.transforms()
    return tuple(preprocess.mean), tuple(preprocess.std)


def head_path(model: nn.Module, arch: str) -> str:
    """The module path of the classifier's last Linear, whose outputs are the logits."""
    return ARCHS[arch][1](model)[layer_names.LOGITS]


def replace_head(model: nn.Module, arch: str, classes: int) -> None:
    """Swap the classifier's last Linear (the logits) for a new one with `classes` outputs."""
    path = head_path(model, arch)
    model.set_submodule(path, nn.Linear(model.get_submodule(path).in_features, classes))


def build_model(arch: str, weights: str | None = "IMAGENET1K_V1", seed: int = 0) -> tuple[nn.Module, list[str]]:
    """torchvision's `arch`, trainable, with pretrained, random (seeded) or file weights; and its class names.

    A finetune checkpoint brings its own classes: the head is resized to them before loading.
    """
    if arch not in ARCHS:
        raise ConvisError(f"unknown backbone {arch!r}: choose one of {', '.join(ARCHS)}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = torchvision.models.get_model(arch, weights=None)
    categories = list(get_model_weights(arch).DEFAULT.meta["categories"])
    if weights is None:
        return model, categories
    weights = str(weights)
    if not looks_like_path(weights):
        load_into(model, pretrained_state_dict(arch, weights), arch, weights)
        return model, categories
    state, meta = file_weights(weights)
    if meta is not None:
        if meta["arch"] != arch:
            raise ConvisError(f"checkpoint {weights} was fine-tuned from {meta['arch']}: set backbone={meta['arch']}")
        categories = list(meta["classes"])
        replace_head(model, arch, len(categories))
    load_into(model, state, arch, f"file {weights}")
    return model, categories


def build_backbone(
    arch: str, weights: str | None = "IMAGENET1K_V1", seed: int = 0, channels_last: bool = True
) -> Backbone:
    """Build torchvision's `arch` with pretrained, random (seeded) or file weights, frozen."""
    model, categories = build_model(arch, weights, seed)
    chain, keras_names = ARCHS[arch]
    mean, std = normalisation(arch)
    return Backbone(
        arch=arch,
        net=_frozen(chain(model)),
        names=keras_names(model),
        mean=mean,
        std=std,
        categories=categories,
        channels_last=channels_last,
    )

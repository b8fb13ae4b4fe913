"""Turning a classifier into a chain of modules, so that it can be cut after a layer.

A chain keeps the model's own module paths. VGG and MobileNetV2 have known chains; any other
model is tried as its children in order (with a Flatten before the last one, as most heads
need) and kept only if the chain computes exactly what the model computes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn


def _vgg(model: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(features=model.features, avgpool=model.avgpool, flatten=nn.Flatten(1), classifier=model.classifier)
    )


def _mobilenet_v2(model: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            features=model.features, avgpool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1), classifier=model.classifier
        )
    )


KNOWN: dict[str, Callable[[nn.Module], nn.Sequential]] = {"vgg16": _vgg, "mobilenet_v2": _mobilenet_v2}


def _children(model: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(model.named_children()))


def _children_flattened(model: nn.Module) -> nn.Sequential:
    children = list(model.named_children())
    return nn.Sequential(OrderedDict([*children[:-1], ("flatten", nn.Flatten(1)), *children[-1:]]))


@torch.no_grad()
def _same(candidate: nn.Module, model: nn.Module, channels: int, size: int) -> bool:
    """Whether the candidate computes the model's output (on the meta device, where nothing is computed: its shape)."""
    meta = any(p.is_meta for p in model.parameters())
    shape = (2, channels, size, size)
    x = torch.empty(shape, device="meta") if meta else torch.randn(shape, generator=torch.Generator().manual_seed(0))
    try:
        expected, got = model(x), candidate(x)
    except Exception:  # a candidate that cannot even run is simply not the chain
        return False
    if not isinstance(expected, torch.Tensor) or expected.shape != got.shape:
        return False
    return meta or torch.allclose(expected, got, atol=1e-5)


def as_chain(model: nn.Module, arch: str, channels: int = 3, size: int = 64) -> nn.Sequential | None:
    """The model as a chain with the same output and module paths, or None when it is not one."""
    if arch in KNOWN:
        return KNOWN[arch](model)
    if len(list(model.children())) < 2:
        return None
    for build in (_children, _children_flattened):
        candidate = build(model)
        if _same(candidate, model, channels, size) or _same(candidate, model, channels, 224):
            return candidate
    return None

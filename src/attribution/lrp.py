"""Layer-wise relevance propagation (Bach et al. 2015) through Zennit's composites and canonizers.

The target's logit is the relevance at the output; a composite's rules carry it back layer by layer to
the pixels, where the map sums a pixel's colour channels (so a conserving composite's map sums to the
logit). Canonizers first put the network in the form the rules are defined for: each BatchNorm merged
into the convolution before it, and each residual addition (ResNet blocks, MobileNetV2's inverted
residuals) made an explicit Zennit `Sum`, whose relevance is split in proportion to its inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torchvision.models.mobilenetv2 import InvertedResidual
from zennit.attribution import Gradient
from zennit.canonizers import AttributeCanonizer, Canonizer, SequentialMergeBatchNorm
from zennit.composites import COMPOSITES
from zennit.core import Composite
from zennit.layer import Sum
from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer

from convis.attribution.base import SaliencyMethod, black, builder, channel_sum
from convis.backbones import Backbone
from convis.runtime.errors import ConvisError

BOUNDED = ("epsilon_gamma_box",)  # the composites whose first layer needs the input's lowest and highest values


def inverted_residual_forward(self: InvertedResidual, x: Tensor) -> Tensor:
    """MobileNetV2's inverted residual with its addition through the block's `canonizer_sum` module."""
    return self.canonizer_sum(torch.stack([x, self.conv(x)], dim=-1))


def residual_sum(name: str, module: nn.Module) -> dict[str, object] | None:
    """The attributes that make a residual inverted-residual block add through a Sum module; None for others."""
    if isinstance(module, InvertedResidual) and module.use_res_connect:
        return {"forward": inverted_residual_forward.__get__(module), "canonizer_sum": Sum()}
    return None


def canonizers() -> list[Canonizer]:
    """The canonizers of VGG (BatchNorm merged), ResNet and MobileNetV2: each changes only the modules it knows."""
    residuals = [ResNetBasicBlockCanonizer(), ResNetBottleneckCanonizer(), AttributeCanonizer(residual_sum)]
    return [SequentialMergeBatchNorm(), *residuals]  # not Zennit's ResNetCanonizer: it merges BatchNorm once more


def build_composite(name: str, backbone: Backbone, inputs: Tensor) -> Composite:
    """Zennit's composite `name` with the canonizers; a box composite bounded by black and white pixels."""
    if name not in BOUNDED:
        return COMPOSITES[name](canonizers=canonizers())
    low = black(backbone, inputs)
    std = torch.tensor(backbone.std, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1)
    return COMPOSITES[name](low=low, high=low + 1 / std, canonizers=canonizers())


def check_composite(name: str, key: str = "method.composite") -> str:
    """The composite option at `key`, which must be one of Zennit's composites."""
    if name not in COMPOSITES:
        raise ConvisError(f"{key}={name} is not one of Zennit's composites: {', '.join(sorted(COMPOSITES))}")
    return name


class Relevance:
    """The input relevance of the target logits under a composite, called as a Captum attribution is."""

    def __init__(self, net: nn.Module, make: Callable[[Tensor], Composite]) -> None:
        self.net, self.make = net, make

    def attribute(self, inputs: Tensor, target: Tensor) -> Tensor:
        """(N, C, H, W) relevance, the logit of each image's `target` class propagated to its pixels."""
        attributor = Gradient(self.net, self.make(inputs))
        with torch.enable_grad(), attributor:
            _, relevance = attributor(inputs, lambda out: out * nn.functional.one_hot(target, out.shape[1]))
        return relevance


@builder
def lrp(net: nn.Module, backbone: Backbone, image_size: int, composite: str = "epsilon_plus_flat") -> SaliencyMethod:
    """LRP with Zennit's `composite` (its rules per layer type) after the canonizers; maps sum the channels."""
    name = check_composite(composite)
    return SaliencyMethod(Relevance(net, lambda inputs: build_composite(name, backbone, inputs)), channel_sum)

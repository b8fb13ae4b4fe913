"""What every saliency method shares: one interface, `attribute(inputs, target) -> (N, H, W)` maps.

A method is a builder, `builder(net, backbone, image_size, **options) -> SaliencyMethod`, named by
`_target_` in conf/method/NAME.yaml beside its options. Captum (or, for the CAM family,
pytorch-grad-cam through convis.attribution.cam) computes the attributions; a builder chooses its
options and how its output is reduced to one map per image. Each builder is decorated with `builder`,
and checks its options' values (`check`) as it is called.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from captum.attr import LayerAttribution
from torch import Tensor, nn
from torch.nn import functional as F

from convis.backbones import Backbone
from convis.checks import Rule, positive_whole
from convis.runtime.errors import ConvisError

Options = Callable[[Tensor], dict[str, Any]]
Builder = Callable[..., "SaliencyMethod"]
SAMPLES_PER_PASS = positive_whole("method.samples_per_pass", "10", nullable=True)
BATCH = positive_whole("method.batch", "50")  # perturbed copies of an image per forward, every perturbation method


class Attribution(Protocol):
    """What computes the attributions: a Captum attribution, or anything called as one."""

    def attribute(self, inputs: Tensor, target: Tensor, **options: Any) -> Tensor: ...


@dataclass
class SaliencyMethod:
    """An attribution, the options of each call, and the reduction of its output to (N, H, W) maps."""

    attribution: Attribution
    reduce: Callable[[Tensor, Tensor], Tensor]
    options: Options = lambda inputs: {}

    def attribute(self, inputs: Tensor, target: Tensor) -> Tensor:
        """One map per image of `inputs` (N, C, H, W) for the classes `target` (N,)."""
        inputs = inputs.detach().requires_grad_()  # Captum differentiates with respect to the inputs
        raw = self.attribution.attribute(inputs, target=target, **self.options(inputs))
        return self.reduce(raw, inputs).detach()


def builder(build: Builder) -> Builder:
    """`build`, refusing an option it does not take in one line naming the method and the options it does.

    Without it, an option given to the wrong method (+method.layer=... with method=gradient) is a TypeError.
    """
    takes = list(inspect.signature(build).parameters)[3:]  # after net, backbone, image_size

    @functools.wraps(build)
    def checked(net: nn.Module, backbone: Backbone, image_size: int, **options: Any) -> SaliencyMethod:
        for key, value in options.items():
            if key not in takes:
                raise ConvisError(
                    f"method.{key}={value} is not an option of method={build.__name__}: "
                    f"it takes {', '.join(takes) or 'none'}"
                )
        return build(net, backbone, image_size, **options)

    return checked


def check(*rules: tuple[Rule, object]) -> None:
    """Each (rule, value): the option at the rule's key (e.g. method.samples) is a value it accepts."""
    for rule, value in rules:
        rule.check(rule.pattern, value)


class ClampedReLU(nn.ReLU):
    """nn.ReLU6's function as an nn.ReLU: Captum's modified-ReLU attributions (guided backprop, deconvnet) hook
    only nn.ReLU modules, so on MobileNetV2 (whose ReLU6 is an nn.Hardtanh) they would silently give the plain
    gradient."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x)


def relu6_as_relu(net: nn.Module) -> nn.Module:
    """`net`, or where it has nn.ReLU6 modules a copy with each replaced by a ClampedReLU (the same function)."""
    if not any(isinstance(module, nn.ReLU6) for module in net.modules()):
        return net
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, ClampedReLU())
    return net


def channel_max_abs(raw: Tensor, inputs: Tensor) -> Tensor:
    """Simonyan et al.'s map: the largest |attribution| over the colour channels of each pixel."""
    return raw.abs().amax(1)


def channel_sum(raw: Tensor, inputs: Tensor) -> Tensor:
    """The attributions of a pixel's channels added up: the map keeps the method's total."""
    return raw.sum(1)


def one_channel(raw: Tensor, inputs: Tensor) -> Tensor:
    """A pixel's value where every channel of a pixel holds the same one (a perturbation method's)."""
    return raw[:, 0]


def upsampled(raw: Tensor, inputs: Tensor) -> Tensor:
    """A one-channel layer attribution resized to the image, bilinearly."""
    return LayerAttribution.interpolate(raw, tuple(inputs.shape[-2:]), "bilinear")[:, 0]


def black(backbone: Backbone, like: Tensor) -> Tensor:
    """The black image (0 in [0, 1] pixels) in the network's normalised input space, shaped like `like`."""
    mean = torch.tensor(backbone.mean, dtype=like.dtype, device=like.device)
    std = torch.tensor(backbone.std, dtype=like.dtype, device=like.device)
    return (-mean / std).view(1, -1, 1, 1).expand_as(like)


def pixel_range(backbone: Backbone) -> float:
    """The [0, 1] pixel range in normalised units (the mean of the channels' 1 / std)."""
    return len(backbone.std) / sum(backbone.std)

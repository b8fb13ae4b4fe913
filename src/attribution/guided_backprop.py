"""Guided Backprop (Springenberg et al. 2015): max over channels of |guided gradient|, through ReLU and ReLU6."""

from __future__ import annotations

import captum.attr
from torch import nn

from convis.attribution.base import SaliencyMethod, ThroughReLU6, builder, channel_max_abs
from convis.backbones import Backbone


class GuidedBackprop(ThroughReLU6, captum.attr.GuidedBackprop):
    """Captum's guided backprop (negative gradients zeroed after each activation's own mask), ReLU6 included."""


@builder
def guided_backprop(net: nn.Module, backbone: Backbone, image_size: int) -> SaliencyMethod:
    """The guided backprop map."""
    return SaliencyMethod(GuidedBackprop(net), channel_max_abs)

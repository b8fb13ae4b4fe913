"""Guided Backprop (Springenberg et al. 2015): max over channels of |guided gradient|, through ReLU and ReLU6."""

from __future__ import annotations

import captum.attr
from torch import nn

from convis.attribution.base import SaliencyMethod, builder, channel_max_abs, relu6_as_relu
from convis.backbones import Backbone


@builder
def guided_backprop(net: nn.Module, backbone: Backbone, image_size: int) -> SaliencyMethod:
    """The guided backprop map."""
    return SaliencyMethod(captum.attr.GuidedBackprop(relu6_as_relu(net)), channel_max_abs)

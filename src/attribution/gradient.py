"""Simonyan et al.'s image-specific saliency: max over colour channels of |dS_c/dx|, one backward pass."""

from __future__ import annotations

from captum.attr import Saliency
from torch import nn

from convis.attribution.base import SaliencyMethod, builder, channel_max_abs
from convis.backbones import Backbone


@builder
def gradient(net: nn.Module, backbone: Backbone, image_size: int) -> SaliencyMethod:
    """The gradient map."""
    return SaliencyMethod(Saliency(net), channel_max_abs, lambda inputs: {"abs": True})

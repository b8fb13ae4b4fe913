"""Input x gradient (Shrikumar et al. 2016): each pixel's value times dS_c/dx, summed over colour channels.

Signed; for a network that is linear in its input (no biases) a map sums to S_c(x).
"""

from __future__ import annotations

from captum.attr import InputXGradient
from torch import nn

from convis.attribution.base import SaliencyMethod, builder, channel_sum
from convis.backbones import Backbone


@builder
def input_x_gradient(net: nn.Module, backbone: Backbone, image_size: int) -> SaliencyMethod:
    """The input x gradient map."""
    return SaliencyMethod(InputXGradient(net), channel_sum)

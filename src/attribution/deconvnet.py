"""Deconvnet (Zeiler & Fergus 2014): max over colour channels of |deconvnet signal|, through ReLU and ReLU6.

Backwards through a ReLU it passes the positive part of the incoming signal, whatever the forward
input was; Simonyan et al. show that gradient saliency generalises this reconstruction.
"""

from __future__ import annotations

import captum.attr
from torch import nn

from convis.attribution.base import SaliencyMethod, builder, channel_max_abs, relu6_as_relu
from convis.backbones import Backbone


@builder
def deconvnet(net: nn.Module, backbone: Backbone, image_size: int) -> SaliencyMethod:
    """The deconvnet map."""
    return SaliencyMethod(captum.attr.Deconvolution(relu6_as_relu(net)), channel_max_abs)

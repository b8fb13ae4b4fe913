"""Deconvnet (Zeiler & Fergus 2014): max over colour channels of |deconvnet signal|, through ReLU and ReLU6.

Backwards through a ReLU it passes the positive part of the incoming signal, whatever the forward
input was; Simonyan et al. show that gradient saliency generalises this reconstruction.
"""

from __future__ import annotations

import captum.attr
from torch import nn

from convis.attribution.base import SaliencyMethod, ThroughReLU6, builder, channel_max_abs
from convis.backbones import Backbone


class Deconvolution(ThroughReLU6, captum.attr.Deconvolution):
    """Captum's deconvnet (the positive part of the signal through each activation), ReLU6 included."""


@builder
def deconvnet(net: nn.Module, backbone: Backbone, image_size: int) -> SaliencyMethod:
    """The deconvnet map."""
    return SaliencyMethod(Deconvolution(net), channel_max_abs)

"""Grad-CAM++ (Chattopadhay et al. 2018), computed by pytorch-grad-cam.

Each channel of the layer is weighted by the sum over positions of relu(gradient) * alpha, with
alpha = g^2 / (2 g^2 + sum(A) g^3) (the paper's eq. 19, its closed form for an exponential score),
and the weighted channels are summed; positive part, upsampled to the image.
"""

from __future__ import annotations

from pytorch_grad_cam import GradCAMPlusPlus
from torch import nn

from convis.attribution.base import SaliencyMethod, builder
from convis.attribution.cam import cam_method
from convis.backbones import Backbone


@builder
def gradcam_plus_plus(net: nn.Module, backbone: Backbone, image_size: int, layer: str | None = None) -> SaliencyMethod:
    """Grad-CAM++ at `layer` (a layer name or module path; None: the last convolutional features)."""
    return cam_method(GradCAMPlusPlus, net, backbone, image_size, layer)

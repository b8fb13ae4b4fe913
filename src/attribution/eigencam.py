"""Eigen-CAM (Muhammad & Yeasin 2020), computed by pytorch-grad-cam.

Each position's activation vector, centred over the positions, projected on the first principal
component of the layer's activations; positive part, upsampled. No gradients: the same map for every class.
"""

from __future__ import annotations

from pytorch_grad_cam import EigenCAM
from torch import nn

from convis.attribution.base import SaliencyMethod, builder
from convis.attribution.cam import cam_method
from convis.backbones import Backbone


@builder
def eigencam(net: nn.Module, backbone: Backbone, image_size: int, layer: str | None = None) -> SaliencyMethod:
    """Eigen-CAM at `layer` (a layer name or module path; None: the last convolutional features)."""
    return cam_method(EigenCAM, net, backbone, image_size, layer)

"""XGrad-CAM (Fu et al. 2020), computed by pytorch-grad-cam.

Each channel is weighted by sum(gradient * activation) / sum(activation) over positions (the weights
that satisfy the paper's sensitivity and conservation axioms); positive part, upsampled to the image.
"""

from __future__ import annotations

from pytorch_grad_cam import XGradCAM
from torch import nn

from convis.attribution.base import SaliencyMethod, builder
from convis.attribution.cam import cam_method
from convis.backbones import Backbone


@builder
def xgradcam(net: nn.Module, backbone: Backbone, image_size: int, layer: str | None = None) -> SaliencyMethod:
    """XGrad-CAM at `layer` (a layer name or module path; None: the last convolutional features)."""
    return cam_method(XGradCAM, net, backbone, image_size, layer)

"""HiResCAM (Draelos & Carin 2020), computed by pytorch-grad-cam.

Gradient times activation at each position, summed over channels: unlike Grad-CAM the gradients are
not averaged first, so the map shows the positions that raise the score; positive part, upsampled.
"""

from __future__ import annotations

from pytorch_grad_cam import HiResCAM
from torch import nn

from convis.attribution.base import SaliencyMethod, builder
from convis.attribution.cam import cam_method
from convis.backbones import Backbone


@builder
def hirescam(net: nn.Module, backbone: Backbone, image_size: int, layer: str | None = None) -> SaliencyMethod:
    """HiResCAM at `layer` (a layer name or module path; None: the last convolutional features)."""
    return cam_method(HiResCAM, net, backbone, image_size, layer)

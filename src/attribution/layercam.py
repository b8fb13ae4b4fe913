"""LayerCAM (Jiang et al. 2021), computed by pytorch-grad-cam.

The activation at each position is weighted by the positive part of its own gradient and summed over
channels: a weight per position rather than per channel, so shallower layers give usable maps too.
"""

from __future__ import annotations

from pytorch_grad_cam import LayerCAM
from torch import nn

from convis.attribution.base import SaliencyMethod, builder
from convis.attribution.cam import cam_method
from convis.backbones import Backbone


@builder
def layercam(net: nn.Module, backbone: Backbone, image_size: int, layer: str | None = None) -> SaliencyMethod:
    """LayerCAM at `layer` (a layer name or module path; None: the last convolutional features)."""
    return cam_method(LayerCAM, net, backbone, image_size, layer)

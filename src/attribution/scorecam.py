"""Score-CAM (Wang et al. 2020), computed by pytorch-grad-cam.

Each channel of the layer, upsampled and scaled to [0, 1], masks the image; the channel's weight is the
softmax over channels of the target's score on its masked image. No gradients; one forward pass per
channel and image, `batch_size` masked images at a time.
"""

from __future__ import annotations

from pytorch_grad_cam import ScoreCAM
from torch import nn

from convis.attribution.base import SaliencyMethod, builder
from convis.attribution.cam import cam_method, checked_batch
from convis.backbones import Backbone


@builder
def scorecam(
    net: nn.Module, backbone: Backbone, image_size: int, layer: str | None = None, batch_size: int = 32
) -> SaliencyMethod:
    """Score-CAM at `layer` (None: the last convolutional features), `batch_size` masked images per forward."""
    checked_batch(batch_size)

    def make(model: nn.Module, layers: list[nn.Module]) -> ScoreCAM:
        cam = ScoreCAM(model, layers)
        cam.batch_size = batch_size  # the package reads it as an attribute
        return cam

    return cam_method(make, net, backbone, image_size, layer)

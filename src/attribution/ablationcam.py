"""Ablation-CAM (Desai & Ramaswamy 2020), computed by pytorch-grad-cam.

Each channel's weight is the target score's relative drop, (S - S_k) / S, when that channel of the
layer is set to zero (ablated; where the layer's activations are not all >= 0, the package sets it
1e7 below their minimum instead); no gradients. One forward pass per channel and image, the layer's output
replaced by its ablated copy, `batch_size` ablations at a time.
"""

from __future__ import annotations

from functools import partial

from pytorch_grad_cam import AblationCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from torch import nn

from convis.attribution.base import SaliencyMethod, builder
from convis.attribution.cam import cam_method, checked_batch
from convis.backbones import Backbone


@builder
def ablationcam(
    net: nn.Module, backbone: Backbone, image_size: int, layer: str | None = None, batch_size: int = 32
) -> SaliencyMethod:
    """Ablation-CAM at `layer` (None: the last convolutional features), `batch_size` ablations per forward."""
    make = partial(_ablation_cam, batch_size=checked_batch(batch_size))
    return cam_method(make, net, backbone, image_size, layer)


def _ablation_cam(model: nn.Module, layers: list[nn.Module], batch_size: int) -> AblationCAM:
    """A fresh ablation layer per call: the package's default instance is shared by every AblationCAM."""
    return AblationCAM(model, layers, ablation_layer=AblationLayer(), batch_size=batch_size)

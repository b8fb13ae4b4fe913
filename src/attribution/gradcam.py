"""Grad-CAM (Selvaraju et al. 2017) at one layer: positive part, upsampled bilinearly to the image."""

from __future__ import annotations

from captum.attr import LayerGradCam
from torch import nn

from convis.attribution.base import SaliencyMethod, builder, upsampled
from convis.backbones import Backbone
from convis.backbones.extractor import deepest
from convis.backbones.probe import probe
from convis.runtime.errors import ConvisError

POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def last_features(backbone: Backbone, image_size: int) -> str:
    """The deepest named layer with a spatial output that is no pool: the last convolutional features

    (block5_conv3 on VGG16, out_relu on MobileNetV2), where Grad-CAM looks by default.
    """
    spatial = [
        info.path
        for info in probe(backbone.net, backbone.names, image_size, backbone.channels)
        if len(info.shape) == 3 and not isinstance(backbone.net.get_submodule(info.path), POOLS)
    ]
    if not spatial:
        raise ConvisError(
            f"{backbone.arch} has no layer with a spatial output (channels x height x width): "
            "the CAM methods need convolutional features; use method=gradient or another input-gradient method"
        )
    return deepest(backbone.net, spatial)


def cam_layer(backbone: Backbone, image_size: int, layer: str | None) -> str:
    """The module path of `layer` (None: the last convolutional features), checked to give C x H x W maps."""
    if not layer:
        return last_features(backbone, image_size)
    path = backbone.path(layer)
    (info,) = probe(backbone.net, {layer: path}, image_size, backbone.channels)
    if len(info.shape) != 3:
        raise ConvisError(
            f"method.layer={layer}: a CAM method needs a layer with a spatial output (channels x height x width), "
            f"and {layer} gives {list(info.shape)}; choose a convolutional layer, e.g. "
            f"method.layer={last_features(backbone, image_size)}"
        )
    return path


@builder
def gradcam(net: nn.Module, backbone: Backbone, image_size: int, layer: str | None = None) -> SaliencyMethod:
    """Grad-CAM at `layer` (a layer name or module path; None: the last convolutional features)."""
    attribution = LayerGradCam(net, net.get_submodule(cam_layer(backbone, image_size, layer)))
    return SaliencyMethod(attribution, upsampled, lambda inputs: {"relu_attributions": True})

"""Occlusion (Zeiler & Fergus 2014), computed by Captum: a square patch slides over the image, set to black.

A patch's value is the target score's drop, S_c(x) - S_c(x with the patch black). Captum gives each pixel
the mean drop of the patches that cover it (every channel the same), so a map value is in score units:
positive where hiding the pixel lowers the score. One forward pass per patch position and image.
"""

from __future__ import annotations

from typing import Any

from captum.attr import Occlusion
from torch import Tensor, nn

from convis.attribution.base import BATCH, SaliencyMethod, black, builder, check, one_channel
from convis.backbones import Backbone
from convis.checks import positive_whole


@builder
def occlusion(
    net: nn.Module, backbone: Backbone, image_size: int, window: int = 16, stride: int = 8, batch: int = 50
) -> SaliencyMethod:
    """`window` x `window` pixel patches (at most the image) every `stride` pixels, `batch` copies a forward."""
    check((positive_whole("method.window", "16"), window), (positive_whole("method.stride", "8"), stride))
    check((BATCH, batch))

    def options(inputs: Tensor) -> dict[str, Any]:
        channels, height, width = inputs.shape[1:]
        return {
            "sliding_window_shapes": (channels, min(window, height), min(window, width)),
            "strides": (channels, stride, stride),
            "baselines": black(backbone, inputs),
            "perturbations_per_eval": batch,
        }

    return SaliencyMethod(Occlusion(net), one_channel, options)

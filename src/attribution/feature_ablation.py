"""Feature ablation over superpixels, computed by Captum's FeatureAblation.

Each SLIC superpixel (convis.attribution.superpixels) is set to black in turn; a pixel's value is its
superpixel's drop of the target score, S_c(x) - S_c(x with the superpixel black). Signed; one forward
pass per superpixel and image.
"""

from __future__ import annotations

from captum.attr import FeatureAblation
from torch import nn

from convis.attribution.base import SaliencyMethod, builder, one_channel
from convis.attribution.superpixels import superpixel_options
from convis.backbones import Backbone


@builder
def feature_ablation(
    net: nn.Module, backbone: Backbone, image_size: int, segments: int = 50, compactness: float = 10.0, batch: int = 50
) -> SaliencyMethod:
    """About `segments` SLIC superpixels of `compactness`, `batch` ablated copies per image a forward."""
    options = superpixel_options(backbone, segments, compactness, batch)
    return SaliencyMethod(FeatureAblation(net), one_channel, options)

"""KernelSHAP (Lundberg & Lee 2017) over superpixels, computed by Captum's KernelShap.

Coalitions of SLIC superpixels (the rest set to black) are drawn from the Shapley kernel with torch's RNG,
which the run seeds; a weighted linear regression of the target score on them estimates each superpixel's
Shapley value, which all its pixels carry. Where SLIC finds a single superpixel (a picture of noise at a small
size), Captum's kernel has no coalition to draw, and that one player's Shapley value is exactly the score's drop
from black, S_c(x) - S_c(black): it is computed as that. Signed; one surrogate and `samples` forward passes per
image.
"""

from __future__ import annotations

from typing import Any

from captum.attr import FeatureAblation, KernelShap
from torch import Tensor, nn

from convis.attribution.base import SaliencyMethod, builder, check, one_channel
from convis.attribution.superpixels import OneImageAtATime, superpixel_options
from convis.backbones import Backbone
from convis.checks import positive_whole


@builder
def kernel_shap(
    net: nn.Module,
    backbone: Backbone,
    image_size: int,
    samples: int = 1000,
    segments: int = 50,
    compactness: float = 10.0,
    batch: int = 50,
) -> SaliencyMethod:
    """`samples` coalitions of about `segments` SLIC superpixels, `batch` per forward."""
    check((positive_whole("method.samples", "1000"), samples))
    options = superpixel_options(backbone, segments, compactness, batch, n_samples=samples)
    return SaliencyMethod(OneImageAtATime(ShapleyOfSuperpixels(net)), one_channel, options)


class ShapleyOfSuperpixels:
    """Captum's KernelShap on one image; its exact value (the score's drop from black) where it has one superpixel."""

    def __init__(self, net: nn.Module) -> None:
        self.kernel, self.exact = KernelShap(net), FeatureAblation(net)

    def attribute(self, inputs: Tensor, target: Tensor, feature_mask: Tensor, n_samples: int, **options: Any) -> Tensor:
        if int(feature_mask.max()) == 0:
            return self.exact.attribute(inputs, target=target, feature_mask=feature_mask, **options)
        return self.kernel.attribute(inputs, target=target, feature_mask=feature_mask, n_samples=n_samples, **options)

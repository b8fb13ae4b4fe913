"""SmoothGrad (Smilkov et al. 2017): |gradient| averaged over noisy copies of the image, max over channels."""

from __future__ import annotations

from captum.attr import NoiseTunnel, Saliency
from torch import nn

from convis.attribution.base import SAMPLES_PER_PASS, SaliencyMethod, builder, channel_max_abs, check, pixel_range
from convis.backbones import Backbone
from convis.checks import positive_number, positive_whole


@builder
def smoothgrad(
    net: nn.Module,
    backbone: Backbone,
    image_size: int,
    samples: int = 50,
    noise_level: float = 0.15,
    samples_per_pass: int | None = None,
) -> SaliencyMethod:
    """`samples` noisy copies (sd `noise_level` x the [0, 1] pixel range), `samples_per_pass` per forward."""
    check(
        (positive_whole("method.samples", "50"), samples),
        (positive_number("method.noise_level", "0.15"), noise_level),
        (SAMPLES_PER_PASS, samples_per_pass),
    )
    options = {
        "nt_type": "smoothgrad",
        "nt_samples": samples,
        "nt_samples_batch_size": samples_per_pass,
        "stdevs": noise_level * pixel_range(backbone),
        "abs": True,
    }
    return SaliencyMethod(NoiseTunnel(Saliency(net)), channel_max_abs, lambda inputs: options)

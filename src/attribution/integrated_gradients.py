"""Integrated Gradients (Sundararajan et al. 2017) from the black image, summed over colour channels.

A map still sums to S_c(x) - S_c(black) (the completeness property); it is signed.
"""

from __future__ import annotations

from typing import Any

from captum.attr import IntegratedGradients
from torch import Tensor, nn

from convis.attribution.base import SAMPLES_PER_PASS, SaliencyMethod, black, builder, channel_sum, check
from convis.backbones import Backbone
from convis.checks import positive_whole


@builder
def integrated_gradients(
    net: nn.Module, backbone: Backbone, image_size: int, steps: int = 50, samples_per_pass: int | None = None
) -> SaliencyMethod:
    """`steps` points on the straight path from black; `samples_per_pass` of them per image in one forward."""
    check((positive_whole("method.steps", "50"), steps), (SAMPLES_PER_PASS, samples_per_pass))

    def options(inputs: Tensor) -> dict[str, Any]:
        per_pass = samples_per_pass and samples_per_pass * len(inputs)
        return {"baselines": black(backbone, inputs), "n_steps": steps, "internal_batch_size": per_pass}

    return SaliencyMethod(IntegratedGradients(net), channel_sum, options)

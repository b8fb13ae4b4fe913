"""The superpixels that feature ablation, KernelSHAP and LIME perturb: SLIC segments of each picture.

SLIC (Achanta et al. 2012, scikit-image) runs per image on the de-normalised [0, 1] picture; each segment
is one feature, set to the black image when it is off. Captum gives every pixel and channel of a segment
the segment's value, so the map is one channel of its output (base.one_channel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from skimage.segmentation import slic
from torch import Tensor

from convis.attribution.base import BATCH, Attribution, black, check
from convis.backbones import Backbone
from convis.checks import positive_number, positive_whole

SEGMENTS = positive_whole("method.segments", "50")
COMPACTNESS = positive_number("method.compactness", "10")


def superpixels(inputs: Tensor, backbone: Backbone, segments: int, compactness: float) -> Tensor:
    """Each image's SLIC segment ids (N, 1, H, W), from 0, on its [0, 1] pixels."""
    mean = torch.tensor(backbone.mean, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1)
    std = torch.tensor(backbone.std, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1)
    pictures = (inputs.detach() * std + mean).clamp(0, 1).permute(0, 2, 3, 1).cpu().double().numpy()
    ids = [slic(picture, n_segments=segments, compactness=compactness, start_label=0) for picture in pictures]
    return torch.from_numpy(np.stack(ids)).long().unsqueeze(1).to(inputs.device)


def superpixel_options(
    backbone: Backbone, segments: int, compactness: float, batch: int, **more: Any
) -> Callable[[Tensor], dict[str, Any]]:
    """Checked options of a Captum superpixel attribution: black baseline, the SLIC mask, `more`."""
    check((SEGMENTS, segments), (COMPACTNESS, compactness), (BATCH, batch))

    def options(inputs: Tensor) -> dict[str, Any]:
        return {
            "baselines": black(backbone, inputs),
            "feature_mask": superpixels(inputs, backbone, segments, compactness),
            "perturbations_per_eval": batch,
            **more,
        }

    return options


class OneImageAtATime:
    """An attribution called image by image: Captum's Lime and KernelShap fit ONE surrogate per call."""

    def __init__(self, attribution: Attribution) -> None:
        self.attribution = attribution

    def attribute(self, inputs: Tensor, target: Tensor, **options: Any) -> Tensor:
        rows = [
            self.attribution.attribute(
                inputs[i : i + 1],
                target=target[i : i + 1],
                **{k: v[i : i + 1] if isinstance(v, Tensor) else v for k, v in options.items()},
            )
            for i in range(len(inputs))
        ]
        return torch.cat(rows)

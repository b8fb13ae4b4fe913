"""Transforms applied to the image before the network, for robustness; active outside the final phase.

Each draws one random setting per call and applies it to the whole batch (as Lucid does).
Empty space is filled with 0, the mean image in the network's normalised input space.
"""

from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(()).uniform_(low, high))


class Jitter:
    """Shift the image by a random offset of up to `pixels` in each direction (circularly)."""

    def __init__(self, pixels: int) -> None:
        self.pixels = int(pixels)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.pixels <= 0:
            return image
        dy, dx = torch.randint(-self.pixels, self.pixels + 1, (2,)).tolist()
        return torch.roll(image, shifts=(dy, dx), dims=(-2, -1))


class Pad:
    """Add `pixels` on every side (constant `fill`, or mode reflect), so later transforms move no content out."""

    def __init__(self, pixels: int, fill: float = 0.0, mode: str = "constant") -> None:
        self.pixels, self.fill, self.mode = int(pixels), float(fill), mode

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return F.pad(image, [self.pixels], fill=self.fill, padding_mode=self.mode)


class RandomScale:
    """Zoom about the centre by a factor drawn uniformly from [low, high]; the shape is kept."""

    def __init__(self, low: float = 0.9, high: float = 1.1) -> None:
        self.low, self.high = float(low), float(high)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        scale = _uniform(self.low, self.high)
        return F.affine(
            image, angle=0.0, translate=[0, 0], scale=scale, shear=[0.0, 0.0], interpolation=InterpolationMode.BILINEAR
        )


class RandomRotation:
    """Rotate about the centre by an angle drawn uniformly from [-degrees, degrees]; the shape is kept."""

    def __init__(self, degrees: float = 10.0) -> None:
        self.degrees = float(degrees)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        angle = _uniform(-self.degrees, self.degrees)
        return F.rotate(image, angle, interpolation=InterpolationMode.BILINEAR)

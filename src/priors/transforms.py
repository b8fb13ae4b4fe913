"""Transforms applied to the image before the network, for robustness; active outside the final phase."""

from __future__ import annotations

import torch


class Jitter:
    """Shift the image by a random offset of up to `pixels` in each direction (circularly)."""

    def __init__(self, pixels: int) -> None:
        self.pixels = int(pixels)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.pixels <= 0:
            return image
        dy, dx = torch.randint(-self.pixels, self.pixels + 1, (2,)).tolist()
        return torch.roll(image, shifts=(dy, dx), dims=(-2, -1))

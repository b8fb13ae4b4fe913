"""MACO's robustness (Fel et al., NeurIPS 2023): a random box of each image, resized, with a little noise."""

from __future__ import annotations

import torch
from torchvision.ops import roi_align


class NoisyCrop:
    """Each image's random square box, resized to `size` (None: the image's own), plus Gaussian and uniform noise.

    The box side is a fraction of the image side drawn uniformly from [low, high], its centre at
    0.5 + N(0, spread) of the image in each direction (outside the image reads 0, the mean image);
    the noise is `noise` * N(0, 1) + `noise` * U(-0.5, 0.5), in the network's normalised input space.
    """

    def __init__(
        self, low: float = 0.6, high: float = 0.9, spread: float = 0.15, noise: float = 0.05, size: int | None = None
    ) -> None:
        self.low, self.high, self.spread, self.noise = float(low), float(high), float(spread), float(noise)
        self.size = size

    def boxes(self, batch: int, height: int, width: int) -> torch.Tensor:
        """[batch, 5] rows of (image index, x1, y1, x2, y2) in pixels, as roi_align takes them."""
        centre = 0.5 + torch.randn(batch, 2) * self.spread
        side = torch.empty(batch, 1).uniform_(self.low, self.high)
        corners = torch.cat([centre - side / 2, centre + side / 2], 1) * torch.tensor([width, height] * 2)
        return torch.cat([torch.arange(batch, dtype=corners.dtype).view(-1, 1), corners], 1)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        size = (self.size, self.size) if self.size else (height, width)
        boxes = self.boxes(len(image), height, width).to(image)
        crops = roi_align(image, boxes, output_size=size, aligned=True)
        return crops + self.noise * (torch.randn_like(crops) + torch.rand_like(crops) - 0.5)

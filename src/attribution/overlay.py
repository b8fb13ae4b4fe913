"""Pictures of saliency: a heatmap over the image, and boxes drawn on it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import torch
from torch import Tensor
from torchvision.utils import draw_bounding_boxes

PREDICTED, TRUTH = "lime", "red"


def heatmap(saliency: Tensor, colormap: str = "jet") -> Tensor:
    """(3, H, W) in [0, 1]: the map's positive part scaled to its maximum, coloured."""
    positive = saliency.float().clamp_min(0)
    scaled = positive / positive.max().clamp_min(1e-12)
    rgba = matplotlib.colormaps[colormap](scaled.cpu().numpy())
    return torch.from_numpy(rgba[..., :3]).permute(2, 0, 1).float()


def heatmap_overlay(image: Tensor, saliency: Tensor, alpha: float = 0.5) -> Tensor:
    """The (3, H, W) [0, 1] image blended with the map's heatmap."""
    return (1 - alpha) * image.cpu() + alpha * heatmap(saliency)


def box_overlay(image: Tensor, boxes: Sequence[Sequence[int]], colours: Sequence[str]) -> Tensor:
    """The (3, H, W) [0, 1] image with [x0, y0, x1, y1] boxes (x1, y1 exclusive) drawn in `colours`."""
    pixels = (image.cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    inclusive = torch.tensor(boxes, dtype=torch.float).view(-1, 4) - torch.tensor([0, 0, 1, 1])
    width = max(1, image.shape[-1] // 112)
    return draw_bounding_boxes(pixels, inclusive, colors=list(colours), width=width).float() / 255

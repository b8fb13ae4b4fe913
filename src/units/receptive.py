"""A unit's receptive field: the input pixels one position of a layer sees, found from the network itself.

The gradient of a layer's centre position (summed over its channels) with respect to random inputs is
non-zero exactly on the pixels that position depends on; their bounding box, moved by the layer's stride,
gives every position's field. Measured, not derived from kernel sizes: it works on any architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from convis.units.exemplars import Features

Box = tuple[int, int, int, int]  # x0, y0, x1, y1; x1 and y1 exclusive


@dataclass(frozen=True)
class Field:
    """The field of a layer's centre position (`box`) at `centre` (y, x) of its `grid` (h, w), on `size` px."""

    box: Box
    centre: tuple[int, int]
    grid: tuple[int, int]
    size: int

    def at(self, y: int, x: int) -> Box:
        """The field of position (y, x), clipped to the image; the whole image for a layer without positions."""
        if y < 0:
            return (0, 0, self.size, self.size)
        step_y, step_x = self.size / self.grid[0], self.size / self.grid[1]
        dy, dx = round((y - self.centre[0]) * step_y), round((x - self.centre[1]) * step_x)
        x0, y0, x1, y1 = self.box
        return (max(x0 + dx, 0), max(y0 + dy, 0), min(x1 + dx, self.size), min(y1 + dy, self.size))


def receptive_field(features: Features, layer: str, channels: int, size: int, probes: int = 4, seed: int = 0) -> Field:
    """The field of `layer`'s centre position, on `size` x `size` inputs of `channels` channels."""
    generator = torch.Generator().manual_seed(seed)
    probe = torch.randn(probes, channels, size, size, generator=generator, requires_grad=True)
    activation = features(probe)[layer]
    if activation.dim() != 4:
        return Field((0, 0, size, size), (-1, -1), (1, 1), size)
    height, width = activation.shape[2:]
    centre = (height // 2, width // 2)
    (grad,) = torch.autograd.grad(activation[:, :, centre[0], centre[1]].sum(), probe)
    seen = grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = seen.any(dim=1).nonzero().flatten(), seen.any(dim=0).nonzero().flatten()
    if len(rows) == 0:  # no gradient reaches the input (a dead centre): the whole image
        return Field((0, 0, size, size), centre, (height, width), size)
    box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    return Field(box, centre, (height, width), size)

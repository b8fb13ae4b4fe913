"""RISE (Petsiuk, Das & Saenko, BMVC 2018): the softmax probability of randomly masked images, averaged.

    M(x) = sum_i P(c | I * M_i) M_i(x) / (N p)

Each mask M_i: an s x s grid of cells kept with probability p, upsampled bilinearly to (s + 1) * cell
(cell = ceil(H / s)) and cropped H x W at a random shift. I * M_i blends each pixel towards black, which is
the paper's product in [0, 1] pixels. The masks come from `seed` alone (a torch.Generator; by default the run's),
so a seed gives the same masks for every image and call. Non-negative; one forward pass per mask and image.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from convis.attribution.base import BATCH, SaliencyMethod, black, builder, check, one_channel
from convis.backbones import Backbone
from convis.checks import Rule, number, positive_whole, whole
from convis.runtime.errors import ConvisError

KEEP = Rule("method.keep", lambda v: number(v) and 0 < v < 1, "a number between 0 and 1 (exclusive)", "0.5")
SEED = Rule("method.seed", whole, "a whole number", "0", nullable=True)


def grids(seed: int, masks: int, cells: int, keep: float, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """The masks' random part: (masks, 1, s, s) kept cells and (masks, 2) shifts in [0, cell) pixels."""
    generator = torch.Generator().manual_seed(seed)
    kept = (torch.rand(masks, 1, cells, cells, generator=generator) < keep).float()
    cell = torch.tensor([math.ceil(side / cells) for side in size])
    shifts = (torch.rand(masks, 2, generator=generator) * cell).long()
    return kept, shifts


def upsample(kept: Tensor, shifts: Tensor, size: tuple[int, int]) -> Tensor:
    """The (masks, 1, H, W) masks of `kept` cells, upsampled bilinearly to (s + 1) cells and shifted."""
    cells = kept.shape[-1]
    big = [(cells + 1) * math.ceil(side / cells) for side in size]
    smooth = F.interpolate(kept, size=big, mode="bilinear", align_corners=False)
    height, width = size
    return torch.stack([m[:, y : y + height, x : x + width] for m, (y, x) in zip(smooth, shifts.tolist())])


def rise_masks(seed: int, masks: int, cells: int, keep: float, size: tuple[int, int]) -> Tensor:
    """All (masks, 1, H, W) masks of `seed`: what RISE averages the probabilities over."""
    return upsample(*grids(seed, masks, cells, keep, size), size)


class Rise:
    """RISE as an attribution: attribute(inputs, target) -> (N, 1, H, W) maps."""

    def __init__(self, net: nn.Module, backbone: Backbone, masks: int, cells: int, keep: float, batch: int, seed: int):
        self.net, self.backbone = net, backbone
        self.masks, self.cells, self.keep, self.batch, self.seed = masks, cells, keep, batch, seed

    @torch.no_grad()
    def attribute(self, inputs: Tensor, target: Tensor, **options: Any) -> Tensor:
        size = tuple(inputs.shape[-2:])
        kept, shifts = grids(self.seed, self.masks, self.cells, self.keep, size)
        base = black(self.backbone, inputs[:1])
        total = torch.zeros(len(inputs), 1, *size, dtype=inputs.dtype, device=inputs.device)
        for image, (x, c) in enumerate(zip(inputs, target.tolist())):
            for start in range(0, self.masks, self.batch):
                end = start + self.batch
                masks = upsample(kept[start:end], shifts[start:end], size).to(inputs)
                probs = self.net(base + masks * (x - base)).softmax(1)[:, c]
                total[image] += (probs.view(-1, 1, 1, 1) * masks).sum(0)
        return total / (self.masks * self.keep)


@builder
def rise(
    net: nn.Module,
    backbone: Backbone,
    image_size: int,
    masks: int = 4000,
    cells: int = 7,
    keep: float = 0.5,
    batch: int = 50,
    seed: int | None = None,
) -> SaliencyMethod:
    """`masks` random masks of `cells` x `cells` cells each kept with probability `keep`, `batch` a forward;
    the masks' `seed` (None: torch's, which a run sets from its `seed`)."""
    check(
        (positive_whole("method.masks", "4000"), masks),
        (positive_whole("method.cells", "7"), cells),
        (KEEP, keep),
        (BATCH, batch),
        (SEED, seed),
    )
    if cells > image_size:
        raise ConvisError(
            f"method.cells={cells} is more than image_size={image_size} pixels: give at most {image_size}"
        )
    seed = torch.initial_seed() if seed is None else seed
    return SaliencyMethod(Rise(net, backbone, masks, cells, keep, batch, seed), one_channel)

"""The pixel parameterisation: the image itself is the trainable tensor."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from convis.priors.prior import Constraint
from convis.priors.transforms import centre_crop


class PixelImage(nn.Module):
    """A batch of images in the network's normalised input space, optimised directly.

    Every parameterisation is built from (init, mean, std); pixels already live in the
    normalised space, so they need no mean and std. With `margin` > 0 the parameter is a canvas
    `margin` pixels larger than the image in each direction (Mahendran & Vedaldi's jitter crops the
    network's view out of it): `canvas()` is the whole of it, `forward()` the image, its centre.
    """

    def __init__(
        self, init: torch.Tensor, mean: Sequence[float] = (), std: Sequence[float] = (), margin: int = 0
    ) -> None:
        super().__init__()
        self.image = nn.Parameter(init.detach().clone())
        self.margin = int(margin)

    def forward(self) -> torch.Tensor:
        return centre_crop(self.image, self.margin)

    def canvas(self) -> torch.Tensor:
        """Everything the optimiser changes: the image and, with a margin, the canvas around it."""
        return self.image

    @torch.no_grad()
    def constrain(self, constraints: Iterable[Constraint], step: int = 0) -> None:
        """Apply in-place pixel constraints (e.g. the norm bound) to the canvas after step number `step` (from 0)."""
        for constraint in constraints:
            constraint(self.image, step)


@dataclass(frozen=True)
class Pixel:
    """param=pixel: the image itself is the parameter; `Pixel()(init, mean, std, margin)` builds it."""

    name: ClassVar[str] = "pixel"
    pixels: ClassVar[bool] = True  # pixel constraints and the IJCV rule act on it
    canvas: ClassVar[bool] = True  # it can hold a canvas around the image (inversion's crop jitter)

    def __call__(self, init: torch.Tensor, mean: Sequence[float], std: Sequence[float], margin: int = 0) -> PixelImage:
        return PixelImage(init, mean, std, margin)

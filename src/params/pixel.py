"""The pixel parameterisation: the image itself is the trainable tensor."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from src.priors.prior import Constraint


class PixelImage(nn.Module):
    """A batch of images in the network's normalised input space, optimised directly."""

    def __init__(self, init: torch.Tensor) -> None:
        super().__init__()
        self.image = nn.Parameter(init.detach().clone())

    def forward(self) -> torch.Tensor:
        return self.image

    @torch.no_grad()
    def constrain(self, constraints: Iterable[Constraint]) -> None:
        """Apply in-place pixel constraints (e.g. the norm bound) after a step."""
        for constraint in constraints:
            constraint(self.image)

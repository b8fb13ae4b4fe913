"""The pixel parameterisation: the image itself is the trainable tensor."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from convis.priors.prior import Constraint


class PixelImage(nn.Module):
    """A batch of images in the network's normalised input space, optimised directly.

    Every parameterisation is built from (init, mean, std); pixels already live in the
    normalised space, so they need no mean and std.
    """

    def __init__(self, init: torch.Tensor, mean: Sequence[float] = (), std: Sequence[float] = ()) -> None:
        super().__init__()
        self.image = nn.Parameter(init.detach().clone())

    def forward(self) -> torch.Tensor:
        return self.image

    @torch.no_grad()
    def constrain(self, constraints: Iterable[Constraint], step: int = 0) -> None:
        """Apply in-place pixel constraints (e.g. the norm bound) after step number `step` (from 0)."""
        for constraint in constraints:
            constraint(self.image, step)

"""A prior preset: what it adds to the loss, to the image after each step, and before the network."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from convis.objectives import Objective

Constraint = Callable[[torch.Tensor], None]
Transform = Callable[[torch.Tensor], torch.Tensor]


class Prior:
    """Penalties (objectives on the image), in-place constraints, and transforms (robustness)."""

    def __init__(
        self,
        penalties: Sequence[Objective] = (),
        constraints: Sequence[Constraint] = (),
        transforms: Sequence[Transform] = (),
    ) -> None:
        self.penalty: Objective | None = sum(penalties) if penalties else None
        self.constraints = list(constraints)
        self.transforms = list(transforms)

    def add_to(self, objective: Objective) -> Objective:
        """`objective` plus this prior's penalties."""
        return objective if self.penalty is None else objective + self.penalty

"""A prior preset: what it adds to the loss, to the image after each step, and before the network."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from convis.objectives import Objective
from convis.priors.transforms import Chain
from convis.runtime.errors import ConvisError

Constraint = Callable[[torch.Tensor], None]
Transform = Callable[[torch.Tensor], torch.Tensor]


class Prior:
    """Penalties (objectives on the image), in-place constraints, and transforms (robustness).

    `transforms` holds the given ones as one Chain, so that the network sees the input's size whatever they do.
    """

    def __init__(
        self,
        penalties: Sequence[Objective] | None = (),
        constraints: Sequence[Constraint] | None = (),
        transforms: Sequence[Transform] | None = (),
    ) -> None:
        penalties, constraints, transforms = penalties or (), constraints or (), transforms or ()
        for kind, given in (("penalties", penalties), ("constraints", constraints), ("transforms", transforms)):
            for item in given:
                if (kind == "penalties" and not isinstance(item, Objective)) or not callable(item):
                    wants = "an Objective of the image" if kind == "penalties" else "a function of the image"
                    raise ConvisError(f"prior {kind} entry {item!r} is not {wants}: see conf/prior for examples")
        self.penalty: Objective | None = sum(penalties) if penalties else None
        self.constraints = list(constraints)
        self.transforms: list[Transform] = [Chain(transforms)] if transforms else []

    def add_to(self, objective: Objective) -> Objective:
        """`objective` plus this prior's penalties."""
        return objective if self.penalty is None else objective + self.penalty

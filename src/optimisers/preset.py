"""An optimiser preset (conf/optimizer/NAME.yaml): the torch optimiser to build on an image's parameters, and
what the presets tell apart besides it (the final low-rate phase, inversion's jitter and starting noise)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import torch

from convis.checks import count, positive_number
from convis.optimisers.ijcv import IJCV
from convis.runtime.errors import ConvisError

JITTERS = ("crop", "roll")  # the authors' window of a padded canvas | a circular shift
NOISES = ("gaussian", "uniform")  # what init=noise draws

Factory = Callable[[Iterable[torch.Tensor]], torch.optim.Optimizer]


@dataclass(frozen=True)
class Optimiser:
    """`optim` builds the torch optimiser from the parameters (a partial, e.g. of torch.optim.Adam).

    The last `final_steps` steps of a full-length run run at `final_lr_factor` times the rate, with a fresh
    optimiser state if `final_reset`. `jitter` and `noise` are inversion's: how the network's view of the image
    moves (crop: the authors' window of a padded canvas; roll: a circular shift) and what its noise start draws.
    """

    optim: Factory
    final_steps: int = 50
    final_lr_factor: float = 0.1
    final_reset: bool = False
    jitter: str = "roll"
    noise: str = "gaussian"

    def __post_init__(self) -> None:
        if not callable(self.optim):
            raise ConvisError(f"optimizer.optim={self.optim!r} does not build an optimiser: give a torch.optim class")
        lr = self.optim.keywords.get("lr") if isinstance(self.optim, partial) else None
        if lr is not None:
            positive_number("optimizer.optim.lr", "0.01").check("optimizer.optim.lr", lr)
        count("optimizer.final_steps", "50").check("optimizer.final_steps", self.final_steps)
        positive_number("optimizer.final_lr_factor", "0.1").check("optimizer.final_lr_factor", self.final_lr_factor)
        if self.jitter not in JITTERS:
            raise ConvisError(f"optimizer.jitter={self.jitter!r} is unknown: choose one of {', '.join(JITTERS)}")
        if self.noise not in NOISES:
            raise ConvisError(f"optimizer.noise={self.noise!r} is unknown: choose one of {', '.join(NOISES)}")

    @property
    def steps_pixels(self) -> bool:
        """Whether the update rule steps pixels in 0-255 units (the authors' IJCV rule), so needs param=pixel."""
        func = self.optim.func if isinstance(self.optim, partial) else self.optim
        return isinstance(func, type) and issubclass(func, IJCV)

    def factory(self, pixels: int, std: Iterable[float]) -> Factory:
        """The optimiser factory, told what the IJCV rule needs: the image's H W and 0-255 units per channel."""
        if not self.steps_pixels:
            return self.optim
        given = self.optim.keywords if isinstance(self.optim, partial) else {}
        units = {"pixels": pixels, "scale": [255.0 * s for s in std]}
        return partial(self.optim, **{k: v for k, v in units.items() if given.get(k) is None})

    def final_phase(self, steps: int, full: int) -> int:
        """Steps in the final phase (low rate, no jitter) of a run of `steps` steps.

        `final_steps` in a run of `full` steps (the objective's default length) or more; a shorter run
        keeps the same share, final_steps / full, rounded, and at least one step when it has two or more
        (the authors' 50 of 350: a 20-step run ends with 3, a 100-step run with 14).
        """
        if self.final_steps <= 0 or steps <= 0:
            return 0
        if steps >= full:
            return min(self.final_steps, steps)
        return min(max(round(steps * self.final_steps / full), 1 if steps > 1 else 0), steps)

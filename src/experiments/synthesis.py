"""What every experiment that optimises an image shares: a plan of what to optimise, the fit and the writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import lightning as L
import torch

from convis.backbones import Backbone
from convis.checks import positive_number
from convis.experiments.base import Experiment, Result
from convis.experiments.visualise import Recipe, Settings, initial_image, optimise
from convis.experiments.writer import Pictures, weights_of, write_visualisation
from convis.modules.visualisation import Group


@dataclass
class Plan:
    """What to optimise: the groups, the pictures (one name per image row, and what the writer shows beside
    them), and how to measure the final images.

    `init`: the start (default: the objective's `init` for one image per name); `margin`: pixels of canvas
    around the image in `init` (crop jitter); `unbounded`: result keys that may be +Inf.
    """

    groups: list[Group]
    pictures: Pictures
    measure: Callable[[torch.Tensor], list[dict]]
    init: torch.Tensor | None = None
    margin: int = 0
    unbounded: tuple[str, ...] = ()


class Synthesis(Experiment):
    """An experiment that optimises images: each plans what to optimise; the run, the fit and the writer are these."""

    built_keys = ("param", "prior", "optimizer")
    rules = (positive_number("objective.init_scale", "0.1"),)

    @cached_property
    def recipe(self) -> Recipe:
        """The run's parameterisation, prior and optimiser preset, built from their config groups."""
        return Recipe(*(self.built(key) for key in self.built_keys))

    def check(self) -> None:
        super().check()
        self.recipe  # noqa: B018  (building the objects checks them)

    def plan(self, backbone: Backbone, recipe: Recipe) -> Plan:
        """What to optimise, on `backbone` with `recipe`."""
        raise NotImplementedError

    def run(self, output_dir: Path) -> Result:
        cfg = self.cfg
        L.seed_everything(cfg.seed, verbose=False)
        backbone = self.backbone()
        recipe = self.recipe
        plan = self.plan(backbone, recipe)
        init = plan.init
        if init is None:
            shape = (len(plan.pictures.names), backbone.channels, cfg.image_size, cfg.image_size)
            init = initial_image(cfg.objective.init, shape, cfg.objective.init_scale)
        full = int(cfg.objective.get("steps") or cfg.steps)
        settings = Settings.of(cfg, output_dir)
        _, loop = optimise(
            plan.groups, init, recipe, cfg.steps, full, backbone, plan.pictures.names, settings, plan.margin
        )
        weights = weights_of(cfg, self.given_model)
        return write_visualisation(
            cfg.objective.name, backbone, loop, plan.pictures, plan.measure, output_dir, plan.unbounded, weights
        )

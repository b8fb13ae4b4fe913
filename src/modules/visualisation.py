"""The LightningModule whose only trainable parameters are those of the image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import lightning as L
import torch
from torch import nn

from convis.backbones import FeatureExtractor
from convis.objectives import INPUT, Objective
from convis.priors.prior import Constraint, Transform
from convis.priors.transforms import Crop, centre_crop
from convis.runtime.watch import FiniteWatch


@dataclass
class Group:
    """Rows of the image batch optimised for one objective through one cut network."""

    tag: str
    rows: slice
    extractor: FeatureExtractor
    objective: Objective
    transforms: Sequence[Transform] = field(default_factory=list)
    crop: Crop | None = None  # the authors' jitter: a random window of a padded canvas (before `transforms`)


class VisualisationModule(L.LightningModule):
    """Optimises an image parameterisation against per-group objectives; the network is frozen.

    Each step runs every group through its own cut network (with several groups, a backward per group
    keeps one graph alive at a time), then steps the optimiser and applies the pixel constraints.
    The last `final_steps` run at `final_lr_factor` times the rate without transforms or crop jitter,
    on the image at the centre of the canvas; with `final_reset` they start from a fresh optimiser
    state (momentum and the like zeroed), as the authors' second call of their optimiser does.

    A loop that owns the steps (convis.runtime.loop.Loop, through Lightning Fabric) calls `training_step`
    once per optimisation step. `watch` keeps every step's losses on the device and the last image whose
    losses were all finite (`last_good`); the loop reads them at its logging steps.
    """

    def __init__(
        self,
        param: nn.Module,
        groups: Sequence[Group],
        optimizer: Callable[..., torch.optim.Optimizer],
        steps: int,
        final_steps: int = 0,
        final_lr_factor: float = 1.0,
        constraints: Sequence[Constraint] = (),
        final_reset: bool = False,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.param = param
        self.groups = list(groups)
        self.extractors = nn.ModuleList(g.extractor for g in self.groups)
        self.make_optimizer = optimizer
        self.steps, self.final_steps, self.final_lr_factor = steps, final_steps, final_lr_factor
        self.final_reset = final_reset
        self.margin = int(getattr(param, "margin", 0))  # pixels of canvas around the image (crop jitter)
        self.constraints = list(constraints)
        self.watch = FiniteWatch()

    @property
    def boundary(self) -> int:
        """The index of the first step of the final phase (`steps` when there is none)."""
        return self.steps - self.final_steps

    @property
    def last_good(self) -> torch.Tensor | None:
        """The last image whose losses were all finite (None before the first step)."""
        return self.watch.last_good

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.make_optimizer(self.param.parameters())

    def canvas(self) -> torch.Tensor:
        """What the parameterisation renders: the image, or the padded canvas around it for crop jitter."""
        canvas = getattr(self.param, "canvas", None)
        return canvas() if canvas is not None else self.param()

    def losses(self, canvas: torch.Tensor, group: Group, robust: bool) -> dict[str, torch.Tensor]:
        """The group's loss terms, per image, for its rows of `canvas`.

        With crop jitter, while `robust` the priors see the group's padded canvas and the network a random
        window of it; otherwise both see the image at the centre.
        """
        x = canvas[group.rows]
        if group.crop is None:
            x = centre_crop(x, self.margin)
        elif robust:
            x = group.crop.region(x)
        else:
            x = group.crop.centre(x)
        seen = group.crop(x) if robust and group.crop is not None else x
        for transform in group.transforms if robust else ():
            seen = transform(seen)
        return group.objective.breakdown({**group.extractor(seen), INPUT: x})

    def start_final_phase(self, optimizer: torch.optim.Optimizer) -> None:
        """The final phase's rate (and, with `final_reset`, a fresh optimiser state), once, at its first step."""
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * self.final_lr_factor
        if self.final_reset:
            optimizer.state.clear()

    def training_step(self, step: int) -> None:
        """Optimisation step number `step` (from 0): the losses it saw go to `watch`; nothing waits for the device."""
        optimizer = self.optimizers()
        optimizer.zero_grad(set_to_none=True)
        if self.final_steps and step == self.boundary:
            self.start_final_phase(optimizer.optimizer)
        robust = step < self.boundary
        image = self.canvas()
        shared = len(self.groups) > 1  # a detached leaf: each group's graph is freed by its own backward
        leaf = image.detach().requires_grad_() if shared else image
        values, described = [], []
        for group in self.groups:
            parts = self.losses(leaf, group, robust)
            total = torch.stack(list(parts.values())).sum(0)
            self.manual_backward(total.sum())
            values += [*parts.values(), total]
            described.append((group.tag, parts))
        self.watch.describe(described)
        self.watch.see(centre_crop(leaf.detach(), self.margin), torch.cat(values).detach())
        if shared:
            self.manual_backward(image, leaf.grad)
        optimizer.step()
        self.param.constrain(self.constraints, step)

    @torch.no_grad()
    def evaluate(self) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """The current images and, per group, each loss term per image, without transforms."""
        canvas = self.canvas()
        return self.param().detach(), [self.losses(canvas, group, robust=False) for group in self.groups]

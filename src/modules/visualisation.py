"""The LightningModule whose only trainable parameters are those of the image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import lightning as L
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from convis.backbones import FeatureExtractor
from convis.objectives import INPUT, Objective
from convis.priors.prior import Constraint, Transform
from convis.priors.transforms import Crop, centre_crop
from convis.runtime.errors import NonFiniteLoss
from convis.runtime.logs import is_logging_step


@dataclass
class Group:
    """Rows of the image batch optimised for one objective through one cut network."""

    tag: str
    rows: slice
    extractor: FeatureExtractor
    objective: Objective
    transforms: Sequence[Transform] = field(default_factory=list)
    crop: Crop | None = None  # the authors' jitter: a random window of a padded canvas (before `transforms`)


class StepDataset(torch.utils.data.Dataset):
    """`steps` empty batches: the optimisation needs no data, only a step count."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> int:
        return index


class VisualisationModule(L.LightningModule):
    """Optimises an image parameterisation against per-group objectives; the network is frozen.

    Each step runs every group through its own cut network (backward per group keeps one
    graph alive at a time), then steps the optimiser and applies the pixel constraints.
    The last `final_steps` run at `final_lr_factor` times the rate without transforms or crop jitter,
    on the image at the centre of the canvas; with `final_reset` they start from a fresh optimiser
    state (momentum and the like zeroed), as the authors' second call of their optimiser does.
    A loss term that goes NaN or Inf stops the run at the next logging step (NonFiniteLoss);
    `last_good` keeps the last image whose losses were all finite.
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
        self.last_good: torch.Tensor | None = None
        self.first_bad: torch.Tensor | None = None  # per logged value: the step it went non-finite, 0 if never
        self.bad_value: torch.Tensor | None = None

    def configure_optimizers(self):
        optimizer = self.make_optimizer(self.param.parameters())
        boundary = self.steps - self.final_steps
        schedule = LambdaLR(optimizer, lambda step: 1.0 if step < boundary else self.final_lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Leave the frozen network out of checkpoints: a resumed run rebuilds it from its config."""
        checkpoint["state_dict"] = {
            k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("extractors.")
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Fill the network back in from the rebuilt one, so the strict state-dict load still checks the image."""
        checkpoint["state_dict"].update({f"extractors.{k}": v for k, v in self.extractors.state_dict().items()})

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(StepDataset(self.steps), batch_size=None)

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

    def training_step(self, batch: int, batch_idx: int) -> None:
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        optimizer.zero_grad(set_to_none=True)
        boundary = self.steps - self.final_steps
        if self.final_reset and self.global_step == boundary > 0:  # the final phase starts afresh
            getattr(optimizer, "optimizer", optimizer).state.clear()
        robust = self.global_step < boundary
        image = self.canvas()
        leaf = image.detach().requires_grad_()
        logs: dict[str, torch.Tensor] = {}
        for group in self.groups:
            parts = self.losses(leaf, group, robust)
            total = torch.stack(list(parts.values())).sum(0)
            self.manual_backward(total.sum())
            logs.update({f"{group.tag}/{name}": value.detach().mean() for name, value in parts.items()})
            logs[f"{group.tag}/loss"] = total.detach().mean()
        self.watch(centre_crop(leaf.detach(), self.margin), logs)
        self.manual_backward(image, leaf.grad)
        optimizer.step()
        schedule.step()
        self.param.constrain(self.constraints, self.global_step - 1)  # the index of the step just taken
        if is_logging_step(self.trainer):  # self.log costs more than a small network's step: log at intervals
            self.stop_if_non_finite(list(logs))
            self.log_dict(logs, on_step=True, on_epoch=False)
            self.log(
                "loss", sum(logs[f"{g.tag}/loss"] for g in self.groups), prog_bar=True, on_step=True, on_epoch=False
            )

    def watch(self, image: torch.Tensor, logs: dict[str, torch.Tensor]) -> None:
        """Before the step: note each value's first non-finite step and copy the image if all are finite so far.

        Runs on the device without waiting for it; steps count from 1, 0 means finite so far.
        """
        values = torch.stack(list(logs.values()))
        if self.first_bad is None:
            self.first_bad, self.bad_value = torch.zeros_like(values, dtype=torch.long), torch.zeros_like(values)
            self.last_good = image.clone()  # the image may be the parameter itself, which the step changes
        newly = ~torch.isfinite(values) & (self.first_bad == 0)
        self.first_bad = torch.where(newly, self.global_step + 1, self.first_bad)
        self.bad_value = torch.where(newly, values, self.bad_value)
        self.last_good = torch.where((self.first_bad == 0).all(), image, self.last_good)

    def stop_if_non_finite(self, names: list[str]) -> None:
        """Raise NonFiniteLoss for the value that went non-finite first (a term before its group's total)."""
        if not bool(self.first_bad.any()):  # the one wait for the device, at logging steps only
            return
        steps = self.first_bad.tolist()
        index = min((step, i) for i, step in enumerate(steps) if step)[1]
        raise NonFiniteLoss(names[index], steps[index], float(self.bad_value[index]))

    @torch.no_grad()
    def evaluate(self) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """The current images and, per group, each loss term per image, without transforms."""
        canvas = self.canvas()
        return self.param().detach(), [self.losses(canvas, group, robust=False) for group in self.groups]

"""The LightningModule whose only trainable parameters are those of the image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import lightning as L
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from src.backbones import FeatureExtractor
from src.objectives import INPUT, Objective
from src.priors.prior import Constraint, Transform


@dataclass
class Group:
    """Rows of the image batch optimised for one objective through one cut network."""

    tag: str
    rows: slice
    extractor: FeatureExtractor
    objective: Objective
    transforms: Sequence[Transform] = field(default_factory=list)


def is_logging_step(trainer: L.Trainer) -> bool:
    """Whether the step just taken is one whose losses are logged (every log_every_n_steps, and the last)."""
    return trainer.global_step % trainer.log_every_n_steps == 0 or trainer.global_step >= trainer.max_steps


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
    The last `final_steps` run at `final_lr_factor` times the rate without transforms.
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
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.param = param
        self.groups = list(groups)
        self.extractors = nn.ModuleList(g.extractor for g in self.groups)
        self.make_optimizer = optimizer
        self.steps, self.final_steps, self.final_lr_factor = steps, final_steps, final_lr_factor
        self.constraints = list(constraints)

    def configure_optimizers(self):
        optimizer = self.make_optimizer(self.param.parameters())
        boundary = self.steps - self.final_steps
        schedule = LambdaLR(optimizer, lambda step: 1.0 if step < boundary else self.final_lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Leave the frozen network out of checkpoints: a resumed run rebuilds it from its config."""
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("extractors.")}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Fill the network back in from the rebuilt one, so the strict state-dict load still checks the image."""
        checkpoint["state_dict"].update({f"extractors.{k}": v for k, v in self.extractors.state_dict().items()})

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(StepDataset(self.steps), batch_size=None)

    def losses(self, image: torch.Tensor, group: Group, robust: bool) -> dict[str, torch.Tensor]:
        """The group's loss terms, per image, for its rows of `image`."""
        x = image[group.rows]
        seen = x
        for transform in group.transforms if robust else ():
            seen = transform(seen)
        return group.objective.breakdown({**group.extractor(seen), INPUT: x})

    def training_step(self, batch: int, batch_idx: int) -> None:
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        optimizer.zero_grad(set_to_none=True)
        robust = self.global_step < self.steps - self.final_steps
        image = self.param()
        leaf = image.detach().requires_grad_()
        logs: dict[str, torch.Tensor] = {}
        for group in self.groups:
            parts = self.losses(leaf, group, robust)
            total = torch.stack(list(parts.values())).sum(0)
            self.manual_backward(total.sum())
            logs.update({f"{group.tag}/{name}": value.detach().mean() for name, value in parts.items()})
            logs[f"{group.tag}/loss"] = total.detach().mean()
        self.manual_backward(image, leaf.grad)
        optimizer.step()
        schedule.step()
        self.param.constrain(self.constraints, self.global_step - 1)  # the index of the step just taken
        if is_logging_step(self.trainer):  # self.log costs more than a small network's step: log at intervals
            self.log_dict(logs, on_step=True, on_epoch=False)
            self.log("loss", sum(logs[f"{g.tag}/loss"] for g in self.groups), prog_bar=True, on_step=True, on_epoch=False)

    @torch.no_grad()
    def evaluate(self) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """The current images and, per group, each loss term per image, without transforms."""
        image = self.param()
        return image.detach(), [self.losses(image, group, robust=False) for group in self.groups]

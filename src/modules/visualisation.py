"""The LightningModule whose only trainable parameters are those of the image."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import lightning as L
import torch
from lightning.pytorch.strategies import SingleDeviceStrategy
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from convis.backbones import FeatureExtractor
from convis.objectives import INPUT, Objective
from convis.priors.prior import Constraint, Transform
from convis.priors.transforms import Crop, centre_crop
from convis.runtime.logs import is_logging_step
from convis.runtime.stops import StopSaver
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

    Each step runs every group through its own cut network (with several groups, a backward per group
    keeps one graph alive at a time), then steps the optimiser and applies the pixel constraints.
    The last `final_steps` run at `final_lr_factor` times the rate without transforms or crop jitter,
    on the image at the centre of the canvas; with `final_reset` they start from a fresh optimiser
    state (momentum and the like zeroed), as the authors' second call of their optimiser does.

    One Lightning step runs optimisation steps for up to `seconds_per_batch` (0: one step), so that
    Lightning's own work per step does not outweigh a small network's: it ends sooner at the next
    logging step, the next multiple of each of `every` (the intervals at which callbacks act, e.g.
    checkpoints), the last step, or after the step during which Ctrl-C or SIGTERM came. The global step
    counts optimisation steps, so loggers, callbacks and checkpoints see the steps they would one at a time.
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
        seconds_per_batch: float = 0.0,
        every: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.param = param
        self.groups = list(groups)
        self.extractors = nn.ModuleList(g.extractor for g in self.groups)
        self.make_optimizer = optimizer
        self.steps, self.final_steps, self.final_lr_factor = steps, final_steps, final_lr_factor
        self.final_reset = final_reset
        self.seconds_per_batch = float(seconds_per_batch)
        self.every = [int(n) for n in every if n > 0]
        self.margin = int(getattr(param, "margin", 0))  # pixels of canvas around the image (crop jitter)
        self.constraints = list(constraints)
        self.stops: list[StopSaver] = []
        self.plain = False
        self.watch = FiniteWatch()

    @property
    def last_good(self) -> torch.Tensor | None:
        """The last image whose losses were all finite (None before the first step)."""
        return self.watch.last_good

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

    def on_train_start(self) -> None:
        self.stops = [callback for callback in self.trainer.callbacks if isinstance(callback, StopSaver)]
        # on one device without loss scaling, backward and the optimiser step need nothing of Lightning's but its
        # step count: they skip its per-step hooks (on_before_backward and the like), which no callback here uses
        self.plain = isinstance(self.trainer.strategy, SingleDeviceStrategy) and (
            getattr(self.trainer.precision_plugin, "scaler", None) is None
        )

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

    def batch_end(self, step: int) -> int:
        """The step after which the Lightning step that starts after `step` steps ends."""
        trainer = self.trainer
        ends = [trainer.max_steps]
        for every in (trainer.log_every_n_steps, *self.every):
            ends += [(step // every + 1) * every] if every > 0 else []
        return min(ends)

    def training_step(self, batch: int, batch_idx: int) -> None:
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        first, end = self.global_step, self.batch_end(self.global_step)
        deadline = time.perf_counter() + self.seconds_per_batch
        values = [self.optimisation_step(optimizer, schedule)]
        while self.global_step < end and time.perf_counter() < deadline and not self.stop_requested():
            values.append(self.optimisation_step(optimizer, schedule))
        self.watch.update(torch.stack(values), first)
        # the loggers' step is the optimisation step, as it would be one step a batch (Lightning counts batches)
        self.trainer.fit_loop.epoch_loop._batches_that_stepped = self.global_step - 1
        if is_logging_step(self.trainer):  # self.log costs more than a small network's step: log at intervals
            self.watch.stop_if_non_finite()
            logs = self.watch.logs()
            self.log_dict(logs, on_step=True, on_epoch=False)
            self.log(
                "loss", sum(logs[f"{g.tag}/loss"] for g in self.groups), prog_bar=True, on_step=True, on_epoch=False
            )

    def backward_of(self, tensor: torch.Tensor, gradient: torch.Tensor | None = None) -> None:
        """Backpropagate `tensor` (with `gradient`): plainly where Lightning would add only its hooks."""
        if self.plain:
            tensor.backward(gradient)
        else:
            self.manual_backward(tensor, gradient)

    def stop_requested(self) -> bool:
        """Whether Ctrl-C or SIGTERM came during this Lightning step (StopSaver stops the run after it)."""
        return any(stop.requested is not None for stop in self.stops)

    def optimisation_step(self, optimizer: torch.optim.Optimizer, schedule: LambdaLR) -> torch.Tensor:
        """One step of the optimiser; returns the step's loss terms and group totals per image, in one vector.

        The image the losses saw is kept in the watch; nothing here waits for the device.
        """
        optimizer.zero_grad(set_to_none=True)
        boundary = self.steps - self.final_steps
        if self.final_reset and self.global_step == boundary > 0:  # the final phase starts afresh
            getattr(optimizer, "optimizer", optimizer).state.clear()
        robust = self.global_step < boundary
        image = self.canvas()
        shared = len(self.groups) > 1  # a detached leaf: each group's graph is freed by its own backward
        leaf = image.detach().requires_grad_() if shared else image
        values, described = [], []
        for group in self.groups:
            parts = self.losses(leaf, group, robust)
            total = torch.stack(list(parts.values())).sum(0)
            self.backward_of(total.sum())
            values += [*parts.values(), total]
            described.append((group.tag, parts))
        self.watch.describe(described)
        self.watch.see(centre_crop(leaf.detach(), self.margin))
        if shared:
            self.backward_of(image, leaf.grad)
        if self.plain:
            optimizer._on_before_step()  # the global step counts it, as LightningOptimizer.step would
            optimizer.optimizer.step()
            optimizer._on_after_step()
        else:
            optimizer.step()
        schedule.step()
        self.param.constrain(self.constraints, self.global_step - 1)  # the index of the step just taken
        return torch.cat(values).detach()

    @torch.no_grad()
    def evaluate(self) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """The current images and, per group, each loss term per image, without transforms."""
        canvas = self.canvas()
        return self.param().detach(), [self.losses(canvas, group, robust=False) for group in self.groups]

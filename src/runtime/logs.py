"""What a visualisation run shows while it runs: images to the loggers, history.csv, loss terms in the progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from convis.runtime.errors import NonFiniteLoss
from convis.runtime.history import read_history, write_history
from convis.runtime.stops import PARTIAL, stopped_early
from convis.runtime.writers import safe_name, save_image, to_pil


def is_logging_step(trainer: L.Trainer) -> bool:
    """Whether the step just taken is one whose losses are logged (every log_every_n_steps, and the last)."""
    return trainer.global_step % trainer.log_every_n_steps == 0 or trainer.global_step >= trainer.max_steps


def log_images(trainer: L.Trainer, key: str, images: list[torch.Tensor], **options: Any) -> None:
    """[0, 1] images to the loggers that take images (W&B), as 8-bit pictures: W&B reads a tensor as 0-255."""
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):
            logger.log_image(key, [to_pil(image) for image in images], **options)


class ImageLogger(L.Callback):
    """Log the current images to loggers that take images (W&B) every `every` steps.

    When the run stops early it writes them to partial/images/: the current images after a
    Ctrl-C or SIGTERM, the last ones whose losses were finite after a NaN or Inf.
    """

    def __init__(self, every: int, captions: list[str], render: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.every, self.captions, self.render = every, captions, render

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *_: object) -> None:
        step = trainer.global_step
        if self.every <= 0 or step % self.every and step != trainer.max_steps:
            return
        log_images(trainer, "images", list(self.render(module.param().detach())), step=step, caption=self.captions)

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if not stopped_early(exception):
            return
        image = module.last_good if isinstance(exception, NonFiniteLoss) else module.param().detach()
        folder = Path(trainer.default_root_dir) / PARTIAL / "images"
        for caption, picture in zip(self.captions, self.render(image)):
            save_image(picture, folder / f"{safe_name(caption)}.png")


class LossHistory(L.Callback):
    """Write the step and every logged value to a CSV at each logging step, whatever the logger.

    The report draws its loss curves from this file. It is rewritten whole and atomically, so a
    kill never leaves half a row. A resumed run keeps the rows up to its checkpoint's step, so
    the file ends as an uninterrupted run's would.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        rows = read_history(self.path) if trainer.global_step and self.path.is_file() else []
        self.rows = [row for row in rows if int(row["step"]) <= trainer.global_step]
        self.path.unlink(missing_ok=True)
        if self.rows:
            write_history(self.rows, self.path)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *_: object) -> None:
        if not is_logging_step(trainer):
            return
        values = {name: float(value) for name, value in trainer.callback_metrics.items() if value.numel() == 1}
        self.rows.append({"step": trainer.global_step, **values})
        write_history(self.rows, self.path)


class LossBar(TQDMProgressBar):
    """Lightning's progress bar, counting optimisation steps, showing beside the total `loss` each loss term
    summed over the groups.

    A Lightning step may run several optimisation steps. The terms are the logged `group/term` values,
    read at the logging steps only: reading a value waits for the device.
    """

    def __init__(self) -> None:
        super().__init__()
        self.terms: dict[str, float] = {}

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        if is_logging_step(trainer):
            self.terms = {}
            for key, value in trainer.callback_metrics.items():
                group, _, term = key.rpartition("/")
                if group and term != "loss" and value.numel() == 1:
                    self.terms[term] = self.terms.get(term, 0.0) + float(value)
        outputs, batch, _ = args
        super().on_train_batch_end(trainer, module, outputs, batch, trainer.global_step - 1)

    def get_metrics(self, trainer: L.Trainer, module: L.LightningModule) -> dict[str, Any]:
        return {**super().get_metrics(trainer, module), **self.terms}

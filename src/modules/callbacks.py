"""Lightning callbacks of the visualisation runs."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch


class ImageLogger(L.Callback):
    """Log the current images to loggers that take images (W&B) every `every` steps."""

    def __init__(self, every: int, captions: list[str], render: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.every, self.captions, self.render = every, captions, render

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *_: object) -> None:
        step = trainer.global_step
        if self.every <= 0 or step % self.every and step != trainer.max_steps:
            return
        images = self.render(module.param().detach())
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image("images", list(images.cpu()), step=step, caption=self.captions)

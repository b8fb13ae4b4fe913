"""The LightningModule that fine-tunes a classifier: the one module whose parameters are the network's."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import nn
from torch.nn.functional import cross_entropy
from torchmetrics.classification import MulticlassAccuracy

from convis.runtime.errors import ConvisError

TRAIN_MODES = ("head", "all")
PREFIX = "model."  # the state-dict keys of the network inside this module start with it


class FinetuneModule(L.LightningModule):
    """Trains the last classifier layer (`train="head"`) or every layer (`"all"`) with cross-entropy.

    With "head", every other layer keeps its weights, batch-norm statistics and eval-mode
    dropout. Checkpoints carry `convis = {"arch", "classes", "prefix"}` (plain types, readable
    with torch.load(weights_only=True)), so `backbone.weights=best.ckpt` rebuilds this network.
    """

    def __init__(
        self,
        model: nn.Module,
        arch: str,
        classes: Sequence[str],
        head: str,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        train: str = "all",
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if train not in TRAIN_MODES:
            raise ConvisError(f"unknown objective.train={train!r}: choose one of {', '.join(TRAIN_MODES)}")
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model
        self.arch, self.classes, self.head, self.train_mode = arch, list(classes), head, train
        self.make_optimizer, self.make_scheduler = optimizer, scheduler
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if train == "head":
            self.model.requires_grad_(False)
            self.model.get_submodule(head).requires_grad_(True)
        self.train_acc = MulticlassAccuracy(num_classes=len(self.classes), average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=len(self.classes), average="micro")
        self.train()  # Lightning trains in the modes it finds: those of `train`, whatever mode `model` was in

    def train(self, mode: bool = True) -> FinetuneModule:
        """Train mode for what is trained; with train="head" the rest of the network stays in eval."""
        super().train(mode)
        if self.train_mode == "head":
            self.model.eval()
            self.model.get_submodule(self.head).train(mode)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.contiguous(memory_format=self.memory_format))

    def _step(self, batch: dict, stage: str, accuracy: MulticlassAccuracy) -> torch.Tensor:
        logits = self(batch["image"])
        loss = cross_entropy(logits, batch["label"])
        accuracy(logits, batch["label"])
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(logits))
        self.log(f"{stage}_acc", accuracy, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.train_acc)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val", self.val_acc)

    def configure_optimizers(self):
        optimizer = self.make_optimizer([p for p in self.parameters() if p.requires_grad])
        if self.make_scheduler is None:
            return optimizer
        schedule = {"scheduler": self.make_scheduler(optimizer), "interval": "epoch"}
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["convis"] = {"arch": self.arch, "classes": list(self.classes), "prefix": PREFIX}

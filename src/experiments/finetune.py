"""Fine-tuning a backbone on a labelled dataset; its best checkpoint then serves every other objective."""

from __future__ import annotations

import copy
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf
from torch import nn

from convis.backbones.backbone import head_path, replace_head
from convis.checks import positive_number, positive_whole
from convis.data.classification import ClassificationData
from convis.experiments.base import Experiment, Result
from convis.experiments.setup import build_trainer
from convis.modules.finetune import FinetuneModule
from convis.runtime.errors import ConvisError
from convis.runtime.fingerprint import KEY, fingerprint
from convis.runtime.history import HISTORY, write_history
from convis.runtime.stops import CHECKPOINTS, LAST, last_checkpoint
from convis.runtime.writers import write_json

log = logging.getLogger(__name__)

METRICS = "metrics.json"
LABELLED = "dataset=shapes, dataset=cifar10, or dataset=image_folder with ROOT/CLASS/*.jpg folders or cat.123.jpg names"


def split(cfg: DictConfig, part: str, mean: tuple[float, ...], std: tuple[float, ...]):
    """The `part` split (train or val) of the configured dataset, which must have splits."""
    if "split" not in cfg.dataset:
        raise ConvisError(f"objective=finetune needs a labelled dataset with train and val splits: {LABELLED}")
    return instantiate(cfg.dataset, split=part, image_size=cfg.image_size, mean=mean, std=std)


def classes_of(train, val) -> list[str]:
    """The class names of a dataset fit to train on: labelled, two classes or more, some to validate on."""
    classes = list(getattr(train, "classes", []))
    if not classes:
        raise ConvisError(f"objective=finetune needs labelled images, and this dataset has no labels: {LABELLED}")
    if len(classes) < 2:
        raise ConvisError(
            f"objective=finetune needs two classes or more, the dataset has only {classes[0]!r}: "
            "add a folder (or a file-name prefix) per class"
        )
    if len(val) == 0:
        raise ConvisError(f"no validation images among {len(train)}: give each class two images or more")
    return classes


class Finetune(Experiment):
    """Train the backbone on the dataset's train split; keep and report the best val_acc (`epochs` passes)."""

    optimised = False
    rules = (
        positive_whole("objective.epochs", "20"),
        positive_whole("objective.batch_size", "8"),
        positive_number("objective.optimizer.lr", "0.002"),
    )

    def trainable(self) -> tuple[nn.Module, str, tuple, tuple, list[str]]:
        """A trainable copy of the network (the user's, else the configured one); its arch, mean, std, classes.

        The frozen network's chain keeps the model's module paths, so its checkpoint loads into the model itself.
        """
        backbone = self.backbone()
        model = copy.deepcopy(backbone.net).requires_grad_(True)
        return model, backbone.arch, backbone.mean, backbone.std, backbone.categories

    def run(self, output_dir: Path) -> Result:
        cfg, objective = self.cfg, self.cfg.objective
        if cfg.get("resume") and (output_dir / METRICS).is_file():
            return finished(output_dir, objective.epochs)
        L.seed_everything(cfg.seed, verbose=False)
        model, arch, mean, std, categories = self.trainable()
        train, val = split(cfg, "train", mean, std), split(cfg, "val", mean, std)
        classes = classes_of(train, val)
        if categories != classes:
            replace_head(model, len(classes))
        module = finetune_module(cfg, model, arch, classes)
        augment = instantiate(objective.augment)
        data = ClassificationData(train, val, objective.batch_size, objective.num_workers, augment)
        best, *saving = checkpoints(output_dir, cfg.checkpoint_every > 0)
        record = EpochHistory(output_dir / HISTORY, fingerprint(cfg))
        fit_cfg = OmegaConf.merge(cfg, {"trainer": {"max_epochs": objective.epochs, "enable_checkpointing": True}})
        trainer = build_trainer(fit_cfg, -1, output_dir, [record, best, *saving])
        resume = last_checkpoint(cfg.resume, record.fingerprint) if cfg.get("resume") else None
        trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
        if not trainer.is_global_zero:  # another process of a DDP run: the first one writes the results
            return Result({}, output_dir)
        metrics = write_results(arch, best, classes, val.labels, trainer.current_epoch, output_dir)
        return Result(metrics, output_dir)


def finetune_module(cfg: DictConfig, model: nn.Module, arch: str, classes: list[str]) -> FinetuneModule:
    """The module that trains `model` on `classes` with the objective's optimiser, schedule and layers."""
    objective = cfg.objective
    return FinetuneModule(
        model,
        arch,
        classes,
        head=head_path(model),
        optimizer=instantiate(objective.optimizer),
        scheduler=instantiate(objective.scheduler),
        train=objective.train,
        channels_last=cfg.backbone.get("channels_last", True),
    )


def checkpoints(output_dir: Path, resumable: bool) -> list[ModelCheckpoint]:
    """best.ckpt (the weights of the best epoch by val_acc) and, if `resumable`, last.ckpt after every epoch.

    Each is overwritten in place (no best-v1.ckpt); last.ckpt holds what a resume needs: the optimiser, the
    LR schedule, the epoch, the best so far and the callbacks' state.
    """
    folder = output_dir / CHECKPOINTS
    best = ModelCheckpoint(
        dirpath=folder,
        filename="best",
        monitor="val_acc",
        mode="max",
        save_weights_only=True,
        enable_version_counter=False,
    )
    if not resumable:
        return [best]
    last = ModelCheckpoint(
        dirpath=folder, filename=Path(LAST).stem, save_on_train_epoch_end=True, enable_version_counter=False
    )
    return [best, last]


def finished(output_dir: Path, epochs: int) -> Result:
    """A resume of a fine-tuning that ran to its end: nothing to train, its results stand as they are."""
    log.info("resume=%s: this fine-tuning already ran its %d epochs; its results stand", output_dir, epochs)
    return Result(json.loads((output_dir / METRICS).read_text()), output_dir)


class EpochHistory(L.Callback):
    """history.csv: every epoch's losses and accuracies, written after the epoch whatever the logger.

    Its rows and torch's random state (shuffling, augmentation, dropout) are part of every full checkpoint,
    with the run's fingerprint: a resume goes on with them as the uninterrupted run would.
    """

    def __init__(self, path: Path, fingerprint: dict[str, Any]) -> None:
        self.path, self.fingerprint = path, fingerprint
        self.rows: list[dict[str, Any]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {name: float(value) for name, value in sorted(trainer.callback_metrics.items())}
        self.rows.append({"step": trainer.global_step, "epoch": trainer.current_epoch, **metrics})
        if trainer.is_global_zero:
            write_history(self.rows, self.path)

    def state_dict(self) -> dict[str, Any]:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        return {"rows": self.rows, "torch_rng": torch.get_rng_state(), "cuda_rng": cuda}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
        torch.set_rng_state(state_dict["torch_rng"])
        if state_dict["cuda_rng"]:
            torch.cuda.set_rng_state_all(state_dict["cuda_rng"])

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[KEY] = self.fingerprint


def write_results(
    arch: str, best: ModelCheckpoint, classes: list[str], val_labels: list[int], epochs: int, output_dir: Path
) -> dict:
    """metrics.json with the best val_acc, the rate of always answering the commonest class, and the checkpoint."""
    checkpoint = Path(best.best_model_path)
    chance = max(Counter(val_labels).values()) / len(val_labels)
    result = {
        "val_acc": float(best.best_model_score),
        "chance_acc": chance,
        "checkpoint": str(checkpoint.resolve().relative_to(output_dir.resolve())),
        "classes": classes,
        "epochs": epochs,
    }
    log.info("val_acc %.3f (chance %.3f): backbone.weights=%s", result["val_acc"], chance, checkpoint.resolve())
    metrics = {"objective": "finetune", "backbone": arch, "results": [result]}
    write_json(metrics, output_dir / METRICS)
    return metrics

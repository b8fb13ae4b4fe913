"""Fine-tuning a backbone on a labelled dataset; its best checkpoint then serves every other objective."""

from __future__ import annotations

import copy
import logging
from collections import Counter
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf
from torch import nn

from convis.backbones.backbone import build_model, head_path, normalisation, replace_head
from convis.checks import positive
from convis.data.classification import ClassificationData
from convis.experiments.base import Experiment, Result
from convis.experiments.setup import build_trainer
from convis.modules.finetune import FinetuneModule
from convis.runtime.errors import ConvisError
from convis.runtime.writers import write_json

log = logging.getLogger(__name__)

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

    def check(self) -> None:
        super().check()
        positive(self.cfg, "objective.epochs", "objective.batch_size")

    def trainable(self) -> tuple[nn.Module, str, tuple, tuple, list[str]]:
        """A trainable copy of the user's model, else the configured torchvision one; its arch, mean, std, classes."""
        cfg = self.cfg
        if self.given_model is not None:
            backbone = self.backbone()
            model = copy.deepcopy(self.given_model).requires_grad_(True)
            return model, backbone.arch, backbone.mean, backbone.std, backbone.categories
        arch = cfg.backbone.arch
        model, categories = build_model(arch, cfg.backbone.weights, cfg.seed)
        return model, arch, *normalisation(arch), categories

    def run(self, output_dir: Path) -> Result:
        cfg, objective = self.cfg, self.cfg.objective
        L.seed_everything(cfg.seed, verbose=False)
        model, arch, mean, std, categories = self.trainable()
        train, val = split(cfg, "train", mean, std), split(cfg, "val", mean, std)
        classes = classes_of(train, val)
        if categories != classes:
            replace_head(model, len(classes))
        module = FinetuneModule(
            model,
            arch,
            classes,
            head=head_path(model),
            optimizer=instantiate(objective.optimizer),
            scheduler=instantiate(objective.scheduler),
            train=objective.train,
            channels_last=cfg.backbone.get("channels_last", True),
        )
        augment = instantiate(objective.augment)
        data = ClassificationData(train, val, objective.batch_size, objective.num_workers, augment)
        best = ModelCheckpoint(
            dirpath=output_dir / "checkpoints", filename="best", monitor="val_acc", mode="max", save_weights_only=True
        )
        fit_cfg = OmegaConf.merge(cfg, {"trainer": {"max_epochs": objective.epochs, "enable_checkpointing": True}})
        trainer = build_trainer(fit_cfg, -1, output_dir, [best])
        trainer.fit(module, datamodule=data)
        if not trainer.is_global_zero:  # another process of a DDP run: the first one writes the results
            return Result({}, output_dir)
        metrics = write_results(arch, best, classes, val.labels, trainer.current_epoch, output_dir)
        return Result(metrics, output_dir)


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
    write_json(metrics, output_dir / "metrics.json")
    return metrics

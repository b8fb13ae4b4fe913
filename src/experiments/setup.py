"""Building a run's shared parts from its config: seed, logger, trainer, layer list."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig

from src.backbones import Backbone
from src.errors import one_line
from src.modules.callbacks import LossBar
from src.outputs import write_bytes
from src.validation import as_list, positive_whole

__all__ = ["AtomicCheckpointIO", "as_list", "build_logger", "build_trainer", "configured_backbone", "positive"]

OFFLINE_MODES = ("offline", "dryrun", "disabled")
log = logging.getLogger(__name__)


def positive(cfg: Mapping[str, Any], *keys: str) -> None:
    """Fail on a top-level number that must be a positive whole number."""
    for key in keys:
        positive_whole(key).check(key, cfg.get(key))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, written beside the target and renamed into place.

    Lightning's own writer moves a file from the system's temp folder, which copies (and can
    leave half a checkpoint after a kill) when that folder is on another file system.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes(buffer.getvalue(), path)


def configured_backbone(cfg: DictConfig) -> Backbone:
    """The configured frozen network, seeded by the run's seed; `backbone.compile` turns on torch.compile."""
    backbone: Backbone = instantiate(cfg.backbone, seed=cfg.seed)
    return replace(backbone, compile=cfg.backbone.get("compile", False))


def build_logger(cfg: DictConfig, output_dir: Path) -> Logger | bool:
    """The configured Lightning logger (W&B offline by default), or False for logger=none.

    An online W&B run is started here: if its server cannot be reached (or no API key is set),
    the run logs offline instead, with a warning, rather than failing or stalling later.
    """
    if not cfg.get("logger") or "_target_" not in cfg.logger:
        return False
    logger = instantiate(cfg.logger, save_dir=str(output_dir))
    if not isinstance(logger, WandbLogger) or cfg.logger.get("mode") in OFFLINE_MODES:
        return logger
    try:
        logger.experiment  # noqa: B018  (starts the run)
    except Exception as err:  # wandb raises several types for a network, server or login failure
        log.warning(
            "W&B could not start online (%s): logging offline instead; upload later with `wandb sync %s`",
            one_line(str(err)), Path(output_dir) / "wandb" / "offline-run-*",
        )
        return instantiate(cfg.logger, save_dir=str(output_dir), mode="offline")
    return logger


def build_trainer(cfg: DictConfig, max_steps: int, output_dir: Path, callbacks: Sequence[L.Callback] = ()) -> L.Trainer:
    """The configured Trainer, for `max_steps` steps, logging to the configured logger.

    Its progress bar shows each loss term beside the total; its checkpoints are written atomically.
    """
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
    bar = [LossBar()] if cfg.trainer.get("enable_progress_bar", True) else []
    return instantiate(
        cfg.trainer,
        max_steps=max_steps,
        logger=build_logger(cfg, output_dir),
        callbacks=[*callbacks, *bar],
        default_root_dir=str(output_dir),
        plugins=[AtomicCheckpointIO()],
    )

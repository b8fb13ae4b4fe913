"""Building a run's shared parts from its config: the network, the logger, the Trainer (fine-tuning, saliency)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig

from convis.backbones import Backbone
from convis.runtime.errors import one_line
from convis.runtime.stops import AtomicCheckpointIO

OFFLINE_MODES = ("offline", "dryrun", "disabled")
log = logging.getLogger(__name__)
# Lightning 2.6's Trainer still builds torch's deprecated LeafSpec: the warning is about Lightning's code, not the run's
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)


def configured_backbone(cfg: DictConfig) -> Backbone:
    """The configured frozen network, seeded by the run's seed; `backbone.compile` turns on torch.compile."""
    return instantiate(cfg.backbone, seed=cfg.seed)


def build_logger(cfg: DictConfig, output_dir: Path) -> Logger | bool:
    """The configured Lightning logger (W&B offline by default), or False for logger=none.

    An online W&B run is started here: if its server cannot be reached (or no API key is set),
    the run logs offline instead, with a warning, rather than failing or stalling later. An offline
    run keeps its files but prints nothing (show_outputs names them and `wandb sync`).
    """
    if not cfg.get("logger") or "_target_" not in cfg.logger:
        return False
    logger = instantiate(cfg.logger, save_dir=str(output_dir))
    if not isinstance(logger, WandbLogger):
        return logger
    if cfg.logger.get("mode") in OFFLINE_MODES:
        return silent(logger)
    try:
        logger.experiment  # noqa: B018  (starts the run)
    except Exception as err:  # wandb raises several types for a network, server or login failure
        log.warning(
            "W&B could not start online (%s): logging offline instead; upload later with `wandb sync %s`",
            one_line(str(err)),
            Path(output_dir) / "wandb" / "offline-run-*",
        )
        return silent(instantiate(cfg.logger, save_dir=str(output_dir), mode="offline"))
    return logger


def silent(logger: WandbLogger) -> WandbLogger:
    """`logger`, with W&B's console notes off for this process: its start-up lines, its run summary and its
    warning about the `anonymous` argument Lightning passes, which W&B gives before a run's own settings apply."""
    import wandb

    wandb.setup(wandb.Settings(silent=True))
    return logger


def build_trainer(cfg: DictConfig, max_steps: int, output_dir: Path, callbacks: Sequence[L.Callback] = ()) -> L.Trainer:
    """The configured Trainer, for `max_steps` steps, logging to the configured logger.

    Its checkpoints are written atomically.
    """
    return instantiate(
        cfg.trainer,
        max_steps=max_steps,
        logger=build_logger(cfg, output_dir),
        callbacks=list(callbacks),
        default_root_dir=str(output_dir),
        plugins=[AtomicCheckpointIO()],
    )

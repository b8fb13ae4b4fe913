"""Building a run's shared parts from its config: seed, logger, trainer, layer list."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig

from src.errors import ConvisError


def as_list(value: object) -> list:
    """A config value that may be one item or a list, as a list (None gives [])."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, ListConfig)):
        return list(value)
    return [value]


def positive(cfg: DictConfig, *keys: str) -> None:
    """Fail on a top-level number that must be positive."""
    for key in keys:
        value = cfg.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConvisError(f"{key}={value!r} must be a positive whole number, e.g. {key}=100")


def build_logger(cfg: DictConfig, output_dir: Path):
    """The configured Lightning logger (W&B offline by default), or False for logger=none."""
    if not cfg.get("logger") or "_target_" not in cfg.logger:
        return False
    return instantiate(cfg.logger, save_dir=str(output_dir))


def build_trainer(cfg: DictConfig, max_steps: int, output_dir: Path, callbacks: Sequence[L.Callback] = ()) -> L.Trainer:
    """The configured Trainer, for `max_steps` steps, logging to the configured logger."""
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
    return instantiate(
        cfg.trainer,
        max_steps=max_steps,
        logger=build_logger(cfg, output_dir),
        callbacks=list(callbacks),
        default_root_dir=str(output_dir),
    )

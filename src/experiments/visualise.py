"""What every optimised visualisation shares: build the image, fit it, write the images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from convis.backbones import Backbone
from convis.data.images import denormalise
from convis.experiments.setup import build_trainer
from convis.modules.visualisation import Group, VisualisationModule
from convis.priors import Prior
from convis.runtime.errors import ConvisError
from convis.runtime.history import HISTORY
from convis.runtime.logs import ImageLogger, LossHistory
from convis.runtime.stops import checkpointing, last_checkpoint

INITS = ("noise", "zeros", "original")


def initial_image(kind: str, shape: Sequence[int], scale: float, original: torch.Tensor | None = None) -> torch.Tensor:
    """The start of the optimisation: noise with pixel norms ~`scale`, the zero (mean) image, or the original."""
    if kind == "noise":
        return torch.randn(*shape) * scale / shape[1] ** 0.5
    if kind == "zeros":
        return torch.zeros(*shape)
    if kind == "original" and original is not None:
        return original.clone()
    raise ConvisError(f"unknown objective.init={kind!r}: choose one of {', '.join(INITS)}")


def optimise(
    cfg: DictConfig,
    backbone: Backbone,
    init: torch.Tensor,
    groups: Sequence[Group],
    prior: Prior,
    captions: list[str],
    output_dir: Path,
) -> VisualisationModule:
    """Fit the image, starting at `init`, for cfg.steps steps of the configured optimiser.

    Saves a checkpoint every cfg.checkpoint_every steps; with cfg.resume set, continues from that
    directory's last checkpoint and ends where the uninterrupted run would.
    """
    final_steps = min(int(cfg.optimizer.final_steps), cfg.steps)
    module = VisualisationModule(
        param=instantiate(cfg.param, init=init, mean=backbone.mean, std=backbone.std),
        groups=groups,
        optimizer=instantiate(cfg.optimizer.optim),
        steps=cfg.steps,
        final_steps=final_steps,
        final_lr_factor=cfg.optimizer.final_lr_factor,
        constraints=prior.constraints,
    )
    render = lambda image: denormalise(image, backbone.mean, backbone.std)  # noqa: E731
    saving = checkpointing(output_dir, cfg.checkpoint_every)
    callbacks = [ImageLogger(cfg.image_every, captions, render), LossHistory(output_dir / HISTORY), *saving]
    trainer_cfg = OmegaConf.merge(cfg, {"trainer": {"enable_checkpointing": bool(saving)}})
    trainer = build_trainer(trainer_cfg, cfg.steps, output_dir, callbacks)
    trainer.fit(module, ckpt_path=last_checkpoint(cfg.resume) if cfg.resume else None, weights_only=True)
    return module

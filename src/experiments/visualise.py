"""What every optimised visualisation shares: the start, how a run steps (Settings), and the fit itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from convis.backbones import Backbone
from convis.data.images import denormalise
from convis.experiments.setup import build_logger
from convis.modules.visualisation import Group, VisualisationModule
from convis.optimisers import Optimiser
from convis.optimisers.preset import NOISES
from convis.priors import Prior
from convis.runtime.errors import ConvisError
from convis.runtime.fingerprint import fingerprint
from convis.runtime.history import HISTORY
from convis.runtime.logs import ImageLogger, LossBar, LossHistory
from convis.runtime.loop import Loop
from convis.runtime.stops import checkpointing, last_checkpoint

INITS = ("noise", "zeros", "original")


def quantile(x: torch.Tensor, q: float) -> torch.Tensor:
    """The q-quantile of each row of `x` as MATLAB's `quantile` computes it.

    The sorted values sit at cumulative probabilities (i - 0.5) / n, linearly interpolated and held
    at the ends; the authors' initialisation uses it.
    """
    ordered = x.sort(dim=-1).values
    n = ordered.shape[-1]
    position = min(max(q * n - 0.5, 0.0), n - 1.0)  # 0-based
    low = int(position)
    high = min(low + 1, n - 1)
    return ordered[..., low] + (position - low) * (ordered[..., high] - ordered[..., low])


def uniform_noise(shape: Sequence[int], scale: float) -> torch.Tensor:
    """Mahendran & Vedaldi's start: noise uniform in [-1, 1], each image scaled to a 95% quantile of scale / sqrt 3."""
    noise = torch.rand(*shape) * 2 - 1
    top = quantile(noise.flatten(1), 0.95).view(-1, *[1] * (len(shape) - 1))
    return noise / top * scale / 3**0.5


def initial_image(
    kind: str, shape: Sequence[int], scale: float, original: torch.Tensor | None = None, noise: str = "gaussian"
) -> torch.Tensor:
    """The start of the optimisation: noise, the zero (mean) image, or the original.

    `noise`: gaussian (pixel norms of root-mean-square `scale`) or uniform (the authors': in [-1, 1] with
    its 95% quantile scaled to `scale` / sqrt 3).
    """
    if kind == "noise" and noise == "gaussian":
        return torch.randn(*shape) * scale / shape[1] ** 0.5
    if kind == "noise" and noise == "uniform":
        return uniform_noise(shape, scale)
    if kind == "noise":
        raise ConvisError(f"unknown optimizer.noise={noise!r}: choose one of {', '.join(NOISES)}")
    if kind == "zeros":
        return torch.zeros(*shape)
    if kind == "original" and original is not None:
        return original.clone()
    raise ConvisError(f"unknown objective.init={kind!r}: choose one of {', '.join(INITS)}")


@dataclass(frozen=True)
class Recipe:
    """The objects an optimised image is made with: its parameterisation, the prior, the optimiser preset.

    Built before any heavy work, so that parts that cannot work together fail at once.
    """

    param: Callable[..., torch.nn.Module]
    prior: Prior
    optimiser: Optimiser

    def __post_init__(self) -> None:
        name = getattr(self.param, "name", type(self.param).__name__)
        pixels = getattr(self.param, "pixels", False)
        if not isinstance(self.prior, Prior):
            raise ConvisError(f"prior={self.prior!r} is not a convis.priors.Prior: choose an option of conf/prior")
        if not isinstance(self.optimiser, Optimiser):
            raise ConvisError(
                f"optimizer={self.optimiser!r} is not a convis.optimisers.Optimiser: choose an option of conf/optimizer"
            )
        if self.prior.constraints and not pixels:
            names = ", ".join(type(c).__name__ for c in self.prior.constraints)
            raise ConvisError(
                f"param={name} cannot apply the prior's pixel constraints ({names}): use param=pixel with this "
                "prior, or a prior without constraints (prior=olah, prior=maco)"
            )
        if self.optimiser.steps_pixels and not pixels:
            raise ConvisError(
                f"optimizer=ijcv steps pixels in 0-255 units, and param={name} has no pixels: "
                "use param=pixel, or another optimizer (optimizer=adam)"
            )


@dataclass(frozen=True)
class Settings:
    """How a visualisation runs, apart from what it optimises: device, logging, checkpoints, resume."""

    output_dir: Path
    accelerator: str = "auto"
    devices: Any = 1
    precision: str = "32-true"
    log_every: int = 10
    image_every: int = 50
    checkpoint_every: int = 0
    progress_bar: bool = False
    loggers: tuple = ()
    resume: str | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: DictConfig, output_dir: Path) -> Settings:
        """The run config's settings: its trainer's device and precision, its logger, checkpoints and resume."""
        trainer = cfg.trainer
        logger = build_logger(cfg, output_dir)
        return cls(
            output_dir=Path(output_dir),
            accelerator=str(trainer.get("accelerator", "auto")),
            devices=trainer.get("devices", 1),
            precision=str(trainer.get("precision", "32-true")),
            log_every=int(trainer.get("log_every_n_steps", 10)),
            image_every=int(cfg.image_every),
            checkpoint_every=int(cfg.checkpoint_every),
            progress_bar=bool(trainer.get("enable_progress_bar", True)),
            loggers=(logger,) if logger else (),
            resume=cfg.get("resume"),
            fingerprint=fingerprint(cfg),
        )


def optimise(
    groups: Sequence[Group],
    init: torch.Tensor,
    recipe: Recipe,
    steps: int,
    full: int,
    backbone: Backbone,
    captions: list[str],
    settings: Settings,
    margin: int = 0,
) -> tuple[VisualisationModule, Loop]:
    """Fit the image, made by `recipe` and starting at `init`, for `steps` steps (`full`: the objective's own
    length, which sets the final phase's share).

    `margin`: `init` is a canvas that many pixels larger than the image in each direction (crop jitter).
    Saves a checkpoint every settings.checkpoint_every steps; with settings.resume, continues from that
    directory's last checkpoint and ends where the uninterrupted run would.
    """
    optimiser = recipe.optimiser
    canvas = {"margin": margin} if margin else {}
    image = recipe.param(init, backbone.mean, backbone.std, **canvas)
    pixels = (init.shape[-2] - margin) * (init.shape[-1] - margin)
    module = VisualisationModule(
        param=image,
        groups=groups,
        optimizer=optimiser.factory(pixels, backbone.std),
        steps=steps,
        final_steps=optimiser.final_phase(steps, full),
        final_lr_factor=optimiser.final_lr_factor,
        constraints=recipe.prior.constraints,
        final_reset=optimiser.final_reset,
    )
    out = settings.output_dir
    render = lambda x: denormalise(x, backbone.mean, backbone.std)  # noqa: E731
    callbacks = [
        ImageLogger(settings.image_every, captions, render, out),
        LossHistory(out / HISTORY),
        *checkpointing(out, settings.checkpoint_every, settings.fingerprint),
        *([LossBar()] if settings.progress_bar else []),
    ]
    loop = Loop(
        steps,
        settings.log_every,
        callbacks,
        settings.loggers,
        settings.accelerator,
        settings.devices,
        settings.precision,
    )
    resume = last_checkpoint(settings.resume, settings.fingerprint) if settings.resume else None
    loop.fit(module, resume)
    return module, loop

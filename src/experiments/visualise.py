"""What every optimised visualisation shares: build the image, fit it, write the images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from convis.backbones import Backbone
from convis.data.images import denormalise
from convis.experiments.setup import build_trainer
from convis.modules.visualisation import Group, VisualisationModule
from convis.optimisers import IJCV
from convis.params.pixel import PixelImage
from convis.priors import Prior
from convis.runtime.errors import ConvisError
from convis.runtime.fingerprint import fingerprint
from convis.runtime.history import HISTORY
from convis.runtime.logs import ImageLogger, LossHistory
from convis.runtime.stops import checkpointing, last_checkpoint

INITS = ("noise", "zeros", "original")
NOISES = ("gaussian", "uniform")  # what init=noise draws (optimizer.noise)
SECONDS_PER_BATCH = 0.1  # a Lightning step runs this long, so its own work does not outweigh a small network's steps


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


def final_phase(steps: int, final_steps: int, full: int) -> int:
    """Steps in the final phase (low rate, no jitter) of a run of `steps` steps.

    `final_steps` in a run of `full` steps (the objective's default length) or more; a shorter run
    keeps the same share, final_steps / full, rounded, and at least one step when it has two or more
    (the authors' 50 of 350: a 20-step run ends with 3, a 100-step run with 14).
    """
    if final_steps <= 0 or steps <= 0:
        return 0
    if steps >= full:
        return min(final_steps, steps)
    return min(max(round(steps * final_steps / full), 1 if steps > 1 else 0), steps)


def optimiser(
    cfg: DictConfig, backbone: Backbone, param: nn.Module, pixels: int
) -> Callable[..., torch.optim.Optimizer]:
    """The configured optimiser, told what the IJCV rule needs: the image's H W and 0-255 units per channel."""
    make = instantiate(cfg.optimizer.optim)
    if isinstance(make, partial) and isinstance(make.func, type) and issubclass(make.func, IJCV):
        if not isinstance(param, PixelImage):
            raise ConvisError(
                f"optimizer=ijcv steps pixels in 0-255 units, and param={type(param).__name__} has no pixels: "
                "use param=pixel, or another optimizer (optimizer=adam)"
            )
        given = cfg.optimizer.optim
        units = {"pixels": pixels, "scale": [255.0 * s for s in backbone.std]}
        make = partial(make, **{k: v for k, v in units.items() if given.get(k) is None})
    return make


def optimise(
    cfg: DictConfig,
    backbone: Backbone,
    init: torch.Tensor,
    groups: Sequence[Group],
    prior: Prior,
    captions: list[str],
    output_dir: Path,
    margin: int = 0,
) -> VisualisationModule:
    """Fit the image, starting at `init`, for cfg.steps steps of the configured optimiser.

    `margin`: `init` is a canvas that many pixels larger than the image in each direction (crop jitter).
    Saves a checkpoint every cfg.checkpoint_every steps; with cfg.resume set, continues from that
    directory's last checkpoint and ends where the uninterrupted run would.
    """
    full = cfg.objective.get("steps") or cfg.steps
    canvas = {"margin": margin} if margin else {}
    param = instantiate(cfg.param, init=init, mean=backbone.mean, std=backbone.std, **canvas)
    pixels = (init.shape[-2] - margin) * (init.shape[-1] - margin)
    module = VisualisationModule(
        param=param,
        groups=groups,
        optimizer=optimiser(cfg, backbone, param, pixels),
        steps=cfg.steps,
        final_steps=final_phase(cfg.steps, int(cfg.optimizer.final_steps), int(full)),
        final_lr_factor=cfg.optimizer.final_lr_factor,
        constraints=prior.constraints,
        final_reset=bool(cfg.optimizer.get("final_reset", False)),
        seconds_per_batch=SECONDS_PER_BATCH,
        every=(cfg.image_every, cfg.checkpoint_every),
    )
    render = lambda image: denormalise(image, backbone.mean, backbone.std)  # noqa: E731
    saving = checkpointing(output_dir, cfg.checkpoint_every, fingerprint(cfg))
    callbacks = [ImageLogger(cfg.image_every, captions, render), LossHistory(output_dir / HISTORY), *saving]
    trainer_cfg = OmegaConf.merge(cfg, {"trainer": {"enable_checkpointing": bool(saving)}})
    trainer = build_trainer(trainer_cfg, cfg.steps, output_dir, callbacks)
    resume = last_checkpoint(cfg.resume, fingerprint(cfg)) if cfg.resume else None
    trainer.fit(module, ckpt_path=resume, weights_only=True)
    return module

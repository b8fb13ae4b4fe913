"""What a run does, end to end: the class that conf/objective/NAME.yaml names by `_target_`.

An experiment is built with the whole run config (and, from the Python API, the network and
images the user holds); it says which layers it reads and whether it reads `target`, so that
validation can check them on the network before any work; it checks its own options; it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from convis.backbones import Backbone
from convis.backbones.names import LOGITS
from convis.checks import positive
from convis.config import options
from convis.experiments.setup import configured_backbone
from convis.runtime.errors import ConvisError, one_line


@dataclass
class Result:
    """A run's outcome: metrics.json's dict, its pictures (one per result with a PNG) and its tensors.

    The tensors are what the run computed, unrounded: optimised images and originals in the network's
    normalised input space (convis.data.images.denormalise gives [0, 1] pixels), saliency maps as they are.
    """

    metrics: dict[str, Any]
    output_dir: Path | None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    images: list[Image.Image] = field(default_factory=list)

    def load_images(self) -> Result:
        """Read the PNG of every result into `images` (in metrics.json's order)."""
        self.images = []
        if self.output_dir is None:
            return self
        for result in self.metrics.get("results", []):
            if "png" in result:
                with Image.open(self.output_dir / result["png"]) as picture:
                    self.images.append(picture.convert("RGB"))
        return self


class Experiment:
    """Base of every objective's experiment; subclasses set what they read and implement `run`."""

    targeted: ClassVar[bool] = False  # whether the run reads `target` (a class of the network)
    optimised: ClassVar[bool] = True  # whether `steps` counts its optimisation steps

    def __init__(
        self,
        cfg: DictConfig,
        backbone: Backbone | None = None,
        data: Dataset | None = None,
        model: nn.Module | None = None,
    ) -> None:
        """`backbone`, `data`: the frozen network and the images the user gave; `model`: the module it was made of."""
        self.cfg, self.given_backbone, self.given_data, self.given_model = cfg, backbone, data, model

    def layers(self) -> list[object]:
        """The layers a run reads: the classifier's output unless a subclass says otherwise."""
        return [LOGITS]

    def batch(self) -> int:
        """How many images go through the network together, at least, as far as the config tells (memory check)."""
        return 1

    def check(self) -> None:
        """Fail on an option of this objective that cannot work; cheap (no weights, no data)."""
        positive(self.cfg, "image_size", *(("steps",) if self.optimised else ()))

    def backbone(self) -> Backbone:
        """The network the user gave, else the configured one, frozen and seeded by the run's seed."""
        if self.given_backbone is not None:
            return self.given_backbone
        return configured_backbone(self.cfg)

    def data(self, backbone: Backbone) -> Dataset:
        """The images the user gave, else the configured dataset, at image_size, normalised for `backbone`."""
        if self.given_data is not None:
            return self.given_data
        return instantiate(self.cfg.dataset, image_size=self.cfg.image_size, mean=backbone.mean, std=backbone.std)

    def run(self, output_dir: Path) -> Result:
        """Do the run, writing images/, metrics.json and the rest into `output_dir`."""
        raise NotImplementedError


def experiment_class(cfg: DictConfig) -> type[Experiment]:
    """The class `objective._target_` names, which must be an Experiment."""
    target = cfg.objective.get("_target_") if isinstance(cfg.get("objective"), DictConfig) else None
    if not target:
        raise ConvisError(
            "objective has no _target_ naming what runs it: choose "
            f"objective={' or objective='.join(options('objective'))}, or give objective._target_"
        )
    try:
        cls = get_class(target)
    except Exception as err:
        raise ConvisError(f"objective._target_={target} cannot be imported ({one_line(str(err))})") from err
    if not (isinstance(cls, type) and issubclass(cls, Experiment)):
        raise ConvisError(f"objective._target_={target} is not a convis.experiments.base.Experiment")
    return cls


def experiment(
    cfg: DictConfig, backbone: Backbone | None = None, data: Dataset | None = None, model: nn.Module | None = None
) -> Experiment:
    """The experiment the config's objective names, built on the given network and images, if any."""
    return experiment_class(cfg)(cfg, backbone, data, model)


__all__ = ["Experiment", "Result", "experiment", "experiment_class"]

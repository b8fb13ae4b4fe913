"""What a run does, end to end: the class that conf/objective/NAME.yaml names by `_target_`.

An experiment is built with the whole run config (and, from the Python API, the network and
images the user holds); it says which layers it reads and whether it reads `target`, so that
validation can check them on the network before any work; it checks its own options; it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from convis.backbones import Backbone
from convis.backbones.names import LOGITS
from convis.checks import Rule, check_rules, positive
from convis.config import options
from convis.experiments.setup import configured_backbone
from convis.runtime.errors import ConvisError, convis_cause, one_line


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


def build_object(node: DictConfig, key: str) -> object:
    """The object a config group's node describes; a ConvisError naming the group if it cannot be built."""
    try:
        return instantiate(node)
    except InstantiationException as err:
        if (problem := convis_cause(err)) is not None:
            raise problem from err
        cause = err.__cause__ or err
        raise ConvisError(f"{key} cannot be built from its config: {one_line(str(cause))}") from err


class Experiment:
    """Base of every objective's experiment; subclasses set what they read and implement `run`."""

    targeted: ClassVar[bool] = False  # whether the run reads `target` (a class of the network)
    optimised: ClassVar[bool] = True  # whether `steps` counts its optimisation steps
    built_keys: ClassVar[tuple[str, ...]] = ()  # the config groups it builds, which a caller may hand in built
    rules: ClassVar[tuple[Rule, ...]] = ()  # what its own options (objective.*) must be

    def __init__(
        self,
        cfg: DictConfig,
        backbone: Backbone | None = None,
        data: Dataset | None = None,
        model: nn.Module | None = None,
        objects: Mapping[str, object] | None = None,
    ) -> None:
        """`backbone`, `data`: the frozen network and the images the user gave; `model`: the module it was made of;
        `objects`: objects the user built, by config key, used instead of building those keys."""
        self.cfg, self.given_backbone, self.given_data, self.given_model = cfg, backbone, data, model
        self.given_objects = dict(objects or {})
        for key in self.given_objects:
            if key not in self.built_keys:
                takes = f"objects for {', '.join(self.built_keys)}" if self.built_keys else "no objects"
                raise ConvisError(
                    f"{key}= was given an object and objective={cfg.objective.get('name')} takes {takes}: "
                    f"name an option of {key} instead"
                )

    def built(self, key: str) -> object:
        """The object at config key `key`: the one the user gave, else built from the config."""
        if key in self.given_objects:
            return self.given_objects[key]
        return build_object(self.cfg[key], key)

    def layers(self) -> list[object]:
        """The layers a run reads: the classifier's output unless a subclass says otherwise."""
        return [LOGITS]

    def batch(self) -> int:
        """How many images go through the network together, at least, as far as the config tells (memory check)."""
        return 1

    def check(self) -> None:
        """Fail on an option of this objective that cannot work; cheap (no weights, no data)."""
        positive(self.cfg, "image_size", *(("steps",) if self.optimised else ()))
        check_rules({"objective": OmegaConf.to_container(self.cfg.objective, resolve=True)}, self.rules)

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
    cfg: DictConfig,
    backbone: Backbone | None = None,
    data: Dataset | None = None,
    model: nn.Module | None = None,
    objects: Mapping[str, object] | None = None,
) -> Experiment:
    """The experiment the config's objective names, built on the given network, images and objects, if any."""
    return experiment_class(cfg)(cfg, backbone, data, model, objects)


__all__ = ["Experiment", "Result", "experiment", "experiment_class"]

"""convis: configured, measured visualisations of what convolutional networks learn.

The Python API (convis.render, invert, class_model, activation, saliency, finetune, run, and the objects of
convis.objectives, params, priors, optimisers) is imported on first use, so that `import convis.reporting` and
the like stay free of torch and Lightning.
"""

from importlib import import_module
from typing import Any

from omegaconf import OmegaConf

API = ("invert", "class_model", "activation", "saliency", "finetune", "run", "visualise")
MODULES = ("objectives", "params", "priors", "optimisers")  # the objects the API takes
__all__ = [*API, *MODULES, "render", "Result", "ConvisError"]


def _crop_size(arch: str) -> int:
    from convis.backbones.backbone import crop_size

    return crop_size(arch)


# ${crop_size:resnet50}: the image size a torchvision model's weights were evaluated at (config defaults)
OmegaConf.register_new_resolver("crop_size", _crop_size, replace=True)


HOMES = {
    **dict.fromkeys(API, "convis.api"),
    "render": "convis.rendering",
    "Result": "convis.experiments.base",
    "ConvisError": "convis.runtime.errors",
}


def __getattr__(name: str) -> Any:
    if name in MODULES:
        return import_module(f"convis.{name}")
    if name in HOMES:
        return getattr(import_module(HOMES[name]), name)
    raise AttributeError(f"module 'convis' has no attribute {name!r}")

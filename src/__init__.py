"""convis: configured, measured visualisations of what convolutional networks learn.

The Python API (convis.invert, class_model, activation, saliency, finetune, run) is imported on
first use, so that `import convis.reporting` and the like stay free of torch and Lightning.
"""

from importlib import import_module
from typing import Any

from omegaconf import OmegaConf

API = ("invert", "class_model", "activation", "saliency", "finetune", "run", "Result")
__all__ = list(API)


def _crop_size(arch: str) -> int:
    from convis.backbones.backbone import crop_size

    return crop_size(arch)


# ${crop_size:resnet50}: the image size a torchvision model's weights were evaluated at (config defaults)
OmegaConf.register_new_resolver("crop_size", _crop_size, replace=True)


def __getattr__(name: str) -> Any:
    if name in API:
        module = import_module("convis.experiments.base" if name == "Result" else "convis.api")
        return getattr(module, name)
    raise AttributeError(f"module 'convis' has no attribute {name!r}")

"""Visualise and measure what a convolutional network has learned.

It inverts a layer's representation back to an image, synthesises the image a class or a channel likes best and
maps the saliency of real images, on torchvision's and timm's models or your own; each run is a Hydra config.

Main functions, each returning a Result (its images, tensors and metrics):

    invert(model, image, layer)       `image` reconstructed from a layer's representation of it
    class_model(model, target)        the image a class scores highest
    activation(model, layer, channel) the image a channel (or a whole layer) responds to most
    saliency(model, image, method)    where in each image the prediction comes from
    finetune(model, dataset)          train the model on a labelled dataset
    microscope(model, images, layers) every unit of the layers: visualisation, dataset examples, label; a site
    run(overrides)                    a command-line run, e.g. run(["objective=inversion"])
    render(model, objective)          optimise images for an objective of convis.objectives, with convis.params,
                                      convis.priors and convis.optimisers

They are imported on first use, so that `import convis.reporting` and the like stay free of torch and Lightning.
"""

from importlib import import_module
from typing import Any

from omegaconf import OmegaConf

API = (
    "invert",
    "class_model",
    "activation",
    "saliency",
    "finetune",
    "microscope",
    "concepts",
    "craft",
    "run",
    "visualise",
)
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
    """The API's objects and modules, imported on first use."""
    if name in MODULES:
        return import_module(f"convis.{name}")
    if name in HOMES:
        return getattr(import_module(HOMES[name]), name)
    raise AttributeError(f"module 'convis' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and the lazily exported ones, for tab completion and help(convis)."""
    return sorted({*globals(), *__all__})

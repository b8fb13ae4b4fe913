"""convis.render (this module): the image an objective object likes best, from objects a notebook holds (as in Lucent).

    import convis
    from convis.objectives import channel
    o = channel("features.11", 7) - 0.5 * channel("features.11", 3)
    r = convis.render(model, o, param=convis.params.Maco(), steps=256)
    r.images[0], r.tensors["images"]

`param`, `prior` and `optimizer` take the objects (convis.params.*, convis.priors.Prior, convis.optimisers.Optimiser)
or the name of an option of their config group ("maco", "olah", "adam"), built from its YAML. The run is the one
the command line's objective=activation makes of the same terms: the same config and seed give the same image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from convis.api import device_of, frozen_module, run_folder
from convis.backbones import Backbone
from convis.checks import positive_whole
from convis.config import conf_dir, options
from convis.experiments.base import Result, build_object
from convis.experiments.visualise import Recipe, Settings, initial_image, optimise
from convis.experiments.writer import GIVEN, RANDOM_INIT, Pictures, write_visualisation
from convis.modules.visualisation import Group
from convis.objectives import INPUT, Objective
from convis.runtime.errors import ConvisError, unknown
from convis.runtime.lock import owned, refuse_finished
from convis.runtime.writers import full_disk_listed

DEFAULTS = {"prior": "olah", "optimizer": "lucid"}  # objective=activation's, as on the command line
NATURAL_SIZE = 224  # the image size of an nn.Module that does not say (ImageNet's)
FULL_STEPS = 512  # objective=activation's length: a shorter run keeps the optimiser's final phase's share of it


def option_node(group: str, name: str) -> Any:
    """conf/<group>/<name>.yaml without its defaults list."""
    if name not in options(group):
        raise unknown(group, name, options(group))
    node = OmegaConf.load(conf_dir() / group / f"{name}.yaml")
    node.pop("defaults", None)
    return node


def preferred_param(prior: str) -> str:
    """The parameterisation a prior option selects on the command line (prior=olah: param=fft), else pixel."""
    found = OmegaConf.load(conf_dir() / "prior" / f"{prior}.yaml").get("defaults") or []
    chosen = [v for entry in found if OmegaConf.is_dict(entry) for k, v in entry.items() if "/param" in k]
    return chosen[0] if chosen else "pixel"


def built(group: str, value: object) -> object:
    """`value` if it is an object already, else the option of conf/<group> it names, built."""
    return build_object(option_node(group, value), group) if isinstance(value, str) else value


def recipe_of(param: object, prior: object, optimizer: object) -> Recipe:
    """The objects of a render: given, or built from the options they name (param: the prior's choice)."""
    prior = DEFAULTS["prior"] if prior is None else prior
    if param is None:
        param = preferred_param(prior) if isinstance(prior, str) else "pixel"
    optimizer = DEFAULTS["optimizer"] if optimizer is None else optimizer
    return Recipe(built("param", param), built("prior", prior), built("optimizer", optimizer))


def backbone_for(
    model: nn.Module | str,
    weights: object = "default",
    classes: str | Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    output: str | int | None = None,
) -> tuple[Backbone, int]:
    """The frozen network to render on, and its natural image size: a frozen copy of the caller's module (yours
    is left as it is), or a backbone option / torchvision name built with `weights`."""
    if isinstance(model, nn.Module):
        return frozen_module(model, classes, mean, std, output), NATURAL_SIZE
    if not isinstance(model, str):
        raise ConvisError(f"model={type(model).__name__}: give an nn.Module or a backbone name such as 'vgg16'")
    if mean is not None or std is not None or output is not None:
        raise ConvisError("mean=, std= and output= describe an nn.Module you pass; a named backbone knows them")
    node = option_node("backbone", model) if model in options("backbone") else option_node("backbone", "torchvision")
    if model not in options("backbone"):
        node.name = model
    if weights != "default":
        node.weights = weights
    if classes is not None:
        node.classes = classes
    return instantiate(node, seed=0), int(node.image_size)


def render(
    model: nn.Module | str,
    objective: Objective,
    /,
    *,
    param: object = None,
    prior: object = None,
    optimizer: object = None,
    steps: int = 512,
    image_size: int | None = None,
    batch: int = 1,
    init: str = "noise",
    init_scale: float = 0.1,
    seed: int = 0,
    output_dir: str | Path | None = None,
    precision: str = "32-true",
    **network: Any,
) -> Result:
    """Optimise `batch` images for `objective` (lower is better) on `model`; the Result holds the tensors and the
    PIL images, and with `output_dir` the run's images/, metrics.json and history.csv are written there.

    `network`: weights=, classes= (a named backbone), mean=, std=, output= (an nn.Module). Runs on the device
    the module's weights are on.
    """
    if not isinstance(objective, Objective):
        raise ConvisError(
            f"objective={objective!r} is not an Objective: build one with convis.objectives (channel, neuron, ...) "
            "or decorate a function of the activations with @convis.objectives.objective(layer)"
        )
    for key, value in (("steps", steps), ("batch", batch), ("image_size", image_size)):
        if value is not None:
            positive_whole(key).check(key, value)
    recipe = recipe_of(param, prior, optimizer)
    L.seed_everything(seed, verbose=False)
    backbone, natural = backbone_for(model, **network)
    size = image_size or natural
    for layer in objective.layers:
        backbone.path(layer)  # an unknown layer fails here, naming the network's layers
    extractor = backbone.extractor(list(objective.layers))
    group = Group(repr(objective), slice(0, batch), extractor, recipe.prior.add_to(objective), recipe.prior.transforms)
    start = initial_image(init, (batch, backbone.channels, size, size), init_scale)
    names = [f"{group.tag}_{i}" if batch > 1 else group.tag for i in range(batch)]
    with run_folder(output_dir) as folder, owned(folder), full_disk_listed(folder):
        refuse_finished(folder)
        accelerator, devices = device_of(model) if isinstance(model, nn.Module) else ("auto", 1)
        settings = Settings(folder, accelerator, devices, precision, image_every=0)
        _, loop = optimise([group], start, recipe, steps, FULL_STEPS, backbone, names, settings)
        weights = GIVEN if isinstance(model, nn.Module) else described_weights(network.get("weights", "default"))
        pictures, measured = Pictures(names), measure(objective, group)
        result = write_visualisation("render", backbone, loop, pictures, measured, folder, weights=weights)
    if output_dir is None:
        result.output_dir = None
    return result


def described_weights(weights: object) -> str | None:
    """A named backbone's `weights=` as metrics.json records them; None for its option's default (not known here)."""
    if weights == "default":
        return None
    return RANDOM_INIT if weights is None else str(weights)


def measure(objective: Objective, group: Group) -> Any:
    """Each image's objective value (without the prior's penalties) and its terms."""

    @torch.no_grad()
    def values(image: torch.Tensor) -> list[dict]:
        parts = objective.breakdown({**group.extractor(image), INPUT: image})
        total = torch.stack(list(parts.values())).sum(0)
        return [
            {"objective": repr(objective), "loss": float(total[i]), **{k: float(v[i]) for k, v in parts.items()}}
            for i in range(len(image))
        ]

    return values

"""Checking a composed config before any heavy work, so that a bad value fails at once, in one line.

Cheap by design: no weights and no data are loaded. The network is built on PyTorch's meta
device (shapes without numbers) to check layer names, class targets and whether image_size
is large enough for the layers a run reads. What only the data can tell (unreadable images,
empty folders) is checked where the data is read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from functools import partial
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from convis.backbones import Backbone, FeatureExtractor
from convis.backbones.memory import check_memory, run_device
from convis.backbones.weights import looks_like_path
from convis.checks import Rule, as_list, check_rules, count, positive_whole, whole
from convis.experiments import Experiment, experiment
from convis.runtime.errors import ConvisError, convis_cause, one_line
from convis.targets import class_names, resolve_targets

# the size a network is probed at when a smaller one fails: if that fails too, the size is not the problem
PROBE_SIZE = 224
OBJECTS = (
    "backbone",
    "dataset",
    "param",
    "prior",
    "trainer",
    "objective",
    "method",
)  # keys built by instantiate


RULES: tuple[Rule, ...] = (  # the run's own keys; each experiment and object checks its own options
    positive_whole("image_size", "224"),
    positive_whole("steps", nullable=True),  # null where the objective counts epochs instead (finetune)
    Rule("seed", whole, "a whole number", "0"),
    count("image_every", "50"),
    count("checkpoint_every", "50"),
    positive_whole("trainer.log_every_n_steps", "10"),
)


def validate(cfg: DictConfig, backbone: Backbone | None = None, chosen: Experiment | None = None) -> None:
    """Raise a ConvisError naming the first bad value of `cfg` and what to type instead.

    `backbone`: the network the user gave (Python API), checked instead of the configured one; `chosen`: the
    run's experiment, if already built (it builds and checks its own objects).
    """
    try:
        values = resolved(cfg)
        check_rules(values, RULES)
        chosen = chosen or experiment(cfg, backbone)
        check_objects(values, given=chosen.given_objects)
        chosen.check()
        check_network(cfg, chosen, backbone)
    except OmegaConfBaseException as err:
        raise ConvisError(f"bad config value: {one_line(str(err))}") from err


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain values, every interpolation resolved; a missing or unresolvable value fails."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise ConvisError(
            f"{err.full_key} has no value: give one on the command line, e.g. {err.full_key}=..."
        ) from err
    except OmegaConfBaseException as err:
        raise ConvisError(f"cannot resolve {err.full_key or 'the config'}: {one_line(str(err))}") from err


def lookup(values: dict[str, Any], key: str) -> object:
    """The value at a dotted key of a plain config tree, None where the path breaks off."""
    node: object = values
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def check_objects(values: dict[str, Any], given: Collection[str] = ()) -> None:
    """The keys that describe an object to build still do: a mapping naming its class in _target_ (except the
    `given` keys, whose objects the caller built)."""
    for key in OBJECTS:
        if key in given:
            continue
        node = lookup(values, key)
        if not (isinstance(node, dict) and "_target_" in node):
            raise ConvisError(
                f"{key}={node!r} does not describe an object to build: choose an option of its group "
                f"(python run.py --help lists them) or give {key}._target_"
            )


def meta_backbone(cfg: DictConfig) -> Backbone | None:
    """The configured network with random weights on the meta device: its names and shapes, no memory.

    None when a model cannot be built there (its construction reads values): the run checks it then.
    """
    # a weights file may resize the head: backbone.classes is checked against the file when it is read
    unnamed = {"classes": None} if weights_file(cfg) and cfg.backbone.get("classes") is not None else {}
    try:
        with torch.device("meta"):
            built = instantiate(cfg.backbone, weights=None, seed=0, **unnamed)
        return replace(built, compile=False)  # its shapes, without compiling it on the meta device
    except InstantiationException as err:
        if (problem := convis_cause(err)) is not None:
            raise problem from err
        return None


def check_network(cfg: DictConfig, chosen: Experiment, given: Backbone | None = None) -> None:
    """Layer names exist, image_size leaves every layer read an output, class targets exist."""
    layers = chosen.layers()
    if not layers:
        raise ConvisError(f"objective={cfg.objective.name} reads a layer and none is given: e.g. layer=block3_conv1")
    for layer in layers:
        if not isinstance(layer, str):
            raise ConvisError(f"layer {layer!r} is not a layer name: give a name such as block3_conv1 or features.11")
    backbone = given or meta_backbone(cfg)
    if backbone is None:
        return
    for layer in layers:
        backbone.path(layer)
    check_size(backbone, layers, cfg.image_size)
    check_memory(backbone, layers, cfg.image_size, chosen.batch(), device(cfg, given))
    if not chosen.targeted:
        return
    if given is None and weights_file(cfg):  # a weights file brings its classes, or backbone.classes names them
        if cfg.backbone.get("classes") is not None:
            resolve_targets(as_list(cfg.target), class_names(cfg.backbone.classes))
        return
    resolve_targets(as_list(cfg.target), backbone.categories)


def device(cfg: DictConfig, given: Backbone | None) -> torch.device:
    """Where the run's network will be: the given one's device, else the configured Trainer's."""
    if given is not None:
        return next(given.net.parameters(), torch.empty(0)).device
    return run_device(str(cfg.trainer.get("accelerator", "auto")), cfg.trainer.get("devices"))


def weights_file(cfg: DictConfig) -> bool:
    """Whether backbone.weights names a file (whose head and classes only reading it tells)."""
    weights = cfg.backbone.get("weights")
    return bool(weights) and looks_like_path(str(weights))


def fits(extractor: FeatureExtractor, channels: int, size: int) -> bool:
    """Whether a size x size image leaves every layer the extractor reads a non-empty output.

    Runs where the network's weights are: on the meta device (shapes only) for a configured network.
    """
    device = next(extractor.net.parameters(), torch.empty(0)).device
    try:
        with torch.no_grad():
            outputs = extractor(torch.zeros(1, channels, size, size, device=device))
    except ConvisError:
        raise
    except Exception:  # "Output size is too small" from the first layer that shrinks it to nothing, or an op
        return False  # the meta device lacks: check_size blames the size only if a larger one fits
    return all(output.numel() > 0 for output in outputs.values())


def check_size(backbone: Backbone, layers: list[str], size: int) -> None:
    """image_size is large enough for the deepest layer read; the error gives the smallest that is."""
    extractor = backbone.extractor(layers)
    fit = partial(fits, extractor, backbone.channels)
    if fit(size) or size >= PROBE_SIZE or not fit(PROBE_SIZE):
        return
    low, high = size, PROBE_SIZE  # low fails, high fits
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if fit(middle) else (middle, high)
    raise ConvisError(
        f"image_size={size} is too small for {', '.join(layers)} of {backbone.arch}: the network shrinks it "
        f"to nothing before that layer; use image_size={high} or more"
    )

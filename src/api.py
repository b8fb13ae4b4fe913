"""The Python API: convis on a network and images a caller holds. The command line (run.py) is one of its users.

    import convis
    r = convis.invert(model, image, layer="features.11", steps=350)
    r.images, r.metrics, r.tensors

`model` is an nn.Module object (a deep copy is frozen; yours is left as it is) or a backbone name
("vgg16", "mobilenet_v2", any torchvision classification model) with `weights=`. `image` is a path,
a PIL image, an HxW or HxWxC array (grey, grey and alpha, RGB, RGBA; uint8, or float in [0, 1]), a
CxHxW tensor (grey or RGB; float in [0, 1], or uint8), or a list of these; anything else is a one-line
ConvisError. Any config key is a keyword: `prior="olah"` chooses a group's option, `image_size=128` sets
a key, a dict sets nested keys (`objective={"channel": 7}`), and an object is used as it is
(`param=convis.params.Maco()`, `prior=convis.priors.Prior(...)`, `optimizer=convis.optimisers.Optimiser(...)`).
Files are written only with `output_dir=`, W&B only with `logger="wandb"`; the run uses the model's device.
"""

from __future__ import annotations

import copy
import logging
import re
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException, UnsupportedValueType
from torch import nn

from convis import experiments
from convis.backbones import Backbone
from convis.backbones.backbone import IMAGENET_MEAN, IMAGENET_STD, assemble, named
from convis.config import conf_dir, options
from convis.data.datasets import given_images
from convis.experiments.base import Experiment, Result, experiment_class
from convis.experiments.setup import configured_backbone
from convis.reporting.console import show_config
from convis.runtime import provenance
from convis.runtime.distributed import is_main_process
from convis.runtime.errors import ConvisError, hydra_problem, unknown, unknown_key
from convis.runtime.lock import owned
from convis.runtime.stops import unkept
from convis.runtime.trusted import check_targets
from convis.runtime.writers import full_disk_listed
from convis.validation import validate

Model = nn.Module | str
log = logging.getLogger("convis")


def execute(
    cfg: DictConfig,
    backbone: Backbone | None = None,
    data: Any = None,
    model: nn.Module | None = None,
    overrides: list[str] | None = None,
    objects: Mapping[str, object] | None = None,
) -> Result:
    """Check a composed config (on the given network), record its provenance, run it into cfg.output_dir.

    The run owns cfg.output_dir while it runs: another run into it fails at once. A full disk is a
    ConvisError naming the file it could not write and what the run had written.

    `overrides`: what composed it, for provenance.json (the command line's own when Hydra runs the job);
    `objects`: objects the caller built, by config key (`prior`: a Prior), used instead of building that key.
    """
    output_dir = Path(cfg.output_dir)
    main = is_main_process()  # a DDP worker process leaves the run's own files to the main one
    recorded = provenance.recorded(cfg, output_dir, overrides) if main else nullcontext()
    with owned(output_dir), full_disk_listed(output_dir), recorded:
        check_targets(cfg)  # before the experiment's module is imported
        chosen = experiments.experiment(cfg, backbone, data, model, objects)
        check_given(cfg, chosen, provenance.job_overrides() if overrides is None else overrides)
        validate(cfg, backbone, chosen)
        if cfg.get("print_config") and main:
            show_config(cfg)
        output_dir.mkdir(parents=True, exist_ok=True)
        return chosen.run(output_dir)


def override_keys(lines: Iterable[str]) -> set[str]:
    """The keys that override lines (`key=value`, `+key=value`, `~key`) set."""
    return {line.partition("=")[0].lstrip("+~") for line in lines}


def check_given(cfg: DictConfig, chosen: Experiment, overrides: Iterable[str] | None) -> None:
    """Refuse an option the caller gave that means nothing for the run's objective: steps= where none are taken."""
    if "steps" in override_keys(overrides or ()) and not chosen.optimised:
        raise ConvisError(
            f"steps={cfg.steps} means nothing for objective={cfg.objective.get('name')}, "
            "which optimises no image: leave it out"
        )


def value_text(value: object) -> str:
    """A Python value as Hydra's override grammar writes it: how provenance.json records a keyword."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(value_text(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{key}:{value_text(item)}" for key, item in value.items()) + "}"
    text = str(value)
    if BARE.fullmatch(text) and text.lower() not in ("null", "true", "false", "nan", "inf") and not text[0].isdigit():
        return text  # Hydra reads it back as this string
    text = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


BARE = re.compile(r"[A-Za-z_][\w./-]*")
PLAIN = (str, int, float, bool, list, tuple, Mapping, type(None))


@dataclass
class Keywords:
    """The API's keywords, sorted: a config group's option by name (`prior="olah"`), a value for a key
    (`image_size=128`; a dict sets nested keys), and an object to run as it is (`prior=Prior(...)`)."""

    choices: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Keywords:
        sorted_ = cls()
        for key, value in config.items():
            group = (conf_dir() / key).is_dir()
            if group and isinstance(value, str):
                if value not in options(key):
                    raise unknown(key, value, options(key))
                sorted_.choices[key] = value
            elif group and not isinstance(value, PLAIN):
                sorted_.objects[key] = value
            else:
                sorted_.values[key] = value
        return sorted_

    def __or__(self, other: Keywords) -> Keywords:
        """These keywords with `other`'s on top."""
        return Keywords(
            {**self.choices, **other.choices}, {**self.values, **other.values}, {**self.objects, **other.objects}
        )

    def without(self, keys: Collection[str]) -> Keywords:
        """These keywords less those at `keys`."""
        return Keywords(*({k: v for k, v in part.items() if k not in keys} for part in vars(self).values()))

    def overrides(self) -> list[str]:
        """The group choices, as the command line writes them (compose reads these)."""
        return [f"{key}={value}" for key, value in self.choices.items()]

    def record(self) -> list[str]:
        """What provenance.json records as the run's overrides: the choices, values and the objects' kinds."""
        values = [f"{key}={value_text(value)}" for key, value in self.values.items()]
        given = [f"{key}={value_text(f'<{type(value).__name__} object>')}" for key, value in self.objects.items()]
        return [*self.overrides(), *values, *given]

    def apply(self, cfg: DictConfig) -> None:
        """Set the values in `cfg` (a dict merges into its node) and describe each given object at its key."""
        for key, value in self.values.items():
            try:
                OmegaConf.update(cfg, key, value, merge=True)
            except UnsupportedValueType as err:
                raise ConvisError(f"{key}={value!r}: give a number, a string, a list or a dict") from err
            except OmegaConfBaseException as err:
                raise ConvisError(unknown_key(err, "")) from err
        with open_dict(cfg):
            for key, value in self.objects.items():
                cfg[key] = {"given": repr(value)}


def compose_config(overrides: Sequence[str], output_dir: Path, keywords: Keywords | None = None) -> DictConfig:
    """convis's config composed with the command line's overrides, then the keywords' values and objects set,
    writing into `output_dir`; a `_target_` convis does not build is refused here, before anything is built."""
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = compose("config", overrides=[*(keywords.overrides() if keywords else ()), *overrides])
    except ConvisError:
        raise
    except Exception as err:  # Hydra's errors for an unknown option, key or bad syntax
        raise ConvisError(hydra_problem(err)) from err
    with open_dict(cfg):
        cfg.output_dir = str(output_dir)
    if keywords is not None:
        keywords.apply(cfg)
    check_targets(cfg)
    return cfg


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's start-up notes (devices, tips) held back: a notebook shows warnings and results only."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def writable(output_dir: str | Path) -> Path:
    """`output_dir` made, and checked to take files: a one-line ConvisError when it cannot be a run directory."""
    if not str(output_dir).strip():
        raise ConvisError('output_dir="" names no folder: give a folder, or leave output_dir out to keep no files')
    folder = Path(output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        problem = "it is a file" if folder.is_file() else err.strerror or type(err).__name__
        message = f"output_dir={output_dir} cannot hold a run ({problem}): give a folder you can write"
        raise ConvisError(message) from err
    return folder


@contextmanager
def run_folder(output_dir: str | Path | None) -> Iterator[Path]:
    """`output_dir`, or a temporary folder removed afterwards (the result is read into memory first)."""
    if output_dir is not None:
        yield writable(output_dir)
        return
    with tempfile.TemporaryDirectory(prefix="convis-") as folder, unkept(Path(folder)):
        yield Path(folder)


def model_keywords(model: Model, weights: object, classes: object = None) -> Keywords:
    """A backbone name as its config: conf/backbone/NAME.yaml where there is one, else torchvision's NAME.

    `weights=` and `classes=` set backbone.weights and backbone.classes. An nn.Module is recorded as
    backbone=custom naming its class, so that provenance.json says what ran (its weights are the object's);
    the run uses it on the device its weights are on.
    """
    if isinstance(model, nn.Module):
        kind = type(model)
        accelerator, devices = device_of(model)
        values = {
            "backbone.model._target_": f"{kind.__module__}.{kind.__qualname__}",
            "trainer.accelerator": accelerator,
            "trainer.devices": devices,
        }
        return Keywords({"backbone": "custom"}, values)
    if not isinstance(model, str):
        return Keywords()
    named = model in options("backbone")
    chosen = Keywords({"backbone": model if named else "torchvision"}, {} if named else {"backbone.name": model})
    if weights != "default":
        chosen.values["backbone.weights"] = weights
    if classes is not None:
        chosen.values["backbone.classes"] = classes
    return chosen


def device_of(model: nn.Module) -> tuple[str, int | list[int]]:
    """The accelerator and devices the module's weights are on, as Lightning names them."""
    device = next(model.parameters(), torch.empty(0)).device
    return ("gpu", [device.index or 0]) if device.type == "cuda" else (device.type, 1)


def frozen_module(
    model: nn.Module,
    classes: str | Sequence[str] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    output: str | int | None,
    channels_last: bool = True,
) -> Backbone:
    """A frozen copy of the caller's module (theirs is left as it is), ImageNet's mean and std unless given."""
    names = named(model, [], classes, type(model).__name__, key="classes=")
    frozen = copy.deepcopy(model)
    return assemble(
        frozen, type(model).__name__, mean or IMAGENET_MEAN, std or IMAGENET_STD, names, channels_last, output
    )


def backbone_of(
    model: Model,
    cfg: DictConfig,
    classes: str | Sequence[str] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    output: str | int | None,
) -> Backbone:
    """The frozen network of a run: a frozen copy of the caller's module, or the configured backbone."""
    if isinstance(model, str):  # its classes= is backbone.classes
        if mean is not None or std is not None or output is not None:
            raise ConvisError("mean=, std= and output= describe an nn.Module you pass; a named backbone knows them")
        return configured_backbone(cfg)
    if not isinstance(model, nn.Module):
        raise ConvisError(f"model={type(model).__name__}: give an nn.Module or a backbone name such as 'vgg16'")
    return frozen_module(model, classes, mean, std, output, bool(cfg.backbone.get("channels_last", True)))


def quiet(output_dir: str | Path | None) -> Keywords:
    """The API's defaults: no logger; no checkpoints where nothing is kept."""
    return Keywords({"logger": "none"}, {"checkpoint_every": 0} if output_dir is None else {})


def command_config(overrides: Sequence[str], folder: Path, output_dir: str | Path | None) -> DictConfig:
    """The config of the command line's `overrides`, with the API's defaults for the keys they leave unset."""
    unset = quiet(output_dir).without(override_keys(overrides))
    return compose_config(overrides, folder, unset)


def tell_defaults(cfg: DictConfig, given: Keywords) -> None:
    """One line naming the image size (and steps) a caller's own module runs at, where the call gave none."""
    if "image_size" in given.values or "experiment" in given.choices:
        return
    size = f"image_size={cfg.image_size} (ImageNet's; your module does not say its input size)"
    if experiment_class(cfg).optimised and "steps" not in given.values:
        log.warning("convis: %s and steps=%s: give image_size= and steps= to change them", size, cfg.steps)
    else:
        log.warning("convis: %s: give image_size= to change it", size)


def visualise(
    objective: str,
    model: Model,
    image: object = None,
    /,
    *,
    weights: object = "default",
    classes: str | Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    output: str | int | None = None,
    output_dir: str | Path | None = None,
    **config: Any,
) -> Result:
    """Run `objective` on `model` (and `image`, else the configured dataset) with the keyword config."""
    given = Keywords.of(config)
    keywords = quiet(output_dir) | Keywords({"objective": objective}) | model_keywords(model, weights, classes) | given
    with run_folder(output_dir) as folder, quiet_lightning():
        cfg = compose_config([], folder, keywords)
        if isinstance(model, nn.Module):
            tell_defaults(cfg, given)
        backbone = backbone_of(model, cfg, classes, mean, std, output)
        data = None if image is None else given_images(image, cfg.image_size, backbone.mean, backbone.std)
        module = model if isinstance(model, nn.Module) else None
        result = execute(cfg, backbone, data, module, keywords.record(), keywords.objects)
        if not result.images:
            result.load_images()
    if output_dir is None:
        result.output_dir = None
    return result


def invert(model: Model, image: object = None, layer: str | Sequence[str] = "block5_conv3", **config: Any) -> Result:
    """Reconstruct each image from `layer`'s representation (Mahendran & Vedaldi); one picture per layer and image."""
    return visualise("inversion", model, image, layer=layer, **config)


def class_model(model: Model, target: object, **config: Any) -> Result:
    """The image that maximises each class's score (Simonyan et al.); `target`: an index, a name or a list."""
    return visualise("class_score", model, target=target, **config)


def activation(model: Model, layer: str | Sequence[str], channel: int | None = None, **config: Any) -> Result:
    """The image that maximises a channel of `layer` (or the whole layer, channel=None)."""
    objective = {"channel": channel, **config.pop("objective", {})}
    return visualise("activation", model, layer=layer, objective=objective, **config)


def saliency(model: Model, image: object = None, method: str = "gradient", **config: Any) -> Result:
    """Each image's saliency map (`method`: an option of conf/method), its GrabCut box and, with boxes, its quality."""
    return visualise("saliency", model, image, method=method, **config)


def finetune(model: Model, dataset: str = "shapes", **config: Any) -> Result:
    """Train `model` on a labelled dataset (an option of conf/dataset); metrics carry val_acc and the checkpoint."""
    return visualise("finetune", model, dataset=dataset, **config)


def microscope(
    model: Model, images: object = None, layers: str | Sequence[str] = "block5_conv3", **config: Any
) -> Result:
    """Every unit of `layers`: its visualisation, dataset examples (`images`, else the configured dataset), label
    and trust, written as a site in output_dir/microscope/index.html (so `output_dir=` is required)."""
    if config.get("output_dir") is None:
        raise ConvisError("the microscope writes a site of many files: give output_dir=, a folder to keep it in")
    return visualise("microscope", model, images, layer=layers, **config)


def concepts(
    model: Model, images: object = None, layer: str = "block5_conv3", target: object = None, **config: Any
) -> Result:
    """Concept relevance at `layer`: each image's channels most relevant to `target` (None: its predicted class)
    with their conditional heatmaps, and each channel's most relevant and most activating images of `images`."""
    return visualise("concepts", model, images, layer=layer, target=target, **config)


def craft(
    model: Model, images: object = None, layer: str = "block5_conv3", target: object = 0, **config: Any
) -> Result:
    """CRAFT's concepts of class `target` at `layer` (non-negative: after a ReLU), from `images`, all of that class
    (None: the configured dataset's images labelled with it): each concept's importance, typical crops and maps."""
    return visualise("craft", model, images, layer=layer, target=target, **config)


def run(overrides: Sequence[str], output_dir: str | Path | None = None) -> Result:
    """A run from the command line's overrides, e.g. convis.run(["objective=inversion", "layer=block5_conv3"])."""
    with run_folder(output_dir) as folder, quiet_lightning():
        result = execute(command_config(overrides, folder, output_dir), overrides=list(overrides)).load_images()
    if output_dir is None:
        result.output_dir = None
    return result

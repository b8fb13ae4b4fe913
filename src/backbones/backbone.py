"""A frozen classifier, as a chain of modules where it is one, with its layer names and metadata.

Backbones come from torchvision (any classification model), timm (when installed), or the
user's own nn.Module; all share the weights choices: pretrained, null (random, seeded), a file.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torchvision
from hydra.utils import instantiate
from torch import nn
from torchvision.models import get_model_weights

from convis.backbones import names as layer_names
from convis.backbones.chain import as_chain
from convis.backbones.extractor import FeatureExtractor, Logits, without_inplace
from convis.backbones.weights import file_weights, load_into, looks_like_path, pretrained_state_dict, strip_prefix
from convis.runtime.errors import ConvisError
from convis.runtime.finite import require_finite_weights
from convis.targets import class_names

log = logging.getLogger(__name__)

KERAS_NAMES: dict[str, Callable[[nn.Module], dict[str, str]]] = {
    "vgg16": layer_names.vgg_names,
    "mobilenet_v2": layer_names.mobilenet_v2_names,
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGENET_CATEGORIES: tuple[str, ...] = tuple(get_model_weights("resnet18").DEFAULT.meta["categories"])


@dataclass
class Backbone:
    """A frozen network (eval mode, no gradients) and what a run needs to know about it.

    `net` is a chain of modules that extractors cut after the deepest layer a run needs, or,
    when the model is not a chain, the model itself, run whole with hooks (`cut` is False).
    """

    arch: str
    net: nn.Module
    names: dict[str, str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    categories: list[str]
    channels_last: bool = False
    compile: bool = False
    cut: bool = True
    output: str | int | None = None

    def __post_init__(self) -> None:
        for key in ("channels_last", "compile"):
            if not isinstance(getattr(self, key), bool):
                value = getattr(self, key)
                raise ConvisError(f"backbone.{key}={value!r} must be true or false, e.g. backbone.{key}=true")

    @property
    def channels(self) -> int:
        """Input channels (1 for a grayscale model)."""
        return len(self.mean)

    @property
    def classifier(self) -> nn.Module:
        """The network as a function from images to logits (a tensor), e.g. for attribution."""
        return self.net if self.output is None else Logits(self.net, self.output)

    def path(self, layer: str) -> str:
        """The module path of a Keras-style layer name or of a module path itself."""
        if layer in self.names:
            return self.names[layer]
        try:
            self.net.get_submodule(layer)
            return layer
        except AttributeError:
            close = difflib.get_close_matches(layer, list(self.names), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            listed = f"valid names are {', '.join(self.names)}, or" if len(self.names) <= 80 else "use"
            raise ConvisError(
                f"unknown layer {layer!r} for {self.arch}{hint}: {listed} a module path such as "
                f"{next(iter(self.names.values()), 'features.0') or 'features.0'} (python scripts/layers.py lists them)"
            ) from None

    def extractor(self, layers: Sequence[str]) -> FeatureExtractor:
        """The network cut after the deepest of `layers`, returning each of them."""
        paths = {layer: self.path(layer) for layer in layers}
        return FeatureExtractor(self.net, paths, self.channels_last, self.output, self.compile)


def head_path(model: nn.Module) -> str:
    """The module path of the classifier's last Linear, whose outputs are the logits."""
    linears = [path for path, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ConvisError(f"{type(model).__name__} has no nn.Linear head to resize or fine-tune")
    return linears[-1]


def replace_head(model: nn.Module, classes: int) -> None:
    """Swap the classifier's last Linear (the logits) for a new one with `classes` outputs (a bias if it had one)."""
    path = head_path(model)
    head = model.get_submodule(path)
    model.set_submodule(path, nn.Linear(head.in_features, classes, bias=head.bias is not None))


def torchvision_names() -> list[str]:
    """Every torchvision classification model name."""
    return torchvision.models.list_models(module=torchvision.models)


def normalisation(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The input mean and std that torchvision `arch`'s pretrained weights expect."""
    preprocess = get_model_weights(arch).DEFAULT.transforms()
    return tuple(preprocess.mean), tuple(preprocess.std)


def crop_size(arch: str) -> int:
    """The image size torchvision `arch`'s pretrained weights were evaluated at."""
    size = get_model_weights(arch).DEFAULT.transforms().crop_size
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def _check_arch(arch: str) -> None:
    valid = torchvision_names()
    if arch not in valid:
        close = difflib.get_close_matches(arch, valid, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConvisError(
            f"unknown backbone {arch!r}{hint}: choose vgg16, mobilenet_v2, or backbone=torchvision "
            "backbone.name=<any torchvision classification model>, backbone=timm, backbone=custom"
        )


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()


def _load_file(model: nn.Module, weights: str, arch: str, categories: list[str]) -> list[str]:
    """Load a state-dict or checkpoint file into `model`; its class names after loading.

    A finetune checkpoint brings its classes. A plain state dict whose head (the last Linear) has
    another number of outputs, a network fine-tuned elsewhere, resizes the head to it: its classes
    are "0", "1", ... until backbone.classes names them.
    """
    state, meta = file_weights(weights)
    if meta is not None:
        if meta["arch"] != arch:
            raise ConvisError(f"checkpoint {weights} was fine-tuned from {meta['arch']}: set backbone={meta['arch']}")
        categories = list(meta["classes"])
        replace_head(model, len(categories))
        load_into(model, state, arch, weights)
        return categories
    state = strip_prefix(state, set(model.state_dict()))
    resized = _fit_head(model, state)
    load_into(model, state, arch, weights)
    if resized is None:
        return categories
    log.info("%s resized to %d classes from %s", resized, _classes(model), weights)
    return default_categories(model)


def _fit_head(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """Resize the head to the number of classes the file's head has, where only that differs; its path if it did."""
    try:
        path = head_path(model)
    except ConvisError:
        return None  # no Linear head: a file that does not fit is named key by key when loaded
    head, weight = model.get_submodule(path), state.get(f"{path}.weight")
    if (
        weight is None
        or weight.ndim != 2
        or weight.shape[1] != head.in_features
        or weight.shape[0] == head.out_features
    ):
        return None
    replace_head(model, weight.shape[0])
    return path


def named(
    model: nn.Module, categories: list[str], classes: object, owner: str, key: str = "backbone.classes"
) -> list[str]:
    """`classes` (a list, or a .json or .txt file; config key `key`), when given, as the head's class names."""
    if classes is None:
        return categories
    names = class_names(classes)
    outputs = _classes(model)
    if outputs and len(names) != outputs:
        raise ConvisError(
            f"{key} has {len(names)} names but {owner}'s head has {outputs} outputs "
            f"({head_path(model)}): give one name per output, in index order"
        )
    return names


def build_model(
    arch: str, weights: str | None = "IMAGENET1K_V1", seed: int = 0, classes: object = None
) -> tuple[nn.Module, list[str]]:
    """torchvision's `arch`, trainable, with pretrained, random (seeded) or file weights; and its class names.

    A finetune checkpoint brings its own classes, a state dict trained elsewhere its number of classes:
    the head is resized to them before loading. `classes` (a list, or a .json or .txt file) names them.
    """
    _check_arch(arch)
    model = _seeded(lambda: torchvision.models.get_model(arch, weights=None), seed)
    categories = list(get_model_weights(arch).DEFAULT.meta.get("categories") or [])
    owner = arch
    if weights is not None and looks_like_path(str(weights)):
        categories, owner = _load_file(model, str(weights), arch, categories), str(weights)
    elif weights is not None:
        load_into(model, pretrained_state_dict(arch, str(weights)), arch, str(weights), file=False)
    return model, named(model, categories, classes, owner)


def _frozen(net: nn.Module) -> nn.Module:
    return without_inplace(net).eval().requires_grad_(False)


def assemble(
    model: nn.Module,
    arch: str,
    mean: Sequence[float],
    std: Sequence[float],
    categories: list[str],
    channels_last: bool = True,
    output: str | int | None = None,
    compile: bool = False,
) -> Backbone:
    """Freeze `model`, make it a chain where it is one, and name its layers; NaN or Inf in its weights fails."""
    require_finite_weights(model.state_dict(), f"model {arch}", "load or train it again (every output would be NaN)")
    model = _frozen(model)
    chain = None if output is not None else as_chain(model, arch, channels=len(mean))
    if chain is None:
        log.warning("%s is not a chain of modules: every step runs the whole model, read by hooks", arch)
    names = KERAS_NAMES[arch](model) if arch in KERAS_NAMES else {p: p for p, _ in model.named_modules() if p}
    names.setdefault(layer_names.LOGITS, "")
    return Backbone(
        arch=arch,
        net=chain if chain is not None else model,
        names=names,
        mean=tuple(mean),
        std=tuple(std),
        categories=categories or default_categories(model),
        channels_last=channels_last,
        compile=compile,
        cut=chain is not None,
        output=output,
    )


def default_categories(model: nn.Module) -> list[str]:
    """Class names where none are given: ImageNet's for a 1000-way head, else "0", "1", ..."""
    count = _classes(model)
    if count == len(IMAGENET_CATEGORIES):
        return list(IMAGENET_CATEGORIES)
    return [str(i) for i in range(count)]


def _classes(model: nn.Module) -> int:
    try:
        return model.get_submodule(head_path(model)).out_features
    except ConvisError:
        return 0


def build_backbone(
    arch: str,
    weights: str | None = "IMAGENET1K_V1",
    seed: int = 0,
    channels_last: bool = True,
    classes: object = None,
    compile: bool = False,
    **_: Any,
) -> Backbone:
    """Build torchvision's `arch` with pretrained, random (seeded) or file weights, frozen.

    `classes` names the head's outputs. Extra config keys (e.g. `image_size`, read by the run's config) are ignored.
    """
    model, categories = build_model(arch, weights, seed, classes)
    mean, std = normalisation(arch)
    return assemble(model, arch, mean, std, categories, channels_last, compile=compile)


def torchvision_backbone(name: str, **kwargs: Any) -> Backbone:
    """`backbone=torchvision backbone.name=resnet50`: any torchvision classification model."""
    return build_backbone(name, **kwargs)


def timm_backbone(
    name: str,
    weights: str | None = None,
    seed: int = 0,
    channels_last: bool = True,
    output: str | int | None = None,
    classes: object = None,
    compile: bool = False,
    **_: Any,
) -> Backbone:
    """A timm model by name: weights `pretrained` (timm's download and cache), null, or a file.

    `classes` names its outputs: a list, or a .json or .txt file.
    """
    try:
        import timm
    except ImportError:
        raise ConvisError('backbone=timm needs timm: pip install -e ".[timm]"') from None
    names = timm.list_models()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        raise ConvisError(f"unknown timm model {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    pretrained = weights in ("pretrained", "DEFAULT")
    try:
        model = _seeded(lambda: timm.create_model(name, pretrained=pretrained), seed)
    except OSError as err:
        raise ConvisError(
            f"pretrained timm weights for {name} are not cached and could not be downloaded ({err}): "
            "set backbone.weights=/path/to/state_dict.pth or backbone.weights=null"
        ) from err
    categories: list[str] = []
    if weights is not None and not pretrained:
        categories = _load_file(model, str(weights), name, categories)
    categories = named(model, categories, classes, name if weights is None or pretrained else str(weights))
    config = model.pretrained_cfg or {}
    mean, std = config.get("mean", IMAGENET_MEAN), config.get("std", IMAGENET_STD)
    return assemble(model, name, mean, std, categories, channels_last, output, compile)


def custom_backbone(
    model: Any,
    weights: str | None = None,
    seed: int = 0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    classes: object = None,
    channels_last: bool = True,
    output: str | int | None = None,
    compile: bool = False,
    **_: Any,
) -> Backbone:
    """The user's own nn.Module, given by `_target_` (built here, seeded), with an optional weights file.

    `classes` names the head's outputs: a list, or a .json list or .txt file (one name a line).
    """
    net = _seeded(lambda: instantiate(model), seed)
    if not isinstance(net, nn.Module):
        raise ConvisError(f"backbone.model built a {type(net).__name__}, not a torch.nn.Module")
    arch = type(net).__name__
    if len(mean) != len(std):
        raise ConvisError(f"backbone.mean has {len(mean)} values but backbone.std has {len(std)}: give one per channel")
    categories: list[str] = []
    if weights is not None:
        categories = _load_file(net, str(weights), arch, categories)
    categories = named(net, categories, classes, arch if weights is None else str(weights))
    return assemble(net, arch, mean, std, categories, channels_last, output, compile)

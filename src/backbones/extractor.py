"""The frozen network cut after the deepest layer a run needs, returning that layer's activations."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from convis.runtime.errors import ConvisError


def position(net: nn.Module, path: str) -> tuple[float, ...]:
    """Where a module path runs in a chain; a container sorts after everything inside it."""
    where: list[float] = []
    module = net
    for part in path.split(".") if path else []:
        children = dict(module.named_children())
        where.append(list(children).index(part))
        module = children[part]
    return (*where, math.inf)


def cut_after(module: nn.Module, parts: list[str]) -> nn.Module:
    """The prefix of a chain of nn.Sequential levels that ends with the module at `parts`.

    Child names are kept, so module paths mean the same in the cut network.
    Below a level that is not an nn.Sequential the module is kept whole.
    """
    if not parts or not isinstance(module, nn.Sequential):
        return module
    children = list(module.named_children())
    index = [name for name, _ in children].index(parts[0])
    kept = children[:index] + [(parts[0], cut_after(children[index][1], parts[1:]))]
    return nn.Sequential(OrderedDict(kept))


def deepest(net: nn.Module, paths: Iterable[str]) -> str:
    """The module path, among `paths`, that runs last."""
    return max(paths, key=lambda path: position(net, path))


def without_inplace(net: nn.Module) -> nn.Module:
    """Turn off in-place activations: a kept activation must not be overwritten by a later in-place op."""
    for module in net.modules():
        if getattr(module, "inplace", False):
            module.inplace = False
    return net


def select_output(output: object, key: str | int | None) -> object:
    """The logits from a model's output: the tensor itself, or `output[key]` for a tuple or dict."""
    if key is None or isinstance(output, torch.Tensor):
        if isinstance(output, (tuple, list, dict)):
            keys = list(output) if isinstance(output, dict) else list(range(len(output)))
            raise ConvisError(
                f"the model returns a {type(output).__name__} ({keys}), not a tensor: "
                "set backbone.output=<the key or index of the logits>"
            )
        return output
    try:
        return output[key]
    except (KeyError, IndexError, TypeError):
        raise ConvisError(f"backbone.output={key!r} is not in the model's {type(output).__name__} output") from None


class Logits(nn.Module):
    """A network whose output is a tuple or dict, as a function to the logits tensor `output[key]`."""

    def __init__(self, net: nn.Module, key: str | int) -> None:
        super().__init__()
        self.net, self.key = net, key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return select_output(self.net(x), self.key)


class FeatureExtractor(nn.Module):
    """Runs `net` only as far as the deepest requested layer; forward returns {layer: activation}.

    The network stays frozen and in eval mode even when Lightning calls `.train()`.
    With `channels_last`, weights and input use the NHWC layout (faster convolutions on
    CPUs with oneDNN and on tensor-core GPUs; the numbers are the same). With `compile`, the
    cut network runs through torch.compile (compiled on the first step).
    """

    def __init__(
        self,
        net: nn.Module,
        paths: Mapping[str, str],
        channels_last: bool = False,
        output: str | int | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.paths = dict(paths)
        self.output = output
        last = deepest(net, self.paths.values())
        self.net = cut_after(without_inplace(net), last.split(".") if last else [])
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        self._acts: dict[str, torch.Tensor] = {}
        self._recording = False
        for name, path in self.paths.items():
            self.net.get_submodule(path).register_forward_hook(self._keeper(name))
        # a wrapper, not Module.compile(): the cut network may be the backbone's own, shared with other extractors
        self._call = torch.compile(self.net).__call__ if compile else self.net.__call__
        self.train(False)

    def _keeper(self, name: str):
        def keep(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            if not self._recording:  # the module is shared with other extractors of the same network
                return
            if name in self._acts:
                raise ConvisError(
                    f"layer {name!r} ({self.paths[name]}) runs more than once in a forward pass (a reused module), "
                    "so its activation is ambiguous: name a module that runs once (python scripts/layers.py lists them)"
                )
            if self.paths[name] == "":
                output = select_output(output, self.output)
            if not isinstance(output, torch.Tensor):
                raise ConvisError(
                    f"layer {name!r} ({self.paths[name]}) outputs a {type(output).__name__}, not a tensor: "
                    "name a module whose output is a tensor"
                )
            self._acts[name] = output

        return keep

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Always eval: batch-norm statistics and dropout of a visualised network must not move."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._acts, self._recording = {}, True
        try:
            self._call(x.contiguous(memory_format=self.memory_format))
        finally:
            self._recording = False
        acts, self._acts = self._acts, {}
        return acts

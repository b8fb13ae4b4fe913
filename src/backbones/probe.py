"""Output shape and receptive-field stride of named layers, found by one forward pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerInfo:
    """A layer's module path, output shape (without batch) and stride in input pixels."""

    name: str
    path: str
    shape: tuple[int, ...]
    stride: int


def _stride(module: nn.Module) -> int:
    stride = getattr(module, "stride", 1)
    return int(stride[0] if isinstance(stride, tuple) else stride)


@torch.no_grad()
def probe(net: nn.Module, paths: Mapping[str, str], image_size: int, channels: int = 3) -> list[LayerInfo]:
    """Run a zero image through `net`, recording each named layer's shape and cumulative stride."""
    stride = 1
    found: dict[str, LayerInfo] = {}
    by_path: dict[str, list[str]] = {}
    for name, path in paths.items():
        by_path.setdefault(path, []).append(name)

    def leaf_hook(module: nn.Module, _inputs: tuple, _output: torch.Tensor) -> None:
        nonlocal stride
        stride *= _stride(module)

    def named_hook(path: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            for name in by_path[path]:
                found[name] = LayerInfo(name, path, tuple(output.shape[1:]), stride)

        return hook

    handles = [m.register_forward_hook(leaf_hook) for m in net.modules() if not list(m.children())]
    handles += [net.get_submodule(p).register_forward_hook(named_hook(p)) for p in by_path]
    try:
        net(torch.zeros(1, channels, image_size, image_size))
    finally:
        for handle in handles:
            handle.remove()
    return [found[name] for name in paths if name in found]

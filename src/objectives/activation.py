"""Activation maximisation: a channel, a neuron or a whole layer, and Olah et al.'s diversity term.

Every term is a loss (lower is better), so maximising activation a gives the term -a; weighted
sums of terms compose with the Objective algebra: `channel(l, 7) - 0.5 * channel(l, 3)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from convis.objectives.base import Objective, term
from convis.runtime.errors import ConvisError

CENTER = "center"


def channel(layer: str, index: int) -> Objective:
    """Minus the mean of channel `index` over the layer's positions."""

    def fn(acts) -> torch.Tensor:
        a = acts[layer][:, index]
        return -a.reshape(len(a), -1).mean(1)

    return term(f"{layer}:{index}", fn, (layer,))


def neuron(layer: str, index: int, y: int, x: int) -> Objective:
    """Minus channel `index` at the one position (y, x)."""
    return term(f"{layer}:{index}@{y},{x}", lambda acts: -acts[layer][:, index, y, x], (layer,))


def dream(layer: str) -> Objective:
    """DeepDream's whole-layer objective: minus the mean of the squared activations (the L2 objective of
    Google's original code, whose gradient is the activation itself)."""
    return term(layer, lambda acts: -acts[layer].flatten(1).square().mean(1), (layer,))


def diversity(layer: str) -> Objective:
    """Olah et al.'s diversity: for each image, the summed cosine similarity of its Gram matrix at `layer`
    to those of the other images of the batch (lower is more diverse). Summed over the batch this is
    batch size times Lucid's `diversity`, as the other terms are batch size times Lucid's means."""

    def fn(acts) -> torch.Tensor:
        a = acts[layer]
        flat = a.reshape(len(a), a.shape[1], -1)
        grams = (flat @ flat.transpose(1, 2)).flatten(1)
        grams = grams / grams.norm(dim=1, keepdim=True).clamp_min(1e-10)
        similarity = grams @ grams.T
        return similarity.sum(1) - similarity.diagonal()

    return term("diversity", fn, (layer,))


def activation(layer: str, shape: Sequence[int], index: int | None = None, position: object = None) -> Objective:
    """The term for `layer` (output shape [C] or [C, H, W]): the whole layer if `index` is None, else that
    channel, at one position if `position` is [y, x] or "center"."""
    if index is None:
        if position is not None:
            raise ConvisError("objective.neuron needs objective.channel: a neuron is one channel at one position")
        return dream(layer)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < shape[0]:
        count = shape[0]
        raise ConvisError(f"channel {index!r} is out of range for {layer}: it has {count} channels (0-{count - 1})")
    if position is None:
        return channel(layer, index)
    return neuron(layer, index, *neuron_position(layer, shape, position))


def neuron_position(layer: str, shape: Sequence[int], position: object) -> tuple[int, int]:
    """(y, x) of a neuron given as [y, x] or "center", checked against the layer's positions."""
    if len(shape) != 3:
        raise ConvisError(f"{layer} has no spatial positions: leave objective.neuron unset")
    height, width = shape[1:]
    if position == CENTER:
        return height // 2, width // 2
    if (
        isinstance(position, Sequence)
        and not isinstance(position, str)
        and len(position) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in position)
        and 0 <= position[0] < height
        and 0 <= position[1] < width
    ):
        return int(position[0]), int(position[1])
    raise ConvisError(
        f"neuron {position!r} is not a position of {layer}: give [y, x] with 0 <= y < {height}, "
        f"0 <= x < {width}, or center"
    )


ALL = "all"


def channels(layer: str, indices: Sequence[int], position: tuple[int, int] | None = None) -> Objective:
    """Row i of the batch maximises channel `indices[i]` (its mean, or its value at `position`): many
    channels in one forward and backward pass, each row's gradient its own."""
    index = torch.as_tensor(list(indices))

    def fn(acts) -> torch.Tensor:
        a = acts[layer]
        picked = a[torch.arange(len(a), device=a.device), index.to(a.device)]
        if position is not None:
            picked = picked[:, position[0], position[1]]
        return -picked.reshape(len(a), -1).mean(1)

    return term(f"{layer}:{indices[0]}-{indices[-1]}", fn, (layer,))


def is_channel_set(spec: object) -> bool:
    """Whether objective.channel names several channels: all, a range string "start:stop" or a list."""
    return isinstance(spec, (str, Sequence))


def channel_set(layer: str, count: int, spec: object) -> list[int]:
    """The channels of `layer` (which has `count`) that `spec` names: all, "start:stop" (stop excluded,
    either end may be left out) or a list of indices; each in range, none twice."""
    wants = f"objective.channel=all, a range such as objective.channel=0:{count} or a list such as [0,5,9]"
    if spec == ALL:
        return list(range(count))
    if isinstance(spec, str):
        start, colon, stop = spec.partition(":")
        try:
            low, high = int(start or 0), int(stop or count)
        except ValueError:
            low, high = 0, -1
        if not colon or not 0 <= low < high <= count:
            raise ConvisError(f"objective.channel={spec!r} is not a range of {layer}'s {count} channels: give {wants}")
        return list(range(low, high))
    indices = list(spec)
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise ConvisError(f"channel {index!r} is out of range for {layer}: it has {count} channels (0-{count - 1})")
    if not indices or len(set(indices)) < len(indices):
        raise ConvisError(f"objective.channel={indices} must list channels of {layer}, each once: give {wants}")
    return indices

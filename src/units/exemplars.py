"""Dataset examples: for every unit of every chosen layer, the images that activate it most, in one pass.

A unit's activation on an image is its strongest position's (the spatial maximum of its channel; a [B, C]
layer's value as it is). The pass keeps, per unit, the k largest (and, on request, the k smallest) with the
image's index and the position, merging each batch into them with torch.topk: memory holds k values per
unit, whatever the dataset's size, and each image is read once. Beside them, the activations of a uniform
sample of the images (reservoir sampling, seeded) give each unit's histogram without keeping them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

Features = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]


def strongest(activation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, C] values and [B, C, 2] (y, x) positions of each channel's spatial maximum ([B, C] input: -1, -1)."""
    if activation.dim() == 2:
        return activation, torch.full((*activation.shape, 2), -1, dtype=torch.long)
    batch, channels, _, width = activation.shape
    values, flat = activation.flatten(2).max(dim=2)
    return values, torch.stack([flat // width, flat % width], dim=2)


@dataclass
class TopK:
    """Per unit, the k largest (or smallest) values seen, their images' indices and positions."""

    values: torch.Tensor  # [C, k], best first; -inf (+inf) where fewer than k images were seen
    images: torch.Tensor  # [C, k] dataset indices, -1 where none
    positions: torch.Tensor  # [C, k, 2]
    largest: bool = True

    @classmethod
    def empty(cls, channels: int, k: int, largest: bool = True) -> TopK:
        fill = -torch.inf if largest else torch.inf
        return cls(
            torch.full((channels, k), fill),
            torch.full((channels, k), -1, dtype=torch.long),
            torch.full((channels, k, 2), -1, dtype=torch.long),
            largest,
        )

    def add(self, values: torch.Tensor, positions: torch.Tensor, images: torch.Tensor) -> None:
        """Merge a batch: `values` [B, C], `positions` [B, C, 2], `images` [B] dataset indices."""
        k = self.values.shape[1]
        pool = torch.cat([self.values, values.T], dim=1)
        indices = torch.cat([self.images, images.expand(values.shape[1], -1)], dim=1)
        places = torch.cat([self.positions, positions.transpose(0, 1)], dim=1)
        self.values, order = pool.topk(k, dim=1, largest=self.largest)
        self.images = indices.gather(1, order)
        self.positions = places.gather(1, order.unsqueeze(2).expand(-1, -1, 2))

    def unit(self, channel: int) -> list[tuple[int, float, tuple[int, int]]]:
        """The unit's (image index, value, (y, x)) entries, best first, only those seen."""
        found = self.images[channel] >= 0
        return [
            (int(i), float(v), (int(p[0]), int(p[1])))
            for i, v, p in zip(self.images[channel][found], self.values[channel][found], self.positions[channel][found])
        ]


@dataclass
class Reservoir:
    """A uniform sample of up to `size` images' unit values (Vitter's algorithm R), for the histograms."""

    slots: torch.Tensor  # [size, C], the first min(seen, size) rows filled
    seen: int
    generator: torch.Generator

    @classmethod
    def empty(cls, channels: int, size: int, seed: int) -> Reservoir:
        return cls(torch.empty(size, channels), 0, torch.Generator().manual_seed(seed))

    @property
    def values(self) -> torch.Tensor:
        """[n <= size, C]: the sampled images' values."""
        return self.slots[: min(self.seen, len(self.slots))]

    def add(self, values: torch.Tensor) -> None:
        for row in values:
            if self.seen < len(self.slots):
                self.slots[self.seen] = row
            elif (slot := int(torch.randint(self.seen + 1, (1,), generator=self.generator))) < len(self.slots):
                self.slots[slot] = row
            self.seen += 1

    def histogram(self, channel: int, bins: int = 20) -> dict[str, list]:
        """The sampled values of a unit as {"edges": bins + 1 edges, "counts": bins counts}."""
        sample = self.values[:, channel]
        low, high = float(sample.min()), float(sample.max())
        if high <= low:
            high = low + 1.0
        counts = torch.histc(sample, bins=bins, min=low, max=high)
        edges = torch.linspace(low, high, bins + 1)
        return {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]}


@dataclass
class Examples:
    """What the pass found, per layer: the strongest and (when asked) weakest images, and a sample for histograms."""

    top: dict[str, TopK]
    least: dict[str, TopK]
    sample: dict[str, Reservoir]
    images: int  # the dataset's size


def dataset_pass(
    features: Features,
    data: Dataset,
    k: int = 8,
    least: bool = False,
    batch_size: int = 32,
    sample: int = 1024,
    seed: int = 0,
) -> Examples:
    """Every unit's k most (and, with `least`, least) activating images of `data`, in one pass over it."""
    top: dict[str, TopK] = {}
    weakest: dict[str, TopK] = {}
    sampled: dict[str, Reservoir] = {}
    seen = 0
    with torch.no_grad():
        for batch in DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0):
            images = batch["image"]
            indices = torch.arange(seen, seen + len(images))
            seen += len(images)
            for layer, activation in features(images).items():
                values, positions = strongest(activation.float())
                if layer not in top:
                    channels = values.shape[1]
                    top[layer] = TopK.empty(channels, k)
                    weakest[layer] = TopK.empty(channels, k, largest=False) if least else None
                    sampled[layer] = Reservoir.empty(channels, sample, seed)
                top[layer].add(values, positions, indices)
                if least:
                    weakest[layer].add(values, positions, indices)
                sampled[layer].add(values)
    return Examples(top, weakest if least else {}, sampled, seen)

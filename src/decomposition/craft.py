"""CRAFT (Fel et al. 2023): the concepts a class rests on at a layer, how much each matters, and where it is.

The class's images are cut into crops, each resized to the network's input; the layer's activations of the
crops, averaged over positions, are factorised by NMF: A [crops, C] ~ U [crops, K] @ W [K, C]. Row k of W is
concept k's direction (the concept bank), column k of U how much of it each crop holds (its most typical crops
hold the most). On each image, the layer's activation at every position is projected onto the fixed bank
(U_x [K, h, w] >= 0: where each concept is); masking concept k's coefficients and rebuilding the layer's output
as (U_x * m) W, the class's logit is a function of the K masks, and a concept's importance is its total Sobol
index (convis.decomposition.sobol), averaged over the class's images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from convis.decomposition.nmf import non_negative, project
from convis.decomposition.sobol import total_indices
from convis.experiments.nmf import factorise

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in an image's pixels; x1 and y1 exclusive


@dataclass(frozen=True)
class Crop:
    """Where a crop comes from: the index of its image (among the class's) and its box in it."""

    image: int
    box: Box


@dataclass
class Layer:
    """A frozen classifier at one layer: its activations of images, and the module whose output is replaced."""

    name: str
    classifier: nn.Module
    module: nn.Module
    activations: Callable[[torch.Tensor], torch.Tensor]  # images [n, 3, S, S] -> [n, C, h, w]


@dataclass
class Concepts:
    """A class's concepts: the bank W [K, C], the crops' coefficients U [crops, K] and where the crops come from,
    the relative error ||A - U W|| / ||A||, each image's coefficients over positions [images, K, h, w] and each
    image's total Sobol indices [images, K]."""

    bank: torch.Tensor
    coefficients: torch.Tensor
    crops: list[Crop]
    error: float
    maps: torch.Tensor
    indices: torch.Tensor

    @property
    def importances(self) -> torch.Tensor:
        """Each concept's importance [K]: its total index, averaged over the class's images."""
        return self.indices.mean(dim=0)

    def typical(self, concept: int, count: int) -> list[int]:
        """The `count` crops (their positions in `crops`) that hold the most of `concept`, most first."""
        return self.coefficients[:, concept].argsort(descending=True)[:count].tolist()


def grid_boxes(size: int, crop: int) -> list[Box]:
    """A grid of crop x crop boxes covering a size x size image, row by row: ceil(size / crop) a side, spaced
    evenly from edge to edge (they overlap by less than a crop where crop does not divide size)."""
    side = math.ceil(size / crop)
    starts = [round(i * (size - crop) / (side - 1)) if side > 1 else 0 for i in range(side)]
    return [(x, y, x + crop, y + crop) for y in starts for x in starts]


def cut(images: torch.Tensor, crops: list[Crop]) -> torch.Tensor:
    """The crops of `images` [n, 3, S, S], each resized to S x S (the network's input): [len(crops), 3, S, S]."""
    size = images.shape[-2:]
    pieces = [images[c.image, None, :, c.box[1] : c.box[3], c.box[0] : c.box[2]] for c in crops]
    return torch.cat([F.interpolate(piece, size=size, mode="bilinear", align_corners=False) for piece in pieces])


def crop_activations(layer: Layer, images: torch.Tensor, crops: list[Crop], batch: int) -> torch.Tensor:
    """The layer's activations of the crops, averaged over positions: A [len(crops), C] (non-negative)."""
    rows = []
    for start in range(0, len(crops), batch):
        with torch.no_grad():
            activation = layer.activations(cut(images, crops[start : start + batch]))
        rows.append(non_negative(activation, layer.name, "craft").flatten(2).mean(dim=2).cpu())
    return torch.cat(rows)


def coefficient_maps(layer: Layer, images: torch.Tensor, bank: torch.Tensor, batch: int) -> torch.Tensor:
    """Each image's activation projected onto the bank at every position: U_x [n, K, h, w] >= 0."""
    maps = []
    for start in range(0, len(images), batch):
        with torch.no_grad():
            activation = non_negative(layer.activations(images[start : start + batch]), layer.name, "craft")
        channels, *grid = activation.shape[1:]
        for one in activation:
            maps.append(project(one.reshape(channels, -1).T, bank).T.reshape(len(bank), *grid))
    return torch.stack(maps)


@contextmanager
def replaced(module: nn.Module, output: torch.Tensor) -> Iterator[None]:
    """While open, `module`'s output is `output` (a forward hook returning it)."""
    handle = module.register_forward_hook(lambda _module, _inputs, _output: output)
    try:
        yield
    finally:
        handle.remove()


def masked_logit(
    layer: Layer, image: torch.Tensor, maps: torch.Tensor, bank: torch.Tensor, target: int, batch: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The class's logit on `image` [3, S, S] as a function of concept masks [n, K]: the layer's output is
    replaced by (U_x * m) W, U_x = `maps` [K, h, w] its coefficients, W = `bank` [K, C]."""
    device = image.device
    maps, bank = maps.to(device), bank.to(device)

    def logit(masks: torch.Tensor) -> torch.Tensor:
        values = []
        for chunk in masks.to(device).split(batch):
            rebuilt = torch.einsum("nk,khw,kc->nchw", chunk, maps, bank)
            with replaced(layer.module, rebuilt), torch.no_grad():
                values.append(layer.classifier(image.expand(len(chunk), -1, -1, -1))[:, target].cpu())
        return torch.cat(values)

    return logit


def craft(
    layer: Layer,
    images: torch.Tensor,
    target: int,
    concepts: int,
    crop: int,
    designs: int,
    seed: int,
    max_iter: int = 500,
    batch: int = 64,
) -> Concepts:
    """The `concepts` concepts of class `target` at `layer` from its `images` [n, 3, S, S] (normalised input),
    cut into crops of `crop` pixels; their importance on `designs` Sobol points per image (seeded)."""
    crops = [Crop(i, box) for i in range(len(images)) for box in grid_boxes(images.shape[-1], crop)]
    activations = crop_activations(layer, images, crops, batch)
    found = factorise(activations.T, concepts, seed, max_iter)  # [C, crops]: the crops are NMF's samples
    bank = found.directions
    maps = coefficient_maps(layer, images, bank, batch)
    indices = [
        total_indices(masked_logit(layer, image, mapped, bank, target, batch), concepts, designs, seed)
        for image, mapped in zip(images, maps)
    ]
    return Concepts(bank, found.maps.T, crops, found.error, maps, torch.stack(indices).float())

"""Network Dissection (Bau et al. 2017): label each unit with the concept whose pixel masks its strongest maps match.

For unit k of a layer, its threshold T_k is its top-`quantile` level over every position of its maps A_k(x) on the
whole dataset, at the layer's resolution: T_k is the (m + 1)-th largest value, m = ceil(quantile * N * h * w), so
that a fraction `quantile` of them lie above it (as close as whole numbers allow; fewer where values tie at T_k).
Each map is upsampled bilinearly to the masks' resolution, S_k(x), and thresholded: M_k(x) = S_k(x) > T_k. A strict
inequality, as the original code has it: a unit that is 0 on more than (1 - quantile) of the positions (a sparse or
dead ReLU unit, T_k = 0) then masks only where it fires, not every pixel. Unit k's IoU with concept c is
sum_x |M_k(x) & L_c(x)| / sum_x |M_k(x) | L_c(x)| over the dataset; its label is the concept of largest IoU when that
IoU is at least `threshold`, else none.

Two passes over the data, each reading every image once: the first keeps, per unit, its m + 1 largest values
(merged batch by batch with torch.topk, so memory never holds every activation), the second counts intersections
and unions per unit and concept with one matrix product per batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch.nn.functional import interpolate
from torch.utils.data import DataLoader, Dataset

from convis.runtime.errors import ConvisError, unknown

Features = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]
CHUNK = 32  # channels upsampled at a time: bounds the second pass's memory
EXACT = 2**24  # float32 sums of 0/1 values are exact up to this many terms


@dataclass
class Dissection:
    """Per layer, each unit's threshold and its IoU with every concept; `labels` and `counts` read them."""

    concepts: list[str]
    categories: list[str]  # each concept's category, in `concepts` order
    thresholds: dict[str, torch.Tensor]  # layer -> [C]
    iou: dict[str, torch.Tensor]  # layer -> [C, K]
    threshold: float  # the least IoU of a label

    def _layer(self, layer: str) -> torch.Tensor:
        if layer not in self.iou:
            raise unknown("layer", layer, self.iou)
        return self.iou[layer]

    def labels(self, layer: str) -> list[dict[str, str | float] | None]:
        """Per unit of `layer`, its label {"concept", "category", "iou"}, or None when no IoU reaches `threshold`."""
        best, index = self._layer(layer).max(dim=1)
        return [
            {"concept": self.concepts[i], "category": self.categories[i], "iou": value}
            if value >= self.threshold
            else None
            for value, i in zip(best.tolist(), index.tolist())
        ]

    def counts(self, layer: str) -> dict[str, int]:
        """How many units of `layer` have a label of each category (every category, 0 included): the paper's figure."""
        counts = dict.fromkeys(self.categories, 0)
        for label in self.labels(layer):
            if label is not None:
                counts[label["category"]] += 1
        return counts


def check_options(quantile: float, threshold: float, batch_size: int) -> None:
    """Refuse a quantile outside (0, 1), a threshold outside [0, 1] or a batch size that is not a positive integer."""
    number = (int, float)
    if isinstance(quantile, bool) or not isinstance(quantile, number) or not 0 < quantile < 1:
        raise ConvisError(f"microscope.quantile={quantile!r} must be in (0, 1), e.g. 0.005")
    if isinstance(threshold, bool) or not isinstance(threshold, number) or not 0 <= threshold <= 1:
        raise ConvisError(f"microscope.threshold={threshold!r} must be in [0, 1], e.g. 0.04")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConvisError(f"microscope.batch_size={batch_size!r} must be a positive whole number, e.g. 32")


def dissect(
    features: Features, data: Dataset, quantile: float = 0.005, threshold: float = 0.04, batch_size: int = 32
) -> Dissection:
    """Dissect every layer `features(images)` returns ({layer: [B, C, h, w]}) on `data`'s images and masks.

    `data` items carry "image" and "masks" (bool [K, H, W]); the dataset names them in `.concepts` and
    `.categories` (see convis.data.concepts). Images reach `features` as the loader gives them (on the CPU);
    the counting runs where the activations are.
    """
    check_options(quantile, threshold, batch_size)
    if not hasattr(data, "concepts") or not hasattr(data, "categories"):
        raise ConvisError(
            f"a {type(data).__name__} has no .concepts and .categories: give a concept dataset, e.g. dataset=concepts"
        )
    if len(data) == 0:
        raise ConvisError("the concept dataset is empty: dissect needs at least one image")
    loader = DataLoader(data, batch_size=batch_size, num_workers=0)
    with torch.no_grad():
        thresholds = _thresholds(features, loader, quantile, len(data))
        iou = _ious(features, loader, thresholds, len(data.concepts))
    return Dissection(list(data.concepts), list(data.categories), thresholds, iou, float(threshold))


def _maps(features: Features, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each layer's activation maps [B, C, h, w] as floats; a layer of another shape is refused, naming it."""
    maps = {}
    for layer, activation in features(images).items():
        if activation.dim() != 4:
            raise ConvisError(
                f"layer {layer!r} outputs shape {tuple(activation.shape)}, not [B, C, h, w]: Network Dissection needs "
                "spatial maps, so choose a convolutional layer"
            )
        maps[layer] = activation.float()
    return maps


def _thresholds(features: Features, loader: Iterable, quantile: float, images: int) -> dict[str, torch.Tensor]:
    """Pass 1: per layer, each unit's T_k, the (m + 1)-th largest of its N * h * w values (m: see the module)."""
    top: dict[str, torch.Tensor] = {}
    for batch in loader:
        for layer, maps in _maps(features, batch["image"]).items():
            values = maps.transpose(0, 1).flatten(1)  # [C, B * h * w]
            count = images * maps.shape[2] * maps.shape[3]
            keep = min(math.ceil(quantile * count - 1e-9) + 1, count)  # -1e-9: 0.005 * 400 is 2, not 2.0000000004
            pool = torch.cat([top[layer], values], dim=1) if layer in top else values
            top[layer] = pool.topk(min(keep, pool.shape[1]), dim=1).values
    return {layer: kept[:, -1].cpu() for layer, kept in top.items()}


def _ious(
    features: Features, loader: Iterable, thresholds: Mapping[str, torch.Tensor], concepts: int
) -> dict[str, torch.Tensor]:
    """Pass 2: per layer, the [C, K] IoU of each unit's thresholded, upsampled maps with each concept's masks."""
    both: dict[str, torch.Tensor] = {}
    fired: dict[str, torch.Tensor] = {}
    truth = torch.zeros(concepts, dtype=torch.float64)
    for batch in loader:
        masks = batch["masks"]
        if masks.dim() != 4 or masks.shape[1] != concepts:
            raise ConvisError(f"a batch's masks have shape {tuple(masks.shape)}, not [B, {concepts}, H, W]")
        truth += masks.sum(dim=(0, 2, 3)).double()
        for layer, maps in _maps(features, batch["image"]).items():
            hits, active = _tally(maps, masks.to(maps.device), thresholds[layer].to(maps.device))
            both[layer] = both[layer] + hits if layer in both else hits
            fired[layer] = fired[layer] + active if layer in fired else active
    return {layer: _ratio(both[layer], fired[layer], truth) for layer in both}


def _tally(maps: torch.Tensor, masks: torch.Tensor, thresholds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch's [C, K] intersections and [C] mask sizes of each unit's M_k = upsampled maps > T_k."""
    labels = masks.transpose(0, 1).flatten(1).float()  # [K, B * H * W]
    hits, active = [], []
    for start in range(0, maps.shape[1], CHUNK):
        part = maps[:, start : start + CHUNK]
        upsampled = interpolate(part, size=tuple(masks.shape[2:]), mode="bilinear", align_corners=False)
        fired = (upsampled > thresholds[start : start + CHUNK, None, None]).transpose(0, 1).flatten(1)
        pieces = zip(fired.float().split(EXACT, dim=1), labels.split(EXACT, dim=1))
        hits.append(sum((unit @ concept.T).double() for unit, concept in pieces))
        active.append(fired.sum(dim=1).double())
    return torch.cat(hits), torch.cat(active)


def _ratio(both: torch.Tensor, fired: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """IoU = intersection / (|M| + |L| - intersection), 0 where both are empty, as a float32 [C, K] on the CPU."""
    union = fired[:, None] + truth.to(both.device)[None] - both
    return (both / union.clamp(min=1)).float().cpu()

"""Saliency through Trainer.predict: no optimisation loop, one batch of images at a time.

A batch is the `collate` of dataset items: dicts with "image" (3, S, S), "name", and where the
dataset has ground truth "label", "box" ([x0, y0, x1, y1], x1 and y1 exclusive) and "mask".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from convis.attribution import SaliencyMethod
from convis.attribution.localisation import GrabCut
from convis.data.images import denormalise
from convis.metrics.quantus_metrics import QuantusMetrics
from convis.metrics.saliency import (
    SaliencyEvaluation,
    box_masks,
    cascading_randomisation,
    mask_boxes,
    paired_iou,
    random_logit,
    spearman,
)
from convis.runtime.finite import FROM_INPUTS, require_finite, require_finite_rows


def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A batch of dataset items: images, labels, boxes and masks stacked, names as a list.

    Ground truth is kept only when every item of the batch has it.
    """
    batch: dict[str, Any] = {
        "image": torch.stack([item["image"] for item in items]),
        "name": [item["name"] for item in items],
    }
    for key in ("label", "box", "mask"):
        if all(key in item for item in items):
            batch[key] = torch.stack([torch.as_tensor(item[key]) for item in items])
    return batch


def ground_truth(batch: Mapping[str, Any]) -> tuple[Tensor, Tensor] | None:
    """The objects' regions (N, H, W) bool and boxes (N, 4), from masks or boxes; None without either."""
    height, width = batch["image"].shape[-2:]
    if "mask" in batch:
        masks = batch["mask"].bool()
        return masks, batch["box"] if "box" in batch else mask_boxes(masks)
    if "box" in batch:
        return box_masks(batch["box"], height, width), batch["box"]
    return None


class SaliencyModule(L.LightningModule):
    """Maps, GrabCut boxes and, where the batch has ground truth, their quality, per batch of images.

    The network stays frozen; the sanity check randomises a copy of it. The Quantus metrics run on every
    batch (given its ground truth as regions where it has one); NaN where Quantus gives no number.
    """

    def __init__(
        self,
        net: nn.Module,
        build: Callable[[nn.Module], SaliencyMethod],
        mean: Sequence[float],
        std: Sequence[float],
        localiser: GrabCut,
        target: int | None = None,
        evaluation: SaliencyEvaluation | None = None,
        sanity_layers: Sequence[str] = (),
        sanity_measured: Sequence[str] = (),
        seed: int = 0,
        random_logit: bool = False,
        quantus: QuantusMetrics | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.build, self.method = build, build(net)
        self.mean, self.std = tuple(mean), tuple(std)
        self.localiser, self.target, self.evaluation = localiser, target, evaluation
        self.sanity_layers, self.sanity_measured, self.seed = list(sanity_layers), set(sanity_measured), seed
        self.random_logit, self.quantus = random_logit, quantus

    def probabilities(self, images: Tensor) -> Tensor:
        """Class probabilities of the frozen network; NaN or Inf logits fail."""
        with torch.no_grad():
            return require_finite(self.net(images), "logits of the network", FROM_INPUTS).softmax(1)

    def targets(self, images: Tensor) -> Tensor:
        """The configured class for every image, else each image's predicted class."""
        if self.target is not None:
            return torch.full((len(images),), self.target, device=images.device)
        return self.probabilities(images).argmax(1)

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        images = batch["image"]
        targets = self.targets(images)
        maps = require_finite_rows(self.method.attribute(images, targets), batch["name"], "map", FROM_INPUTS)
        out: dict[str, Any] = {"targets": targets.cpu(), "maps": maps.float().cpu()}
        out["boxes"] = self.localise(images, maps)
        truth = ground_truth(batch)
        if truth is not None and self.evaluation is not None:
            regions, boxes = truth
            metrics = self.evaluation(self.probabilities, images, maps, targets, regions)
            metrics["box_iou"] = paired_iou(out["boxes"], boxes.cpu())
            for key, values in metrics.items():
                require_finite_rows(values, batch["name"], key, FROM_INPUTS)
            out["metrics"] = {key: value.cpu() for key, value in metrics.items() if value.dim() == 1}
            out["curves"] = {key: value.cpu() for key, value in metrics.items() if value.dim() == 2}
            out["truth_boxes"] = boxes.cpu()
        if self.random_logit:
            classes = self.probabilities(images[:1]).shape[1]
            similarity = random_logit(self.method.attribute, images, targets, maps, classes, self.seed + batch_idx)
            out.setdefault("metrics", {})["random_logit"] = similarity.cpu()
        if self.quantus:
            regions = None if truth is None else truth[0]
            scored = self.quantus(self.net, self.build, images, targets, maps, regions, batch_idx)
            out.setdefault("metrics", {}).update(scored)  # NaN where Quantus refuses the maps or is undefined
        if self.sanity_layers:
            out["sanity"] = self.sanity_check(images, targets, maps)
            for path, values in out["sanity"].items():
                require_finite_rows(values, batch["name"], f"rank correlation after randomising {path}", FROM_INPUTS)
        return out

    def localise(self, images: Tensor, maps: Tensor) -> Tensor:
        """(N, 4) GrabCut boxes of the maps' objects (Simonyan et al.'s localisation)."""
        pixels = (denormalise(images, self.mean, self.std) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return torch.tensor([self.localiser(image, saliency) for image, saliency in zip(pixels, maps.cpu().numpy())])

    def sanity_check(self, images: Tensor, targets: Tensor, maps: Tensor) -> dict[str, Tensor]:
        """Per measured depth of the cascading randomisation, each map's rank correlation with the original."""
        return {
            path: spearman(self.build(model).attribute(images, targets), maps).cpu()
            for path, model in cascading_randomisation(self.net, self.sanity_layers, self.seed)
            if path in self.sanity_measured
        }

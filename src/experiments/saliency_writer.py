"""Writing a saliency run's files as Trainer.predict hands over each batch: maps, overlays, results."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import Tensor

from convis.attribution.overlay import PREDICTED, TRUTH, box_overlay, heatmap_overlay
from convis.data.images import denormalise
from convis.runtime.distributed import gathered
from convis.runtime.logs import log_images
from convis.runtime.writers import safe_name, save_image, write_npy


@dataclass
class Batch:
    """What one batch gave: its first image's index in the dataset, results, maps, curves and correlations."""

    start: int
    results: list[dict[str, Any]]
    maps: list[Tensor]
    curves: dict[str, Tensor]
    sanity: dict[str, Tensor]


def merged(parts: list[dict[str, Tensor]]) -> dict[str, list[Tensor]]:
    """Per key, its tensors in the order of `parts`."""
    out: dict[str, list[Tensor]] = {}
    for part in parts:
        for key, value in part.items():
            out.setdefault(key, []).append(value)
    return out


class SaliencyWriter(BasePredictionWriter):
    """Writes each batch's maps (.npy), heatmap and box overlays (PNG), logs them, and keeps the results.

    Under DDP each process writes its own images' files; at the end every process holds all the batches.
    """

    def __init__(
        self, output_dir: Path, method: str, mean: Sequence[float], std: Sequence[float], categories: Sequence[str]
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir, self.method = Path(output_dir), method
        self.mean, self.std, self.categories = tuple(mean), tuple(std), list(categories)
        self.batches: list[Batch] = []

    @property
    def results(self) -> list[dict[str, Any]]:
        return [result for batch in self.batches for result in batch.results]

    @property
    def maps(self) -> list[Tensor]:
        return [saliency for batch in self.batches for saliency in batch.maps]

    @property
    def curves(self) -> dict[str, list[Tensor]]:
        """Each curve's (N, steps) rows, one tensor per batch."""
        return merged([batch.curves for batch in self.batches])

    @property
    def sanity(self) -> dict[str, list[Tensor]]:
        """Each randomised depth's rank correlations, one tensor per batch."""
        return merged([batch.sanity for batch in self.batches])

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """With several processes (DDP): every process's batches, in the dataset's order, in each process."""
        self.batches = sorted(gathered(self.batches), key=lambda batch: batch.start)

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: dict[str, Any],
        batch_indices: Sequence[int] | None,
        batch: Mapping[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        shown = denormalise(batch["image"].detach().cpu(), self.mean, self.std)
        start = batch_indices[0] if batch_indices else sum(len(done.results) for done in self.batches)
        kept = Batch(start, [], [], dict(prediction.get("curves", {})), dict(prediction.get("sanity", {})))
        heat, boxed = [], []
        for i, name in enumerate(batch["name"]):
            result = self.write_map(name, prediction, i)
            heat.append(heatmap_overlay(shown[i], prediction["maps"][i]))
            boxed.append(box_overlay(shown[i], *self.boxes(prediction, i)))
            save_image(heat[-1], self.output_dir / result["png"])
            save_image(boxed[-1], self.output_dir / result["box_png"])
            kept.results.append(result)
            kept.maps.append(prediction["maps"][i])
        self.batches.append(kept)
        captions = [f"{name}: {self.categories[int(t)]}" for name, t in zip(batch["name"], prediction["targets"])]
        log_images(trainer.loggers, "saliency", heat, caption=captions)
        log_images(trainer.loggers, "localisation", boxed, caption=captions)

    @staticmethod
    def boxes(prediction: Mapping[str, Any], i: int) -> tuple[list[list[int]], list[str]]:
        """The true box where known, then the GrabCut box (drawn on top), with their colours."""
        boxes, colours = [], []
        if "truth_boxes" in prediction:
            boxes.append(prediction["truth_boxes"][i].tolist())
            colours.append(TRUTH)
        return [*boxes, prediction["boxes"][i].tolist()], [*colours, PREDICTED]

    def write_map(self, name: str, prediction: Mapping[str, Any], i: int) -> dict[str, Any]:
        """Save one image's map as .npy; its metrics.json entry."""
        stem = safe_name(name)
        target = int(prediction["targets"][i])
        map_path = self.output_dir / "maps" / f"{stem}.npy"
        write_npy(prediction["maps"][i].numpy().astype(np.float32), map_path)
        result: dict[str, Any] = {
            "image": name,
            "target": self.categories[target],
            "target_index": target,
            "map": f"maps/{stem}.npy",
            "png": f"images/{stem}_{self.method}.png",
            "box_png": f"images/{stem}_{self.method}_box.png",
            "box": prediction["boxes"][i].tolist(),
        }
        for key, values in prediction.get("metrics", {}).items():
            value = values[i].item()
            result[key] = bool(value) if values.dtype == torch.bool else None if math.isnan(value) else float(value)
        return result

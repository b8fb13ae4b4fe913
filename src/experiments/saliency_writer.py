"""Writing a saliency run's files as Trainer.predict hands over each batch: maps, overlays, results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import Tensor

from convis.attribution.overlay import PREDICTED, TRUTH, box_overlay, heatmap_overlay
from convis.data.images import denormalise
from convis.runtime.logs import log_images
from convis.runtime.writers import safe_name, save_image, write_npy


class SaliencyWriter(BasePredictionWriter):
    """Writes each batch's maps (.npy), heatmap and box overlays (PNG), logs them, and keeps the results."""

    def __init__(
        self, output_dir: Path, method: str, mean: Sequence[float], std: Sequence[float], categories: Sequence[str]
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir, self.method = Path(output_dir), method
        self.mean, self.std, self.categories = tuple(mean), tuple(std), list(categories)
        self.results: list[dict[str, Any]] = []
        self.sanity: dict[str, list[Tensor]] = {}
        self.curves: dict[str, list[Tensor]] = {}
        self.maps: list[Tensor] = []

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
        heat, boxed = [], []
        for i, name in enumerate(batch["name"]):
            result = self.write_map(name, prediction, i)
            heat.append(heatmap_overlay(shown[i], prediction["maps"][i]))
            boxed.append(box_overlay(shown[i], *self.boxes(prediction, i)))
            save_image(heat[-1], self.output_dir / result["png"])
            save_image(boxed[-1], self.output_dir / result["box_png"])
            self.results.append(result)
            self.maps.append(prediction["maps"][i])
        for path, correlations in prediction.get("sanity", {}).items():
            self.sanity.setdefault(path, []).append(correlations)
        for key, curves in prediction.get("curves", {}).items():
            self.curves.setdefault(key, []).append(curves)
        captions = [f"{name}: {self.categories[int(t)]}" for name, t in zip(batch["name"], prediction["targets"])]
        log_images(trainer, "saliency", heat, caption=captions)
        log_images(trainer, "localisation", boxed, caption=captions)

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
            result[key] = bool(value) if values.dtype == torch.bool else float(value)
        return result

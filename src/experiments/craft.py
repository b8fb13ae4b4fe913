"""objective=craft: CRAFT's concepts of one class at `layer` (convis.decomposition.craft) — each concept's
importance, its most typical crops and where it is in the class's images, as PNGs and metrics.json."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import Logger, WandbLogger
from torch.nn import functional as F
from torch.utils.data import Dataset
from torchvision.utils import make_grid

from convis.attribution.overlay import heatmap_overlay
from convis.backbones import Backbone
from convis.backbones.names import LOGITS
from convis.checks import count, positive_whole
from convis.data.images import denormalise
from convis.decomposition.craft import Concepts, Layer, craft, cut, grid_boxes
from convis.experiments.base import Experiment, Result
from convis.experiments.setup import build_logger
from convis.experiments.writer import weights_of
from convis.runtime.errors import ConvisError
from convis.runtime.finite import require_finite_rows
from convis.runtime.writers import safe_name, save_image, write_json
from convis.targets import resolve_target, resolve_targets
from convis.units.records import names_of

log = logging.getLogger(__name__)
PAPER_CROP = 64 / 224  # the paper's crops: 64 px of a 224 px image


def class_index(target: object, categories: list[str]) -> int:
    """The one class (a network's class index) a run explains."""
    targets = resolve_targets(target, categories)
    if len(targets) != 1:
        given = (
            f"[{','.join(map(str, target))}]"
            if isinstance(target, Sequence) and not isinstance(target, str)
            else target
        )
        raise ConvisError(
            f"target={given}: objective=craft explains one class: give target=NAME or target=INDEX "
            f"(this network's classes: {', '.join(categories[:10])}{', ...' if len(categories) > 10 else ''})"
        )
    return targets[0]


def class_images(data: Dataset, name: str, count: int) -> list[int]:
    """The positions of the first `count` images of the dataset labelled with class `name`."""
    labels, classes = getattr(data, "labels", None), list(getattr(data, "classes", []))
    if labels is None or not classes:
        raise ConvisError(
            "objective=craft needs a labelled dataset to find the class's images: dataset=shapes, "
            "or dataset=image_folder with ROOT/CLASS/*.jpg folders"
        )
    try:
        label = resolve_target(name, classes)
    except ConvisError:
        label = None
    found = [i for i, value in enumerate(labels) if label is not None and value == label][:count]
    if not found:
        raise ConvisError(
            f"target={name} has no images in the dataset ({len(labels)} images of {', '.join(classes)}): "
            "choose a class the dataset labels, or a dataset with images of it"
        )
    return found


def crop_size(crop: int | None, image_size: int) -> int:
    """objective.crop, or the paper's share of the image (64 px of 224) where it is null."""
    if crop is None:
        return max(1, round(image_size * PAPER_CROP))
    if crop > image_size:
        raise ConvisError(
            f"objective.crop={crop} is more than image_size={image_size}: a crop is cut from the image, "
            f"choose objective.crop={max(1, round(image_size * PAPER_CROP))} (the paper's share) up to {image_size}"
        )
    return crop


def checked_concepts(concepts: int, layer: str, channels: int, crops: int) -> int:
    """`concepts` if NMF of [crops, channels] can find that many (at most the smaller of the two)."""
    limit = min(channels, crops)
    if concepts > limit:
        raise ConvisError(
            f"objective.concepts={concepts} is more than NMF finds from {crops} crops of {layer}'s {channels} "
            f"channels: use objective.concepts={limit} or fewer, or more objective.images"
        )
    return concepts


class Craft(Experiment):
    """CRAFT at `layer` for class `target`: K concepts, their importances, typical crops and maps."""

    targeted = True
    optimised = False
    rules = (
        positive_whole("objective.concepts", "10"),
        positive_whole("objective.crop", "18", nullable=True),
        positive_whole("objective.images", "500"),
        positive_whole("objective.designs", "32"),
        positive_whole("objective.top", "8"),
        count("objective.maps", "4"),
        positive_whole("objective.max_iter", "500"),
        positive_whole("objective.batch_size", "64"),
    )

    def layers(self) -> list[object]:
        return [LOGITS, self.cfg.layer]

    def check(self) -> None:
        super().check()
        crop_size(self.cfg.objective.crop, int(self.cfg.image_size))

    def run(self, output_dir: Path) -> Result:
        cfg, spec, size = self.cfg, self.cfg.objective, int(self.cfg.image_size)
        L.seed_everything(cfg.seed, verbose=False)
        backbone = self.backbone()
        target = class_index(cfg.target, backbone.categories)
        name, layer, crop = backbone.categories[target], self.layer(backbone), crop_size(spec.crop, size)
        device = next(backbone.net.parameters()).device
        with torch.no_grad():
            channels = layer.activations(torch.zeros(1, backbone.channels, size, size, device=device)).shape[1]
        data = self.data(backbone)
        chosen = self.chosen(data, name, int(spec.images))
        images = torch.stack([data[i]["image"] for i in chosen]).to(device)
        every = names_of(data)
        names = [every[i] for i in chosen]
        per_image = len(grid_boxes(size, crop))
        k = checked_concepts(int(spec.concepts), str(cfg.layer), channels, per_image * len(images))
        log.info(
            "craft: %d concepts of %s at %s, %d images cut into %d crops each",
            k,
            name,
            cfg.layer,
            len(images),
            per_image,
        )
        found = craft(
            layer, images, target, k, crop, int(spec.designs), int(cfg.seed), int(spec.max_iter), int(spec.batch_size)
        )
        require_finite_rows(found.indices, names, "concept importances", "the network's logits are not finite there")
        return self.write(output_dir, backbone, found, images, names, name, target, crop)

    def chosen(self, data: Dataset, name: str, count: int) -> list[int]:
        """The first `count` of the class's images: the pictures given in memory (the Python API's) are all the
        class's; in a configured dataset, those labelled with its name."""
        if self.given_data is not None:
            return list(range(min(count, len(data))))
        return class_images(data, name, count)

    def layer(self, backbone: Backbone) -> Layer:
        """The run's layer of the backbone: its activations and its module."""
        layer = str(self.cfg.layer)
        extractor = backbone.extractor([layer])
        module = backbone.net.get_submodule(backbone.path(layer))
        return Layer(layer, backbone.classifier, module, lambda images: extractor(images)[layer])

    def write(
        self,
        output_dir: Path,
        backbone: Backbone,
        found: Concepts,
        images: torch.Tensor,
        names: list[str],
        name: str,
        target: int,
        crop: int,
    ) -> Result:
        """Per concept (most important first) a strip of its typical crops and its maps on the first images as
        PNGs; metrics.json with the importances and where each concept's crops come from."""
        cfg, spec = self.cfg, self.cfg.objective
        order = found.importances.argsort(descending=True).tolist()
        concepts = [self.concept(output_dir, backbone, found, images, names, k, rank) for rank, k in enumerate(order)]
        results = [concept.pop("result") for concept in concepts]
        results += self.maps(output_dir, backbone, found, images[: int(spec.maps)], names, order)
        metrics = {"objective": "craft", "backbone": backbone.arch, "weights": weights_of(cfg, self.given_model)}
        metrics |= {"image_size": int(cfg.image_size), "layer": str(cfg.layer), "target": name, "target_index": target}
        metrics |= {"images": len(images), "crop": crop, "crops": len(found.crops), "designs": int(spec.designs)}
        metrics |= {"reconstruction_error": found.error, "concepts": concepts, "results": results}
        write_json(metrics, output_dir / "metrics.json")
        log_concepts(build_logger(cfg, output_dir), output_dir, concepts, results)
        tensors = {"bank": found.bank, "coefficients": found.coefficients, "maps": found.maps, "indices": found.indices}
        return Result(metrics, output_dir, tensors)

    def concept(
        self,
        output_dir: Path,
        backbone: Backbone,
        found: Concepts,
        images: torch.Tensor,
        names: list[str],
        k: int,
        rank: int,
    ) -> dict:
        """Concept k's record: its importance, its typical crops (image and box) and their strip's result."""
        top = found.typical(k, int(self.cfg.objective.top))
        strip = denormalise(cut(images, [found.crops[i] for i in top]).cpu(), backbone.mean, backbone.std)
        png = f"images/concept{k}_crops.png"
        save_image(make_grid(strip, nrow=len(strip), padding=1, pad_value=1.0), output_dir / png)
        importance = float(found.importances[k])
        crops = [
            {
                "image": names[found.crops[i].image],
                "box": list(found.crops[i].box),
                "coefficient": float(found.coefficients[i, k]),
            }
            for i in top
        ]
        result = {"concept": k, "view": "crops", "importance": importance, "png": png}
        return {"concept": k, "rank": rank, "importance": importance, "crops": crops, "result": result}

    def maps(
        self,
        output_dir: Path,
        backbone: Backbone,
        found: Concepts,
        images: torch.Tensor,
        names: list[str],
        order: list[int],
    ) -> list[dict]:
        """Each concept's map (its coefficient over positions, upsampled) over each of `images`, one result each."""
        results = []
        for i, picture in enumerate(denormalise(images.cpu(), backbone.mean, backbone.std)):
            upsampled = F.interpolate(found.maps[i].unsqueeze(1), size=picture.shape[-2:], mode="bilinear")[:, 0]
            for k in order:
                png = f"images/concept{k}_{safe_name(names[i])}.png"
                save_image(heatmap_overlay(picture, upsampled[k]), output_dir / png)
                entry = {"concept": k, "image": names[i], "view": "map", "total_index": float(found.indices[i, k])}
                results.append({**entry, "png": png})
        return results


def log_concepts(logger: Logger | bool, output_dir: Path, concepts: list[dict], results: list[dict]) -> None:
    """The concepts' importances to the run's logger and, for W&B, a table with each concept's crops."""
    if not logger:
        return
    logger.log_metrics({f"craft/concept{c['concept']}_importance": c["importance"] for c in concepts})
    if isinstance(logger, WandbLogger):
        import wandb

        strips = {r["concept"]: r["png"] for r in results if r["view"] == "crops"}
        rows = [
            [c["concept"], c["rank"], c["importance"], wandb.Image(str(output_dir / strips[c["concept"]]))]
            for c in concepts
        ]
        logger.log_table("craft/concepts", columns=["concept", "rank", "importance", "crops"], data=rows)
    logger.finalize("success")

"""objective=concepts: concept relevance propagation at `layer` — per image, the channels its class rests on with
each one's conditional heatmap, and per such channel the dataset images it is most relevant on beside those it
is most active on (relevance maximisation against activation maximisation)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import Dataset
from torchvision.utils import make_grid

from convis.attribution.crp import ConceptRelevance, Maximisation, maximisation
from convis.attribution.lrp import build_composite, check_composite
from convis.attribution.overlay import heatmap_overlay
from convis.backbones import Backbone
from convis.backbones.names import LOGITS
from convis.checks import positive_whole
from convis.data.images import denormalise
from convis.experiments.base import Experiment, Result
from convis.experiments.saliency import single_target
from convis.experiments.setup import build_logger
from convis.experiments.writer import weights_of
from convis.runtime.writers import safe_name, save_image, write_json
from convis.units.records import names_of

log = logging.getLogger(__name__)


class Concepts(Experiment):
    """CRP at `layer`: the most relevant channels of each explained image, their heatmaps and reference images."""

    targeted = True
    optimised = False
    rules = (
        positive_whole("objective.channels", "6"),
        positive_whole("objective.images", "4"),
        positive_whole("objective.k", "8"),
        positive_whole("objective.data_batch", "16"),
    )

    def layers(self) -> list[object]:
        return [LOGITS, self.cfg.layer]

    def check(self) -> None:
        super().check()
        check_composite(self.cfg.objective.composite, "objective.composite")

    def run(self, output_dir: Path) -> Result:
        cfg, spec = self.cfg, self.cfg.objective
        L.seed_everything(cfg.seed, verbose=False)
        backbone = self.backbone()
        data = self.data(backbone)
        net = backbone.classifier
        layer = backbone.net.get_submodule(backbone.path(cfg.layer))
        relevance = ConceptRelevance(net, layer, lambda inputs: build_composite(spec.composite, backbone, inputs))
        target = single_target(cfg.target, backbone.categories)

        def targets(images: torch.Tensor) -> torch.Tensor:
            if target is not None:
                return torch.full((len(images),), target)
            with torch.no_grad():
                return net(images).argmax(1)

        images = torch.stack([data[i]["image"] for i in range(min(int(spec.images), len(data)))])
        every = names_of(data)
        names = every[: len(images)]
        chosen = targets(images)
        shares = relevance.channel_shares(images, chosen).detach()
        top = shares.topk(min(int(spec.channels), shares.shape[1]), dim=1)
        log.info(
            "concepts: the %d most relevant channels of %s for %d images", top.indices.shape[1], cfg.layer, len(images)
        )
        results = self.heatmaps(output_dir, backbone, relevance, images, names, chosen, top)
        channels = sorted({int(c) for c in top.indices.flatten()})
        found = maximisation(relevance, data, targets, int(spec.k), int(spec.data_batch))
        references = self.references(output_dir, backbone, data, every, found, channels)
        results += [entry for channel in channels for entry in references[channel].pop("pictures")]
        metrics = {"objective": "concepts", "backbone": backbone.arch, "weights": weights_of(cfg, self.given_model)}
        metrics |= {"image_size": int(cfg.image_size), "layer": str(cfg.layer), "composite": str(spec.composite)}
        metrics |= {"results": results, "channels": {str(c): references[c] for c in channels}}
        write_json(metrics, output_dir / "metrics.json")
        log_concepts(build_logger(cfg, output_dir), references)
        return Result(metrics, output_dir, {"shares": shares})

    def heatmaps(
        self,
        output_dir: Path,
        backbone: Backbone,
        relevance: ConceptRelevance,
        images: torch.Tensor,
        names: list[str],
        targets: torch.Tensor,
        top: torch.return_types.topk,
    ) -> list[dict]:
        """Each image's original and its top channels' conditional heatmaps as PNGs, one result per heatmap."""
        results = []
        for image, name, target, values, channels in zip(images, names, targets, top.values, top.indices):
            picture = denormalise(image, backbone.mean, backbone.std)
            save_image(picture, output_dir / "images" / f"{safe_name(name)}_original.png")
            maps = relevance.conditional_heatmaps(image, int(target), channels).detach()
            for rank, (share, channel, heat) in enumerate(zip(values, channels, maps)):
                png = f"images/{safe_name(name)}_channel{int(channel)}.png"
                save_image(heatmap_overlay(picture, heat), output_dir / png)
                inside = heat.clamp_min(0).sum()
                entry = {"image": name, "target": int(target), "rank": rank, "channel": int(channel)}
                scores = {"relevance": float(share), "positive_relevance": float(inside)}
                caption = f"channel {int(channel)}, {float(share):.1%} of the relevance"
                results.append({**entry, **scores, "png": png, "caption": caption})
        return results

    def references(
        self,
        output_dir: Path,
        backbone: Backbone,
        data: Dataset,
        names: list[str],
        found: Maximisation,
        channels: list[int],
    ) -> dict[int, dict]:
        """Per channel, its most relevant and most activating dataset images: their names, values, overlap, strips."""
        out = {}
        for channel in channels:
            record: dict = {"pictures": []}
            for view, top in (("most_relevant", found.relevance), ("most_activating", found.activation)):
                entries = top.unit(channel)
                record[view] = [{"image": names[i], "value": value} for i, value, _ in entries]
                strip = torch.stack([denormalise(data[i]["image"], backbone.mean, backbone.std) for i, _, _ in entries])
                png = f"images/channel{channel}_{view}.png"
                save_image(make_grid(strip, nrow=len(strip), padding=1, pad_value=1.0), output_dir / png)
                record["pictures"].append({"channel": channel, "view": view, "png": png})
            relevant = {e["image"] for e in record["most_relevant"]}
            record["shared"] = sum(e["image"] in relevant for e in record["most_activating"])
            out[channel] = record
        return out


def log_concepts(logger: object, references: dict[int, dict]) -> None:
    """How many channels were explained and how far their two reference sets overlap, to the run's logger."""
    if not logger:
        return
    shared = [record["shared"] for record in references.values()]
    logger.log_metrics({"concepts/channels": len(shared), "concepts/mean_shared": sum(shared) / max(len(shared), 1)})
    logger.finalize("success")

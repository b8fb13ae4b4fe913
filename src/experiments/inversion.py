"""Inverting a layer's representation back to an image (Mahendran & Vedaldi)."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from convis.backbones import Backbone
from convis.backbones.probe import probe
from convis.checks import as_list
from convis.data.images import denormalise
from convis.experiments.base import Experiment, Result
from convis.experiments.visualise import NOISES, initial_image, optimise
from convis.metrics.image import psnr, ssim
from convis.modules.visualisation import Group, VisualisationModule
from convis.objectives.inversion import feature_match, normalized_error
from convis.priors import Prior
from convis.priors.transforms import Crop, Jitter, pad_canvas
from convis.runtime.errors import ConvisError
from convis.runtime.finite import FROM_INPUTS, FROM_STEPS, require_finite, require_finite_results, require_finite_rows
from convis.runtime.stops import save_final
from convis.runtime.writers import safe_name, save_image, write_json

JITTERS = ("crop", "roll")  # optimizer.jitter: the authors' window of a padded canvas | a circular shift


def jitter_pixels(setting: int | str, stride: int) -> int:
    """The paper's jitter, max(round(stride / 4), 1) pixels (MATLAB's round: halves away from 0), unless configured."""
    return max(math.floor(stride / 4 + 0.5), 1) if setting == "auto" else int(setting)


def inversion_groups(
    cfg: DictConfig, backbone: Backbone, originals: torch.Tensor, layers: list[str], prior: Prior
) -> tuple[list[Group], int]:
    """One group per layer, each reconstructing every original from that layer's features; and the canvas margin.

    With `optimizer.jitter=crop` (the authors') the image lives on a canvas J_max - 1 pixels larger, and each
    layer's network sees a random H x W window of its own (H + J - 1) x (W + J - 1) part; with `roll` (a random
    circular shift of up to J pixels) there is no canvas.
    """
    n, crop = len(originals), cfg.optimizer.get("jitter", "roll") == "crop"
    parts = []
    for layer in layers:
        extractor = backbone.extractor([layer])
        with torch.no_grad():
            phi0 = require_finite(extractor(originals)[layer], f"features of the originals at {layer}", FROM_INPUTS)
        stride = probe(extractor.net, extractor.paths, cfg.image_size, backbone.channels)[0].stride
        objective = prior.add_to(feature_match(layer, phi0, weight=cfg.objective.feature_weight))
        parts.append((layer, extractor, objective, jitter_pixels(cfg.objective.jitter, stride)))
    margin = max(max(pixels for *_, pixels in parts) - 1, 0) if crop else 0
    groups = []
    for index, (layer, extractor, objective, pixels) in enumerate(parts):
        rows = slice(index * n, (index + 1) * n)
        if crop:
            window = Crop(pixels, margin) if margin else None
            groups.append(Group(layer, rows, extractor, objective, list(prior.transforms), window))
        else:
            groups.append(Group(layer, rows, extractor, objective, [*prior.transforms, Jitter(pixels)]))
    return groups, margin


class Inversion(Experiment):
    """Reconstruct every image from every configured layer (`layer`: a name or a list)."""

    def layers(self) -> list[object]:
        return as_list(self.cfg.layer)

    def check(self) -> None:
        super().check()
        optimizer = self.cfg.optimizer
        if optimizer.get("jitter", "roll") not in JITTERS:
            raise ConvisError(f"optimizer.jitter={optimizer.jitter} is unknown: choose one of {', '.join(JITTERS)}")
        if optimizer.get("noise", "gaussian") not in NOISES:
            raise ConvisError(f"optimizer.noise={optimizer.noise} is unknown: choose one of {', '.join(NOISES)}")

    def run(self, output_dir: Path) -> Result:
        cfg = self.cfg
        layers = as_list(cfg.layer)
        L.seed_everything(cfg.seed, verbose=False)
        backbone = self.backbone()
        data = self.data(backbone)
        originals = torch.stack([data[i]["image"] for i in range(len(data))])
        prior: Prior = instantiate(cfg.prior)
        groups, margin = inversion_groups(cfg, backbone, originals, layers, prior)
        tiled = pad_canvas(originals.repeat(len(layers), 1, 1, 1), margin)  # the original at the canvas's centre
        noise = cfg.optimizer.get("noise", "gaussian")
        init = initial_image(cfg.objective.init, tiled.shape, cfg.objective.init_scale, tiled, noise=noise)
        captions = [f"{layer}/{name}" for layer in layers for name in data.names]
        module = optimise(cfg, backbone, init, groups, prior, captions, output_dir, margin)
        result = write_results(backbone, module, groups, originals, data.names, output_dir)
        save_final(module.trainer)
        return result


def write_results(
    backbone: Backbone,
    module: VisualisationModule,
    groups: list[Group],
    originals: torch.Tensor,
    names: list[str],
    output_dir: Path,
) -> Result:
    """PNGs of the originals and reconstructions, and metrics.json with the paper's error, PSNR, SSIM."""
    image, _ = module.evaluate()
    captions = [f"{group.tag}/{name}" for group in groups for name in names]
    require_finite_rows(image, captions, "final image", FROM_STEPS)
    shown = denormalise(image, backbone.mean, backbone.std)
    truth = denormalise(originals, backbone.mean, backbone.std)
    images = output_dir / "images"
    for name, picture in zip(names, truth):
        save_image(picture, images / f"{safe_name(name)}_original.png")
    results = []
    for group in groups:
        with torch.no_grad():
            phi = group.extractor(image[group.rows])[group.tag]
            phi0 = group.extractor(originals)[group.tag]
        errors = normalized_error(phi, phi0)
        rows = shown[group.rows]
        for i, name in enumerate(names):
            png = save_image(rows[i], images / f"{safe_name(name)}_{safe_name(group.tag)}.png")
            results.append(
                {
                    "image": name,
                    "layer": group.tag,
                    "normalized_error": float(errors[i]),
                    "psnr": float(psnr(rows[i : i + 1], truth[i : i + 1])[0]),
                    "ssim": float(ssim(rows[i : i + 1], truth[i : i + 1])[0]),
                    "png": str(png.relative_to(output_dir)),
                }
            )
    require_finite_results(results, FROM_STEPS, unbounded=("psnr",))  # an exact reconstruction: PSNR +Inf
    metrics = {"objective": "inversion", "backbone": backbone.arch, "results": results}
    write_json(metrics, output_dir / "metrics.json")
    return Result(metrics, output_dir, {"images": image, "originals": originals})

"""Inverting a layer's representation back to an image (Mahendran & Vedaldi)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from src.backbones import Backbone
from src.backbones.probe import probe
from src.experiments.setup import as_list, configured_backbone, positive
from src.experiments.visualise import initial_image, optimise
from src.metrics.image import psnr, ssim
from src.modules.visualisation import Group
from src.objectives.inversion import feature_match, normalized_error
from src.outputs import denormalise, safe_name, save_image, write_json
from src.priors import Prior
from src.priors.transforms import Jitter


def jitter_pixels(setting: int | str, stride: int) -> int:
    """The paper's jitter, max(round(stride / 4), 1) pixels, unless a number is configured."""
    return max(round(stride / 4), 1) if setting == "auto" else int(setting)


def inversion_groups(
    cfg: DictConfig, backbone: Backbone, originals: torch.Tensor, layers: list[str], prior: Prior
) -> list[Group]:
    """One group per layer, each reconstructing every original from that layer's features."""
    groups, n = [], len(originals)
    for index, layer in enumerate(layers):
        extractor = backbone.extractor([layer])
        with torch.no_grad():
            phi0 = extractor(originals)[layer]
        stride = probe(extractor.net, extractor.paths, cfg.image_size, backbone.channels)[0].stride
        objective = prior.add_to(feature_match(layer, phi0, weight=cfg.objective.feature_weight))
        transforms = [*prior.transforms, Jitter(jitter_pixels(cfg.objective.jitter, stride))]
        groups.append(Group(layer, slice(index * n, (index + 1) * n), extractor, objective, transforms))
    return groups


def run(cfg: DictConfig, output_dir: Path) -> dict:
    """Reconstruct every dataset image from every configured layer; write images and metrics."""
    positive(cfg, "steps", "image_size")
    layers = as_list(cfg.layer)
    L.seed_everything(cfg.seed, verbose=False)
    backbone = configured_backbone(cfg)
    data = instantiate(cfg.dataset, image_size=cfg.image_size, mean=backbone.mean, std=backbone.std)
    originals = torch.stack([data[i]["image"] for i in range(len(data))])
    prior: Prior = instantiate(cfg.prior)
    groups = inversion_groups(cfg, backbone, originals, layers, prior)
    tiled = originals.repeat(len(layers), 1, 1, 1)
    init = initial_image(cfg.objective.init, tiled.shape, cfg.objective.init_scale, tiled)
    captions = [f"{layer}/{name}" for layer in layers for name in data.names]
    module = optimise(cfg, backbone, init, groups, prior, captions, output_dir)
    return write_results(backbone, module, groups, originals, data.names, output_dir)


def write_results(backbone: Backbone, module, groups: list[Group], originals: torch.Tensor, names: list[str], output_dir: Path) -> dict:
    """PNGs of the originals and reconstructions, and metrics.json with the paper's error, PSNR, SSIM."""
    image, _ = module.evaluate()
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
    metrics = {"objective": "inversion", "backbone": backbone.arch, "results": results}
    write_json(metrics, output_dir / "metrics.json")
    return metrics

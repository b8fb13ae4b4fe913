"""Inverting a layer's representation back to an image (Mahendran & Vedaldi)."""

from __future__ import annotations

import math
from functools import partial

import torch
from omegaconf import DictConfig

from convis.backbones import Backbone
from convis.backbones.probe import probe
from convis.checks import as_list, positive_number
from convis.data.images import denormalise
from convis.experiments.synthesis import Plan, Synthesis
from convis.experiments.visualise import Recipe, initial_image
from convis.experiments.writer import Pictures
from convis.metrics.image import psnr, ssim
from convis.modules.visualisation import Group
from convis.objectives.inversion import feature_match, normalized_error
from convis.priors import Prior
from convis.priors.transforms import Crop, Jitter, pad_canvas
from convis.runtime.errors import ConvisError
from convis.runtime.finite import FROM_INPUTS, require_finite
from convis.runtime.writers import safe_name


def jitter_pixels(setting: int | str, stride: int) -> int:
    """The paper's jitter, max(round(stride / 4), 1) pixels (MATLAB's round: halves away from 0), unless configured."""
    return max(math.floor(stride / 4 + 0.5), 1) if setting == "auto" else int(setting)


def inversion_groups(
    cfg: DictConfig, backbone: Backbone, originals: torch.Tensor, layers: list[str], prior: Prior, crop: bool
) -> tuple[list[Group], int]:
    """One group per layer, each reconstructing every original from that layer's features; and the canvas margin.

    With `crop` (optimizer.jitter=crop, the authors') the image lives on a canvas J_max - 1 pixels larger, and each
    layer's network sees a random H x W window of its own (H + J - 1) x (W + J - 1) part; otherwise (roll: a random
    circular shift of up to J pixels) there is no canvas.
    """
    n = len(originals)
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


class Inversion(Synthesis):
    """Reconstruct every image from every configured layer (`layer`: a name or a list)."""

    rules = (*Synthesis.rules, positive_number("objective.feature_weight", "100"))

    def layers(self) -> list[object]:
        return as_list(self.cfg.layer)

    def check(self) -> None:
        super().check()
        recipe = self.recipe
        if recipe.optimiser.jitter == "crop" and not recipe.param.canvas:
            raise ConvisError(
                f"optimizer.jitter=crop moves a window over a canvas, which param={recipe.param.name} has not: "
                "use param=pixel, or optimizer.jitter=roll"
            )

    def plan(self, backbone: Backbone, recipe: Recipe) -> Plan:
        cfg, prior, optimiser = self.cfg, recipe.prior, recipe.optimiser
        layers = as_list(cfg.layer)
        data = self.data(backbone)
        originals = torch.stack([data[i]["image"] for i in range(len(data))])
        groups, margin = inversion_groups(cfg, backbone, originals, layers, prior, optimiser.jitter == "crop")
        tiled = pad_canvas(originals.repeat(len(layers), 1, 1, 1), margin)  # the original at the canvas's centre
        init = initial_image(cfg.objective.init, tiled.shape, cfg.objective.init_scale, tiled, optimiser.noise)
        names = [f"{layer}/{name}" for layer in layers for name in data.names]
        stems = [f"{safe_name(name)}_{safe_name(layer)}" for layer in layers for name in data.names]
        truth = dict(zip((f"{safe_name(name)}_original" for name in data.names), originals))
        measure = partial(measure_inversion, backbone, groups, originals, data.names)
        return Plan(groups, Pictures(names, stems, truth), measure, init, margin, unbounded=("psnr",))


@torch.no_grad()
def measure_inversion(
    backbone: Backbone, groups: list[Group], originals: torch.Tensor, names: list[str], image: torch.Tensor
) -> list[dict]:
    """Each reconstruction's normalised feature error (the paper's), PSNR and SSIM against its original."""
    shown = denormalise(image, backbone.mean, backbone.std)
    truth = denormalise(originals.to(image.device), backbone.mean, backbone.std)
    results = []
    for group in groups:
        phi = group.extractor(image[group.rows])[group.tag]
        phi0 = group.extractor(originals.to(image.device))[group.tag]
        errors = normalized_error(phi, phi0)
        rows = shown[group.rows]
        for i, name in enumerate(names):
            results.append(
                {
                    "image": name,
                    "layer": group.tag,
                    "normalized_error": float(errors[i]),
                    "psnr": float(psnr(rows[i : i + 1], truth[i : i + 1])[0]),
                    "ssim": float(ssim(rows[i : i + 1], truth[i : i + 1])[0]),
                }
            )
    return results

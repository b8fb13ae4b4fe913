"""Semantic dictionaries (Olah et al. 2018, "The building blocks of interpretability").

A layer's activations on a picture, one C-vector per position, are factorised by non-negative matrix
factorisation: A [positions, C] ~ W [positions, K] @ H [K, C]. Column k of W is where factor k is in the
picture (its spatial map); row k of H is its direction in the layer's activation space, visualised by the
image whose activation vectors align with it (objective=direction's cosine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from sklearn.decomposition import NMF
from torch.nn import functional as F

from convis.attribution.overlay import heatmap_overlay
from convis.backbones import Backbone
from convis.checks import positive
from convis.data.images import denormalise
from convis.experiments.direction import cossim_power
from convis.experiments.synthesis import Plan, Synthesis
from convis.experiments.visualise import Recipe
from convis.experiments.writer import Pictures
from convis.modules.visualisation import Group
from convis.objectives.directions import direction
from convis.runtime.errors import ConvisError
from convis.runtime.writers import safe_name


@dataclass
class Factors:
    """One picture's factorisation: maps W [K, h, w], directions H [K, C], and ||A - W H|| / ||A||."""

    maps: torch.Tensor
    directions: torch.Tensor
    error: float


def factorise(activation: torch.Tensor, k: int, seed: int, max_iter: int) -> Factors:
    """NMF of one picture's [C, h, w] (or [C]) non-negative activation into `k` factors (scikit-learn's NMF)."""
    channels = activation.shape[0]
    grid = activation.shape[1:] or (1, 1)
    a = activation.reshape(channels, -1).T.double().numpy()  # [positions, C]
    model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=max_iter)
    w = model.fit_transform(a)
    h = model.components_
    error = float(((a - w @ h) ** 2).sum() ** 0.5 / max((a**2).sum() ** 0.5, 1e-12))
    return Factors(torch.from_numpy(w.T.copy()).float().view(k, *grid), torch.from_numpy(h).float(), error)


def non_negative(activation: torch.Tensor, layer: str) -> torch.Tensor:
    """`activation` if it has no negative value: NMF factorises non-negative matrices only."""
    low = float(activation.min())
    if low < 0:
        raise ConvisError(
            f"objective=nmf needs non-negative activations and {layer} has values down to {low:.3g}: "
            "choose a layer after a ReLU (python scripts/layers.py lists them)"
        )
    return activation


def checked_factors(k: int, layer: str, shape: tuple[int, ...], image_size: int) -> int:
    """`k` if NMF (nndsvda init) can find that many factors of `layer`'s [C, h, w] (or [C]) activation.

    It finds at most min(channels, positions): more is refused before the pictures are read.
    """
    positions = math.prod(shape[1:])
    limit = min(shape[0], positions)
    if k > limit:
        grid = " x ".join(map(str, shape[1:])) or "1"
        raise ConvisError(
            f"objective.factors={k} is more than {layer} allows: NMF of its {shape[0]} channels at {grid} = "
            f"{positions} positions (image_size={image_size}) finds at most {limit} factors; "
            f"use objective.factors={limit} or fewer"
        )
    return k


class Nmf(Synthesis):
    """Each picture's K factors of `layer`'s activations, each as a map over the picture and a visualised direction."""

    def layers(self) -> list[object]:
        return [self.cfg.layer]

    def check(self) -> None:
        super().check()
        positive(self.cfg, "objective.factors", "objective.max_iter")
        cossim_power(self.cfg)

    def plan(self, backbone: Backbone, recipe: Recipe) -> Plan:
        prior = recipe.prior
        cfg, layer = self.cfg, self.cfg.layer
        extractor = backbone.extractor([layer])
        with torch.no_grad():
            shape = extractor(torch.zeros(1, backbone.channels, cfg.image_size, cfg.image_size))[layer].shape[1:]
        k = checked_factors(int(cfg.objective.factors), layer, tuple(shape), cfg.image_size)
        data = self.data(backbone)
        pictures = torch.stack([data[i]["image"] for i in range(len(data))])
        with torch.no_grad():
            activations = non_negative(extractor(pictures)[layer], layer)
        found = [factorise(a, k, cfg.seed, int(cfg.objective.max_iter)) for a in activations]
        entries, maps = factor_maps(backbone, pictures, found, data.names)
        vectors = torch.cat([f.directions for f in found])
        objective = direction(layer, vectors, cfg.objective.cossim_pow)
        group = Group(layer, slice(0, len(vectors)), extractor, prior.add_to(objective), prior.transforms)
        cosine = direction(layer, vectors)

        @torch.no_grad()
        def measure(image: torch.Tensor) -> list[dict]:
            values = -cosine(extractor(image))
            return [{**entry, "cosine": float(value)} for entry, value in zip(entries, values)]

        names = [f"{safe_name(e['image'])}_factor{e['factor']}" for e in entries]
        return Plan([group], Pictures(names, extras=maps), measure)


def factor_maps(
    backbone: Backbone, pictures: torch.Tensor, found: list[Factors], names: list[str]
) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """One entry per factor of each picture and, by file stem, each factor's map, upsampled, over its picture
    (written as images/<picture>_factor<k>_map.png)."""
    entries, maps = [], {}
    for picture, factors, name in zip(denormalise(pictures, backbone.mean, backbone.std), found, names):
        upsampled = F.interpolate(factors.maps.unsqueeze(1), size=picture.shape[-2:], mode="bilinear")[:, 0]
        for index, spatial in enumerate(upsampled):
            stem = f"{safe_name(name)}_factor{index}_map"
            maps[stem] = heatmap_overlay(picture, spatial)
            share = float(factors.maps[index].sum() * factors.directions[index].norm())  # activation it carries
            entries.append(
                {
                    "image": name,
                    "factor": index,
                    "map_png": f"images/{stem}.png",
                    "strength": share,
                    "reconstruction_error": factors.error,
                }
            )
    return entries, maps

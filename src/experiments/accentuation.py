"""Feature accentuation (Hamblin et al. 2024): what in THIS picture drives a feature.

The Fourier image starts at a real picture (its spectrum) and is optimised to raise a feature (a class
score, a channel, a layer) while a penalty keeps it near the picture:
loss = -feature(x) + penalty * mean((x - x0)^2), x0 the picture in the network's normalised input space.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from convis.backbones import Backbone
from convis.backbones.names import LOGITS
from convis.checks import Rule, as_list, number
from convis.experiments.synthesis import Plan, Synthesis
from convis.experiments.visualise import Recipe
from convis.experiments.writer import Pictures
from convis.modules.visualisation import Group
from convis.objectives import INPUT, Objective
from convis.objectives.activation import activation
from convis.objectives.base import term
from convis.objectives.classes import class_score
from convis.runtime.errors import ConvisError
from convis.runtime.writers import safe_name
from convis.targets import resolve_targets


def distance(seed: torch.Tensor) -> Objective:
    """Mean squared difference of each image from its seed picture (the same rows of `seed`)."""
    return term("distance", lambda acts: (acts[INPUT] - seed.to(acts[INPUT])).flatten(1).square().mean(1))


def feature(cfg: DictConfig, backbone: Backbone, count: int) -> tuple[str, Objective, list[str]]:
    """The feature raised in each of `count` pictures: its name, its term (a loss), and the layers it reads."""
    if cfg.target is not None:
        targets = as_list(cfg.target)
        if len(targets) != 1:
            raise ConvisError(f"objective=accentuation raises one class per picture: give one target, not {targets}")
        (index,) = resolve_targets(targets, backbone.categories)
        return backbone.categories[index], class_score([index] * count, cfg.objective.score), [LOGITS]
    layer = cfg.layer
    if not isinstance(layer, str):
        raise ConvisError(f"objective=accentuation raises one feature: give one layer, not {layer}")
    extractor = backbone.extractor([layer])
    with torch.no_grad():
        shape = tuple(extractor(torch.zeros(1, backbone.channels, cfg.image_size, cfg.image_size))[layer].shape[1:])
    maximised = activation(layer, shape, cfg.objective.channel)
    return maximised.terms[0][1].name, maximised, [layer]


class Accentuation(Synthesis):
    """Each picture of the dataset, accentuated for `target` (a class) or for `layer` / objective.channel."""

    @property
    def targeted(self) -> bool:  # reads `target` only when one is given
        return self.cfg.get("target") is not None

    def layers(self) -> list[object]:
        return [LOGITS] if self.targeted else as_list(self.cfg.layer)

    def check(self) -> None:
        super().check()
        Rule("objective.penalty", lambda v: number(v) and v >= 0, "a number, 0 or more", "1.0").check(
            "objective.penalty", self.cfg.objective.get("penalty")
        )

    def plan(self, backbone: Backbone, recipe: Recipe) -> Plan:
        cfg, prior = self.cfg, recipe.prior
        data = self.data(backbone)
        originals = torch.stack([data[i]["image"] for i in range(len(data))])
        name, raised, layers = feature(cfg, backbone, len(originals))
        objective = prior.add_to(raised + cfg.objective.penalty * distance(originals))
        group = Group(name, slice(0, len(originals)), backbone.extractor(layers), objective, prior.transforms)

        @torch.no_grad()
        def measure(image: torch.Tensor) -> list[dict]:
            before = -raised(group.extractor(originals.to(image.device)))
            after = -raised(group.extractor(image))
            moved = distance(originals)({INPUT: image})
            return [
                {"image": picture, "feature": name, "before": float(b), "after": float(a), "distance": float(d)}
                for picture, b, a, d in zip(data.names, before, after, moved)
            ]

        names = [f"{picture}_{name}" for picture in data.names]
        stems = [f"{safe_name(picture)}_{safe_name(name)}" for picture in data.names]
        truth = dict(zip((f"{safe_name(picture)}_original" for picture in data.names), originals))
        return Plan([group], Pictures(names, stems, truth), measure, originals)

"""Simonyan et al.'s class model: the image that maximises a class score, one per target."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from convis.backbones import Backbone
from convis.backbones.names import LOGITS
from convis.checks import as_list
from convis.experiments.synthesis import Plan, Synthesis
from convis.experiments.visualise import Recipe
from convis.experiments.writer import Pictures
from convis.modules.visualisation import Group
from convis.objectives.classes import class_score
from convis.priors import Prior
from convis.runtime.errors import ConvisError
from convis.targets import resolve_targets


def class_plan(cfg: DictConfig, backbone: Backbone, prior: Prior) -> Plan:
    """One image per target, all in one group: image i maximises the score of targets[i]."""
    indices = resolve_targets(as_list(cfg.target), backbone.categories)
    if not indices:
        raise ConvisError("objective=class_score needs a class: target=tabby, target=281 or target=[tabby,goldfish]")
    names = [backbone.categories[i] for i in indices]
    if len(set(indices)) < len(indices):
        raise ConvisError(f"target lists a class twice ({', '.join(names)}): give each class once")
    objective = prior.add_to(class_score(indices, cfg.objective.score))
    group = Group("class_score", slice(0, len(indices)), backbone.extractor([LOGITS]), objective, prior.transforms)

    @torch.no_grad()
    def measure(image: torch.Tensor) -> list[dict]:
        logits = group.extractor(image)[LOGITS]
        probs, top = logits.softmax(1), logits.argmax(1)
        return [
            {
                "target": name,
                "target_index": index,
                "target_logit": float(logits[row, index]),
                "target_prob": float(probs[row, index]),
                "top_class": backbone.categories[int(top[row])],
            }
            for row, (name, index) in enumerate(zip(names, indices))
        ]

    return Plan([group], Pictures(names), measure)


class ClassScore(Synthesis):
    """One image per class in `target`, optimised together."""

    targeted = True

    def batch(self) -> int:
        return max(len(as_list(self.cfg.target)), 1)  # one image per class, optimised together

    def plan(self, backbone: Backbone, recipe: Recipe) -> Plan:
        return class_plan(self.cfg, backbone, recipe.prior)

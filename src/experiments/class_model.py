"""Simonyan et al.'s class model: the image that maximises a class score, one per target."""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig

from convis.backbones import Backbone
from convis.backbones.names import LOGITS
from convis.checks import as_list
from convis.experiments.synthesis import Plan, Synthesis
from convis.experiments.visualise import Recipe
from convis.experiments.writer import Pictures, weights_of
from convis.modules.visualisation import Group
from convis.objectives.classes import class_score
from convis.priors import Prior
from convis.reporting.runs import RANDOM_INIT
from convis.runtime.errors import ConvisError
from convis.targets import resolve_targets

log = logging.getLogger(__name__)


def warn_unreached(results: list[dict], classes: int, steps: int, weights: str) -> None:
    """One warning line naming each target that is not the network's top class on its final image, and why."""
    missed = [r for r in results if not r["reached"]]
    if not missed:
        return
    named = "; ".join(
        f"{r['target']} (rank {r['target_rank']} of {classes}, p={r['target_prob']:.3g}, top class {r['top_class']})"
        for r in missed
    )
    random = "random weights (backbone.weights=null) or " if weights == RANDOM_INIT else ""
    log.warning(
        "class_score: %d of %d target(s) not reached, another class is the network's top one on the final image: "
        "%s; %stoo few steps (steps=%d) can do that",
        len(missed),
        len(results),
        named,
        random,
        steps,
    )


def class_plan(cfg: DictConfig, backbone: Backbone, prior: Prior, weights: str) -> Plan:
    """One image per target, all in one group: image i maximises the score of targets[i].

    Each result says whether its target is the top class on the final image (`reached`) and its rank there
    (1 is the top; a tie ranks the target below); `weights` (the run's, as metrics.json records them) explains
    a miss in the warning.
    """
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
        results = []
        for row, (name, index) in enumerate(zip(names, indices)):
            rank = int((logits[row] >= logits[row, index]).sum())  # a class tied with the target ranks above it
            results.append(
                {
                    "target": name,
                    "target_index": index,
                    "target_logit": float(logits[row, index]),
                    "target_prob": float(probs[row, index]),
                    "top_class": backbone.categories[int(top[row])],
                    "target_rank": rank,
                    "reached": rank == 1,
                }
            )
        warn_unreached(results, logits.shape[1], cfg.steps, weights)
        return results

    return Plan([group], Pictures(names), measure)


class ClassScore(Synthesis):
    """One image per class in `target`, optimised together."""

    targeted = True

    def batch(self) -> int:
        return max(len(as_list(self.cfg.target)), 1)  # one image per class, optimised together

    def plan(self, backbone: Backbone, recipe: Recipe) -> Plan:
        return class_plan(self.cfg, backbone, recipe.prior, weights_of(self.cfg, self.given_model))

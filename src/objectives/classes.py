"""Simonyan et al.'s class model objective: the score of a chosen class, one class per image."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from convis.backbones.names import LOGITS
from convis.objectives.base import Objective, term
from convis.runtime.errors import ConvisError

SCORES = ("logit", "softmax")


def class_score(targets: Sequence[int], score: str = "logit") -> Objective:
    """-S_c per image, image i scoring class targets[i] (lower is better).

    `logit` is the paper's unnormalised score. `softmax` is the log-probability, the worse
    alternative the paper reports: it can rise by lowering the other classes instead of
    making the image look more like class c.
    """
    if score not in SCORES:
        raise ConvisError(f"unknown objective.score={score!r}: choose logit (the paper's S_c) or softmax")
    index = torch.tensor(list(targets)).view(-1, 1)

    def fn(acts) -> torch.Tensor:
        logits = acts[LOGITS]
        scores = logits if score == "logit" else logits.log_softmax(1)
        return -scores.gather(1, index.to(logits.device)).squeeze(1)

    return term(f"class_{score}", fn, (LOGITS,))

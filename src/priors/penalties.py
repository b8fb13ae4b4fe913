"""Penalty terms on the image (in the network's normalised input space), one value per image.

Each checks its weight as it is made: a penalty of weight 0 or less would reward what it is meant to prevent.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from convis.checks import positive_number
from convis.objectives import INPUT, Objective, term
from convis.objectives.base import Activations

WEIGHT = positive_number("weight", "1.0")


def weighted(weight: float, name: str, fn: Callable[[Activations], torch.Tensor]) -> Objective:
    """The term `name` of `fn` times `weight`, which must be a positive number."""
    WEIGHT.check(WEIGHT.pattern, weight)
    return weight * term(name, fn)


def alpha_norm(alpha: float = 6.0, bound: float = 1.39, weight: float = 1.0) -> Objective:
    """Mahendran & Vedaldi's R_alpha: the mean over pixels of (||x(v)|| / B)^alpha."""

    def fn(acts) -> torch.Tensor:
        return (acts[INPUT].norm(dim=1) / bound).pow(alpha).flatten(1).mean(1)

    return weighted(weight, "alpha_norm", fn)


def total_variation(beta: float = 2.0, scale: float = 0.214, weight: float = 1.0) -> Objective:
    """Mahendran & Vedaldi's R_TV^beta as their code computes it (nnpreimage's tv.m).

    The mean over all H x W pixels of the sum over channels of ((dx^2 + dy^2) / V^2)^(beta/2), with the
    differences to the right and downwards, and 0 past the last column and row (the edge repeated).
    """

    def fn(acts) -> torch.Tensor:
        x = acts[INPUT]
        dx = torch.nn.functional.pad(x[..., :, 1:] - x[..., :, :-1], [0, 1])
        dy = torch.nn.functional.pad(x[..., 1:, :] - x[..., :-1, :], [0, 0, 0, 1])
        squared = (dx.square() + dy.square()) / scale**2
        return (squared + 1e-12).pow(beta / 2).sum(1).flatten(1).mean(1)

    return weighted(weight, "tv", fn)


def l2(weight: float = 1.0) -> Objective:
    """Simonyan et al.'s ||I||_2^2: the sum of squared pixel values of each image."""
    return weighted(weight, "l2", lambda acts: acts[INPUT].square().flatten(1).sum(1))

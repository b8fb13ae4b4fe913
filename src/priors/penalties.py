"""Penalty terms on the image (in the network's normalised input space), one value per image."""

from __future__ import annotations

import torch

from convis.objectives import INPUT, Objective, term


def alpha_norm(alpha: float = 6.0, bound: float = 1.39, weight: float = 1.0) -> Objective:
    """Mahendran & Vedaldi's R_alpha: the mean over pixels of (||x(v)|| / B)^alpha."""

    def fn(acts) -> torch.Tensor:
        return (acts[INPUT].norm(dim=1) / bound).pow(alpha).flatten(1).mean(1)

    return weight * term("alpha_norm", fn)


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

    return weight * term("tv", fn)


def l2(weight: float = 1.0) -> Objective:
    """Simonyan et al.'s ||I||_2^2: the sum of squared pixel values of each image."""
    return weight * term("l2", lambda acts: acts[INPUT].square().flatten(1).sum(1))

"""Mahendran & Vedaldi's representation-inversion loss."""

from __future__ import annotations

import torch

from convis.objectives.base import Objective, term


def normalized_error(phi: torch.Tensor, phi0: torch.Tensor) -> torch.Tensor:
    """||Phi(x) - Phi0||^2 / ||Phi0||^2 per image: the paper's reconstruction error."""
    return (phi - phi0).flatten(1).square().sum(1) / phi0.flatten(1).square().sum(1).clamp_min(1e-12)


def feature_match(layer: str, target: torch.Tensor, weight: float = 1.0) -> Objective:
    """C times the normalised error between the activations at `layer` and `target` (Phi0)."""
    target = target.detach()
    return weight * term("feature", lambda acts: normalized_error(acts[layer], target.to(acts[layer].device)), (layer,))

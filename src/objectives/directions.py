"""Directions in a layer's activation space (Olah et al. 2017, 2018): a class's mean activation, an NMF factor.

Each position's activation vector a (its channels) is compared with the direction v. Without a power,
the term is Lucid's `direction_cossim`: minus the mean over positions of cos(a, v). With `cossim_pow` p,
it is Lucid's `_dot_cossim`: minus the mean of (a . v) * max(cos(a, v), 0.1)^p (p = 0: the dot product),
which rewards size as well as angle.
"""

from __future__ import annotations

import torch

from convis.objectives.base import Objective, term

EPS = 1e-4  # Lucid's, added to both norms
FLOOR = 0.1  # Lucid's floor on the cosine before the power


def positions(activation: torch.Tensor) -> torch.Tensor:
    """[B, positions, C]: each position's channel vector ([B, C] is one position)."""
    return activation.flatten(2).transpose(1, 2) if activation.dim() > 2 else activation.unsqueeze(1)


def direction(layer: str, vector: torch.Tensor, cossim_pow: float | None = None) -> Objective:
    """The term maximising the alignment of `layer`'s activation vectors with `vector`: [C], one value per
    channel, or [B, C], each image its own direction."""
    v = vector.detach().float().view(-1, vector.shape[-1])  # [1 or B, C]

    def fn(acts) -> torch.Tensor:
        a = positions(acts[layer])
        w = v.to(a).unsqueeze(1)  # [1 or B, 1, C]
        dot = (a * w).sum(-1)
        cos = dot / (a.norm(dim=-1) + EPS) / (w.norm(dim=-1) + EPS)
        value = cos if cossim_pow is None else dot * cos.clamp_min(FLOOR) ** cossim_pow
        return -value.mean(1)

    return term(f"{layer}:direction", fn, (layer,))

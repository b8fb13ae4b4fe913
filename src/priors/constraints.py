"""Constraints applied to the pixels in place after every optimisation step."""

from __future__ import annotations

import torch


class PixelNormBound:
    """Scale down every pixel whose RGB norm exceeds `bound` (Mahendran & Vedaldi's B+)."""

    def __init__(self, bound: float) -> None:
        if bound <= 0:
            raise ValueError(f"pixel norm bound must be positive, got {bound}")
        self.bound = bound

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, step: int = 0) -> None:
        norms = image.norm(dim=1, keepdim=True)
        image.mul_((self.bound / norms.clamp_min(1e-12)).clamp(max=1.0))

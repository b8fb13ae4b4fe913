"""Yosinski et al.'s (2015) regularisers: in-place operations on the pixels after each ascent step.

They follow the deep-visualization-toolbox's optimiser: decay, then a blur every few steps,
then zeroing the pixels of small norm or of small contribution |sum over RGB of x * grad|.
Each is a constraint called as `constraint(image, step)` with the index of the step just taken.
"""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F


def _percentile_mask(values: torch.Tensor, percentile: float) -> torch.Tensor:
    """Per image of a [N, H, W] batch: True where the value is below that image's `percentile`."""
    flat = values.flatten(1)
    threshold = torch.quantile(flat, percentile / 100, dim=1, keepdim=True)
    return (flat < threshold).view_as(values)


def _checked_percentile(percentile: float) -> float:
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be within 0-100, got {percentile}")
    return float(percentile)


class Decay:
    """x *= (1 - rate): an L2 decay towards the mean image (0 in the normalised space)."""

    def __init__(self, rate: float = 1e-4) -> None:
        self.rate = float(rate)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, step: int = 0) -> None:
        image.mul_(1 - self.rate)


class PeriodicBlur:
    """A Gaussian blur of standard deviation `sigma` pixels on the steps whose index is a multiple of `every`.

    The kernel spans 4 sigma each side, as scipy's gaussian_filter (the toolbox's blur) does.
    """

    def __init__(self, sigma: float = 1.0, every: int = 4) -> None:
        if sigma <= 0 or every <= 0:
            raise ValueError(f"blur needs sigma > 0 and every > 0, got sigma={sigma}, every={every}")
        self.sigma, self.every = float(sigma), int(every)
        self.kernel = 2 * int(4 * self.sigma + 0.5) + 1

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, step: int = 0) -> None:
        if step % self.every == 0:
            image.copy_(F.gaussian_blur(image, [self.kernel] * 2, [self.sigma] * 2))


class NormPercentileClip:
    """Zero the pixels whose RGB norm is below the `percentile`-th percentile of the image (0 = off)."""

    def __init__(self, percentile: float) -> None:
        self.percentile = _checked_percentile(percentile)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, step: int = 0) -> None:
        if self.percentile > 0:
            image.mul_(~_percentile_mask(image.norm(dim=1), self.percentile).unsqueeze(1))


class ContributionPercentileClip:
    """Zero the pixels whose |sum over RGB of x * grad| is below the `percentile`-th percentile (0 = off).

    x * grad estimates how much the objective would change if the pixel were set to 0; the
    gradient is the one of the step just taken, read from the parameter's `.grad`.
    """

    def __init__(self, percentile: float) -> None:
        self.percentile = _checked_percentile(percentile)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, step: int = 0) -> None:
        if self.percentile <= 0:
            return
        if image.grad is None:
            raise ValueError("ContributionPercentileClip needs the image's gradient: apply it to a pixel parameter")
        contribution = (image * image.grad).sum(1).abs()
        image.mul_(~_percentile_mask(contribution, self.percentile).unsqueeze(1))

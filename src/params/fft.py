"""Lucid's Fourier parameterisation: a 1/frequency-scaled spectrum, decorrelated colour, a sigmoid.

Gradient steps on the spectrum change every scale of detail at the same pace, so an image
optimised this way is far less dominated by high-frequency noise than one optimised pixel
by pixel (Olah et al. 2017). The rendered image is returned in the network's normalised
input space, like PixelImage's, and always de-normalises into [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from convis.checks import number
from convis.priors.prior import Constraint
from convis.runtime.errors import ConvisError

# Lucid's square root of ImageNet's colour correlation; columns scaled so the largest norm is 1.
COLOUR_CORRELATION = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
DECORRELATE = COLOUR_CORRELATION / COLOUR_CORRELATION.norm(dim=0).max()

# Lucid divides the rendered spectrum by 4; with it, Adam at lr 0.05 moves the image at Lucid's pace.
GAIN = 0.25

EDGE = 1e-4  # starting pixels are kept this far inside (0, 1), where the sigmoid can be inverted


def spectrum_scale(height: int, width: int, decay_power: float = 1.0) -> torch.Tensor:
    """1 / max(f, 1 / max(height, width))^decay_power for each frequency f of torch.fft.rfft2's layout."""
    fy = torch.fft.fftfreq(height).view(-1, 1)
    fx = torch.fft.rfftfreq(width).view(1, -1)
    frequency = (fy.square() + fx.square()).sqrt()
    return frequency.clamp_min(1.0 / max(height, width)).pow(-decay_power)


class FourierImage(nn.Module):
    """A batch of images whose parameter is a scaled spectrum: sigmoid(colour @ irfft2(scale * spectrum)).

    It starts at `init` (a normalised image, clipped to the valid range); `mean` and `std` are
    the backbone's, used to return the [0, 1] image in the network's normalised space.
    """

    def __init__(
        self,
        init: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        decay_power: float = 1.0,
        decorrelate: bool = True,
    ) -> None:
        super().__init__()
        height, width = init.shape[-2:]
        self.size = (height, width)
        self.register_buffer("scale", spectrum_scale(height, width, decay_power))
        self.register_buffer("colour", DECORRELATE.clone() if decorrelate else torch.eye(3))
        self.register_buffer("mean", torch.tensor(mean, dtype=init.dtype).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=init.dtype).view(1, -1, 1, 1))
        self.spectrum = nn.Parameter(torch.view_as_real(self._spectrum_of(init.detach())).clone())

    def _spectrum_of(self, image: torch.Tensor) -> torch.Tensor:
        """The spectrum that renders `image` (the inverse of forward, inside the valid range)."""
        pixels = (image * self.std + self.mean).clamp(EDGE, 1 - EDGE)
        mixed = torch.logit(pixels)
        signal = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.colour), mixed) / GAIN
        return torch.fft.rfft2(signal, norm="ortho") / self.scale

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        signal = torch.fft.irfft2(spectrum, s=self.size, norm="ortho") * GAIN
        pixels = torch.sigmoid(torch.einsum("ij,bjhw->bihw", self.colour, signal))
        return (pixels - self.mean) / self.std

    def constrain(self, constraints: Sequence[Constraint], step: int = 0) -> None:
        """Pixel constraints cannot act on a spectrum: refuse them instead of silently skipping them."""
        if constraints:
            names = ", ".join(type(c).__name__ for c in constraints)
            raise ConvisError(
                f"param=fft cannot apply the prior's pixel constraints ({names}): "
                "use param=pixel with this prior, or prior=olah (made for param=fft)"
            )


@dataclass(frozen=True)
class Fourier:
    """param=fft: Lucid's Fourier image; `Fourier(...)(init, mean, std)` builds it."""

    decay_power: float = 1.0
    decorrelate: bool = True
    name: ClassVar[str] = "fft"
    pixels: ClassVar[bool] = False
    canvas: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not (number(self.decay_power) and self.decay_power >= 0):
            raise ConvisError(f"param.decay_power={self.decay_power!r} must be a number, 0 or more, e.g. 1.0")
        if not isinstance(self.decorrelate, bool):
            raise ConvisError(f"param.decorrelate={self.decorrelate!r} must be true or false")

    def __call__(self, init: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> FourierImage:
        return FourierImage(init, mean, std, self.decay_power, self.decorrelate)

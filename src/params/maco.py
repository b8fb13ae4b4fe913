"""MACO (Fel et al., NeurIPS 2023): only the phase of the image's spectrum is optimised.

The magnitude is fixed to a natural-image magnitude spectrum, so the image keeps the energy per
frequency of a photograph however deep the feature it is optimised for. The image is
sigmoid(colour @ standardise(irfft2(magnitude * exp(i * standardise(phase))))), returned in the
network's normalised input space. `transparency` accumulates |dLoss/dImage| over the steps: where
the optimisation pushed, the authors' map of what mattered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from convis.checks import number
from convis.params.arrays import read_numbers
from convis.params.fft import DECORRELATE, spectrum_scale
from convis.priors.prior import Constraint
from convis.runtime.errors import ConvisError

# The average magnitude spectrum of scikit-image's colour photographs (scripts/maco_spectrum.py makes it).
NATURAL_SPECTRUM = Path(__file__).with_name("natural_spectrum.npy")
EPS = 1e-4


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Each image of the batch to zero mean and unit standard deviation (over its channels and positions)."""
    flat = x.flatten(1)
    shape = (-1, *[1] * (x.dim() - 1))
    return (x - flat.mean(1).view(shape)) / (flat.std(1).view(shape) + EPS)


SPECTRUM = "finite, non-negative magnitudes of shape [3, H, W // 2 + 1] or [H, W // 2 + 1] (torch.fft.rfft2's layout)"


def load_spectrum(path: str | Path) -> torch.Tensor:
    """A magnitude template from a .npy file: [3, H, W // 2 + 1] (or [H, W // 2 + 1], used for every colour).

    One whose only non-zero magnitude is at frequency 0 would render one flat colour, and is refused.
    """
    template = read_numbers(path, "param.spectrum", SPECTRUM)
    shape = tuple(template.shape)
    if template.dim() == 2:
        template = template.expand(3, *template.shape)
    if template.dim() != 3 or template.shape[0] != 3 or min(template.shape[1:]) < 2 or (template < 0).any():
        raise ConvisError(f"param.spectrum={path} holds an array of shape {shape}: give {SPECTRUM}")
    if not bool((template.flatten(1)[:, 1:] > 0).any()):
        raise ConvisError(
            f"param.spectrum={path} is zero at every frequency but 0, so the image would be one flat colour: "
            "give a natural image's magnitudes, or param.spectrum=null for convis's own"
        )
    return template.contiguous()


def resample(template: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The template at the frequencies of an height x width image's rfft2 (cycles per pixel), bilinearly.

    Frequency, not index, is matched, so a template made at one size serves every size; at its own size
    this is the identity.
    """
    rows, cols = template.shape[-2:]
    full = 2 * (cols - 1)  # the width of the images the template was made from
    fy = torch.fft.fftfreq(height, dtype=torch.float64)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)
    y = (fy * rows + rows // 2) / (rows - 1) * 2 - 1  # rows are fftshifted below: frequency 0 at rows // 2
    x = (fx * full) / (cols - 1) * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(x.view(1, -1), y.view(-1, 1)), -1).float()
    shifted = torch.fft.fftshift(template, dim=-2).unsqueeze(0)
    return F.grid_sample(shifted, grid.unsqueeze(0), mode="bilinear", padding_mode="border", align_corners=True)[0]


def magnitude(height: int, width: int, spectrum: str | Path | None, decay_power: float) -> torch.Tensor:
    """[3, height, width // 2 + 1]: `spectrum`'s file, else the shipped natural spectrum, else 1 / f^decay_power."""
    if spectrum is not None:
        return resample(load_spectrum(spectrum), height, width)
    if NATURAL_SPECTRUM.is_file():
        return resample(load_spectrum(NATURAL_SPECTRUM), height, width)
    return spectrum_scale(height, width, decay_power).expand(3, -1, -1).clone()


class MacoImage(nn.Module):
    """A batch of images whose only parameter is the phase of their spectrum; the magnitude is a fixed template.

    `init` gives the shape (MACO starts from a random phase of sd `phase_std`); `mean` and `std` are the
    backbone's. `spectrum`: a .npy magnitude template (the authors' ImageNet one, for instance); None takes
    the natural spectrum shipped with convis, or, where that file is missing, a 1 / f^`decay_power` power law.
    """

    def __init__(
        self,
        init: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        spectrum: str | None = None,
        decay_power: float = 1.0,
        phase_std: float = 1.0,
    ) -> None:
        super().__init__()
        batch, channels, height, width = init.shape
        if channels != 3:
            raise ConvisError(
                f"param=maco renders colour images and this network takes {channels} channels: use param=pixel"
            )
        self.size = (height, width)
        self.register_buffer("magnitude", magnitude(height, width, spectrum, decay_power).to(init.dtype))
        self.register_buffer("colour", DECORRELATE.clone().to(init.dtype))
        self.register_buffer("mean", torch.tensor(mean, dtype=init.dtype).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=init.dtype).view(1, -1, 1, 1))
        self.register_buffer("transparency", torch.zeros_like(init))
        self.phase = nn.Parameter(torch.randn(batch, *self.magnitude.shape, dtype=init.dtype) * phase_std)

    def signal(self) -> torch.Tensor:
        """The standardised image before colours and sigmoid: its spectrum's magnitude is the template's."""
        phase = standardise(self.phase)
        spectrum = torch.polar(self.magnitude.expand_as(phase), phase)
        return standardise(torch.fft.irfft2(spectrum, s=self.size))

    def forward(self) -> torch.Tensor:
        pixels = torch.sigmoid(torch.einsum("ij,bjhw->bihw", self.colour, self.signal()))
        image = (pixels - self.mean) / self.std
        if image.requires_grad:
            image.register_hook(self._accumulate)
        return image

    def _accumulate(self, grad: torch.Tensor) -> None:
        """Add |dLoss/dImage| (image in the network's input space) to the transparency map."""
        self.transparency += grad.detach().abs()

    def constrain(self, constraints: Sequence[Constraint], step: int = 0) -> None:
        """Pixel constraints cannot act on a phase: refuse them instead of silently skipping them."""
        if constraints:
            names = ", ".join(type(c).__name__ for c in constraints)
            raise ConvisError(
                f"param=maco cannot apply the prior's pixel constraints ({names}): "
                "use prior=maco, or param=pixel with this prior"
            )


@dataclass(frozen=True)
class Maco:
    """param=maco: Fel et al.'s phase-only image; `Maco(...)(init, mean, std)` builds it."""

    spectrum: str | None = None
    decay_power: float = 1.0
    phase_std: float = 1.0
    name: ClassVar[str] = "maco"
    pixels: ClassVar[bool] = False
    canvas: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.spectrum is not None:
            self.check_spectrum()
        if not (number(self.decay_power) and self.decay_power >= 0):
            raise ConvisError(f"param.decay_power={self.decay_power!r} must be a number, 0 or more, e.g. 1.0")
        if not (number(self.phase_std) and self.phase_std > 0):
            raise ConvisError(f"param.phase_std={self.phase_std!r} must be a positive number, e.g. 1.0")

    def check_spectrum(self) -> None:
        """The spectrum file exists and holds a usable template (read now: it is small), before any heavy work."""
        if not isinstance(self.spectrum, (str, Path)) or not Path(self.spectrum).expanduser().is_file():
            raise ConvisError(f"param.spectrum={self.spectrum} is not a file: give a .npy magnitude template or null")
        load_spectrum(self.spectrum)

    def __call__(self, init: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> MacoImage:
        return MacoImage(init, mean, std, self.spectrum, self.decay_power, self.phase_std)


def transparency_map(accumulated: torch.Tensor, top: float = 0.99) -> torch.Tensor:
    """[B, 1, H, W] in [0, 1]: each image's channel mean of `accumulated`, over its `top` quantile, clipped at 1.

    Horama's display: the rare strongest pixels saturate instead of darkening everything else.
    """
    mean = accumulated.mean(1, keepdim=True)
    scale = torch.quantile(mean.flatten(1), top, dim=1).view(-1, 1, 1, 1)
    return (mean / scale.clamp_min(1e-12)).clamp(0, 1)

"""Transforms applied to the image before the network, for robustness; active outside the final phase.

Each draws one random setting per call and applies it to the whole batch (as Lucid does).
Empty space is filled with 0, the mean image in the network's normalised input space.
A prior applies its transforms as one Chain, which brings the result back to the input's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(()).uniform_(low, high))


class Jitter:
    """Shift the image by a random offset of up to `pixels` in each direction (circularly)."""

    def __init__(self, pixels: int) -> None:
        self.pixels = int(pixels)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.pixels <= 0:
            return image
        dy, dx = torch.randint(-self.pixels, self.pixels + 1, (2,)).tolist()
        return torch.roll(image, shifts=(dy, dx), dims=(-2, -1))


def centre_crop(canvas: torch.Tensor, margin: int) -> torch.Tensor:
    """The image inside a canvas `margin` pixels larger in each direction, placed as the authors place it.

    Their code puts the image at offset floor(margin / 2) (nnpreimage: `(1:W) + floor((J-1)/2)`).
    """
    if margin <= 0:
        return canvas
    start = margin // 2
    return canvas[..., start : canvas.shape[-2] - margin + start, start : canvas.shape[-1] - margin + start]


def pad_canvas(image: torch.Tensor, margin: int) -> torch.Tensor:
    """`image` on a canvas `margin` pixels larger, filled with 0 (the mean image) around it: centre_crop's inverse."""
    start = margin // 2
    return torch.nn.functional.pad(image, [start, margin - start, start, margin - start])


def fit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`image` at `size` (height, width): centre-cropped where larger, centred on 0 (the mean image) where smaller.

    Neither resamples, so the network sees the pixels at the scale the transforms left them; the offsets are
    centre_crop's and pad_canvas's (floor of half the difference).
    """
    for dim, want in zip((-2, -1), size):
        if image.shape[dim] > want:
            image = image.narrow(dim, (image.shape[dim] - want) // 2, want)
    rows, cols = size[0] - image.shape[-2], size[1] - image.shape[-1]
    if rows or cols:
        image = torch.nn.functional.pad(image, [cols // 2, cols - cols // 2, rows // 2, rows - rows // 2])
    return image


class Chain:
    """`transforms` in turn, the result fitted back to the input's height and width (`fit`).

    A network that takes one input size only (a Linear after a flatten) then sees image_size x image_size
    whatever the transforms do (Pad grows the image); a chain that keeps the size is left as it is.
    """

    def __init__(self, transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        size = (image.shape[-2], image.shape[-1])
        for transform in self.transforms:
            image = transform(image)
        return fit(image, size)


class Crop:
    """Mahendran & Vedaldi's jitter as their code does it: a random H x W window of a padded canvas.

    The image is kept on a canvas of (H + J - 1) x (W + J - 1); each step the network sees the window at a
    random offset of 0 ... J - 1 pixels in each direction (nnpreimage: `randi(J)`), and the priors see the
    whole canvas. Several layers share one canvas `margin` = J_max - 1 pixels larger than the image: this
    jitter's own canvas is its centred (H + J - 1) x (W + J - 1) part (`region`), so that the centre crop
    (`centre`: the image after the jitter phase) is the same pixels for every layer.
    """

    def __init__(self, pixels: int, margin: int) -> None:
        self.pixels, self.margin = max(int(pixels), 1), int(margin)
        if self.margin < self.pixels - 1:
            raise ValueError(f"a jitter of {self.pixels} px needs a canvas margin of {self.pixels - 1}, got {margin}")

    def region(self, canvas: torch.Tensor) -> torch.Tensor:
        """This jitter's (H + J - 1) x (W + J - 1) canvas, out of the shared one."""
        extra = self.margin - (self.pixels - 1)
        start = self.margin // 2 - (self.pixels - 1) // 2
        return canvas[..., start : canvas.shape[-2] - extra + start, start : canvas.shape[-1] - extra + start]

    def centre(self, canvas: torch.Tensor) -> torch.Tensor:
        """The image: the centre H x W crop of the shared canvas (what the final phase optimises)."""
        return centre_crop(canvas, self.margin)

    def __call__(self, region: torch.Tensor) -> torch.Tensor:
        """A random H x W window of this jitter's canvas (`region`)."""
        if self.pixels <= 1:
            return region
        dy, dx = torch.randint(0, self.pixels, (2,)).tolist()
        height, width = region.shape[-2] - self.pixels + 1, region.shape[-1] - self.pixels + 1
        return region[..., dy : dy + height, dx : dx + width]


class Pad:
    """Add `pixels` on every side (constant `fill`, or mode reflect), so later transforms move no content out."""

    def __init__(self, pixels: int, fill: float = 0.0, mode: str = "constant") -> None:
        self.pixels, self.fill, self.mode = int(pixels), float(fill), mode

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return F.pad(image, [self.pixels], fill=self.fill, padding_mode=self.mode)


class RandomScale:
    """Zoom about the centre by a factor drawn uniformly from [low, high]; the shape is kept."""

    def __init__(self, low: float = 0.9, high: float = 1.1) -> None:
        self.low, self.high = float(low), float(high)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        scale = _uniform(self.low, self.high)
        return F.affine(
            image, angle=0.0, translate=[0, 0], scale=scale, shear=[0.0, 0.0], interpolation=InterpolationMode.BILINEAR
        )


class RandomRotation:
    """Rotate about the centre by an angle drawn uniformly from [-degrees, degrees]; the shape is kept."""

    def __init__(self, degrees: float = 10.0) -> None:
        self.degrees = float(degrees)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        angle = _uniform(-self.degrees, self.degrees)
        return F.rotate(image, angle, interpolation=InterpolationMode.BILINEAR)

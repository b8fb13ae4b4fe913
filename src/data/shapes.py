"""Shapes: a synthetic classification set with each object's box and mask, generated from a seed.

One flat-coloured disc, square or triangle per image, of random size, colour, position and
a small turn, on a cluttered background (a smooth muted colour field, pixel noise and line
strokes in the objects' own colours). Shapes of one class share no colour, size or place, so
the only evidence for the class is the object itself: what saliency metrics need. Squares and
triangles are sized to the same area as a disc of the drawn radius, so area is no cue either.
Each object lies wholly inside the picture, anywhere it fits (uniformly). It covers 3-18% of
the picture, so the image centre is within the pointing game's tolerance of the object in
about 60% of pictures (VOC07: 70%): a saliency map has to find the object to beat it.
The constants below were chosen so that random-init MobileNetV2 learns it in minutes on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.nn.functional import interpolate
from torch.utils.data import Dataset

from convis.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from convis.data.images import image_transform
from convis.data.split import split_indices
from convis.runtime.errors import ConvisError

CLASSES = ("disc", "square", "triangle")
RADIUS = (0.1, 0.24)  # area-equivalent radius, as a fraction of the image side
STROKES = (3, 7)  # distractor lines per image, [low, high)
MIN_CONTRAST = 0.45  # least RGB distance between an object and the background beneath it
BACKGROUND = (0.35, 0.65)  # range of the smooth colour field's values
BLOBS = 6  # the colour field varies over about image_size / BLOBS pixels
NOISE = 0.04  # pixel noise (standard deviation)
TURN = np.pi / 8  # squares and triangles turn by up to +-TURN radians
# per unit of area-equivalent radius: a disc's radius, a square's half side, a triangle's circumradius
SCALE = {"disc": 1.0, "square": np.sqrt(np.pi) / 2, "triangle": np.sqrt(4 * np.pi / (3 * np.sqrt(3)))}
REACH = {"disc": 1.0, "square": np.sqrt(2), "triangle": 1.0}  # farthest point from the centre, per unit of SCALE


@dataclass(frozen=True)
class Scene:
    """One generated picture (H, W, 3 uint8), its class, and its object's mask and box."""

    pixels: np.ndarray
    label: int
    mask: np.ndarray
    box: tuple[int, int, int, int]  # x0, y0, x1, y1; x1 and y1 exclusive


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) of a size x size image."""
    centres = np.arange(size) + 0.5
    return np.meshgrid(centres, centres)


def shape_mask(kind: str, size: int, centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    """The pixels whose centres fall inside a `kind` of area pi * radius**2, turned by `angle` radians."""
    x, y = _grid(size)
    dx, dy = x - centre[0], y - centre[1]
    if kind == "disc":
        return dx**2 + dy**2 <= radius**2
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    if kind == "square":
        half = SCALE[kind] * radius
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if kind == "triangle":  # equilateral: inside all three edges, each at the inradius (half the circumradius)
        inradius = SCALE[kind] * radius / 2
        normals = [(np.cos(a), np.sin(a)) for a in np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
        return np.all([nx * u + ny * v <= inradius for nx, ny in normals], axis=0)
    raise ConvisError(f"unknown shape {kind!r}: choose one of {', '.join(CLASSES)}")


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random colour field with pixel noise, values in [0, 1], (H, W, 3)."""
    coarse = torch.from_numpy(rng.uniform(*BACKGROUND, (1, 3, BLOBS, BLOBS)))
    field = interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    return np.clip(field + rng.normal(0, NOISE, field.shape), 0, 1)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 1, 3)


def _draw_strokes(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Straight lines, 1-2.5 px wide, in random colours: clutter that resembles no class."""
    size = canvas.shape[0]
    x, y = _grid(size)
    for _ in range(rng.integers(*STROKES)):
        (ax, ay), (bx, by) = rng.uniform(0, size, (2, 2))
        length2 = max((bx - ax) ** 2 + (by - ay) ** 2, 1e-9)
        t = np.clip(((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / length2, 0, 1)
        near = (x - ax - t * (bx - ax)) ** 2 + (y - ay - t * (by - ay)) ** 2 <= (rng.uniform(1, 2.5) / 2) ** 2
        canvas[near] = _colour(rng)


def _object_colour(beneath: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random colour far enough from the mean background colour under the object to see it."""
    mean = beneath.mean(axis=0)
    for _ in range(50):
        colour = _colour(rng)
        if np.linalg.norm(colour - mean) >= MIN_CONTRAST:
            return colour
    return np.where(mean < 0.5, 1.0, 0.0)  # the farthest corner of the RGB cube


def render(label: int, size: int, rng: np.random.Generator) -> Scene:
    """One picture of class CLASSES[label], drawn at `size` x `size` pixels."""
    kind = CLASSES[label]
    canvas = _background(size, rng)
    _draw_strokes(canvas, rng)
    radius = rng.uniform(*RADIUS) * size
    reach = SCALE[kind] * REACH[kind] * radius + 1
    centre = (rng.uniform(reach, size - reach), rng.uniform(reach, size - reach))
    mask = shape_mask(kind, size, centre, radius, rng.uniform(-TURN, TURN))
    canvas[mask] = _object_colour(canvas[mask], rng)
    rows, cols = np.nonzero(mask)
    box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    return Scene(np.rint(canvas * 255).astype(np.uint8), label, mask, box)


class ShapesDataset(Dataset):
    """Generated pictures, each drawn on access from (seed, index): no files, the same images every time.

    Items are `{"image", "name", "label", "box": int64 [x0, y0, x1, y1], "mask": bool (S, S)}`.
    """

    classes = list(CLASSES)

    def __init__(
        self, indices: Sequence[int], image_size: int, seed: int, transform: Callable[[Image.Image], torch.Tensor]
    ) -> None:
        self.indices, self.image_size, self.seed, self.transform = list(indices), image_size, seed, transform

    @property
    def labels(self) -> list[int]:
        return [index % len(CLASSES) for index in self.indices]

    @property
    def names(self) -> list[str]:
        return [self._name(index) for index in self.indices]

    @staticmethod
    def _name(index: int) -> str:
        return f"shape{index:05d}_{CLASSES[index % len(CLASSES)]}"

    def __len__(self) -> int:
        return len(self.indices)

    def scene(self, position: int) -> Scene:
        """The picture at `position`, as generated (8-bit pixels, before normalisation)."""
        index = self.indices[position]
        return render(index % len(CLASSES), self.image_size, np.random.default_rng([self.seed, index]))

    def __getitem__(self, position: int) -> dict[str, torch.Tensor | str | int]:
        scene = self.scene(position)
        return {
            "image": self.transform(Image.fromarray(scene.pixels)),
            "name": self._name(self.indices[position]),
            "label": scene.label,
            "box": torch.tensor(scene.box, dtype=torch.int64),
            "mask": torch.from_numpy(scene.mask),
        }


def check_size(size: object, example: int) -> None:
    """A generated dataset's `size` must be a positive whole number of images."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ConvisError(
            f"dataset.size={size!r} must be a positive whole number of images, e.g. dataset.size={example}"
        )


def shapes(
    size: int = 3000,
    image_size: int = 64,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    split: str = "all",
    val_fraction: float = 0.2,
    seed: int = 0,
) -> ShapesDataset:
    """`size` generated pictures, balanced over the classes, or the train or val part of them."""
    check_size(size, 3000)
    transform = image_transform(image_size, mean, std)  # validates image_size
    labels = [index % len(CLASSES) for index in range(size)]
    return ShapesDataset(split_indices(labels, split, val_fraction, seed), image_size, seed, transform)

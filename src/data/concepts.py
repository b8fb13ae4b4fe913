"""Concepts: pictures with a pixel mask per concept, for Network Dissection's unit labels, generated or read.

`concepts()` generates them from a seed (no download, no files, the same pictures every time): on a smooth muted,
greyish background, 1-3 objects, each a shape (disc, square, triangle, cross, ring) filled with a named colour
(flat, with a small jitter) or with a texture (stripes at any angle, checks, dots) in two colours: a named one
and either another named one or a dark muted one. Objects may overlap; later ones hide earlier ones. The masks
are what is visible: a shape's mask is its object's pixels, a colour's every pixel painted that colour (flat fills
and a texture's named-colour pixels), a texture's the pixels of the objects filled with it.

`concept_folder(root)` reads a real concept set (Broden-like), laid out as

    ROOT/concepts.csv             header `concept,category`, then one concept per line
    ROOT/images/NAME.png          the pictures (any extension in convis.data.images.IMAGE_EXTENSIONS)
    ROOT/masks/NAME/CONCEPT.png   a mask of the picture's size: its nonzero pixels are the concept

A concept without a mask file in a picture's folder is absent from that picture. Masks are resized (nearest
neighbour) and centre-cropped exactly as their picture is.

Items of both are `{"image": (C, S, S) tensor, "name": str, "masks": bool (K, S, S)}`; the dataset's `concepts`
name the K masks in order and `categories` give each one's category.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn.functional import interpolate
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional

from convis.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from convis.data.images import IMAGE_EXTENSIONS, image_transform, load_image
from convis.data.shapes import check_size, shape_mask
from convis.runtime.errors import ConvisError

COLOURS = {  # clearly distinct prototypes, none near the muted background
    "red": (0.86, 0.10, 0.10),
    "green": (0.10, 0.65, 0.15),
    "blue": (0.10, 0.20, 0.90),
    "yellow": (0.95, 0.90, 0.10),
    "orange": (0.98, 0.55, 0.05),
    "purple": (0.55, 0.10, 0.70),
    "cyan": (0.10, 0.85, 0.90),
    "white": (0.97, 0.97, 0.97),
    "black": (0.04, 0.04, 0.04),
}
SHAPES = ("disc", "square", "triangle", "cross", "ring")
TEXTURES = ("stripes", "checks", "dots")
CONCEPTS = (*COLOURS, *SHAPES, *TEXTURES)
CATEGORIES = ("colour",) * len(COLOURS) + ("shape",) * len(SHAPES) + ("texture",) * len(TEXTURES)
JITTER = 0.03  # each object's named colour moves off its prototype by up to this much per channel
OBJECTS = (1, 4)  # objects per picture, [low, high)
RADIUS = (0.13, 0.25)  # area-equivalent radius, as a fraction of the image side
REACH = {"disc": 1.0, "square": 1.26, "triangle": 1.56, "cross": 1.27, "ring": 1.15}  # farthest point, per radius
TEXTURED = 0.5  # the chance that an object is filled with a texture rather than a flat colour
PERIOD = (0.08, 0.14)  # a texture's period, as a fraction of the image side (at least MIN_PERIOD pixels)
MIN_PERIOD = 4.0
LUMINANCE = (0.38, 0.62)  # the background's grey level
TINT = 0.05  # the background's colour cast, per channel: low saturation
DARK = (0.16, 0.26)  # a texture's dark muted colour
BLOBS = 6  # the background varies over about image_size / BLOBS pixels
NOISE = 0.03  # background pixel noise (standard deviation)


@dataclass(frozen=True)
class ConceptScene:
    """One generated picture (H, W, 3 uint8) and its concept masks (K, H, W bool, in CONCEPTS order)."""

    pixels: np.ndarray
    masks: np.ndarray


def object_mask(kind: str, size: int, centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    """The pixels inside one of SHAPES of area-equivalent `radius`, turned by `angle` (a ring: about half that)."""
    if kind not in ("cross", "ring"):
        return shape_mask(kind, size, centre, radius, angle)
    centres = np.arange(size) + 0.5
    x, y = np.meshgrid(centres - centre[0], centres - centre[1])
    if kind == "ring":
        distance = np.hypot(x, y)
        return (distance <= 1.15 * radius) & (distance >= 0.6 * radius)
    u, v = np.abs(np.cos(angle) * x + np.sin(angle) * y), np.abs(-np.sin(angle) * x + np.cos(angle) * y)
    long, wide = 1.2 * radius, 0.4 * radius
    return ((u <= long) & (v <= wide)) | ((v <= long) & (u <= wide))


def texture_pattern(kind: str, size: int, centre: tuple[float, float], period: float, angle: float) -> np.ndarray:
    """Where one of TEXTURES shows its first colour, over the whole picture, laid out around `centre`."""
    centres = np.arange(size) + 0.5
    x, y = np.meshgrid(centres - centre[0], centres - centre[1])
    u = (np.cos(angle) * x + np.sin(angle) * y) / period
    v = (-np.sin(angle) * x + np.cos(angle) * y) / period
    if kind == "stripes":
        return u % 1 < 0.5
    if kind == "checks":
        return (np.floor(u) + np.floor(v)) % 2 == 0
    if kind == "dots":
        return (u % 1 - 0.5) ** 2 + (v % 1 - 0.5) ** 2 <= 0.3**2
    raise ConvisError(f"unknown texture {kind!r}: choose one of {', '.join(TEXTURES)}")


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth, greyish, mid-tone colour field with pixel noise, values in [0, 1], (H, W, 3)."""
    grey = rng.uniform(*LUMINANCE, (1, 1, BLOBS, BLOBS)) + rng.uniform(-TINT, TINT, (1, 3, BLOBS, BLOBS))
    field = interpolate(torch.from_numpy(grey), size=(size, size), mode="bicubic", align_corners=False)
    field = field[0].permute(1, 2, 0).numpy()
    return np.clip(field + rng.normal(0, NOISE, field.shape), 0, 1)


def _named(rng: np.random.Generator, choices: Sequence[int]) -> tuple[int, np.ndarray]:
    """One of the named colours (an index into COLOURS) and its prototype with a small jitter."""
    index = int(rng.choice(choices))
    prototype = np.array(list(COLOURS.values())[index])
    return index, np.clip(prototype + rng.uniform(-JITTER, JITTER, 3), 0, 1)


def _texture_colours(rng: np.random.Generator) -> tuple[tuple[int, np.ndarray], tuple[int, np.ndarray]]:
    """A texture's two (colour index, RGB) pairs: a named colour and another named one or a dark one (index -1)."""
    everyone = range(len(COLOURS))
    if rng.uniform() < 0.5:
        first = _named(rng, everyone)
        return first, _named(rng, [index for index in everyone if index != first[0]])
    dark = rng.uniform(*DARK) + rng.uniform(-TINT / 2, TINT / 2, 3)
    return _named(rng, [index for index, name in enumerate(COLOURS) if name != "black"]), (-1, dark)


def _paint(canvas: np.ndarray, labels: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
    """Fill the object `mask` with a flat colour or a texture, writing its colour and texture ids into `labels`."""
    if rng.uniform() >= TEXTURED:
        index, colour = _named(rng, range(len(COLOURS)))
        labels[0][mask], labels[2][mask], canvas[mask] = index, -1, colour
        return
    texture = int(rng.integers(len(TEXTURES)))
    period = max(MIN_PERIOD, rng.uniform(*PERIOD) * canvas.shape[0])
    rows, cols = np.nonzero(mask)
    centre = (cols.mean() + rng.uniform(0, period), rows.mean() + rng.uniform(0, period))
    on = texture_pattern(TEXTURES[texture], canvas.shape[0], centre, period, rng.uniform(0, np.pi))
    for where, (index, colour) in zip((mask & on, mask & ~on), _texture_colours(rng)):
        labels[0][where], canvas[where] = index, colour
    labels[2][mask] = texture


def render(size: int, rng: np.random.Generator) -> ConceptScene:
    """One picture of 1-3 objects, drawn at `size` x `size` pixels, and its visible concepts' masks."""
    canvas = _background(size, rng)
    labels = np.full((3, size, size), -1)  # per pixel: colour, shape and texture index, -1 for none
    for _ in range(rng.integers(*OBJECTS)):
        shape = int(rng.integers(len(SHAPES)))
        radius = rng.uniform(*RADIUS) * size
        reach = REACH[SHAPES[shape]] * radius + 1
        centre = (rng.uniform(reach, size - reach), rng.uniform(reach, size - reach))
        mask = object_mask(SHAPES[shape], size, centre, radius, rng.uniform(0, 2 * np.pi))
        labels[1][mask] = shape
        _paint(canvas, labels, mask, rng)
    masks = [labels[0] == i for i in range(len(COLOURS))] + [labels[1] == i for i in range(len(SHAPES))]
    masks += [labels[2] == i for i in range(len(TEXTURES))]
    return ConceptScene(np.rint(canvas * 255).astype(np.uint8), np.stack(masks))


class ConceptDataset(Dataset):
    """Generated concept pictures, each drawn on access from (seed, index): no files, the same images every time.

    Items are `{"image", "name", "masks": bool (K, S, S)}`, the masks in `concepts` order.
    """

    concepts = list(CONCEPTS)
    categories = list(CATEGORIES)

    def __init__(self, size: int, image_size: int, seed: int, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.size, self.image_size, self.seed, self.transform = size, image_size, seed, transform

    @property
    def names(self) -> list[str]:
        return [f"concept{index:05d}" for index in range(self.size)]

    def __len__(self) -> int:
        return self.size

    def scene(self, position: int) -> ConceptScene:
        """The picture at `position`, as generated (8-bit pixels, before normalisation), and its masks."""
        if not 0 <= position < self.size:
            raise IndexError(f"concept picture {position} is out of range: there are {self.size}")
        return render(self.image_size, np.random.default_rng([self.seed, position]))

    def __getitem__(self, position: int) -> dict[str, torch.Tensor | str]:
        scene = self.scene(position)
        return {
            "image": self.transform(Image.fromarray(scene.pixels)),
            "name": f"concept{position:05d}",
            "masks": torch.from_numpy(scene.masks),
        }


def concepts(
    size: int = 600,
    image_size: int = 64,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    seed: int = 0,
) -> ConceptDataset:
    """`size` generated pictures of colours, shapes and textures, with a mask per concept."""
    check_size(size, 600)
    transform = image_transform(image_size, mean, std)  # validates image_size
    return ConceptDataset(size, image_size, seed, transform)


class ConceptFolder(Dataset):
    """A concept set read from a folder (see the module's docstring), loaded lazily, masks cropped as the image is."""

    def __init__(
        self,
        images: Sequence[Path],
        concepts: Sequence[str],
        categories: Sequence[str],
        image_size: int,
        transform: Callable[[Image.Image], torch.Tensor],
    ) -> None:
        self.images, self.concepts, self.categories = list(images), list(concepts), list(categories)
        self.image_size, self.transform = image_size, transform

    @property
    def names(self) -> list[str]:
        return [image.stem for image in self.images]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor | str]:
        path = self.images[position]
        image = load_image(path, self.image_size)
        folder = path.parent.parent / "masks" / path.stem
        masks = torch.from_numpy(np.stack([_mask(folder / f"{c}.png", image.size) for c in self.concepts]))
        masks = functional.resize(masks, [self.image_size], interpolation=InterpolationMode.NEAREST)
        masks = functional.center_crop(masks, [self.image_size, self.image_size])
        return {"image": self.transform(image), "name": path.stem, "masks": masks.bool()}


def _mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The (H, W) uint8 mask in `path` (1 where any channel is nonzero), all zeros when there is no such file."""
    if not path.is_file():
        return np.zeros(size[::-1], dtype=np.uint8)
    with Image.open(path) as image:
        pixels = np.asarray(image)
    if pixels.shape[:2] != size[::-1]:
        raise ConvisError(
            f"mask {path} is {pixels.shape[1]} x {pixels.shape[0]} pixels but its image is {size[0]} x {size[1]}: "
            "draw each mask at its image's size"
        )
    return (pixels.reshape(*pixels.shape[:2], -1) != 0).any(axis=2).astype(np.uint8)


def _read_concepts(root: Path) -> tuple[list[str], list[str]]:
    """The concept names and their categories from ROOT/concepts.csv."""
    table = root / "concepts.csv"
    if not table.is_file():
        raise ConvisError(
            f"no concept list {table}: write one with the header 'concept,category' and a row per concept"
        )
    with table.open(newline="", encoding="utf-8") as file:
        rows = [[cell.strip() for cell in row] for row in csv.reader(file) if any(cell.strip() for cell in row)]
    if not rows or rows[0] != ["concept", "category"]:
        raise ConvisError(f"{table} starts with {rows[0] if rows else 'nothing'}: its header must be concept,category")
    if bad := next((row for row in rows[1:] if len(row) != 2 or not all(row)), None):
        raise ConvisError(f"{table} has the row {','.join(bad)!r}: each row must be CONCEPT,CATEGORY")
    names = [row[0] for row in rows[1:]]
    if not names:
        raise ConvisError(f"{table} lists no concepts: add a row CONCEPT,CATEGORY per concept")
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ConvisError(f"{table} lists {', '.join(repeated)} more than once: give each concept one row")
    return names, [row[1] for row in rows[1:]]


def _check_masks(root: Path, names: set[str], concepts: Sequence[str]) -> None:
    """Refuse a mask folder without its image, or a mask file naming a concept concepts.csv does not list."""
    for folder in sorted(path for path in (root / "masks").glob("*") if path.is_dir()):
        if folder.name not in names:
            raise ConvisError(f"mask folder {folder} has no image {folder.name}.* in {root / 'images'}")
        for file in sorted(folder.glob("*.png")):
            if file.stem not in concepts:
                raise ConvisError(
                    f"mask {file} names the unknown concept {file.stem!r}: concepts.csv lists {', '.join(concepts)}"
                )


def concept_folder(
    root: str,
    image_size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> ConceptFolder:
    """The concept set in `root`: ROOT/concepts.csv, ROOT/images/NAME.*, ROOT/masks/NAME/CONCEPT.png."""
    root_path = Path(root)
    names, categories = _read_concepts(root_path)
    folder = root_path / "images"
    images = sorted(
        path
        for path in (folder.glob("*") if folder.is_dir() else [])
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
    )
    if not images:
        raise ConvisError(f"no images in {folder}: expected files ending in {', '.join(IMAGE_EXTENSIONS)}")
    stems = [image.stem for image in images]
    if repeated := sorted({stem for stem in stems if stems.count(stem) > 1}):
        raise ConvisError(f"several images in {folder} are named {', '.join(repeated)}: give each image its own name")
    _check_masks(root_path, set(stems), names)
    return ConceptFolder(images, names, categories, image_size, image_transform(image_size, mean, std))

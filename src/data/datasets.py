"""Datasets of named images: the bundled samples, a user's file or folder, an image folder tree."""

from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from src.data.images import IMAGE_EXTENSIONS, image_transform, load_image, sample_image
from src.errors import ConvisError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Item = tuple[str, Callable[[], Image.Image]]


class ImageDataset(Dataset):
    """Named images, loaded lazily and transformed into `{"image": (3, S, S) tensor, "name": str}`."""

    def __init__(self, items: Sequence[Item], transform: Callable[[Image.Image], torch.Tensor]) -> None:
        counts = Counter(name for name, _ in items)
        repeated = ", ".join(sorted(name for name, count in counts.items() if count > 1))
        if repeated:
            raise ConvisError(f"several images are named {repeated}; rename files so their stems differ")
        self.items = list(items)
        self.transform = transform

    @property
    def names(self) -> list[str]:
        """The image names, safe to use as file stems."""
        return [name for name, _ in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        name, load = self.items[index]
        return {"image": self.transform(load()), "name": name}


def sample_images(
    names: Sequence[str] | str | None = None,
    path: str | None = None,
    image_size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> ImageDataset:
    """The user's image file or folder (`path`), else the named bundled samples (default: chelsea)."""
    if path is not None:
        items = _path_items(Path(path))
    else:
        names = ["chelsea"] if names is None else [names] if isinstance(names, str) else list(names)
        items = [(name, sample_image(name).copy) for name in names]  # loaded now, so a bad name fails early
    return ImageDataset(items, image_transform(image_size, mean, std))


def image_folder(
    root: str,
    image_size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> ImageDataset:
    """Every image below `root`, named by its relative path with "/" replaced by "_"."""
    root_path = Path(root)
    items = [
        (file.relative_to(root_path).with_suffix("").as_posix().replace("/", "_"), partial(load_image, file))
        for file in _image_files(root_path, recursive=True)
    ]
    return ImageDataset(items, image_transform(image_size, mean, std))


def _path_items(path: Path) -> list[Item]:
    """One item for an image file, or one per image directly inside a folder."""
    if not path.exists():
        raise ConvisError(f"image file or folder not found: {path}")
    files = _image_files(path, recursive=False) if path.is_dir() else [path]
    return [(file.stem, partial(load_image, file)) for file in files]


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    """The image files in `folder` (and below it if `recursive`), sorted, skipping hidden ones."""
    if not folder.is_dir():
        raise ConvisError(f"image folder not found: {folder}")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(
        file
        for file in candidates
        if file.is_file()
        and file.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in file.relative_to(folder).parts)
    )
    if not files:
        extensions = ", ".join(IMAGE_EXTENSIONS)
        raise ConvisError(f"no images in folder {folder}: expected files ending in {extensions}")
    return files

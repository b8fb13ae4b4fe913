"""CIFAR-10 through torchvision: downloaded where a network exists, else read from dataset.root."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.error import URLError

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10

from convis.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from convis.data.images import image_transform
from convis.data.split import check_split
from convis.runtime.errors import ConvisError

# convis split -> CIFAR-10's own parts (its test set is the validation set)
PARTS = {"train": ("train",), "val": ("test",), "all": ("train", "test")}


class Cifar10(Dataset):
    """CIFAR-10 images as `{"image", "name", "label"}`, upscaled to the run's image size."""

    def __init__(self, parts: dict[str, CIFAR10], transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.parts = dict(parts)
        self.transform = transform
        self.classes = list(next(iter(self.parts.values())).classes)
        self.index = [(part, i) for part, data in self.parts.items() for i in range(len(data))]

    @property
    def labels(self) -> list[int]:
        return [int(label) for data in self.parts.values() for label in data.targets]

    @property
    def names(self) -> list[str]:
        return [f"{part}{i:05d}" for part, i in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor | str | int]:
        part, i = self.index[position]
        image, label = self.parts[part][i]
        return {"image": self.transform(image), "name": f"{part}{i:05d}", "label": int(label)}


def _load(root: Path, part: str, download: bool) -> CIFAR10:
    try:
        return CIFAR10(str(root), train=part == "train", download=download)
    except (URLError, OSError, RuntimeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConvisError(
            f"CIFAR-10 is not in dataset.root={root} and could not be downloaded ({reason}): place "
            f"cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted "
            f"cifar-10-batches-py folder in {root}, or run once where a network exists"
        ) from err


def cifar10(
    root: str = "~/.cache/convis/datasets",
    image_size: int = 64,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    split: str = "all",
    download: bool = True,
) -> Cifar10:
    """CIFAR-10's training set (split=train), its test set (split=val), or both (all)."""
    check_split(split)
    transform = image_transform(image_size, mean, std)
    folder = Path(root).expanduser()
    return Cifar10({part: _load(folder, part, download) for part in PARTS[split]}, transform)

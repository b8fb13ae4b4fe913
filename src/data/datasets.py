"""Datasets of named images: the bundled samples, a user's file or folder, an image folder tree."""

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from convis.data.images import IMAGE_EXTENSIONS, image_transform, load_image, picture, sample_image
from convis.data.split import split_indices
from convis.runtime.errors import ConvisError
from convis.runtime.writers import safe_name

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUTS = ("auto", "folders", "prefix", "none")

Item = tuple[str, Callable[[], Image.Image]]


def shared_file_names(names: Sequence[str]) -> str:
    """The names that share a file name once made safe for one (and on a file system that ignores case), as
    `a é, a è (file name a_)`; empty when there are none."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(safe_name(name).casefold(), []).append(name)
    shared = [group for group in groups.values() if len(group) > 1]
    return "; ".join(f"{', '.join(group)} (file name {safe_name(group[0])})" for group in shared)


class ImageDataset(Dataset):
    """Named images, loaded lazily and transformed into `{"image": (3, S, S) tensor, "name": str}`.

    With `labels`, items also carry `"label"` (an index into `classes`).
    """

    def __init__(
        self,
        items: Sequence[Item],
        transform: Callable[[Image.Image], torch.Tensor],
        labels: Sequence[int] | None = None,
        classes: Sequence[str] = (),
    ) -> None:
        clashes = shared_file_names([name for name, _ in items])
        if clashes:
            raise ConvisError(
                f"several images are named {clashes}: their results would overwrite each other; rename the files "
                "so their names differ in letters, digits, '.', '_' or '-' (not only in case)"
            )
        self.items = list(items)
        self.transform = transform
        self.labels = None if labels is None else list(labels)
        self.classes = list(classes)

    @property
    def names(self) -> list[str]:
        """The image names, safe to use as file stems."""
        return [name for name, _ in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str | int]:
        name, load = self.items[index]
        item = {"image": self.transform(load()), "name": name}
        if self.labels is not None:
            item["label"] = self.labels[index]
        return item


def sample_images(
    names: Sequence[str] | str | None = None,
    path: str | None = None,
    image_size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> ImageDataset:
    """The user's image file or folder (`path`), else the named bundled samples (default: chelsea)."""
    if path is not None:
        items = _path_items(Path(path), image_size)
    else:
        names = ["chelsea"] if names is None else [names] if isinstance(names, str) else list(names)
        items = [(name, sample_image(name).copy) for name in names]  # loaded now, so a bad name fails early
    return ImageDataset(items, image_transform(image_size, mean, std))


def image_folder(
    root: str,
    image_size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    layout: str = "auto",
    split: str = "all",
    val_fraction: float = 0.2,
    seed: int = 0,
) -> ImageDataset:
    """Every image below `root`, named by its relative path with "/" replaced by "_", labelled by `layout`.

    `folders`: the class is the sub-folder of `root` an image lies in (ImageFolder's tree);
    `prefix`: the class is a flat file name's part before its first dot (Kaggle's cat.123.jpg);
    `none`: no labels; `auto`: the first of these that fits every image. Files whose
    header no image reader recognises are skipped with a warning naming them.
    """
    root_path = Path(root)
    files = _readable(_image_files(root_path, recursive=True), root_path)
    relative = [file.relative_to(root_path) for file in files]
    keys = _class_keys(relative, layout, root_path)
    classes = sorted(set(keys or []))
    labels = None if keys is None else [classes.index(key) for key in keys]
    chosen = split_indices([None] * len(files) if labels is None else labels, split, val_fraction, seed)
    names = [path.with_suffix("").as_posix().replace("/", "_") for path in relative]
    items = [(names[i], partial(load_image, files[i], image_size)) for i in chosen]
    kept = None if labels is None else [labels[i] for i in chosen]
    return ImageDataset(items, image_transform(image_size, mean, std), kept, classes)


def _class_keys(relative: Sequence[Path], layout: str, root: Path) -> list[str] | None:
    """Each image's class name under `layout` (auto: folders, else prefix, else none), or None for none."""
    if layout not in LAYOUTS:
        raise ConvisError(f"unknown dataset.layout={layout!r}: choose one of {', '.join(LAYOUTS)}")
    in_folders = all(len(path.parts) > 1 for path in relative)
    prefixed = all(len(path.parts) == 1 and "." in path.stem for path in relative)
    if layout == "folders" or (layout == "auto" and in_folders):
        if not in_folders:
            loose = next(path for path in relative if len(path.parts) == 1)
            raise ConvisError(
                f"dataset.layout=folders needs every image in a class sub-folder of {root}; {loose} is not"
            )
        return [path.parts[0] for path in relative]
    if layout == "prefix" or (layout == "auto" and prefixed):
        if not prefixed:
            odd = next(path for path in relative if len(path.parts) > 1 or "." not in path.stem)
            raise ConvisError(f"dataset.layout=prefix needs files named CLASS.ID.jpg directly in {root}; {odd} is not")
        return [path.stem.split(".", 1)[0] for path in relative]
    return None


def _readable(files: Sequence[Path], root: Path) -> list[Path]:
    """The files an image reader recognises by their header; the others are skipped with one warning."""
    kept, skipped = [], []
    for file in files:
        try:
            with Image.open(file):
                kept.append(file)
        except Image.DecompressionBombError:
            kept.append(file)  # a readable header: load_image refuses it, naming it
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            skipped.append(file)
    if skipped:
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        shown = ", ".join(str(file) for file in skipped[:5]) + more
        warnings.warn(f"skipping {len(skipped)} file(s) that are not readable images: {shown}", stacklevel=2)
    if not kept:
        raise ConvisError(f"no readable images in folder {root}: every image file in it is unreadable")
    return kept


def _path_items(path: Path, image_size: int) -> list[Item]:
    """One item for an image file, or one per image directly inside a folder, each read for `image_size`."""
    if not path.exists():
        raise ConvisError(f"image file or folder not found: {path}")
    files = _image_files(path, recursive=False) if path.is_dir() else [path]
    return [(file.stem, partial(load_image, file, image_size)) for file in files]


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


def given_images(
    images: object, image_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> ImageDataset:
    """The images a Python caller holds (one, or a list), named by file stem or image0, image1, ...

    Each is checked and converted by `convis.data.images.picture`, so a bad one fails before any run.
    """
    listed = isinstance(images, (list, tuple))
    images = list(images) if listed else [images]
    if not images:
        raise ConvisError("no images given: pass an image or a list of images")
    names = [Path(i).stem if isinstance(i, (str, Path)) else f"image{n}" for n, i in enumerate(images)]
    wheres = [f"image {n} of {len(images)}" if listed else "the image" for n in range(1, len(images) + 1)]
    items = [(name, picture(image, where).copy) for name, image, where in zip(names, images, wheres)]
    return ImageDataset(items, image_transform(image_size, mean, std))

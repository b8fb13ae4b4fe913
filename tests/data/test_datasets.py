"""The datasets name their images, find image files, and refuse empty or missing folders."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from convis.data.datasets import IMAGENET_MEAN, IMAGENET_STD, ImageDataset, image_folder, sample_images
from convis.data.images import image_transform, sample_image
from convis.runtime.errors import ConvisError

CONF = Path(__file__).parents[2] / "conf" / "dataset"
SIZE = 32


def _write(path: Path, colour: tuple[int, int, int] = (10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (48, 40), colour).save(path)
    return path


def _denormalise(image: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return (image * std + mean) * 255


def test_default_is_the_chelsea_cat():
    dataset = sample_images(image_size=SIZE)
    assert dataset.names == ["chelsea"] and len(dataset) == 1
    item = dataset[0]
    expected = image_transform(SIZE, IMAGENET_MEAN, IMAGENET_STD)(sample_image("chelsea"))
    assert item["name"] == "chelsea" and item["image"].shape == (3, SIZE, SIZE)
    torch.testing.assert_close(item["image"], expected)


def test_names_may_be_one_string_or_a_list():
    assert sample_images("coffee", image_size=SIZE).names == ["coffee"]
    dataset = sample_images(["rocket", "cat"], image_size=SIZE)
    assert dataset.names == ["rocket", "cat"]
    assert [item["image"].shape for item in dataset] == [(3, SIZE, SIZE)] * 2


def test_unknown_sample_name_fails_when_the_dataset_is_built():
    with pytest.raises(ConvisError, match="did you mean 'astronaut'"):
        sample_images(["astronot"])


def test_path_to_one_file_overrides_names(tmp_path):
    path = _write(tmp_path / "my photo.png", (200, 100, 50))
    dataset = sample_images(names=["coffee"], path=str(path), image_size=SIZE)
    assert dataset.names == ["my photo"]
    expected = torch.tensor([200.0, 100.0, 50.0])[:, None, None].expand(3, SIZE, SIZE)
    torch.testing.assert_close(_denormalise(dataset[0]["image"]), expected)


def test_path_to_folder_lists_its_images_sorted(tmp_path):
    for name in ["b.JPG", "a.png", "c.tiff"]:
        _write(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"an editor's backup")
    _write(tmp_path / "sub" / "deeper.png")  # a folder path is not searched recursively
    dataset = sample_images(path=str(tmp_path), image_size=SIZE)
    assert dataset.names == ["a", "b", "c"]
    assert all(item["image"].shape == (3, SIZE, SIZE) for item in dataset)


def test_path_to_folder_without_images_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ConvisError, match=f"no images in folder {tmp_path}: expected files ending in .jpg"):
        sample_images(path=str(tmp_path))


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(ConvisError, match=f"not found: {tmp_path / 'nope.jpg'}"):
        sample_images(path=str(tmp_path / "nope.jpg"))


def test_image_folder_is_recursive_and_names_by_relative_path(tmp_path):
    for name in ["dogs/rex.jpg", "cats/tom.png", "cats/kittens/mini.png", "top.bmp"]:
        _write(tmp_path / name, (0, 0, 255))
    (tmp_path / "cats" / "readme.md").write_text("not an image")
    dataset = image_folder(str(tmp_path), image_size=SIZE, mean=(0, 0, 0), std=(1, 1, 1))
    assert dataset.names == ["cats_kittens_mini", "cats_tom", "dogs_rex", "top"]
    torch.testing.assert_close(dataset[3]["image"][:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))


@pytest.mark.parametrize("exists", [False, True])
def test_image_folder_refuses_missing_or_empty_root(tmp_path, exists):
    root = tmp_path / "photos"
    if exists:
        root.mkdir()
    with pytest.raises(ConvisError, match=str(root)):
        image_folder(str(root))


def test_repeated_names_are_refused(tmp_path):
    _write(tmp_path / "x.png")
    _write(tmp_path / "x.jpg")
    with pytest.raises(ConvisError, match="several images are named x"):
        sample_images(path=str(tmp_path))


def test_dataset_loads_lazily_and_transforms():
    calls = []

    def load() -> Image.Image:
        calls.append(1)
        return Image.fromarray(np.full((40, 40, 3), 255, np.uint8))

    dataset = ImageDataset([("white", load)], image_transform(8, (0, 0, 0), (1, 1, 1)))
    assert calls == [] and dataset.names == ["white"]
    assert torch.equal(dataset[0]["image"], torch.ones(3, 8, 8)) and calls == [1]


def test_sample_images_config_takes_size_mean_std_at_call_time():
    cfg = OmegaConf.load(CONF / "sample_images.yaml")
    assert not {"image_size", "mean", "std"} & set(cfg)
    dataset = instantiate(cfg, image_size=SIZE, mean=[0.5] * 3, std=[0.5] * 3)
    assert dataset.names == ["chelsea"] and dataset[0]["image"].shape == (3, SIZE, SIZE)


def test_image_folder_config_needs_only_a_root(tmp_path):
    _write(tmp_path / "only.png")
    cfg = OmegaConf.create({"seed": 0, "dataset": OmegaConf.load(CONF / "image_folder.yaml")})  # the top-level seed
    assert OmegaConf.is_missing(cfg.dataset, "root") and not {"image_size", "mean", "std"} & set(cfg.dataset)
    cfg.dataset.root = str(tmp_path)
    dataset = instantiate(cfg.dataset, image_size=SIZE, mean=[0.5] * 3, std=[0.5] * 3)
    assert dataset.names == ["only"] and dataset[0]["image"].shape == (3, SIZE, SIZE)

"""A picture whose resize would be a decompression bomb is refused before it is resized, or even decoded."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from convis.data import images
from convis.data.datasets import image_folder, sample_images
from convis.runtime.errors import ConvisError


@pytest.mark.parametrize(("width", "height", "size"), [(100, 7, 32), (7, 100, 32), (333, 500, 224), (50, 50, 48)])
def test_the_resized_size_is_torchvisions(width, height, size):
    resized = v2.Resize(size, antialias=True)(torch.zeros(1, height, width))
    assert images.resized_size(width, height, size) == (resized.shape[2], resized.shape[1])


def test_a_resize_over_the_bound_is_refused_and_one_at_it_is_not(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 32 * 320)
    images.check_resize(100, 10, 32, "at.png")  # 320 x 32: exactly the bound
    with pytest.raises(ConvisError) as info:
        images.check_resize(101, 10, 32, "over.png")
    assert str(info.value).startswith(
        "refusing to resize over.png: its 101 x 10 pixels would become 323 x 32 at image_size=32, "
        "over the 10240 pixels PIL.Image.MAX_IMAGE_PIXELS allows"
    )


def test_a_file_is_refused_by_name_before_it_is_decoded_and_a_picture_in_memory_before_its_resize(
    tmp_path, monkeypatch
):
    path = tmp_path / "long.png"
    Image.fromarray(np.zeros((2, 400, 3), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self) or None)
    with pytest.raises(ConvisError, match=f"^refusing to resize {path}: its 400 x 2 pixels would become 6400 x 32"):
        sample_images(path=str(path), image_size=32)[0]
    assert not decoded
    with pytest.raises(ConvisError, match="^refusing to resize an image: its 400 x 2 pixels"):
        images.image_transform(32, (0.5,) * 3, (0.5,) * 3)(Image.new("RGB", (400, 2)))


def test_a_decompression_bomb_in_an_image_folder_is_refused_naming_it(tmp_path, monkeypatch):
    Image.new("RGB", (40, 40)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 1600 pixels: over twice the bound, PIL's error
    dataset = image_folder(str(tmp_path), image_size=16, layout="none")
    with pytest.raises(ConvisError, match=f"^refusing to load {tmp_path / 'big.png'}"):
        dataset[0]

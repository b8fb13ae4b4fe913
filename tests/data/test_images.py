"""load_image converts every mode to 8-bit RGB and fails clearly; samples and the input transform."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from convis.data.images import IMAGE_EXTENSIONS, SAMPLE_IMAGES, image_transform, load_image, sample_image
from convis.runtime.errors import ConvisError

H, W = 32, 48


def _save(tmp_path: Path, name: str, array: np.ndarray, mode: str | None = None) -> Path:
    path = tmp_path / name
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(path)
    return path


def _pixels(path: Path) -> np.ndarray:
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (W, H)
    array = np.asarray(image)
    assert array.dtype == np.uint8
    return array


def _gradient(dtype: type = np.uint8, top: int = 255) -> np.ndarray:
    return np.linspace(0, top, H * W).reshape(H, W).astype(dtype)


def test_rgb_jpeg_keeps_its_colour(tmp_path):
    path = _save(tmp_path, "red.jpg", np.full((H, W, 3), (200, 30, 60), np.uint8))
    np.testing.assert_allclose(_pixels(path)[H // 2, W // 2], (200, 30, 60), atol=3)


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grayscale_becomes_three_equal_channels(tmp_path, mode):
    gray = _gradient()
    if mode == "1":
        gray = np.where(gray > 127, 255, 0).astype(np.uint8)
    pixels = _pixels(_save(tmp_path, "gray.png", gray, mode))
    for channel in range(3):
        np.testing.assert_array_equal(pixels[..., channel], gray)


def test_gray_with_alpha_is_composited_over_white(tmp_path):
    la = np.stack([np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)], axis=-1)
    la[:, : W // 2, 1] = 255  # left half opaque black, right half transparent
    pixels = _pixels(_save(tmp_path, "la.png", la, "LA"))
    assert (pixels[:, : W // 2] == 0).all() and (pixels[:, W // 2 :] == 255).all()


def test_rgba_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = (0, 0, 255)
    rgba[:, :16, 3] = 255  # opaque blue
    rgba[:, 16:32, 3] = 128  # half-transparent blue
    # the rest stays fully transparent
    pixels = _pixels(_save(tmp_path, "rgba.png", rgba))
    np.testing.assert_array_equal(pixels[0, 0], (0, 0, 255))
    np.testing.assert_allclose(pixels[0, 20], (127, 127, 255), atol=1)
    np.testing.assert_array_equal(pixels[0, 40], (255, 255, 255))


@pytest.mark.parametrize(
    ("name", "options", "right_half"),
    [("palette.gif", {}, (10, 20, 30)), ("palette.png", {"transparency": 0}, (255, 255, 255))],
)
def test_palette_keeps_its_colours_and_transparency_becomes_white(tmp_path, name, options, right_half):
    image = Image.new("P", (W, H), 0)
    image.putpalette([10, 20, 30, 240, 200, 100] + [0] * 762)
    image.paste(1, (0, 0, W // 2, H))
    image.save(tmp_path / name, **options)
    pixels = _pixels(tmp_path / name)
    np.testing.assert_array_equal(pixels[0, 0], (240, 200, 100))
    np.testing.assert_array_equal(pixels[0, -1], right_half)


def test_cmyk_becomes_rgb(tmp_path):
    cmyk = np.zeros((H, W, 4), np.uint8)
    cmyk[..., 0] = 255  # full cyan, no other ink
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "cmyk.tif")
    np.testing.assert_array_equal(_pixels(tmp_path / "cmyk.tif")[0, 0], (0, 255, 255))


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("gray16.png", np.uint16), ("gray16.tif", np.uint16), ("gray16b.tif", ">u2"), ("gray16.pgm", np.uint16)],
)
def test_16_bit_gray_is_scaled_by_its_full_range(tmp_path, name, dtype):
    array = np.zeros((H, W), dtype)
    array[:, 0], array[:, 1], array[:, 2] = 65535, 32896, 257
    pixels = _pixels(_save(tmp_path, name, array))
    np.testing.assert_array_equal(pixels[0, :3], [[255] * 3, [128] * 3, [1] * 3])


def test_32_bit_integer_tiff_is_scaled_by_its_full_range(tmp_path):
    array = np.zeros((H, W), np.int32)
    array[:, 0], array[:, 1] = 2**31 - 1, 2**30
    pixels = _pixels(_save(tmp_path, "int32.tif", array))
    np.testing.assert_array_equal(pixels[0, :3, 0], [255, 128, 0])


def test_float_tiff_is_read_as_zero_to_one(tmp_path):
    array = np.zeros((H, W), np.float32)
    array[:, 0], array[:, 1], array[:, 2] = 1.0, 0.5, 7.0
    pixels = _pixels(_save(tmp_path, "float.tif", array))
    np.testing.assert_array_equal(pixels[0, :4, 0], [255, 128, 255, 0])


def test_16_bit_rgb_png_keeps_its_colour(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint16)
    rgb[...] = (65535, 32896, 0)
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb[..., ::-1])  # OpenCV writes BGR
    np.testing.assert_array_equal(_pixels(tmp_path / "rgb16.png")[0, 0], (255, 128, 0))


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nothere.png"
    with pytest.raises(ConvisError, match=f"image file not found: {path}"):
        load_image(path)


def test_directory_is_refused(tmp_path):
    with pytest.raises(ConvisError, match=f"directory: {tmp_path}"):
        load_image(tmp_path)


def test_random_bytes_are_not_an_image(tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(ConvisError, match=f"not a readable image: {path}"):
        load_image(path)


@pytest.mark.parametrize("name", ["cut.png", "cut.jpg"])
def test_truncated_file_is_not_an_image(tmp_path, name):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = _save(tmp_path, name, noise)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ConvisError, match=f"not a readable image: {path}"):
        load_image(path)


@pytest.mark.parametrize("limit", [1000, 3000])  # beyond 2x the limit PIL raises, beyond 1x it warns
def test_decompression_bomb_is_refused(tmp_path, monkeypatch, limit):
    path = _save(tmp_path, "big.png", np.zeros((64, 64), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(ConvisError, match=rf"{path}.*4096 pixels"):
        load_image(path)


def test_image_extensions_are_lower_case_with_dot():
    assert {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".pgm"} <= set(IMAGE_EXTENSIONS)
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)


@pytest.mark.parametrize(("name", "size"), [("chelsea", (451, 300)), ("cat", (451, 300)), ("rocket", (640, 427))])
def test_sample_image_is_rgb(name, size):
    image = sample_image(name)
    assert image.mode == "RGB" and image.size == size


def test_cat_is_chelsea():
    np.testing.assert_array_equal(np.asarray(sample_image("cat")), np.asarray(sample_image("chelsea")))
    assert set(SAMPLE_IMAGES) == {"chelsea", "cat", "coffee", "astronaut", "rocket"}


def test_unknown_sample_lists_names_and_suggests_one():
    with pytest.raises(ConvisError) as error:
        sample_image("chelsae")
    message = str(error.value)
    assert "'chelsae'" in message and "did you mean 'chelsea'" in message
    assert all(name in message for name in SAMPLE_IMAGES) and "\n" not in message


def test_transform_crops_to_square_and_denormalises_back():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    colour = (200, 30, 60)
    tensor = image_transform(24, mean, std)(Image.new("RGB", (64, 40), colour))
    assert tensor.shape == (3, 24, 24) and tensor.dtype == torch.float32
    pixels = tensor * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]
    expected = torch.tensor(colour, dtype=torch.float32)[:, None, None].expand(3, 24, 24) / 255
    torch.testing.assert_close(pixels, expected, atol=1e-5, rtol=0)


def test_transform_resizes_shorter_side_then_centre_crops():
    left_half_black = Image.new("RGB", (80, 40), "white")
    left_half_black.paste((0, 0, 0), (0, 0, 40, 40))
    tensor = image_transform(20, (0, 0, 0), (1, 1, 1))(left_half_black)  # 80x40 -> 40x20 -> middle 20x20
    assert tensor[:, :, :8].max() < 0.05 and tensor[:, :, 12:].min() > 0.95


@pytest.mark.parametrize("size", [0, -3, 2.5, "224", True])
def test_transform_rejects_bad_size(size):
    with pytest.raises(ConvisError, match="image_size must be a positive integer"):
        image_transform(size, (0.5,) * 3, (0.5,) * 3)

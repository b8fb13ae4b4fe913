"""Images handed to the Python API are checked like image files: anything wrong is one line naming it."""

import numpy as np
import pytest
import torch
from PIL import Image

from convis.data.datasets import IMAGENET_MEAN, IMAGENET_STD, given_images
from convis.data.images import image_transform, load_image, picture
from convis.runtime.errors import ConvisError

H, W, SIZE = 6, 8, 16
FORMS = (
    "give a path, a PIL image, an HxW or HxWxC array (C = 1, 2, 3 or 4: grey, grey and alpha, RGB, RGBA; uint8, "
    "or float in [0, 1]) or a CxHxW tensor (C = 1 or 3; float in [0, 1], or uint8)"
)


def _old_picture(tensor: torch.Tensor) -> Image.Image:
    """How a CxHxW float tensor became a picture before the checks: the pixels it must still give."""
    pixels = (tensor.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.expand(3, -1, -1).permute(1, 2, 0).numpy())


def _refusal(image: object, *parts: str, where: str = "the image") -> str:
    """The error picture(image) raises, checked to be one line naming `where`, `parts` and the accepted forms."""
    with pytest.raises(ConvisError) as caught:
        picture(image, where)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(where) and message.endswith(FORMS)
    for part in parts:
        assert part in message
    return message


def _pixels(image: object) -> np.ndarray:
    converted = picture(image)
    assert converted.mode == "RGB"
    return np.asarray(converted)


def _colours(channels: int, dtype: type = np.uint8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, channels)).astype(dtype)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_tensor_is_refused(value):
    tensor = torch.rand(3, H, W)
    tensor[1, 2, 3] = value
    _refusal(tensor, "(tensor of dtype float32 and shape (3, 6, 8))", "holds 1 NaN or Inf values")


def test_non_finite_float_array_and_pil_image_are_refused():
    array = np.full((H, W), np.nan, np.float32)
    _refusal(array, "(array of dtype float32 and shape (6, 8))", "holds 48 NaN or Inf values")
    _refusal(Image.fromarray(array), "(PIL image of mode F and size 8 x 6)", "NaN or Inf")


def test_float_tensor_in_0_to_255_is_refused_with_a_hint():
    tensor = torch.full((3, H, W), 255.0)
    tensor[0, 0, 0] = 0
    _refusal(tensor, "shape (3, 6, 8)", "has values in [0, 255], not in [0, 1]", "divide it by 255")


def test_negative_floats_are_refused():
    array = np.full((H, W, 3), -0.5)
    _refusal(array, "(array of dtype float64 and shape (6, 8, 3))", "values in [-0.5, -0.5]", "normalised")


@pytest.mark.parametrize(
    ("image", "described"),
    [
        (np.zeros((0, 0, 3), np.uint8), "(array of dtype uint8 and shape (0, 0, 3))"),
        (np.zeros((0, W), np.uint8), "(array of dtype uint8 and shape (0, 8))"),
        (torch.zeros(3, 0, 0), "(tensor of dtype float32 and shape (3, 0, 0))"),
        (Image.new("RGB", (0, 0)), "(PIL image of mode RGB and size 0 x 0)"),
    ],
)
def test_empty_images_are_refused(image, described):
    _refusal(image, described, "is empty")


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        (torch.rand(2, H, W), "(tensor of dtype float32 and shape (2, 6, 8)) has 2 channels"),
        (torch.rand(4, H, W), "shape (4, 6, 8)) has 4 channels"),
        (torch.rand(H, W, 3), "shape (6, 8, 3)) has 6 channels"),
        (torch.rand(1, 3, H, W), "shape (1, 3, 6, 8)) has 4 dimensions"),
        (torch.rand(H, W), "shape (6, 8)) has 2 dimensions"),
        (np.zeros((H, W, 5), np.uint8), "(array of dtype uint8 and shape (6, 8, 5)) has 5 channels"),
        (np.zeros(W, np.uint8), "shape (8,)) has 1 dimensions"),
    ],
)
def test_bad_shapes_are_refused(image, problem):
    _refusal(image, problem)


@pytest.mark.parametrize(
    ("image", "described"),
    [
        (np.zeros((H, W, 3), np.int64), "(array of dtype int64 and shape (6, 8, 3))"),
        (np.zeros((H, W), bool), "(array of dtype bool and shape (6, 8))"),
        (torch.zeros(3, H, W, dtype=torch.int32), "(tensor of dtype int32 and shape (3, 6, 8))"),
        (torch.zeros(3, H, W, dtype=torch.complex64), "(tensor of dtype complex64 and shape (3, 6, 8))"),
    ],
)
def test_other_dtypes_are_refused(image, described):
    _refusal(image, described, "is neither float nor uint8")


@pytest.mark.parametrize(("value", "kind"), [(3, "int"), ({}, "dict"), (None, "NoneType"), (b"x", "bytes")])
def test_unsupported_types_are_named(value, kind):
    _refusal(value, f"cannot read an image from a {kind}: ")


def test_an_undecodable_pil_image_is_refused(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(_colours(3)).resize((64, 64)).save(path)
    path.write_bytes(path.read_bytes()[:-40])
    with Image.open(path) as image:  # opened lazily: the pixels are decoded by picture
        _refusal(image, "(PIL image of mode RGB and size 64 x 64) cannot be decoded")


def test_a_bad_image_of_a_list_is_named_by_its_place():
    good = torch.rand(3, H, W)
    with pytest.raises(ConvisError) as caught:
        given_images([good, good, torch.full((3, H, W), 2.0)], SIZE)
    message = str(caught.value)
    assert message.startswith("image 3 of 3 (tensor of dtype float32 and shape (3, 6, 8)) has values in [2, 2]")
    assert "\n" not in message and message.endswith(FORMS)
    with pytest.raises(ConvisError, match=r"^image 2 of 2: cannot read an image from a int: give a path"):
        given_images([good, 7], SIZE)
    with pytest.raises(ConvisError, match=r"^the image \(tensor of dtype float32 and shape \(2, 6, 8\)\)"):
        given_images(torch.rand(2, H, W), SIZE)


@pytest.mark.parametrize(
    "tensor",
    [
        torch.linspace(0, 1, 3 * H * W).reshape(3, H, W),
        torch.linspace(0, 1, H * W).reshape(1, H, W),
        torch.linspace(0, 1, 3 * H * W, dtype=torch.float64).reshape(3, H, W),
        torch.linspace(0, 1, 3 * H * W).reshape(3, H, W).half(),
        torch.linspace(0, 1, 3 * H * W).reshape(3, H, W).bfloat16(),
        torch.linspace(0, 1, 3 * H * W).reshape(3, H, W).requires_grad_(),
    ],
)
def test_valid_float_tensors_give_the_same_pixels_as_before(tensor):
    assert np.array_equal(_pixels(tensor), np.asarray(_old_picture(tensor)))


def test_rounding_at_every_level_is_unchanged():
    levels = torch.arange(256) / 255
    halves = (torch.arange(255) + 0.5) / 255
    values = torch.cat([levels, halves, torch.nextafter(halves, torch.tensor(1.0)), torch.rand(2000)])
    tensor = values.reshape(1, 1, -1).expand(3, -1, -1)
    assert np.array_equal(_pixels(tensor), np.asarray(_old_picture(tensor)))


def test_given_images_of_a_tensor_are_the_same_network_input_as_before():
    tensor = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(0))
    expected = image_transform(SIZE, IMAGENET_MEAN, IMAGENET_STD)(_old_picture(tensor))
    assert torch.equal(given_images(tensor, SIZE)[0]["image"], expected)
    assert torch.equal(given_images([tensor, tensor], SIZE)[1]["image"], expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_tensor_on_the_gpu_gives_the_same_pixels():
    tensor = torch.rand(3, H, W)
    assert np.array_equal(_pixels(tensor.cuda().requires_grad_()), _pixels(tensor))


def test_uint8_arrays_and_pil_images_keep_their_pixels():
    rgb = _colours(3)
    assert np.array_equal(_pixels(rgb), rgb)
    assert np.array_equal(_pixels(Image.fromarray(rgb)), rgb)
    grey = _colours(1)[..., 0]
    assert np.array_equal(_pixels(grey), np.repeat(grey[..., None], 3, axis=2))
    assert np.array_equal(_pixels(grey[..., None]), _pixels(grey))


def test_uint8_tensors_are_0_to_255():
    rgb = _colours(3)
    assert np.array_equal(_pixels(torch.from_numpy(rgb).permute(2, 0, 1)), rgb)
    assert np.array_equal(_pixels(torch.from_numpy(rgb[..., :1]).permute(2, 0, 1)), _pixels(rgb[..., 0]))


def test_float_arrays_are_read_like_float_tensors():
    array = np.random.default_rng(1).random((H, W, 3))
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    assert np.array_equal(_pixels(array), np.asarray(_old_picture(tensor)))
    assert np.array_equal(_pixels(array[..., 0]), _pixels(array[..., :1]))


@pytest.mark.parametrize(("channels", "mode"), [(4, "RGBA"), (2, "LA")])
def test_alpha_is_composited_onto_white_as_in_files(tmp_path, channels, mode):
    array = _colours(channels)
    assert Image.fromarray(array).mode == mode
    path = tmp_path / f"{mode}.png"
    Image.fromarray(array).save(path)
    from_file = np.asarray(load_image(path))
    assert np.array_equal(_pixels(array), from_file)
    assert np.array_equal(_pixels(Image.fromarray(array)), from_file)


def test_pil_images_of_other_modes_are_read_as_their_files_are(tmp_path):
    deep = Image.fromarray(np.linspace(0, 65535, H * W).reshape(H, W).astype(np.uint16))
    path = tmp_path / "deep.png"
    deep.save(path)
    assert np.array_equal(_pixels(deep), np.asarray(load_image(path)))
    floats = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    assert np.array_equal(_pixels(Image.fromarray(floats)), _pixels(floats))


def test_paths_are_read_as_files(tmp_path):
    rgb = _colours(3)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    assert np.array_equal(_pixels(path), rgb)
    assert np.array_equal(_pixels(str(path)), rgb)
    assert given_images(path, SIZE).names == ["photo"]

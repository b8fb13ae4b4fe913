"""Load any picture as 8-bit RGB, the bundled sample pictures, and the network's input transform."""

import difflib
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image
from torchvision.transforms import v2

from convis.runtime.errors import ConvisError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

SAMPLE_IMAGES: Mapping[str, Callable[[], np.ndarray]] = {
    "chelsea": skimage.data.chelsea,
    "cat": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "astronaut": skimage.data.astronaut,
    "rocket": skimage.data.rocket,
}

_HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def resized_size(width: int, height: int, image_size: int) -> tuple[int, int]:
    """The width and height of a picture whose shorter side is resized to `image_size` (before the centre crop)."""
    short, long = min(width, height), max(width, height)
    other = int(image_size * long / short)
    return (image_size, other) if width <= height else (other, image_size)


def check_resize(width: int, height: int, image_size: int, source: object) -> None:
    """Refuse a picture whose resize to `image_size` would exceed PIL's decompression-bomb bound, before it is made.

    A long thin picture (100000 x 1 px) becomes gigabytes when its shorter side is resized: a bomb by aspect ratio.
    """
    new = resized_size(width, height, image_size)
    if new[0] * new[1] > Image.MAX_IMAGE_PIXELS:
        raise ConvisError(
            f"refusing to resize {source}: its {width} x {height} pixels would become {new[0]} x {new[1]} at "
            f"image_size={image_size}, over the {Image.MAX_IMAGE_PIXELS} pixels PIL.Image.MAX_IMAGE_PIXELS allows "
            "(a decompression bomb by its aspect ratio); crop it nearer to a square"
        )


def within_bound(image: Image.Image, image_size: int) -> Image.Image:
    """`image`, checked by check_resize: a transform step before the resize."""
    check_resize(*image.size, image_size, "an image")
    return image


def load_image(path: str | Path, image_size: int | None = None) -> Image.Image:
    """Read an image file as 8-bit RGB, whatever its mode, or raise ConvisError saying why not.

    With `image_size`, a picture whose resize to it would be a decompression bomb is refused before it is decoded.
    """
    path = Path(path)
    if path.is_dir():
        raise ConvisError(f"expected an image file, got a directory: {path} (name one of its files)")
    if not path.exists():
        raise ConvisError(f"image file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image_size is not None:
                    check_resize(*image.size, image_size, path)
                image.load()  # decode everything now, so a truncated file fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ConvisError(
            f"refusing to load {path}: {str(error).rstrip('.')}; raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file"
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        message = f"not a readable image: {path} ({error}); check the file or re-save it as PNG/JPEG"
        raise ConvisError(message) from error
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert a decoded image of any mode to 8-bit RGB; transparency becomes white."""
    if image.mode in _HIGH_BIT_MODES:
        return _rescale_to_8bit(image).convert("RGB")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image.convert("RGB")


def _rescale_to_8bit(image: Image.Image) -> Image.Image:
    """Map a single-channel 16/32-bit integer or float image onto 0..255 by its full scale."""
    scaled = np.asarray(image, dtype=np.float64) * (255.0 / _full_scale(image))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def _full_scale(image: Image.Image) -> float:
    """The value meaning white: 1.0 for float images, else the largest value of the file's bit depth."""
    if image.mode == "F":
        return 1.0
    tags = getattr(image, "tag_v2", {})  # TIFF stores its bit depth; PNG and PGM arrive as 16-bit
    bits = tags.get(258, (16,))[0]
    signed = tags.get(339, (1,))[0] == 2
    return float(2 ** (bits - signed) - 1)


ACCEPTED = (
    "give a path, a PIL image, an HxW or HxWxC array (C = 1, 2, 3 or 4: grey, grey and alpha, RGB, RGBA; uint8, "
    "or float in [0, 1]) or a CxHxW tensor (C = 1 or 3; float in [0, 1], or uint8)"
)


def picture(image: object, where: str = "the image") -> Image.Image:
    """`image` as 8-bit RGB, or a one-line ConvisError naming what is wrong with it (`where`: which image it is).

    A path is read as a file. A PIL image, an HxW or HxWxC array (C = 1 to 4) or a CxHxW tensor (C = 1 or 3, on any
    device, with or without grad) is converted as a file of its mode is: grey becomes RGB, alpha is composited onto
    white. Floats must be finite and in [0, 1]; uint8 arrays and tensors are 0..255; other dtypes are refused.
    """
    if isinstance(image, (str, Path)):
        return load_image(image)
    if isinstance(image, Image.Image):
        return _pil_picture(image, where)
    if isinstance(image, torch.Tensor):
        return _tensor_picture(image, where)
    if isinstance(image, np.ndarray):
        return _array_picture(image, where)
    raise ConvisError(f"{where}: cannot read an image from a {type(image).__name__}: {ACCEPTED}")


def _bad(where: str, described: str, problem: str) -> ConvisError:
    """The one-line error for an image that `problem` (e.g. "has 2 channels") makes unreadable."""
    return ConvisError(f"{where} ({described}) {problem}: {ACCEPTED}")


def _pil_picture(image: Image.Image, where: str) -> Image.Image:
    """A PIL image, decoded and checked (a float one as a float array), as 8-bit RGB."""
    described = f"PIL image of mode {image.mode} and size {image.width} x {image.height}"
    if image.width * image.height == 0:
        raise _bad(where, described, "is empty")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise _bad(where, described, f"cannot be decoded ({error})") from error
    if image.mode == "F":
        _check_floats(np.asarray(image), where, described)
    return _to_rgb(image)


def _tensor_picture(tensor: torch.Tensor, where: str) -> Image.Image:
    """A CxHxW float or uint8 tensor, checked, as 8-bit RGB."""
    described = f"tensor of dtype {str(tensor.dtype).removeprefix('torch.')} and shape {tuple(tensor.shape)}"
    _check_shape(tuple(tensor.shape), (3,), 0, (1, 3), where, described)
    if not (tensor.is_floating_point() or tensor.dtype == torch.uint8):
        raise _bad(where, described, "is neither float nor uint8")
    pixels = tensor.detach().cpu()
    pixels = pixels.float() if pixels.is_floating_point() else pixels
    return _pixels_picture(pixels.permute(1, 2, 0).numpy(), where, described)


def _array_picture(array: np.ndarray, where: str) -> Image.Image:
    """An HxW or HxWxC float or uint8 array, checked, as 8-bit RGB."""
    described = f"array of dtype {array.dtype} and shape {array.shape}"
    _check_shape(array.shape, (2, 3), 2, (1, 2, 3, 4), where, described)
    if not (array.dtype == np.uint8 or np.issubdtype(array.dtype, np.floating)):
        raise _bad(where, described, "is neither float nor uint8")
    return _pixels_picture(array, where, described)


def _check_shape(
    shape: tuple[int, ...], dims: tuple[int, ...], axis: int, channels: tuple[int, ...], where: str, described: str
) -> None:
    """Refuse a shape without `dims` dimensions or, in 3, with other than `channels` channels along `axis`."""
    if len(shape) not in dims:
        raise _bad(where, described, f"has {len(shape)} dimensions")
    if len(shape) == 3 and shape[axis] not in channels:
        raise _bad(where, described, f"has {shape[axis]} channels")


def _pixels_picture(pixels: np.ndarray, where: str, described: str) -> Image.Image:
    """HxW or HxWxC (C = 1 to 4) uint8 or float pixels, not empty, as 8-bit RGB; floats are checked first."""
    if pixels.size == 0:
        raise _bad(where, described, "is empty")
    if pixels.dtype != np.uint8:
        pixels = np.rint(_check_floats(pixels.astype(np.float32), where, described) * 255)
    pixels = pixels.astype(np.uint8)
    return _to_rgb(Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels))


def _check_floats(pixels: np.ndarray, where: str, described: str) -> np.ndarray:
    """`pixels`, refused unless every value is finite and in [0, 1]."""
    if (bad := int(np.count_nonzero(~np.isfinite(pixels)))) > 0:
        raise _bad(where, described, f"holds {bad} NaN or Inf values")
    low, high = float(pixels.min()), float(pixels.max())
    if low < 0 or high > 1:
        hint = "is it 0..255? divide it by 255" if low >= 0 else "is it normalised? undo that, or clamp it to [0, 1]"
        raise _bad(where, described, f"has values in [{low:g}, {high:g}], not in [0, 1] ({hint})")
    return pixels


def sample_image(name: str) -> Image.Image:
    """One of the pictures scikit-image bundles (see SAMPLE_IMAGES), as RGB."""
    if name not in SAMPLE_IMAGES:
        close = difflib.get_close_matches(str(name), SAMPLE_IMAGES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConvisError(f"unknown sample image {name!r}: valid names are {', '.join(SAMPLE_IMAGES)}{hint}")
    return Image.fromarray(SAMPLE_IMAGES[name]()).convert("RGB")


def image_transform(
    image_size: int, mean: Sequence[float], std: Sequence[float]
) -> Callable[[Image.Image], torch.Tensor]:
    """Resize the shorter side, centre-crop to a square, scale to [0, 1] and normalise: a (C, S, S) tensor.

    C is len(mean): 3, or 1 for a grayscale network (the luminance).
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
        raise ConvisError(f"image_size must be a positive integer, got {image_size!r}; e.g. image_size=224")
    return v2.Compose(
        [
            partial(within_bound, image_size=image_size),
            v2.ToImage(),
            v2.Resize(image_size, antialias=True),
            v2.CenterCrop(image_size),
            v2.ToDtype(torch.float32, scale=True),
            *([v2.Grayscale(1)] if len(mean) == 1 else []),  # a grayscale network's one channel
            v2.Normalize(list(mean), list(std)),
        ]
    )


def denormalise(image: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Normalised network input back to [0, 1] pixels (works on one image or a batch)."""
    shape = (-1, 1, 1)
    mean_t = torch.tensor(mean, dtype=image.dtype, device=image.device).view(shape)
    std_t = torch.tensor(std, dtype=image.dtype, device=image.device).view(shape)
    return (image * std_t + mean_t).clamp(0, 1)

"""Make the natural-image magnitude spectrum that param=maco ships with (src/params/natural_spectrum.npy).

Offline, from scikit-image's bundled colour photographs (astronaut, chelsea, coffee, rocket and the left
view of stereo_motorcycle): random square crops of each (side from SIZE px to the picture's shorter side,
resized to SIZE x SIZE with antialiasing), their colours decorrelated with the inverse of Lucid's colour
matrix (MACO recorrelates with it), and |rfft2| averaged over all crops per decorrelated channel.
Saved as float16 [3, SIZE, SIZE // 2 + 1], normalised to a mean of 1.

    python scripts/maco_spectrum.py                 # --size 256 --crops 64 --seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import skimage.data
import torch
from torch.nn import functional as F

from convis.params.fft import DECORRELATE
from convis.params.maco import NATURAL_SPECTRUM


def photographs() -> list[np.ndarray]:
    """scikit-image's bundled colour photographs of everyday scenes, as H x W x 3 uint8 arrays."""
    return [
        skimage.data.astronaut(),
        skimage.data.chelsea(),
        skimage.data.coffee(),
        skimage.data.rocket(),
        skimage.data.stereo_motorcycle()[0],
    ]


def crops(picture: np.ndarray, size: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """`count` random square crops of `picture`, each resized to size x size, as [count, 3, size, size] in [0, 1]."""
    image = torch.from_numpy(picture).permute(2, 0, 1).float() / 255
    height, width = image.shape[1:]
    found = []
    for _ in range(count):
        side = int(torch.randint(size, min(height, width) + 1, (1,), generator=generator))
        y = int(torch.randint(0, height - side + 1, (1,), generator=generator))
        x = int(torch.randint(0, width - side + 1, (1,), generator=generator))
        window = image[None, :, y : y + side, x : x + side]
        found.append(F.interpolate(window, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
    return torch.cat(found)


def natural_spectrum(size: int, count: int, seed: int) -> torch.Tensor:
    """The mean |rfft2| of the decorrelated crops, [3, size, size // 2 + 1], scaled to mean 1."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.cat([crops(picture, size, count, generator) for picture in photographs()])
    decorrelated = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(DECORRELATE), images)
    spectrum = torch.fft.rfft2(decorrelated, norm="ortho").abs().mean(0)
    return spectrum / spectrum.mean()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="side of the crops in pixels")
    parser.add_argument("--crops", type=int, default=64, help="random crops per photograph")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=NATURAL_SPECTRUM)
    args = parser.parse_args(argv)
    spectrum = natural_spectrum(args.size, args.crops, args.seed)
    np.save(args.out, spectrum.numpy().astype(np.float16))
    print(f"{args.out}: {tuple(spectrum.shape)}")


if __name__ == "__main__":
    main()

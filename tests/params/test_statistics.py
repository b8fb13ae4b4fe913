"""The Fourier image works in the network's own normalised space, whatever its input mean and std."""

import numpy as np
import pytest
import torch

import convis
from convis.backbones.backbone import IMAGENET_MEAN, IMAGENET_STD
from convis.data.images import denormalise
from convis.params.fft import FourierImage
from tests.backbones.tiny_nets import TinyNet

OTHERS = [((0.5,) * 3, (0.25,) * 3), ((0.3, 0.5, 0.7), (0.1, 0.3, 0.2))]
QUIET = {"trainer": {"enable_progress_bar": False}}


def saturated(mean, std) -> float:
    """The share of 0 and 255 values in the atlas of TinyNet's conv1 (fixed seed), rendered with `mean`, `std`."""
    torch.manual_seed(0)
    result = convis.activation(
        TinyNet(),
        "conv1",
        channel="all",
        mean=mean,
        std=std,
        image_size=32,
        steps=24,
        optimizer={"optim": {"lr": 0.2}},
        **QUIET,
    )
    pixels = np.stack([np.asarray(image) for image in result.images])
    return float(((pixels == 0) | (pixels == 255)).mean())


@pytest.mark.parametrize(("mean", "std"), OTHERS)
def test_other_statistics_saturate_no_more_pixels_than_imagenets(mean, std):
    assert saturated(mean, std) <= saturated(IMAGENET_MEAN, IMAGENET_STD) + 0.02


@pytest.mark.parametrize(("mean", "std"), OTHERS)
def test_the_same_spectrum_renders_the_same_pixels_under_any_statistics(mean, std):
    torch.manual_seed(0)
    pixels = torch.rand(1, 3, 16, 16) * 0.8 + 0.1
    images = [
        FourierImage((pixels - torch.tensor(m).view(3, 1, 1)) / torch.tensor(s).view(3, 1, 1), m, s)
        for m, s in ((IMAGENET_MEAN, IMAGENET_STD), (mean, std))
    ]
    torch.testing.assert_close(images[0].spectrum, images[1].spectrum, atol=1e-3, rtol=1e-3)
    with torch.no_grad():
        for image in images:
            image.spectrum.normal_(0, 5, generator=torch.Generator().manual_seed(1))
        shown = [
            denormalise(image(), m, s) for image, (m, s) in zip(images, ((IMAGENET_MEAN, IMAGENET_STD), (mean, std)))
        ]
    torch.testing.assert_close(shown[0], shown[1], atol=1e-5, rtol=0)

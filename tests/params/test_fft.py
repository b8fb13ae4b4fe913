"""The Fourier parameterisation against Lucid's definition: 1/f spectrum scaling, colour, sigmoid, range."""

import pytest
import torch

from convis.params.fft import DECORRELATE, FourierImage, spectrum_scale
from convis.priors.constraints import PixelNormBound
from convis.runtime.errors import ConvisError

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


def test_spectrum_scale_is_one_over_frequency_floored_at_the_lowest_frequency():
    scale = spectrum_scale(8, 8)
    assert scale.shape == (8, 5)  # rfft2 layout: all rows, non-negative column frequencies
    assert scale[0, 0] == 8 and scale[0, 1] == 8  # DC is floored at f = 1/8
    torch.testing.assert_close(scale[0, 2], torch.tensor(4.0))  # f = 2/8
    torch.testing.assert_close(scale[3, 4], torch.tensor(1 / (((3 / 8) ** 2 + (4 / 8) ** 2) ** 0.5)))
    torch.testing.assert_close(scale[5, 1], scale[3, 1])  # row 5 is frequency -3/8
    torch.testing.assert_close(spectrum_scale(8, 8, decay_power=2.0), scale**2)


@pytest.mark.parametrize(("ky", "kx"), [(0, 1), (0, 3), (2, 2), (3, 1)])
def test_a_unit_coefficient_renders_a_wave_whose_amplitude_is_its_scale(ky, kx):
    """Each coefficient's wave has energy proportional to its scale squared: steps favour low frequencies."""
    image = FourierImage(torch.zeros(1, 3, 8, 8), MEAN, STD, decorrelate=False)
    with torch.no_grad():
        image.spectrum.zero_()
        image.spectrum[0, 0, ky, kx, 0] = 1.0
        pixels = image() * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    wave = torch.logit(pixels[0, 0].double()) / 0.25  # undo the sigmoid and Lucid's gain of 1/4
    # ortho-normalised inverse FFT: a coefficient and its Hermitian twin carry 2 * scale^2 of energy
    assert wave.square().sum().item() == pytest.approx(2 * spectrum_scale(8, 8)[ky, kx].item() ** 2, rel=1e-4)


def test_starts_at_its_initial_image_and_stays_in_the_valid_range():
    torch.manual_seed(0)
    start = normalised(torch.rand(2, 3, 16, 12) * 0.9 + 0.05)
    image = FourierImage(start, MEAN, STD)
    torch.testing.assert_close(image(), start, atol=1e-4, rtol=0)
    with torch.no_grad():
        image.spectrum.normal_(0, 50)  # far outside anything an optimiser reaches
    pixels = image() * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    assert pixels.min() >= 0 and pixels.max() <= 1
    assert pixels.std() > 0.1  # not stuck at one value


def test_the_zero_image_is_the_mean_image():
    image = FourierImage(torch.zeros(1, 3, 8, 8), MEAN, STD)
    torch.testing.assert_close(image(), torch.zeros(1, 3, 8, 8), atol=1e-5, rtol=0)


def test_colours_are_mixed_by_lucids_matrix_with_unit_largest_column():
    assert DECORRELATE.norm(dim=0).max().item() == pytest.approx(1.0)
    image = FourierImage(torch.zeros(1, 3, 4, 4), MEAN, STD)
    with torch.no_grad():
        image.spectrum.zero_()
        image.spectrum[0, 0, 0, 0, 0] = 1.0  # a flat offset in the first decorrelated channel only
        pixels = image() * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    mixed = torch.logit(pixels[0, :, 0, 0])
    torch.testing.assert_close(mixed / mixed[0], DECORRELATE[:, 0] / DECORRELATE[0, 0])


def test_gradients_reach_the_spectrum_and_constraints_are_refused():
    image = FourierImage(torch.zeros(1, 3, 8, 8), MEAN, STD)
    image()[:, 0].sum().backward()
    assert image.spectrum.grad.abs().sum() > 0
    image.constrain([])  # nothing to apply is fine
    with pytest.raises(ConvisError, match=r"param=fft cannot apply .*PixelNormBound.*param=pixel"):
        image.constrain([PixelNormBound(1.0)], step=0)

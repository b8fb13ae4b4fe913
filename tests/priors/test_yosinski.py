"""Yosinski et al.'s regularisers against the deep-visualization-toolbox's definitions."""

import pytest
import torch

from convis.priors.yosinski import ContributionPercentileClip, Decay, NormPercentileClip, PeriodicBlur


def high_frequency_energy(image: torch.Tensor) -> float:
    """Energy of the spectrum outside the lowest quarter of frequencies."""
    spectrum = torch.fft.fftshift(torch.fft.fft2(image), dim=(-2, -1)).abs().square()
    h, w = image.shape[-2:]
    spectrum[..., h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 0
    return spectrum.sum().item()


def test_decay_shrinks_the_norm_by_exactly_one_minus_the_rate():
    x = torch.randn(2, 3, 8, 8)
    before = x.norm()
    Decay(0.25)(x, step=0)
    assert x.norm().item() == pytest.approx(0.75 * before.item(), rel=1e-6)


def test_blur_lowers_high_frequency_energy_on_every_nth_step_only():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    blur = PeriodicBlur(sigma=1.0, every=4)
    untouched = x.clone()
    for step in (1, 2, 3, 5):
        blur(x, step)
    assert torch.equal(x, untouched)
    blur(x, 4)
    assert high_frequency_energy(x) < 0.05 * high_frequency_energy(untouched)
    torch.testing.assert_close(x.mean(), untouched.mean(), atol=0.02, rtol=0)  # blurring keeps the average
    assert blur.kernel == 9  # 4 sigma each side, as scipy's gaussian_filter


def test_blur_leaves_a_flat_image_alone():
    flat = torch.full((1, 3, 16, 16), 0.3)
    PeriodicBlur(sigma=2.0, every=1)(flat, 0)
    torch.testing.assert_close(flat, torch.full((1, 3, 16, 16), 0.3))


def test_norm_clip_zeroes_the_pixels_below_the_percentile_of_each_image():
    norms = torch.arange(1.0, 101.0).view(1, 10, 10)
    x = torch.cat([norms * 0.6, norms * 0.8, torch.zeros_like(norms)]).unsqueeze(0)  # pixel norms 1 ... 100
    x = torch.cat([x, x.flip(-1)])  # a second image: same norms, other places
    NormPercentileClip(30)(x)
    zeroed = x.norm(dim=1) == 0
    assert zeroed.flatten(1).sum(1).tolist() == [30, 30]
    assert zeroed[0].flatten().tolist() == [True] * 30 + [False] * 70  # the 30 smallest norms
    NormPercentileClip(0)(x)
    assert (x.norm(dim=1) == 0).sum() == 60  # percentile 0 is off


def test_contribution_clip_zeroes_pixels_of_small_abs_x_times_grad():
    x = torch.ones(1, 3, 4, 5, requires_grad=True)
    signs = torch.tensor([1.0, -1.0]).repeat(10)
    benefit = (torch.arange(1.0, 21.0) * signs).view(1, 1, 4, 5)  # |sum over RGB of x * grad| = 3 |benefit|
    (x * benefit).sum().backward()
    with torch.no_grad():
        ContributionPercentileClip(50)(x)
    kept = (x[0] != 0).all(0)
    assert kept.sum() == 10 and (x[0] != 0).sum() == 30  # whole pixels are zeroed
    assert (benefit[0, 0].abs()[kept] > 10).all()  # the large contributions stay, whatever their sign


def test_contribution_clip_needs_a_gradient_and_percentiles_are_checked():
    with pytest.raises(ValueError, match="gradient"):
        ContributionPercentileClip(10)(torch.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match="0-100"):
        NormPercentileClip(120)

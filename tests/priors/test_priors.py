"""Mahendran & Vedaldi's priors against their definitions, and the pixel bound."""

import math

import pytest
import torch

import convis
from convis.objectives import INPUT
from convis.objectives.inversion import feature_match, normalized_error
from convis.priors.constraints import PixelNormBound
from convis.priors.penalties import alpha_norm, l2, total_variation
from convis.priors.transforms import Jitter
from convis.runtime.errors import ConvisError


def test_alpha_norm_is_the_mean_of_normalised_pixel_norms_to_the_alpha():
    x = torch.zeros(2, 3, 4, 4)
    x[0, :, :, :2] = torch.tensor([3.0, 0.0, 4.0]).view(3, 1, 1)  # half the pixels have norm 5
    value = alpha_norm(alpha=2.0, bound=2.0)({INPUT: x})
    torch.testing.assert_close(value, torch.tensor([0.5 * (5 / 2) ** 2, 0.0]))


def test_total_variation_is_zero_on_flat_images_and_matches_a_ramp():
    flat = torch.full((1, 3, 5, 5), 0.7)
    assert total_variation()({INPUT: flat}).item() < 1e-5
    ramp = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 3, 5, 5).contiguous()  # dx = 1 per channel, dy = 0
    # the authors' tv.m: per channel (dx^2 / V^2)^(beta/2), beta = 1, summed over RGB; 0 in the last column
    # (the edge repeated), averaged over all 25 pixels
    expected = 3 * (1.0 / 0.5**2) ** (1.0 / 2) * 20 / 25
    torch.testing.assert_close(total_variation(beta=1.0, scale=0.5)({INPUT: ramp}), torch.tensor([expected]))
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64)  # beta = 2: the plain sum of squared differences over H W
    d1 = torch.cat([x.diff(dim=-1), torch.zeros(2, 3, 6, 1, dtype=x.dtype)], -1)
    d2 = torch.cat([x.diff(dim=-2), torch.zeros(2, 3, 1, 7, dtype=x.dtype)], -2)
    reference = (d1.square() + d2.square()).sum((1, 2, 3)) / 42 / 0.214**2
    torch.testing.assert_close(total_variation()({INPUT: x}), reference)


def test_l2_is_the_squared_norm():
    x = torch.ones(2, 3, 2, 2)
    torch.testing.assert_close(l2(0.5)({INPUT: x}), torch.tensor([6.0, 6.0]))


def test_normalized_error_definition():
    phi0 = torch.tensor([[3.0, 4.0]])
    assert normalized_error(phi0, phi0).item() == 0
    assert math.isclose(normalized_error(torch.zeros(1, 2), phi0).item(), 1.0)
    assert math.isclose(feature_match("l", phi0, weight=100)({"l": torch.tensor([[3.0, 3.0]])}).item(), 100 / 25)


def test_pixel_bound_scales_only_pixels_above_it():
    x = torch.zeros(1, 3, 1, 2)
    x[0, :, 0, 0] = torch.tensor([6.0, 8.0, 0.0])  # norm 10
    x[0, :, 0, 1] = torch.tensor([0.3, 0.4, 0.0])  # norm 0.5
    PixelNormBound(2.0)(x)
    norms = x.norm(dim=1).flatten()
    torch.testing.assert_close(norms, torch.tensor([2.0, 0.5]))
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([1.2, 1.6, 0.0]))


def test_jitter_shifts_within_its_range():
    x = torch.zeros(1, 1, 9, 9)
    x[..., 4, 4] = 1
    for _ in range(20):
        y, xx = (Jitter(2)(x)[0, 0] == 1).nonzero()[0].tolist()
        assert abs(y - 4) <= 2 and abs(xx - 4) <= 2
    assert torch.equal(Jitter(0)(x), x)


@pytest.mark.parametrize("penalty", [alpha_norm, total_variation, l2])
@pytest.mark.parametrize("weight", [-1, 0, "heavy"])
def test_a_penalty_refuses_a_weight_that_is_not_positive(penalty, weight):
    with pytest.raises(ConvisError) as caught:
        penalty(weight=weight)
    assert str(caught.value) == f"weight={weight!r} must be a positive number, e.g. weight=1.0"


def test_a_bad_penalty_weight_is_one_line_naming_it_from_the_command_line():
    overrides = ["experiment=own_network", "layer=conv2", "image_size=32", "steps=2", "prior.penalties.1.weight=-1"]
    with pytest.raises(ConvisError) as caught:
        convis.run(overrides)  # prior=mahendran: penalties alpha_norm and total_variation
    assert str(caught.value) == "weight=-1 must be a positive number, e.g. weight=1.0"

"""The perturbation methods (occlusion, feature ablation, KernelSHAP, LIME, RISE) against their definitions.

Captum returns float32 attributions even for float64 inputs: the float64 nets only make the hand-computed
drops exact.
"""

import pytest
import torch
from torch import nn

from convis.attribution.base import black
from convis.attribution.rise import rise_masks
from convis.attribution.superpixels import superpixels
from convis.backbones import Backbone
from convis.runtime.errors import ConvisError

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BACKBONE = Backbone(arch="tiny", net=nn.Identity(), names={}, mean=MEAN, std=STD, categories=[])


def quadrants(size: int = 16) -> torch.Tensor:
    """A (1, 3, size, size) normalised picture of four flat colours, one per quadrant: four obvious superpixels."""
    half = size // 2
    pixels = torch.zeros(1, 3, size, size)
    for (y, x), colour in zip(
        [(0, 0), (0, half), (half, 0), (half, half)], [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0)]
    ):
        pixels[0, :, y : y + half, x : x + half] = torch.tensor(colour, dtype=torch.float).view(3, 1, 1) * 0.8 + 0.1
    return (pixels - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def linear_net(size: int = 16, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 3)).eval().requires_grad_(False)


def shapley_of_linear(net: nn.Sequential, x: torch.Tensor, ids: torch.Tensor, target: int) -> torch.Tensor:
    """Each pixel's superpixel's exact Shapley value for a linear score: sum over it of w * (x - black)."""
    contribution = (net[1].weight[target].view_as(x[0]) * (x[0] - black(BACKBONE, x)[0])).sum(0)
    expected = torch.zeros_like(contribution)
    for segment in ids.unique():
        inside = ids[0, 0] == segment
        expected[inside] = contribution[inside].sum()
    return expected


def test_occlusion_of_each_patch_is_the_score_drop(method, tiny_net):
    net, x, target = tiny_net(seed=2, dtype=torch.float64), torch.randn(1, 3, 8, 8, dtype=torch.float64), 3
    result = method("occlusion", net, window=4, stride=4).attribute(x, torch.tensor([target]))[0]
    for y in (0, 4):
        for x0 in (0, 4):
            hidden = x.clone()
            hidden[..., y : y + 4, x0 : x0 + 4] = black(BACKBONE, x)[..., y : y + 4, x0 : x0 + 4]
            drop = net(x)[0, target] - net(hidden)[0, target]
            assert torch.allclose(result[y : y + 4, x0 : x0 + 4], drop.float().expand(4, 4), atol=1e-6)


def test_occlusion_where_patches_overlap_is_the_mean_drop_of_those_covering_the_pixel(method, tiny_net):
    net, x, target = tiny_net(seed=2, dtype=torch.float64), torch.randn(1, 3, 8, 8, dtype=torch.float64), 1
    result = method("occlusion", net, window=4, stride=2).attribute(x, torch.tensor([target]))[0]

    def drop(y: int, x0: int) -> torch.Tensor:
        hidden = x.clone()
        hidden[..., y : y + 4, x0 : x0 + 4] = black(BACKBONE, x)[..., y : y + 4, x0 : x0 + 4]
        return net(x)[0, target] - net(hidden)[0, target]

    assert torch.allclose(result[0, 0], drop(0, 0).float(), atol=1e-6)  # one patch covers the corner
    covering = torch.stack([drop(y, x0) for y in (0, 2) for x0 in (0, 2)])  # four cover pixel (3, 3)
    assert torch.allclose(result[3, 3], covering.mean().float(), atol=1e-6)


def test_a_window_larger_than_the_image_occludes_all_of_it(method, tiny_net):
    net, x = tiny_net(seed=1), torch.randn(1, 3, 8, 8)
    result = method("occlusion", net, window=64).attribute(x, torch.tensor([0]))[0]
    drop = net(x)[0, 0] - net(black(BACKBONE, x))[0, 0]
    assert torch.allclose(result, drop.expand(8, 8), atol=1e-6)


def test_superpixels_follow_the_picture_in_its_zero_one_pixels():
    ids = superpixels(quadrants(), BACKBONE, segments=4, compactness=10.0)
    assert ids.shape == (1, 1, 16, 16) and ids.dtype == torch.long
    corners = [ids[0, 0, y, x].item() for y, x in [(0, 0), (0, 15), (15, 0), (15, 15)]]
    assert len(set(corners)) == 4  # one superpixel per quadrant, each flat
    for (y, x), corner in zip([(0, 0), (0, 8), (8, 0), (8, 8)], corners):
        assert (ids[0, 0, y : y + 8, x : x + 8] == corner).all()


def test_feature_ablation_of_each_superpixel_is_the_score_drop(method, tiny_net):
    net, x, target = tiny_net(seed=4), quadrants(), 2
    result = method("feature_ablation", net, segments=4).attribute(x, torch.tensor([target]))[0]
    ids = superpixels(x, BACKBONE, 4, 10.0)[0, 0]
    assert len(ids.unique()) == 4
    for segment in ids.unique():
        inside = ids == segment
        hidden = torch.where(inside, black(BACKBONE, x), x)
        drop = net(x)[0, target] - net(hidden)[0, target]
        assert torch.allclose(result[inside], drop.expand(int(inside.sum())), atol=1e-6)


def test_kernel_shap_on_a_linear_model_is_the_exact_shapley_values(method):
    torch.manual_seed(0)
    net, x = linear_net(), quadrants()
    x = torch.cat([x, x.flip(-1)])  # two images, one at a time through Captum
    result = method("kernel_shap", net, samples=64, segments=4).attribute(x, torch.tensor([1, 2]))
    for image, target in enumerate((1, 2)):
        ids = superpixels(x[image : image + 1], BACKBONE, 4, 10.0)
        expected = shapley_of_linear(net, x[image : image + 1], ids, target)
        # the regression's model family holds the linear score: exact but for float32 rounding
        assert torch.allclose(result[image], expected, atol=1e-4 * expected.abs().max())


def test_kernel_shap_of_a_single_superpixel_is_the_exact_score_drop_from_black(method, tiny_net):
    torch.manual_seed(0)
    net, x = tiny_net(), torch.randn(2, 3, 32, 32)  # noise: SLIC finds one segment, Captum's kernel none to draw
    assert superpixels(x, BACKBONE, 50, 10.0).max() == 0
    result = method("kernel_shap", net, samples=20).attribute(x, torch.tensor([0, 3]))
    drop = net(x)[[0, 1], [0, 3]] - net(black(BACKBONE, x))[[0, 1], [0, 3]]
    assert torch.allclose(result, drop.view(2, 1, 1).expand(2, 32, 32), atol=1e-6)


def test_lime_on_a_linear_model_recovers_each_superpixels_contribution(method):
    torch.manual_seed(0)
    net, x = linear_net(seed=3), quadrants()
    result = method("lime", net, samples=64, segments=4).attribute(x, torch.tensor([0]))[0]
    expected = shapley_of_linear(net, x, superpixels(x, BACKBONE, 4, 10.0), 0)
    # the score is linear in which superpixels are kept, w . (x - black) each: weighted least squares with an
    # intercept recovers it whatever the sample weights, but for float32 rounding
    assert torch.allclose(result, expected, atol=1e-4 * expected.abs().max())


def test_kernel_shap_and_lime_are_seeded_by_torch(method, tiny_net):
    net, x = tiny_net(), quadrants()
    for name in ("kernel_shap", "lime"):
        built = method(name, net, samples=20, segments=4)
        runs = []
        for seed in (0, 0, 1):
            torch.manual_seed(seed)
            runs.append(built.attribute(x, torch.tensor([0])))
        assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_rise_with_its_masks_is_the_formula(method, tiny_net):
    net, x, target = tiny_net(seed=5), torch.randn(2, 3, 12, 12), torch.tensor([1, 4])
    result = method("rise", net, masks=20, cells=3, keep=0.4, batch=7, seed=3).attribute(x, target)
    masks = rise_masks(3, 20, 3, 0.4, (12, 12))
    base = black(BACKBONE, x[:1])
    for image in range(2):
        probs = net(base + masks * (x[image] - base)).softmax(1)[:, target[image]]
        expected = (probs.view(-1, 1, 1, 1) * masks).sum(0)[0] / (20 * 0.4)
        assert torch.allclose(result[image], expected, atol=1e-6)


def test_rise_masks_are_smooth_shifted_grids_kept_with_probability_keep():
    masks = rise_masks(0, 400, 7, 0.3, (32, 32))
    assert masks.shape == (400, 1, 32, 32) and masks.min() >= 0 and masks.max() <= 1
    assert masks.mean().item() == pytest.approx(0.3, abs=0.02)
    assert not torch.equal(masks[0], masks[1]) and ((masks > 0) & (masks < 1)).any()  # bilinear, not binary
    assert torch.equal(rise_masks(0, 400, 7, 0.3, (32, 32)), masks)


def test_rise_the_same_seed_gives_the_same_map_and_another_seed_another(method, tiny_net):
    net, x, target = tiny_net(), torch.randn(1, 3, 16, 16), torch.tensor([2])
    first, again, other = (method("rise", net, masks=50, seed=seed).attribute(x, target) for seed in (7, 7, 8))
    assert torch.equal(first, again) and not torch.allclose(first, other)


def test_rise_without_a_seed_takes_torchs(method, tiny_net):
    net, x, target = tiny_net(), torch.randn(1, 3, 16, 16), torch.tensor([2])
    torch.manual_seed(11)
    unseeded = method("rise", net, masks=50).attribute(x, target)
    assert torch.equal(unseeded, method("rise", net, masks=50, seed=11).attribute(x, target))


class RegionMean(nn.Module):
    """Logits (k * mean of the region's pixels, 0): the probability of class 0 grows with the region kept."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        region = x[:, :, 8:20, 4:16].mean((1, 2, 3))
        return torch.stack([4 * region, torch.zeros_like(region)], 1)


def test_rise_is_higher_inside_the_region_the_score_reads(method):
    x = black(BACKBONE, torch.zeros(1, 3, 32, 32)) + 2.0  # every pixel brighter than black
    result = method("rise", RegionMean(), masks=500, cells=4, seed=0).attribute(x, torch.tensor([0]))[0]
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[8:20, 4:16] = True
    assert inside.flatten()[result.argmax()] and result[inside].min() > result[~inside].mean()
    assert result[inside].mean() > 1.2 * result[~inside].mean()


@pytest.mark.parametrize(
    ("name", "key", "value", "wants", "example"),
    [
        ("occlusion", "window", 0, "a positive whole number", "16"),
        ("occlusion", "stride", -2, "a positive whole number", "8"),
        ("occlusion", "batch", 0, "a positive whole number", "50"),
        ("feature_ablation", "segments", 0, "a positive whole number", "50"),
        ("feature_ablation", "compactness", -1.0, "a positive number", "10"),
        ("kernel_shap", "samples", 0, "a positive whole number", "1000"),
        ("lime", "samples", 2.5, "a positive whole number", "1000"),
        ("rise", "keep", 1.0, "a number between 0 and 1 (exclusive)", "0.5"),
        ("rise", "keep", 0, "a number between 0 and 1 (exclusive)", "0.5"),
        ("rise", "masks", 0, "a positive whole number", "4000"),
        ("rise", "cells", 0, "a positive whole number", "7"),
        ("rise", "seed", 1.5, "a whole number", "0"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(method, tiny_net, name, key, value, wants, example):
    with pytest.raises(ConvisError) as caught:
        method(name, tiny_net(), **{key: value})
    assert str(caught.value) == f"method.{key}={value!r} must be {wants}, e.g. method.{key}={example}"


def test_rise_refuses_more_cells_than_pixels(method, tiny_net):
    with pytest.raises(ConvisError) as caught:
        method("rise", tiny_net(), cells=9)  # the fixture's image_size is 8
    assert str(caught.value) == "method.cells=9 is more than image_size=8 pixels: give at most 8"

"""The saliency methods: exact properties on tiny models, shapes and signs, the errors."""

import captum.attr
import pytest
import torch
from torch import nn

from convis.attribution.base import black, channel_sum, one_channel
from convis.backbones import Backbone
from convis.config import options

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
METHODS = options("method")


def maps(method, name: str, net: nn.Module, x: torch.Tensor, target: torch.Tensor, **settings):
    return method(name, net, **settings).attribute(x, target)


def test_gradient_of_a_linear_model_is_the_channel_max_of_its_weights(method, tiny_net):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).requires_grad_(False)
    x, target = torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    expected = net[1].weight[target].view(2, 3, 8, 8).abs().amax(1)
    assert torch.equal(maps(method, "gradient", net, x, target), expected)


def test_gradient_matches_finite_differences_on_a_tiny_conv_net(method, tiny_net):
    net = tiny_net(dtype=torch.float64)
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    eps, target = 1e-6, 2
    numeric = torch.zeros_like(x)
    for index in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=x.dtype)
        step[index] = eps
        step = step.view_as(x)
        numeric.view(-1)[index] = (net(x + step)[0, target] - net(x - step)[0, target]) / (2 * eps)
    expected = numeric.abs().amax(1)
    assert torch.allclose(maps(method, "gradient", net, x, torch.tensor([target])), expected, rtol=1e-6, atol=1e-10)


def test_black_is_zero_pixels_in_the_normalised_space():
    backbone = Backbone(arch="tiny", net=nn.Identity(), names={}, mean=MEAN, std=STD, categories=[])
    baseline = black(backbone, torch.randn(2, 3, 4, 5))
    pixels = baseline * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
    assert baseline.shape == (2, 3, 4, 5) and torch.allclose(pixels, torch.zeros(2, 3, 4, 5), atol=1e-7)


def test_integrated_gradients_sum_to_the_score_difference_from_black(method, tiny_net):
    net, x, target = tiny_net(seed=1), torch.randn(3, 3, 12, 12), torch.tensor([0, 2, 4])
    attributions = maps(method, "integrated_gradients", net, x, target).sum((1, 2))
    rows = torch.arange(3)
    baseline = black(Backbone(arch="tiny", net=net, names={}, mean=MEAN, std=STD, categories=[]), x)
    difference = net(x)[rows, target] - net(baseline)[rows, target]
    assert torch.all((attributions - difference).abs() <= 0.01 * difference.abs())


def test_integrated_gradients_in_chunks_equal_all_at_once(method, tiny_net):
    net, x, target = tiny_net(seed=1), torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    whole = maps(method, "integrated_gradients", net, x, target, samples_per_pass=None)
    assert torch.allclose(maps(method, "integrated_gradients", net, x, target, samples_per_pass=7), whole, atol=1e-6)


@pytest.mark.parametrize("name", METHODS)
def test_each_method_gives_one_map_per_image_non_negative_where_the_method_is(method, tiny_net, name):
    net, x, target = tiny_net(), torch.randn(3, 3, 10, 10), torch.tensor([0, 1, 2])
    built = method(name, net)
    result = built.attribute(x, target)
    assert result.shape == (3, 10, 10) and result.dtype == torch.float32
    assert torch.isfinite(result).all() and result.abs().sum() > 0
    if built.reduce not in (channel_sum, one_channel):  # signed: a channel sum (it keeps the total), a score drop
        assert (result >= 0).all()


def test_smoothgrad_with_negligible_noise_is_the_gradient(method, tiny_net):
    net, x, target = tiny_net(), torch.randn(2, 3, 8, 8), torch.tensor([1, 4])
    silent = {"noise_level": 1e-9, "samples": 4, "samples_per_pass": 2}  # too little to cross a ReLU
    smooth = maps(method, "smoothgrad", net, x, target, **silent)
    assert torch.allclose(smooth, maps(method, "gradient", net, x, target), atol=1e-7)


def test_smoothgrad_noise_is_a_fraction_of_the_pixel_range(method, tiny_net):
    seen = []
    net = tiny_net()
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    x = torch.zeros(1, 3, 32, 32)
    maps(method, "smoothgrad", net, x, torch.tensor([0]), samples=64)
    noise_sd = torch.cat(seen).std().item()
    assert noise_sd == pytest.approx(0.15 / (sum(STD) / 3), rel=0.02)  # 15% of [0, 1] in normalised units


def test_gradcam_is_the_relu_of_the_gradient_weighted_channels(method, tiny_net):
    net, x, target = tiny_net(seed=3), torch.randn(2, 3, 8, 8), torch.tensor([1, 2])
    activations = net.features(x)  # the layer (features.3) feeds a global average pool and a linear layer
    weights = net.classifier.weight[target] / (8 * 8)  # dS_c/dA_k averaged over positions
    expected = (weights[:, :, None, None] * activations).sum(1).clamp_min(0)
    assert torch.allclose(maps(method, "gradcam", net, x, target, layer="features.3"), expected, atol=1e-6)


def test_guided_backprop_passes_only_positive_gradients_through_relu6(method, tiny_net):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 16), nn.ReLU6(), nn.Linear(16, 3)).requires_grad_(False)
    x, target = torch.randn(1, 3, 4, 4) * 3, torch.tensor([2])
    hidden = net[1](x.flatten(1))[0]
    passed = (net[3].weight[2] * ((hidden > 0) & (hidden < 6))).clamp_min(0)
    expected = (passed @ net[1].weight).view(3, 4, 4).abs().amax(0)
    assert torch.allclose(maps(method, "guided_backprop", net, x, target)[0], expected, atol=1e-6)
    # Captum alone hooks only nn.ReLU: on ReLU6 it returns the plain gradient, which differs here
    plain = captum.attr.GuidedBackprop(net).attribute(x.requires_grad_(), target=target).abs().amax(1)[0]
    assert torch.allclose(plain, maps(method, "gradient", net, x, target)[0]) and not torch.allclose(plain, expected)


def test_guided_backprop_on_relu_is_captums(method, tiny_net):
    net, x, target = tiny_net(), torch.randn(2, 3, 8, 8), torch.tensor([0, 3])
    expected = captum.attr.GuidedBackprop(net).attribute(x.clone().requires_grad_(), target=target).abs().amax(1)
    assert torch.allclose(maps(method, "guided_backprop", net, x, target), expected)


def test_the_network_is_left_as_it_was(method, tiny_net):
    net = tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for name in METHODS:
        maps(method, name, net, torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not net._forward_hooks and not any(m._backward_hooks or m._forward_hooks for m in net.modules())

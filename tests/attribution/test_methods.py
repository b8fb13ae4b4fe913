"""The saliency methods: exact properties on tiny models, shapes and signs, the errors."""

from collections import OrderedDict

import captum.attr
import pytest
import torch
from torch import nn

from src.attribution import METHODS, Settings, build_method
from src.attribution.methods import black
from src.errors import ConvisError

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SETTINGS = Settings(mean=MEAN, std=STD, samples=8, layer="features.2")


def tiny_net(seed: int = 0, activation: type[nn.Module] = nn.ReLU, dtype=torch.float32) -> nn.Sequential:
    """conv-act-conv-act, global average pool, linear: the shape of the real backbones, 5 classes."""
    torch.manual_seed(seed)
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), activation(), nn.Conv2d(4, 6, 3, padding=1), activation())
    head = nn.Linear(6, 5)
    chain = OrderedDict(features=features, pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), classifier=head)
    return nn.Sequential(chain).to(dtype).eval().requires_grad_(False)


def maps(name: str, net: nn.Module, x: torch.Tensor, target: torch.Tensor, settings: Settings = SETTINGS):
    return build_method(name, net, settings).attribute(x, target)


def test_gradient_of_a_linear_model_is_the_channel_max_of_its_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).requires_grad_(False)
    x, target = torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    expected = net[1].weight[target].view(2, 3, 8, 8).abs().amax(1)
    assert torch.equal(maps("gradient", net, x, target), expected)


def test_gradient_matches_finite_differences_on_a_tiny_conv_net():
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
    assert torch.allclose(maps("gradient", net, x, torch.tensor([target])), expected, rtol=1e-6, atol=1e-10)


def test_integrated_gradients_sum_to_the_score_difference_from_black():
    net, x, target = tiny_net(seed=1), torch.randn(3, 3, 12, 12), torch.tensor([0, 2, 4])
    attributions = maps("integrated_gradients", net, x, target).sum((1, 2))
    rows = torch.arange(3)
    difference = net(x)[rows, target] - net(black(SETTINGS, x))[rows, target]
    assert torch.all((attributions - difference).abs() <= 0.01 * difference.abs())


def test_integrated_gradients_in_chunks_equal_all_at_once():
    net, x, target = tiny_net(seed=1), torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    chunked = Settings(mean=MEAN, std=STD, samples_per_pass=7)
    whole = maps("integrated_gradients", net, x, target)
    assert torch.allclose(maps("integrated_gradients", net, x, target, chunked), whole, atol=1e-6)


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_gives_one_map_per_image_non_negative_where_the_method_is(name):
    net, x, target = tiny_net(), torch.randn(3, 3, 10, 10), torch.tensor([0, 1, 2])
    result = maps(name, net, x, target)
    assert result.shape == (3, 10, 10) and result.dtype == torch.float32
    assert torch.isfinite(result).all() and result.abs().sum() > 0
    if name != "integrated_gradients":  # signed: its maps keep the completeness sum
        assert (result >= 0).all()


def test_smoothgrad_without_noise_is_the_gradient():
    net, x, target = tiny_net(), torch.randn(2, 3, 8, 8), torch.tensor([1, 4])
    silent = Settings(mean=MEAN, std=STD, noise_level=0.0, samples=4, samples_per_pass=2)
    assert torch.allclose(maps("smoothgrad", net, x, target, silent), maps("gradient", net, x, target), atol=1e-7)


def test_smoothgrad_noise_is_a_fraction_of_the_pixel_range():
    seen = []
    net = tiny_net()
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    x = torch.zeros(1, 3, 32, 32)
    maps("smoothgrad", net, x, torch.tensor([0]), Settings(mean=MEAN, std=STD, samples=64))
    noise_sd = torch.cat(seen).std().item()
    assert noise_sd == pytest.approx(0.15 / (sum(STD) / 3), rel=0.02)  # 15% of [0, 1] in normalised units


def test_gradcam_is_the_relu_of_the_gradient_weighted_channels():
    net, x, target = tiny_net(seed=3), torch.randn(2, 3, 8, 8), torch.tensor([1, 2])
    activations = net.features(x)  # the layer (features.3) feeds a global average pool and a linear layer
    weights = net.classifier.weight[target] / (8 * 8)  # dS_c/dA_k averaged over positions
    expected = (weights[:, :, None, None] * activations).sum(1).clamp_min(0)
    settings = Settings(mean=MEAN, std=STD, layer="features.3")
    assert torch.allclose(maps("gradcam", net, x, target, settings), expected, atol=1e-6)


def test_guided_backprop_passes_only_positive_gradients_through_relu6():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 16), nn.ReLU6(), nn.Linear(16, 3)).requires_grad_(False)
    x, target = torch.randn(1, 3, 4, 4) * 3, torch.tensor([2])
    hidden = net[1](x.flatten(1))[0]
    passed = (net[3].weight[2] * ((hidden > 0) & (hidden < 6))).clamp_min(0)
    expected = (passed @ net[1].weight).view(3, 4, 4).abs().amax(0)
    assert torch.allclose(maps("guided_backprop", net, x, target)[0], expected, atol=1e-6)
    # Captum alone hooks only nn.ReLU: on ReLU6 it returns the plain gradient, which differs here
    plain = captum.attr.GuidedBackprop(net).attribute(x.requires_grad_(), target=target).abs().amax(1)[0]
    assert torch.allclose(plain, maps("gradient", net, x, target)[0]) and not torch.allclose(plain, expected)


def test_guided_backprop_on_relu_is_captums():
    net, x, target = tiny_net(), torch.randn(2, 3, 8, 8), torch.tensor([0, 3])
    expected = captum.attr.GuidedBackprop(net).attribute(x.clone().requires_grad_(), target=target).abs().amax(1)
    assert torch.allclose(maps("guided_backprop", net, x, target), expected)


def test_the_network_is_left_as_it_was():
    net = tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for name in METHODS:
        maps(name, net, torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not net._forward_hooks and not any(m._backward_hooks or m._forward_hooks for m in net.modules())


def test_unknown_method_lists_the_valid_ones():
    valid = "gradient, smoothgrad, integrated_gradients, guided_backprop, gradcam"
    with pytest.raises(ConvisError, match=f"unknown method='saliency': choose one of {valid}"):
        build_method("saliency", tiny_net(), SETTINGS)


def test_gradcam_without_a_layer_says_what_to_set():
    with pytest.raises(ConvisError, match="objective.gradcam_layer="):
        build_method("gradcam", tiny_net(), Settings(mean=MEAN, std=STD))

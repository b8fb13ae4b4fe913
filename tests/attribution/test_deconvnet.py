"""method=deconvnet: Zeiler & Fergus's backward rule, on a network small enough to work by hand."""

import captum.attr
import torch
from torch import nn


def test_deconvnet_passes_the_positive_signal_whatever_the_forward_input(method):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 16), nn.ReLU6(), nn.Linear(16, 3)).requires_grad_(False)
    x, target = torch.randn(1, 3, 4, 4), torch.tensor([2])
    passed = net[3].weight[2].clamp_min(0)  # no forward mask: the deconvnet ignores where the ReLU was off
    expected = (passed @ net[1].weight).view(3, 4, 4).abs().amax(0)
    assert torch.allclose(method("deconvnet", net).attribute(x, target)[0], expected, atol=1e-6)
    gradient = method("gradient", net).attribute(x, target)[0]
    assert not torch.allclose(gradient, expected)


def test_deconvnet_on_relu_is_captums(method, tiny_net):
    net, x, target = tiny_net(), torch.randn(2, 3, 8, 8), torch.tensor([0, 3])
    expected = captum.attr.Deconvolution(net).attribute(x.clone().requires_grad_(), target=target).abs().amax(1)
    assert torch.allclose(method("deconvnet", net).attribute(x, target), expected)

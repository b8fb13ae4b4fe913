"""method=input_x_gradient: x * dS_c/dx summed over colour channels, exactly, on tiny networks."""

import torch
from torch import nn


def test_a_linear_models_map_is_input_times_weight_and_sums_to_the_score(method):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 4, bias=False)).requires_grad_(False)
    x, target = torch.randn(2, 3, 6, 6), torch.tensor([1, 3])
    maps = method("input_x_gradient", net).attribute(x, target)
    expected = (x * net[1].weight[target].view(2, 3, 6, 6)).sum(1)
    assert torch.allclose(maps, expected, atol=1e-6)
    assert torch.allclose(maps.sum((1, 2)), net(x)[torch.arange(2), target], atol=1e-5)


def test_on_a_conv_net_it_is_the_input_times_the_gradient(method, tiny_net):
    net, x, target = tiny_net(seed=2), torch.randn(2, 3, 8, 8), torch.tensor([0, 4])
    image = x.clone().requires_grad_()
    net(image)[torch.arange(2), target].sum().backward()
    expected = (x * image.grad).sum(1)
    assert torch.allclose(method("input_x_gradient", net).attribute(x, target), expected, atol=1e-6)

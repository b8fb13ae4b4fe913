"""method=lrp: Zennit's own attribution on seeded VGG16, MobileNetV2 and ResNet18, conservation, restoration."""

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet18, vgg16
from zennit.attribution import Gradient
from zennit.canonizers import AttributeCanonizer, SequentialMergeBatchNorm
from zennit.composites import EpsilonAlpha2Beta1, EpsilonPlusFlat
from zennit.torchvision import ResNetBasicBlockCanonizer, VGGCanonizer

from convis.attribution.lrp import residual_sum
from convis.runtime.errors import ConvisError

TARGETS = torch.tensor([3, 7])


def seeded(make, seed: int = 0) -> nn.Module:
    """A torchvision network with seeded weights and, where it has BatchNorm, non-trivial statistics to merge."""
    torch.manual_seed(seed)
    net = make()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return net.eval().requires_grad_(False)


def scaled(maps: torch.Tensor) -> torch.Tensor:
    """Maps divided by their largest magnitude: a random MobileNetV2's logits are tiny, and so its relevance."""
    return maps / maps.abs().amax()


def zennit_relevance(net: nn.Module, composite, x: torch.Tensor, targets: torch.Tensor = TARGETS) -> torch.Tensor:
    """Zennit's attribution of the target logits, summed over the colour channels."""
    with Gradient(net, composite) as attributor:
        _, relevance = attributor(x, lambda out: out * nn.functional.one_hot(targets, out.shape[1]))
    return relevance.sum(1)


@pytest.mark.parametrize(
    ("make", "canonizers"),
    [
        (vgg16, lambda: [VGGCanonizer()]),
        (mobilenet_v2, lambda: [SequentialMergeBatchNorm(), AttributeCanonizer(residual_sum)]),
        (resnet18, lambda: [SequentialMergeBatchNorm(), ResNetBasicBlockCanonizer()]),
    ],
)
def test_lrp_equals_zennits_own_attribution_with_the_same_composite_and_canonizers(method, make, canonizers):
    net, x = seeded(make), torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    expected = zennit_relevance(net, EpsilonPlusFlat(canonizers=canonizers()), x)
    found = method("lrp", net).attribute(x, TARGETS)
    torch.testing.assert_close(scaled(found), scaled(expected), rtol=1e-4, atol=1e-5)
    other = method("lrp", net, composite="epsilon_alpha2_beta1").attribute(x, TARGETS)
    expected = zennit_relevance(net, EpsilonAlpha2Beta1(canonizers=canonizers()), x)
    torch.testing.assert_close(scaled(other), scaled(expected), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(scaled(found), scaled(other), atol=1e-2)


def test_epsilon_plus_flat_relevance_on_vgg16_sums_to_the_logit(method):
    net, x = seeded(vgg16, seed=2), torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    totals = method("lrp", net).attribute(x, TARGETS).sum((1, 2))
    logits = net(x)[torch.arange(2), TARGETS]
    assert torch.all((totals - logits).abs() <= 0.01 * logits.abs())


def test_the_residual_canonizer_changes_mobilenet_relevance_and_leaves_the_network_as_it_was(method):
    net, x = seeded(mobilenet_v2), torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(4))
    state = {key: value.clone() for key, value in net.state_dict().items()}
    before = net(x)
    with_sums = method("lrp", net).attribute(x, TARGETS[:1])
    without = zennit_relevance(net, EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()]), x, TARGETS[:1])
    assert not torch.allclose(scaled(with_sums), scaled(without), atol=1e-2)
    assert torch.equal(net(x), before) and all(torch.equal(net.state_dict()[k], v) for k, v in state.items())
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))  # the merge's biases removed
    assert "forward" not in vars(net.features[2]) and not hasattr(net.features[2], "canonizer_sum")


def test_the_box_composite_is_bounded_by_the_black_and_white_images(method, tiny_net):
    net, x = tiny_net(), torch.randn(2, 3, 8, 8)
    maps = method("lrp", net, composite="epsilon_gamma_box").attribute(x, torch.tensor([0, 1]))
    assert maps.shape == (2, 8, 8) and torch.isfinite(maps).all() and maps.abs().sum() > 0


def test_an_unknown_composite_is_refused_with_the_valid_ones(method, tiny_net):
    with pytest.raises(ConvisError, match=r"method.composite=epsilon_magic is not one of .*epsilon_plus_flat"):
        method("lrp", tiny_net(), composite="epsilon_magic")

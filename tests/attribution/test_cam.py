"""The CAM family (pytorch-grad-cam) against each method's definition on tiny networks, and its errors."""

from collections import OrderedDict

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from convis.runtime.errors import ConvisError


def strided_net(seed: int = 0) -> nn.Sequential:
    """conv (stride 2)-ReLU-conv-ReLU, global average pool, linear: the layers are half the image's size."""
    torch.manual_seed(seed)
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, stride=2), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1))
    chain = OrderedDict(features=features, relu=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten())
    return nn.Sequential(OrderedDict(**chain, classifier=nn.Linear(6, 5))).eval().requires_grad_(False)


def scaled(cam: Tensor) -> Tensor:
    """pytorch-grad-cam's output scale: each map shifted and divided to span [0, 1]."""
    low = cam.flatten(1).amin(1).view(-1, 1, 1)
    return (cam - low) / (cam.flatten(1).amax(1).view(-1, 1, 1) - low)


def as_map(cam: Tensor, size: int) -> Tensor:
    """A layer's (N, h, w) CAM as the methods return it: positive part, bilinearly upsampled, scaled."""
    return scaled(F.interpolate(cam.clamp_min(0)[:, None], size=size, mode="bilinear")[:, 0])


def layer_and_gradient(net: nn.Module, layer: nn.Module, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """The layer's activations A and the gradient dS_c/dA of each image's target score."""
    seen = []
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.append(output))
    scores = net(x.requires_grad_())[torch.arange(len(x)), target].sum()
    handle.remove()
    return seen[0].detach(), torch.autograd.grad(scores, seen[0])[0]


def xgradcam_weights(a: Tensor, g: Tensor) -> Tensor:
    return (g * a).sum((2, 3), keepdim=True) / a.sum((2, 3), keepdim=True)


DEFINITIONS = {  # (A, dS/dA) -> the CAM at the layer, before its positive part
    "hirescam": lambda a, g: (g * a).sum(1),
    "layercam": lambda a, g: (g.clamp_min(0) * a).sum(1),
    "xgradcam": lambda a, g: (xgradcam_weights(a, g) * a).sum(1),
}


@pytest.mark.parametrize("name", DEFINITIONS)
def test_gradient_cams_at_a_strided_layer_are_their_definitions_upsampled(method, name):
    net, x, target = strided_net(), torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    a, g = layer_and_gradient(net, net.features[1], x.clone(), target)  # 4 x 4 positions, gradients vary
    expected = as_map(DEFINITIONS[name](a, g), 8)
    assert torch.allclose(method(name, net, layer="features.1").attribute(x, target), expected, atol=1e-5)


def hand_worked_net() -> nn.Sequential:
    """The layer is the input itself (2 x 2, three channels), then average pool and a linear head."""
    head = nn.Linear(3, 2, bias=False).requires_grad_(False)
    head.weight.copy_(torch.tensor([[2.0, 4.0, 0.0], [1.0, 1.0, 1.0]]))
    chain = OrderedDict(layer=nn.Identity(), pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), classifier=head)
    return nn.Sequential(chain).eval().requires_grad_(False)


def test_gradcam_plus_plus_weights_a_case_worked_by_hand(method):
    # A_0 = [[1, 0], [2, 1]], A_1 = [[0, 3], [1, 0]], A_2 = 0: each sums to S_k = 4 (A_2: 0).
    # Class 0's score is (2 mean(A_0) + 4 mean(A_1)), so g_k = dS/dA_k = 2/4, 4/4, 0 at every position.
    # alpha_k = g^2 / (2 g^2 + S_k g^3) = 1 / (2 + S_k g): 1/4 and 1/6; w_k = sum_ij relu(g) alpha = 4 g alpha:
    # w_0 = 1/2, w_1 = 2/3 (w_2 = 0: alpha is 0 where the gradient is), and the CAM
    # w_0 A_0 + w_1 A_1 = [[1/2, 2], [5/3, 1/2]], scaled to [0, 1]: [[0, 1], [7/9, 0]].
    x = torch.tensor([[[[1.0, 0.0], [2.0, 1.0]], [[0.0, 3.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]])
    cam = method("gradcam_plus_plus", hand_worked_net(), layer="layer").attribute(x, torch.tensor([0]))
    assert torch.allclose(cam, torch.tensor([[[0.0, 1.0], [7 / 9, 0.0]]]), atol=1e-5)
    # Grad-CAM's weights (g itself: 1/2, 1) give [[1/2, 3], [2, 1/2]], scaled [[0, 1], [0.6, 0]]: not the same
    gradcam = method("gradcam", hand_worked_net(), layer="layer").attribute(x, torch.tensor([0]))
    assert torch.allclose(scaled(gradcam), torch.tensor([[[0.0, 1.0], [0.6, 0.0]]]), atol=1e-5)


def test_eigencam_projects_on_the_first_principal_component_whatever_the_class(method):
    net, x = strided_net(seed=2), torch.randn(2, 3, 8, 8)
    a, _ = layer_and_gradient(net, net.features[1], x.clone(), torch.tensor([0, 0]))
    positions = a.flatten(2).transpose(1, 2)  # (N, h*w, C)
    centred = positions - positions.mean(1, keepdim=True)
    first = torch.linalg.svd(centred, full_matrices=False).Vh[:, 0]  # (N, C), its sign arbitrary
    projection = (centred @ first[..., None]).view(2, 4, 4)
    built = method("eigencam", net, layer="features.1")
    cam = built.attribute(x, torch.tensor([0, 0]))
    for i in range(2):  # the package's SVD may choose the other sign of the component
        options = [as_map(sign * projection[i : i + 1], 8)[0] for sign in (1, -1)]
        assert any(torch.allclose(cam[i], option, atol=1e-4) for option in options)
    assert torch.equal(built.attribute(x, torch.tensor([3, 4])), cam)


def test_scorecam_weights_channels_by_the_softmax_of_their_masked_scores(method):
    net, x, target = strided_net(seed=1), torch.randn(2, 3, 8, 8), torch.tensor([2, 0])
    a, _ = layer_and_gradient(net, net.features[1], x.clone(), target)
    masks = F.interpolate(a, size=8, mode="bilinear", align_corners=True)  # the package's UpsamplingBilinear2d
    low, high = masks.flatten(2).amin(2)[..., None, None], masks.flatten(2).amax(2)[..., None, None]
    masks = (masks - low) / (high - low + 1e-8)
    rows = [net(x[i] * masks[i][:, None])[:, target[i]] for i in range(2)]  # (channels,) scores per image
    weights = torch.stack(rows).softmax(1)
    expected = as_map((weights[..., None, None] * a).sum(1), 8)
    cams = [method("scorecam", net, layer="features.1", batch_size=size).attribute(x, target) for size in (3, 32)]
    assert torch.allclose(cams[0], expected, atol=1e-5) and torch.equal(cams[0], cams[1])


def test_ablationcam_weights_channels_by_the_relative_drop_when_zeroed(method):
    net, x, target = strided_net(seed=4), torch.randn(2, 3, 8, 8), torch.tensor([4, 1])
    a, _ = layer_and_gradient(net, net.features[1], x.clone(), target)
    rows = torch.arange(2)
    score = net(x)[rows, target]
    dropped = []
    for k in range(4):
        handle = net.features[1].register_forward_hook(lambda m, i, out, k=k: out.index_fill(1, torch.tensor([k]), 0))
        dropped.append(net(x)[rows, target])
        handle.remove()
    weights = (score[:, None] - torch.stack(dropped, 1)) / score[:, None]
    expected = as_map((weights[..., None, None] * a).sum(1), 8)
    cam = method("ablationcam", net, layer="features.1", batch_size=3).attribute(x, target)
    assert torch.allclose(cam, expected, atol=1e-5)
    assert isinstance(net.features[1], nn.ReLU)  # the layer is back in place after the ablations


def test_the_default_layer_is_the_last_convolutional_features_and_the_hooks_go(method):
    net, x, target = strided_net(), torch.randn(1, 3, 8, 8), torch.tensor([0])
    cam = method("hirescam", net).attribute(x, target)  # the ReLU after features.2: the last spatial, non-pool layer
    assert torch.allclose(cam, method("hirescam", net, layer="relu").attribute(x, target))
    assert all(not module._forward_hooks for module in net.modules())


def test_a_layer_that_is_not_spatial_is_refused_naming_a_spatial_one(method):
    with pytest.raises(ConvisError) as error:
        method("layercam", strided_net(), layer="classifier")
    assert str(error.value) == (
        "method.layer=classifier: a CAM method needs a layer with a spatial output (channels x height x width), "
        "and classifier gives [5]; choose a convolutional layer, e.g. method.layer=relu"
    )


def test_a_network_without_convolutional_features_is_refused(method):
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).requires_grad_(False)
    with pytest.raises(ConvisError, match="has no layer with a spatial output .* use method=gradient"):
        method("eigencam", net)


@pytest.mark.parametrize("name", ["scorecam", "ablationcam"])
def test_batch_size_must_be_positive(method, name):
    with pytest.raises(ConvisError, match=r"^method.batch_size=0 must be a positive whole number"):
        method(name, strided_net(), batch_size=0)

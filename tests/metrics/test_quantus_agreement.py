"""convis's saliency metrics against Quantus 0.6's on the same tiny 2-class model, images and gradient maps.

Where the two agree by definition the numbers match to float32 precision; where they differ by definition
(docs/methods.md#saliency-metrics) the test pins the difference down.
"""

import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import quantus
import torch
from torch import nn

from convis.attribution.gradient import gradient
from convis.backbones import Backbone
from convis.metrics.saliency import (
    SaliencyEvaluation,
    auc,
    box_masks,
    cascading_randomisation,
    random_logit,
    randomisable_layers,
    spearman,
)

SIZE = 24  # 576 pixels: Quantus's features_in_step must divide H*W
STEPS = 36  # deletion: 16 pixels a step, 48 values (3 channels) for Quantus
ROAD_SHARES = (0.1875, 0.375, 0.75)  # whole numbers of pixels: 108, 216, 432
ATOL = 1e-6
pytestmark = pytest.mark.filterwarnings("ignore")  # Quantus warns about its parameterisation on every call


def tiny_net() -> nn.Sequential:
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    head = nn.Linear(8, 2)  # two classes: the "random other class" is the other one
    chain = OrderedDict(features=features, pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), classifier=head)
    return nn.Sequential(chain).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def setup():
    net = tiny_net()
    backbone = Backbone(arch="tiny", net=net, names={}, mean=(0.5,) * 3, std=(0.25,) * 3, categories=[])
    build = lambda model: gradient(model, backbone, SIZE)  # noqa: E731
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(8, 3, SIZE, SIZE, generator=generator)
    targets = torch.tensor([0, 1] * 4)
    maps = build(net).attribute(images, targets)
    corners = torch.randint(0, SIZE - 8, (8, 2), generator=generator)
    boxes = torch.cat([corners, corners + 8], 1)
    return net, build, images, targets, maps, box_masks(boxes, SIZE, SIZE)


def explain(build):
    """The convis method as Quantus's explain_func: numpy in, (N, 1, H, W) maps out."""
    return lambda model, inputs, targets, **kwargs: (
        build(model).attribute(torch.as_tensor(inputs), torch.as_tensor(targets))[:, None].numpy()
    )


def evaluate(net, images, maps, targets, regions) -> dict[str, torch.Tensor]:
    """convis's evaluation with the settings that make it Quantus's definitions (1 px tolerance, no noise)."""
    evaluation = SaliencyEvaluation(
        tolerance=224 / SIZE, perturbation_steps=STEPS, road_fractions=ROAD_SHARES, road_noise=0.0
    )
    return evaluation(lambda x: net(x).softmax(1), images, maps, targets, regions)


def quantus_inputs(images, targets, maps) -> dict[str, np.ndarray]:
    return {"x_batch": images.numpy(), "y_batch": targets.numpy(), "a_batch": maps[:, None].numpy()}


def test_deletion_is_pixel_flipping_with_the_zero_baseline_and_the_same_pixels_per_step(setup):
    net, _, images, targets, maps, regions = setup
    ours = evaluate(net, images, maps, targets, regions)
    flipping = quantus.PixelFlipping(features_in_step=3 * SIZE * SIZE // STEPS, perturb_baseline=0.0, normalise=False)
    curves = torch.tensor(flipping(model=net, **quantus_inputs(images, targets, maps), device="cpu"))
    assert curves.shape == (8, STEPS)  # Quantus's curve starts after the first step: no point for the image itself
    torch.testing.assert_close(curves.float(), ours["deletion_curve"][:, 1:], atol=ATOL, rtol=0)
    start = net(images).softmax(1).gather(1, targets[:, None])
    torch.testing.assert_close(auc(torch.cat([start, curves.float()], 1)), ours["deletion_auc"], atol=ATOL, rtol=0)
    with pytest.raises(AttributeError, match="trapz"):  # Quantus 0.6's own AUC calls np.trapz, gone in numpy 2.4
        quantus.PixelFlipping(
            features_in_step=3 * SIZE * SIZE // STEPS, perturb_baseline=0.0, normalise=False, return_auc_per_sample=True
        )(model=net, **quantus_inputs(images, targets, maps), device="cpu")
    # its definition: trapezoids of width 1 over its 36 points, not divided by their span, the image's point left out
    by_hand = STEPS * ours["deletion_auc"] - (ours["deletion_curve"][:, 0] + ours["deletion_curve"][:, 1]) / 2
    torch.testing.assert_close(torch.tensor(np.trapezoid(curves.numpy(), axis=1)).float(), by_hand, atol=1e-5, rtol=0)


def test_road_morf_is_quantus_road_scored_by_probability_instead_of_accuracy(setup):
    net, _, images, targets, maps, regions = setup
    ours = evaluate(net, images, maps, targets, regions)["road_morf_curve"]
    inputs = quantus_inputs(images, targets, maps)
    with pytest.raises(IndexError):  # Quantus 0.6 ranks a 1-channel map's copies on 3 channels as pixels
        quantus.ROAD(percentages=[50], noise=0.0, normalise=False)(model=net, **inputs, device="cpu")
    # its workaround: a 3-channel map whose other channels rank last; then p% of 3*H*W values are 3p% pixels
    below = np.full_like(inputs["a_batch"], inputs["a_batch"].min() - 1)
    inputs["a_batch"] = np.concatenate([inputs["a_batch"], below, below], 1)
    road = quantus.ROAD(percentages=[100 * share / 3 for share in ROAD_SHARES], noise=0.0, normalise=False)
    road(model=net, **inputs, device="cpu")
    accuracy = torch.tensor(list(road.evaluation_scores.values())).float()
    torch.testing.assert_close(accuracy, (ours > 0.5).float().mean(0))  # 2 classes: argmax = probability > 1/2
    assert 0 < accuracy.min() and accuracy.max() < 1  # some images keep their class, some lose it


def test_pointing_game_is_quantus_with_a_tolerance_of_one_pixel(setup):
    net, _, images, targets, maps, regions = setup
    ours = evaluate(net, images, maps, targets, regions)["pointing_game"]
    inputs = quantus_inputs(images, targets, maps) | {"s_batch": regions[:, None].numpy()}
    theirs = quantus.PointingGame(normalise=False)(model=net, **inputs, device="cpu")
    assert ours.tolist() == [bool(hit) for hit in theirs] and 0 < ours.sum() < 8
    tied = torch.zeros(1, 1, SIZE, SIZE)  # two equal maxima: the first outside the box, the second inside it
    tied[0, 0, 0, 0] = tied[0, 0, 12, 12] = 1.0
    inside = box_masks(torch.tensor([[10, 10, 14, 14]]), SIZE, SIZE)
    hit = quantus.PointingGame(normalise=False)(
        model=net, x_batch=images[:1].numpy(), y_batch=targets[:1].numpy(), a_batch=tied.numpy(),
        s_batch=inside[:, None].numpy(), device="cpu",
    )  # fmt: skip
    assert hit == [True]  # Quantus: any maximum in the object; convis: the first maximum
    assert not evaluate(net, images[:1], tied[:, 0], targets[:1], inside)["pointing_game"].item()


def test_random_logit_is_quantus_with_the_spearman_similarity(setup):
    net, build, images, targets, maps, _ = setup
    ours = random_logit(build(net).attribute, images, targets, maps, classes=2, seed=0)
    theirs = quantus.RandomLogit(similarity_func=quantus.similarity_func.correlation_spearman, num_classes=2)(
        model=net, **quantus_inputs(images, targets, maps), explain_func=explain(build), device="cpu"
    )
    torch.testing.assert_close(torch.tensor(theirs).float(), ours, atol=ATOL, rtol=0)
    assert ours.abs().max() < 0.9  # the other class's map really differs


def quantus_seeded(net: nn.Module, layers: list[str], seed: int):
    """Quantus's cascade: every layer re-initialised after torch.manual_seed(seed + 1), the same seed at each."""
    model = copy.deepcopy(net)
    for path in layers:
        torch.manual_seed(seed + 1)
        model.get_submodule(path).reset_parameters()
        yield path, model


def test_sanity_check_is_mprt_top_down_up_to_how_each_layer_is_seeded(setup):
    net, build, images, targets, maps, _ = setup
    with warnings.catch_warnings(), torch.random.fork_rng():  # MPRT seeds torch's global generator
        mprt = quantus.MPRT(similarity_func=quantus.similarity_func.correlation_spearman, seed=4, abs=False)
        theirs = mprt(model=net, **quantus_inputs(images, targets, maps), explain_func=explain(build), device="cpu")
        layers = randomisable_layers(net)
        assert list(theirs) == ["original", *layers]  # the same layers, top down (no BatchNorm here)
        assert theirs["original"] == pytest.approx([1.0] * 8)
        ours = {
            p: spearman(build(m).attribute(images, targets), maps) for p, m in cascading_randomisation(net, layers, 5)
        }
        same_seed = {p: spearman(build(m).attribute(images, targets), maps) for p, m in quantus_seeded(net, layers, 4)}
    first = layers[0]  # convis seeds depth d with seed + d: seed 5 at the top is Quantus's seed 4 + 1
    torch.testing.assert_close(torch.tensor(theirs[first]).float(), ours[first], atol=ATOL, rtol=0)
    for path in layers[1:]:
        assert not torch.allclose(torch.tensor(theirs[path]).float(), ours[path], atol=1e-3)
        torch.testing.assert_close(torch.tensor(theirs[path]).float(), same_seed[path], atol=ATOL, rtol=0)

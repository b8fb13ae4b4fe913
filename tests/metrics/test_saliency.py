"""Saliency quality metrics against their definitions, on hand-made maps and toy models."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from convis.attribution.gradient import gradient
from convis.backbones import Backbone
from convis.metrics.saliency import (
    SaliencyEvaluation,
    auc,
    box_masks,
    cascading_randomisation,
    centre_points,
    mask_boxes,
    paired_iou,
    peak_points,
    perturbation_curves,
    pointing_hits,
    random_order,
    randomisable_layers,
    saliency_order,
    spearman,
    tolerance,
)


def peak_map(size: int, row: int, column: int) -> torch.Tensor:
    saliency = torch.rand(1, size, size) * 0.1
    saliency[0, row, column] = 1.0
    return saliency


@pytest.mark.parametrize(
    ("size", "column", "hit"),
    [(224, 110, True), (224, 135, True), (224, 136, False), (112, 67, True), (112, 68, False)],
)
def test_pointing_game_counts_a_peak_within_the_scaled_tolerance(size, column, hit):
    half = size // 2  # the box's last column is 121 at 224 (tolerance 15), 60 at 112 (tolerance 7.5)
    scale = size // 112
    box = torch.tensor([[half - 5 * scale, half - 5 * scale, half + 5 * scale, half + 5 * scale]])
    regions = box_masks(box, size, size)
    point = peak_points(peak_map(size, half, column))
    assert point.tolist() == [[half, column]]
    assert pointing_hits(point, regions, tolerance(size)).tolist() == [hit]


def test_pointing_game_on_a_mask_measures_from_its_pixels():
    regions = torch.zeros(1, 64, 64, dtype=torch.bool)
    regions[0, 30, 30] = True
    near, far = torch.tensor([[30, 33]]), torch.tensor([[34, 34]])  # distance 3 and sqrt(32) ~ 5.7
    assert pointing_hits(near, regions, 5.0).item() and not pointing_hits(far, regions, 5.0).item()


def test_centre_baseline_hits_only_objects_near_the_centre():
    boxes = torch.tensor([[40, 40, 80, 80], [0, 0, 30, 30]])
    hits = pointing_hits(centre_points(2, 128, 128), box_masks(boxes, 128, 128), tolerance(128))
    assert hits.tolist() == [True, False]


def test_boxes_and_masks_round_trip_and_iou():
    boxes = torch.tensor([[0, 0, 10, 10], [3, 5, 7, 6]])
    masks = box_masks(boxes, 12, 12)
    assert masks.sum((1, 2)).tolist() == [100, 4]
    assert torch.equal(mask_boxes(masks), boxes.float())
    assert paired_iou(torch.tensor([[0, 0, 10, 10]]), torch.tensor([[5, 0, 15, 10]])).item() == pytest.approx(1 / 3)


def summed(images: torch.Tensor) -> torch.Tensor:
    """A toy 'probability': the sum of the kept pixels, one class."""
    return images.sum((1, 2, 3))[:, None]


IMAGE = torch.tensor([[4.0, 3.0], [2.0, 1.0]]).expand(1, 3, 2, 2)  # score 30, each pixel worth 3x its value


@pytest.mark.parametrize(
    ("kind", "steps", "best_first", "curve", "area"),
    [
        ("deletion", 4, True, [30, 18, 9, 3, 0], 11.25),  # (60 - 15 - 0) / 4
        ("deletion", 4, False, [30, 27, 21, 12, 0], 18.75),
        ("insertion", 4, True, [0, 12, 21, 27, 30], 18.75),
        ("insertion", 4, False, [0, 3, 9, 18, 30], 11.25),
        ("deletion", 2, True, [30, 9, 0], 12.0),  # two pixels a step: (39 - 15) / 2
    ],
)
def test_deletion_and_insertion_auc_by_hand(kind, steps, best_first, curve, area):
    saliency = IMAGE[:, 0] if best_first else -IMAGE[:, 0]
    start, finish = (IMAGE, torch.zeros_like(IMAGE)) if kind == "deletion" else (torch.zeros_like(IMAGE), IMAGE)
    got = perturbation_curves(summed, start, finish, torch.tensor([0]), saliency_order(saliency), steps, batch=3)
    assert got.tolist() == [curve]
    assert auc(got).item() == pytest.approx(area)


def test_any_order_lies_between_the_best_and_the_worst():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 8, 8)
    worth = image.sum(1)
    targets = torch.tensor([0, 0])
    black = torch.zeros_like(image)
    deletion = lambda order: auc(perturbation_curves(summed, image, black, targets, order, 16))  # noqa: E731
    best, worst = deletion(saliency_order(worth)), deletion(saliency_order(-worth))
    for seed in range(3):
        shuffled = deletion(random_order(2, 64, torch.Generator().manual_seed(seed)))
        assert torch.all(best < shuffled) and torch.all(shuffled < worst)


class ObjectDetector(nn.Module):
    """Two classes; the first wins by how much of a bright ~100-pixel object is visible, and by nothing else."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        visible = (images[:, 0] > 0.9).float().sum((1, 2)) / 100
        return torch.stack([10 * visible - 5, torch.zeros_like(visible)], 1)


def test_a_map_on_the_object_beats_the_centre_and_the_random_order():
    images = torch.zeros(2, 3, 32, 32)
    boxes = torch.tensor([[2, 3, 12, 13], [18, 20, 30, 30]])  # off the centre
    regions = box_masks(boxes, 32, 32)
    images[:, 0][regions] = 1.0
    maps = regions.float() + torch.rand(2, 32, 32) * 0.01
    model = ObjectDetector()
    evaluate = SaliencyEvaluation(perturbation_steps=16)
    result = evaluate(lambda x: model(x).softmax(1), images, maps, torch.tensor([0, 0]), regions)
    assert result["pointing_game"].tolist() == [True, True]
    assert result["pointing_game_centre"].tolist() == [False, False]
    assert torch.all(result["deletion_auc"] < result["deletion_auc_random"] - 0.3)
    assert torch.all(result["insertion_auc"] > result["insertion_auc_random"] + 0.3)
    deletion = result["deletion_curve"]  # 17 points: the image, 16 steps of 64 pixels, all black
    assert deletion.shape == (2, 17) and torch.equal(auc(deletion), result["deletion_auc"])
    torch.testing.assert_close(deletion[:, 0], model(images).softmax(1)[:, 0])
    torch.testing.assert_close(deletion[:, -1], model(torch.zeros_like(images)).softmax(1)[:, 0])


def test_insertion_starts_from_the_blurred_image():
    images = torch.rand(1, 3, 16, 16)
    frames = []
    evaluate = SaliencyEvaluation(perturbation_steps=2, blur_kernel=5, blur_sigma=1.0)
    record = lambda x: frames.append(x) or summed(x)  # noqa: E731
    evaluate(record, images, torch.rand(1, 16, 16), torch.tensor([0]), images[:, 0] > 0)
    gauss = torch.exp(-(torch.arange(-2.0, 3) ** 2) / 2)
    gauss /= gauss.sum()
    kernel = (gauss[:, None] * gauss[None]).expand(3, 1, 5, 5)
    blurred = nn.functional.conv2d(nn.functional.pad(images, (2, 2, 2, 2), mode="reflect"), kernel, groups=3)
    assert torch.equal(frames[0][0], images[0])  # deletion starts from the image
    assert torch.allclose(frames[1][0], blurred[0], atol=1e-6)  # insertion from its blurred copy


def test_spearman_is_one_for_a_monotone_change_and_minus_one_reversed():
    maps = torch.rand(3, 8, 8)
    assert torch.allclose(spearman(maps.exp(), maps), torch.ones(3))
    assert torch.allclose(spearman(-maps, maps), -torch.ones(3))


def tiny_net() -> nn.Sequential:
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    head = nn.Linear(8, 4)
    chain = OrderedDict(features=features, pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), classifier=head)
    return nn.Sequential(chain).eval().requires_grad_(False)


def test_cascading_randomisation_goes_top_down_on_a_copy_and_the_correlation_falls():
    net = tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    backbone = Backbone(arch="tiny", net=net, names={}, mean=(0.5,) * 3, std=(0.25,) * 3, categories=[])
    images, targets = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    original = gradient(net, backbone, 16).attribute(images, targets)
    layers = randomisable_layers(net)
    assert layers == ["classifier", "features.2", "features.0"]
    rho = [
        spearman(gradient(model, backbone, 16).attribute(images, targets), original).mean().item()
        for _, model in cascading_randomisation(net, layers, seed=1)
    ]
    assert rho[0] < 0.95 and rho[0] > rho[1] > rho[2] and rho[2] < 0.3
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())

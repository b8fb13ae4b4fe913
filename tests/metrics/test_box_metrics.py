"""box_iou and box_accuracy, recomputed by hand from the boxes: unit-level and through objective=saliency."""

import sys
import types

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from convis import experiments
from convis.attribution.localisation import GrabCut
from convis.experiments.saliency import summarise
from convis.metrics.saliency import paired_iou

TRUTH = [[2, 4, 14, 16], [16, 16, 30, 28], [8, 18, 20, 30]]  # x0, y0, x1, y1, x1 and y1 exclusive
# what the localiser "finds" in each picture: the object itself, its left 8 of 14 columns, a disjoint corner
FOUND = [[2, 4, 14, 16], [16, 16, 24, 28], [0, 0, 8, 8]]
TINY_NET = ["backbone=custom", "backbone.model._target_=tests.backbones.tiny_nets.TinyNet"]


def hand_iou(box: list[int], truth: list[int]) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes whose x1, y1 are exclusive."""
    width = max(0, min(box[2], truth[2]) - max(box[0], truth[0]))
    height = max(0, min(box[3], truth[3]) - max(box[1], truth[1]))
    inter = width * height
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    return inter / (area(box) + area(truth) - inter)


@pytest.mark.parametrize(
    ("box", "truth", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 5, 15, 15], 25 / 175),
        ([0, 0, 10, 10], [0, 0, 10, 5], 0.5),
        ([0, 0, 2, 2], [2, 2, 4, 4], 0.0),  # touching corners: exclusive ends share no pixel
        ([3, 1, 7, 9], [0, 0, 5, 4], 6 / 46),
    ],
)
def test_paired_iou_matches_hand_computations(box, truth, expected):
    assert hand_iou(box, truth) == pytest.approx(expected)
    (iou,) = paired_iou(torch.tensor([box]), torch.tensor([truth])).tolist()
    assert iou == pytest.approx(expected, abs=1e-6)


def test_paired_iou_pairs_each_box_with_its_own_truth():
    boxes, truth = torch.tensor(FOUND), torch.tensor(TRUTH)
    expected = [hand_iou(b, t) for b, t in zip(FOUND, TRUTH)]
    assert paired_iou(boxes, truth).tolist() == pytest.approx(expected, abs=1e-6)


def test_summarise_box_accuracy_is_the_share_at_or_above_one_half():
    results = [{"box_iou": iou} for iou in (0.2, 0.5, 0.9, 0.49)]  # 0.5 itself counts as localised
    summary = summarise(results)
    assert summary["box_iou"] == pytest.approx(np.mean([0.2, 0.5, 0.9, 0.49]))
    assert summary["box_accuracy"] == pytest.approx(0.5)
    assert summarise([{"box_iou": 0.1}])["box_accuracy"] == 0.0
    assert summarise([{"box_iou": 0.7}])["box_accuracy"] == 1.0


def squares(image_size: int, mean, std) -> list[dict]:
    """Flat grey pictures, each with one red square at TRUTH[i] and that box as ground truth."""
    items = []
    for index, (x0, y0, x1, y1) in enumerate(TRUTH):
        pixels = torch.full((3, image_size, image_size), 0.5)
        pixels[:, y0:y1, x0:x1] = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1)
        image = (pixels - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
        items.append({"image": image, "name": f"square{index}", "label": 0, "box": [x0, y0, x1, y1]})
    return items


def test_a_saliency_run_scores_the_boxes_it_reports(cfg_factory, monkeypatch):
    module = types.ModuleType("box_metrics_fixture")
    module.squares = squares
    monkeypatch.setitem(sys.modules, "box_metrics_fixture", module)
    calls = []

    def localise(self, image, saliency):  # the boxes of FOUND, in the order the images come
        calls.append(image.shape)
        return FOUND[len(calls) - 1]

    monkeypatch.setattr(GrabCut, "__call__", localise)
    cfg = cfg_factory("objective=saliency", *TINY_NET, "objective.evaluation.perturbation_steps=2")
    with open_dict(cfg):
        cfg.dataset = {"_target_": "box_metrics_fixture.squares"}
    metrics = experiments.run(cfg).metrics

    results = metrics["results"]
    assert [r["box"] for r in results] == FOUND and calls == [(32, 32, 3)] * 3
    hand = [hand_iou(r["box"], truth) for r, truth in zip(results, TRUTH)]
    assert hand == pytest.approx([1.0, 96 / 168, 0.0])
    assert [r["box_iou"] for r in results] == pytest.approx(hand, abs=1e-6)
    assert metrics["summary"]["box_iou"] == pytest.approx(np.mean(hand), abs=1e-6)
    assert metrics["summary"]["box_accuracy"] == pytest.approx(2 / 3)  # neither 0 nor 1

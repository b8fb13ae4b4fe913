"""Gradient saliency of a network fine-tuned on shapes, measured on held-out shapes (docs/methods.md#saliency-metrics).

A small run of the done-when pipeline: random-init MobileNetV2 fine-tuned on shapes, then
objective=saliency method=gradient with its checkpoint on the val split. The maps must beat the
pointing game's centre baseline and the random pixel order of deletion and insertion, and the
model-randomisation sanity check must pull them away from the original as more layers are reset. CRAFT on
the same network (the demo's: a MobileNetV2 fine-tuned on shapes) finds concepts of a class from its images.
"""

from pathlib import Path

import numpy as np
import pytest

from convis import experiments
from tests.conftest import make_cfg

pytestmark = pytest.mark.slow

SHAPES = ["dataset=shapes", "dataset.val_fraction=0.05", "image_size=64", "backbone=mobilenet_v2"]
FINETUNE = ["objective=finetune", "objective.epochs=12", "objective.scheduler=null"]
SALIENCY = [
    "objective=saliency",
    "method=gradient",
    "dataset.split=val",
    "objective.batch_size=50",
    "objective.sanity_check=true",
    "objective.sanity_depths=6",
    "objective.evaluation.perturbation_steps=16",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[dict, dict, Path]:
    """(finetune metrics, saliency metrics, checkpoint): the fine-tune, then gradient saliency with its best
    checkpoint."""
    out = tmp_path_factory.mktemp("finetuned")
    finetune = experiments.run(make_cfg(out / "finetune", *SHAPES, *FINETUNE)).metrics
    checkpoint = out / "finetune" / finetune["results"][0]["checkpoint"]
    saliency = experiments.run(make_cfg(out / "saliency", *SHAPES, *SALIENCY, f"backbone.weights={checkpoint}"))
    return finetune, saliency.metrics, checkpoint


def test_the_network_learned_the_shapes(runs):
    (result,) = runs[0]["results"]
    assert result["val_acc"] > result["chance_acc"] + 0.3


def test_gradient_points_at_the_object_more_often_than_the_centre(runs):
    summary = runs[1]["summary"]
    assert summary["pointing_game"] > summary["pointing_game_centre"]


def test_deleting_the_salient_pixels_first_drops_the_score_faster_than_a_random_order(runs):
    summary = runs[1]["summary"]
    assert summary["deletion_auc"] < summary["deletion_auc_random"]


def test_inserting_the_salient_pixels_first_raises_the_score_faster_than_a_random_order(runs):
    summary = runs[1]["summary"]
    assert summary["insertion_auc"] > summary["insertion_auc_random"]


def test_the_maps_drift_from_the_original_as_more_layers_are_randomised(runs):
    correlations = [row["spearman"] for row in runs[1]["sanity_check"]]
    assert len(correlations) == 6 and correlations[0] > correlations[-1]
    assert np.mean(np.diff(correlations) <= 0) >= 0.6  # mostly falling, depth after depth


def test_craft_finds_concepts_of_the_class_with_importances_in_0_1_from_its_images(runs, tmp_path):
    craft = ["objective=craft", "layer=block_13_expand_relu", "target=square", "objective.images=12"]
    weights = [f"backbone.weights={runs[2]}", "dataset.size=60", "objective.concepts=5", "objective.maps=1"]
    metrics = experiments.run(make_cfg(tmp_path, *SHAPES, *craft, *weights)).metrics
    squares = [r["image"] for r in metrics["results"] if r["view"] == "map"]
    assert metrics["images"] == 12 and all(name.endswith("_square") for name in squares)
    importances = [c["importance"] for c in metrics["concepts"]]
    assert len(importances) == 5 and all(0 <= v <= 1 for v in importances) and max(importances) > 0
    crops = [crop["image"] for concept in metrics["concepts"] for crop in concept["crops"]]
    assert crops and all(name.endswith("_square") for name in crops)  # the shapes' names carry their class

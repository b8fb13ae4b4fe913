"""ROAD (Rong et al. 2022) and the random-logit check against their definitions, on hand-made maps and toy models."""

import pytest
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import RemoveLeastRelevantFirst, RemoveMostRelevantFirst
from pytorch_grad_cam.metrics.road import NoisyLinearImputer

from convis.metrics.saliency import SaliencyEvaluation, random_logit, road_frames, saliency_order, spearman
from convis.runtime.errors import ConvisError

BOX = (slice(3, 7), slice(3, 7))  # a 4 x 4 object on a 10 x 10 image


def looks_at_the_box(images: torch.Tensor) -> torch.Tensor:
    """Two-class probabilities of a model that sees only how bright the box is (background 0, object 1)."""
    score = 8 * (images[:, :, BOX[0], BOX[1]].mean((1, 2, 3)) - 0.5)
    return torch.stack([score, -score], 1).softmax(1)


def boxed_images(n: int) -> torch.Tensor:
    images = torch.zeros(n, 3, 10, 10)
    images[:, :, BOX[0], BOX[1]] = 1.0
    return images


@pytest.mark.parametrize(("morf", "percentile"), [(True, 70), (True, 30), (False, 80), (False, 40)])
def test_road_frames_are_pytorch_grad_cams_removal_on_a_map_without_ties(morf, percentile):
    # pytorch-grad-cam keeps the pixels below the map's percentile: on 100 distinct values, exactly `percentile`
    images, maps = torch.rand(1, 3, 10, 10), torch.randperm(100).float().view(1, 10, 10) / 100
    orders = saliency_order(maps if morf else -maps)
    torch.manual_seed(1)
    ours = road_frames(images, orders, 1 - percentile / 100, noise=0.01)[0]
    removal = (RemoveMostRelevantFirst if morf else RemoveLeastRelevantFirst)(percentile, NoisyLinearImputer())
    torch.manual_seed(1)
    theirs = removal(images[0], maps[0])
    assert torch.allclose(ours, theirs, atol=1e-6)
    kept = maps[0] < percentile / 100 if morf else maps[0] >= 1 - percentile / 100
    assert torch.equal(ours[:, kept], images[0][:, kept]) and not torch.equal(ours[:, ~kept], images[0][:, ~kept])


def test_road_removes_exactly_the_share_asked_for_when_the_map_has_ties():
    images, maps = torch.rand(1, 3, 10, 10), torch.zeros(1, 10, 10)
    maps[0, :2] = 1.0  # 80 tied zeros: a percentile threshold would remove all or none of them
    frame = road_frames(images, saliency_order(maps), 0.3, noise=0.0)[0]
    changed = (frame != images[0]).any(0)
    assert changed.sum() == 30 and changed[:2].all()  # the 20 salient pixels, then the first 10 tied ones


def test_road_on_a_map_of_the_object_beats_a_random_map():
    images, targets = boxed_images(4), torch.zeros(4, dtype=torch.long)
    on_object = torch.zeros(4, 10, 10)
    on_object[:, BOX[0], BOX[1]] = 1.0
    on_object += torch.rand(4, 10, 10) * 0.01  # no ties
    evaluation = SaliencyEvaluation(road_fractions=(0.1, 0.3, 0.5), seed=3)
    good = evaluation.road(looks_at_the_box, images, on_object, targets)
    bad = evaluation.road(looks_at_the_box, images, torch.rand(4, 10, 10), targets)
    assert good["road_morf_curve"].shape == (4, 3)
    assert (good["road_morf"] < bad["road_morf"] - 0.2).all()  # removing the object first loses the class
    assert (good["road_lerf"] >= bad["road_lerf"]).all()  # removing the background first keeps it
    assert torch.allclose(good["road_combined"], (good["road_lerf"] - good["road_morf"]) / 2)
    assert torch.allclose(good["road_morf"], good["road_morf_curve"].mean(1))
    again = SaliencyEvaluation(road_fractions=(0.1, 0.3, 0.5), seed=3).road(
        looks_at_the_box, images, on_object, targets
    )
    assert torch.equal(again["road_morf"], good["road_morf"])  # the imputation noise is seeded


def test_the_evaluation_carries_road_unless_its_fractions_are_empty():
    images, maps, targets = boxed_images(2), torch.rand(2, 10, 10), torch.zeros(2, dtype=torch.long)
    regions = torch.zeros(2, 10, 10, dtype=torch.bool)
    regions[:, BOX[0], BOX[1]] = True
    full = SaliencyEvaluation(perturbation_steps=5, road_fractions=(0.5,))(
        looks_at_the_box, images, maps, targets, regions
    )
    assert {"road_morf", "road_lerf", "road_combined", "road_morf_curve", "deletion_auc"} <= set(full)
    plain = SaliencyEvaluation(perturbation_steps=5, road_fractions=())(
        looks_at_the_box, images, maps, targets, regions
    )
    assert not any(key.startswith("road") for key in plain)


@pytest.mark.parametrize("fractions", [(0.5, 1.0), (0.0,)])
def test_road_fractions_must_lie_strictly_between_0_and_1(fractions):
    with pytest.raises(ConvisError, match=r"^objective.evaluation.road_fractions=\[.*\]: each share .* lie strictly"):
        SaliencyEvaluation(road_fractions=fractions)


def test_random_logit_compares_with_the_map_of_a_random_other_class():
    images, targets, asked = torch.rand(50, 3, 4, 4), torch.randint(0, 3, (50,)), []

    def attribute(x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        asked.append(classes)
        return x[:, 0] * (classes[:, None, None] + 1) if len(asked) == 1 else x[torch.arange(len(x)), classes]

    maps = images[:, 0] * 2
    similarity = random_logit(attribute, images, targets, maps, classes=3, seed=0)
    others = asked[0]
    assert (others != targets).all() and set(others.tolist()) == {0, 1, 2}
    assert torch.allclose(similarity, torch.ones(50))  # a class-blind map: the same ranking for every class
    repeat = random_logit(attribute, images, targets, maps, classes=3, seed=0)
    assert torch.equal(asked[1], others)  # seeded
    assert torch.allclose(repeat, spearman(images[torch.arange(50), others], maps))


def test_random_logit_needs_another_class():
    with pytest.raises(
        ConvisError, match=r"^objective.random_logit=true needs a network with 2 classes or more; .* 1$"
    ):
        random_logit(lambda x, c: x[:, 0], torch.rand(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), None, 1, 0)

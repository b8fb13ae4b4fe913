"""CRAFT: crops, projection, masked logits and importances by their definitions; objective=craft's files, its
report and its errors on the project's tiny network and the shapes dataset."""

import csv
import json

import pytest
import torch
from PIL import Image
from torch import nn

from convis import experiments
from convis.data.shapes import shapes
from convis.decomposition.craft import (
    Crop,
    Layer,
    coefficient_maps,
    craft,
    crop_activations,
    cut,
    grid_boxes,
    masked_logit,
)
from convis.decomposition.nmf import project
from convis.reporting.report import write
from convis.runtime.errors import ConvisError, user_error

TINY = [
    "experiment=own_network",
    "objective=craft",
    "dataset=shapes",
    "dataset.size=24",
    "image_size=32",
    "layer=relu2",
    "target=square",
    "objective.images=4",
    "objective.concepts=3",
    "objective.maps=2",
    "objective.top=3",
]


def test_the_projection_recovers_the_coefficients_of_a_vector_in_the_banks_cone():
    torch.manual_seed(0)
    bank, coefficients = torch.rand(3, 8), torch.rand(5, 3)
    torch.testing.assert_close(project(coefficients @ bank, bank), coefficients, atol=1e-5, rtol=0)


def test_the_projection_is_the_best_non_negative_fit():
    torch.manual_seed(1)
    bank, vectors = torch.rand(3, 8).double(), torch.randn(6, 8).double()
    found = project(vectors, bank).double()
    gradient = (found @ bank - vectors) @ bank.T  # of ||u W - v||^2 / 2: zero where u > 0, >= 0 where u = 0
    assert (found >= 0).all() and (found == 0).any()
    assert gradient[found > 0].abs().max() < 1e-5 and (gradient[found == 0] > -1e-5).all()


@pytest.mark.parametrize(("size", "crop", "side"), [(32, 9, 4), (32, 8, 4), (32, 32, 1), (64, 18, 4)])
def test_the_crop_grid_covers_the_image_with_whole_crops(size, crop, side):
    boxes = grid_boxes(size, crop)
    assert len(boxes) == side**2
    covered = torch.zeros(size, size, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        assert x1 - x0 == y1 - y0 == crop and 0 <= x0 and 0 <= y0 and x1 <= size and y1 <= size
        covered[y0:y1, x0:x1] = True
    assert covered.all()


def test_a_crop_is_its_box_resized_to_the_input():
    images = torch.rand(2, 3, 8, 8)
    images[0, :, 2:6, 4:8] = 0.7
    crops = cut(images, [Crop(1, (0, 0, 8, 8)), Crop(0, (4, 2, 8, 6))])
    assert crops.shape == (2, 3, 8, 8)
    torch.testing.assert_close(crops[0], images[1])
    torch.testing.assert_close(crops[1], torch.full((3, 8, 8), 0.7))


class RedGreen(nn.Module):
    """A layer that keeps the picture's red and green channels (after a ReLU); class 0's logit is the red's mean."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = self.relu(x[:, :2])
        return torch.stack([kept[:, 0].mean((1, 2)), kept[:, 1].mean((1, 2))], dim=1)


def red_green_layer() -> tuple[RedGreen, Layer]:
    net = RedGreen()
    return net, Layer("relu", net, net.relu, lambda images: net.relu(images[:, :2]))


def test_the_concept_the_logit_reads_has_all_the_importance_and_is_where_its_colour_is():
    net, layer = red_green_layer()
    images = torch.zeros(3, 3, 16, 16)
    images[:, 0, :, :8] = torch.tensor([1.0, 0.5, 2.0]).view(3, 1, 1)  # red on the left half
    images[:, 1, :, 8:] = 1.0  # green on the right
    found = craft(layer, images, target=0, concepts=2, crop=8, designs=256, seed=0)
    red = int(found.bank[:, 0].argmax())
    green = 1 - red
    assert found.error < 1e-3 and found.bank[red, 1] < 1e-6 and found.bank[green, 0] < 1e-6
    torch.testing.assert_close(found.indices[:, red], torch.ones(3, dtype=torch.float64).float(), atol=2e-3, rtol=0)
    assert found.indices[:, green].abs().max() < 1e-6  # f does not change with the green concept's mask
    assert found.maps.shape == (3, 2, 16, 16)
    assert (found.maps[:, red, :, :8] > 0).all() and (found.maps[:, red, :, 8:] == 0).all()
    assert (found.maps[:, green, :, 8:] > 0).all() and (found.maps[:, green, :, :8] == 0).all()
    left = [found.crops[i] for i in found.typical(red, 6)]
    assert all(crop.box[0] == 0 for crop in left)  # the red concept's crops are the left half's


def test_masks_of_one_on_an_exact_bank_give_the_networks_own_logit_and_zero_masks_remove_a_concept():
    torch.manual_seed(0)
    net, layer = red_green_layer()
    image = torch.randn(3, 6, 6)
    bank = torch.eye(2)  # the channels themselves: the projection is the activation
    maps = coefficient_maps(layer, image[None], bank, batch=4)[0]
    torch.testing.assert_close(maps, net.relu(image[:2]))
    logit = masked_logit(layer, image, maps, bank, target=0, batch=2)
    masks = torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.5, 0.0]])
    expected = torch.stack([net(image[None])[0, 0], torch.tensor(0.0), 0.5 * net(image[None])[0, 0]])
    torch.testing.assert_close(logit(masks), expected)
    torch.testing.assert_close(net(image[None])[0, 0], net.relu(image[0]).mean())  # the hook is gone afterwards


def test_crop_activations_are_position_means_and_the_factors_rebuild_them(cfg_factory):
    cfg = cfg_factory(*TINY)
    chosen = experiments.experiment(cfg)
    backbone = chosen.backbone()
    layer = chosen.layer(backbone)
    images = torch.stack([chosen.data(backbone)[i]["image"] for i in (1, 4)])
    crops = [Crop(0, (0, 0, 16, 16)), Crop(1, (8, 8, 24, 24))]
    found = crop_activations(layer, images, crops, batch=1)
    torch.testing.assert_close(found, layer.activations(cut(images, crops)).mean((2, 3)))
    concepts = craft(layer, images, target=1, concepts=3, crop=9, designs=8, seed=0)
    rows = crop_activations(layer, images, concepts.crops, batch=64)
    residual = (rows - concepts.coefficients @ concepts.bank).norm() / rows.norm()
    assert concepts.error == pytest.approx(float(residual), rel=1e-4) and concepts.error < 0.5


def square_names(size: int = 24) -> list[str]:
    data = shapes(size=size, image_size=32)
    return [name for name, label in zip(data.names, data.labels) if data.classes[label] == "square"]


def test_objective_craft_writes_each_concepts_crops_and_maps_from_the_class_only(cfg_factory, tmp_path):
    metrics = experiments.run(cfg_factory(*TINY)).metrics
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert (metrics["target"], metrics["target_index"], metrics["crop"]) == ("square", 1, 9)
    assert (metrics["images"], metrics["crops"]) == (4, 4 * 16)
    concepts = metrics["concepts"]
    importances = [c["importance"] for c in concepts]
    assert importances == sorted(importances, reverse=True) and all(0 <= v <= 1 for v in importances)
    assert sorted(c["concept"] for c in concepts) == [0, 1, 2] and [c["rank"] for c in concepts] == [0, 1, 2]
    used = square_names()[:4]
    for concept in concepts:
        assert len(concept["crops"]) == 3
        coefficients = [crop["coefficient"] for crop in concept["crops"]]
        assert coefficients == sorted(coefficients, reverse=True)
        for crop in concept["crops"]:
            assert crop["image"] in used and tuple(crop["box"]) in grid_boxes(32, 9)
    results = metrics["results"]
    strips = [r for r in results if r["view"] == "crops"]
    maps = [r for r in results if r["view"] == "map"]
    assert [r["concept"] for r in strips] == [c["concept"] for c in concepts]
    assert [(r["image"], r["concept"]) for r in maps] == [(n, c["concept"]) for n in used[:2] for c in concepts]
    for r in strips:
        assert Image.open(tmp_path / r["png"]).size == (3 * 33 + 1, 34)  # three 32 px crops, 1 px apart
    for r in maps:
        assert Image.open(tmp_path / r["png"]).size == (32, 32) and r["total_index"] >= 0


def test_the_report_shows_every_picture(cfg_factory, tmp_path):
    metrics = experiments.run(cfg_factory(*TINY, "objective.maps=1")).metrics
    _, markdown = write(tmp_path)
    text = markdown.read_text()
    assert "image \\ concept" in text  # a table: the crops' row, then one row per image, a column per concept
    for result in metrics["results"]:
        assert f"]({result['png']})" in text


def test_the_concepts_importances_are_logged(cfg_factory, tmp_path):
    metrics = experiments.run(cfg_factory(*TINY, "logger=csv", "objective.maps=0")).metrics
    (logged,) = tmp_path.glob("csv/version_*/metrics.csv")
    with logged.open() as file:
        (row,) = list(csv.DictReader(file))
    for concept in metrics["concepts"]:
        assert float(row[f"craft/concept{concept['concept']}_importance"]) == pytest.approx(concept["importance"])


def run_error(cfg_factory, *overrides: str, base: tuple[str, ...] = tuple(TINY)) -> str:
    with pytest.raises(Exception) as caught:
        experiments.run(cfg_factory(*base, *overrides))
    problem = user_error(caught.value)
    assert isinstance(problem, ConvisError) and "\n" not in str(problem)
    return str(problem)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("objective.concepts=0", "objective.concepts=0 must be a positive whole number, e.g. objective.concepts=10"),
        ("objective.crop=0", "objective.crop=0 must be a positive whole number"),
        ("objective.designs=-2", "objective.designs=-2 must be a positive whole number, e.g. objective.designs=32"),
        ("objective.images=0", "objective.images=0 must be a positive whole number"),
        ("objective.maps=-1", "objective.maps=-1 must be a whole number, 0 or more"),
        ("objective.crop=33", "objective.crop=33 is more than image_size=32: a crop is cut from the image, choose"),
        (
            "objective.concepts=9",
            "objective.concepts=9 is more than NMF finds from 64 crops of relu2's 8 channels: "
            "use objective.concepts=8 or fewer",
        ),
        ("layer=conv2", "objective=craft needs non-negative activations and conv2 has values down to -"),
        ("target=star", "target=star has no images in the dataset (24 images of disc, square, triangle)"),
        ("target=null", "target=None: objective=craft explains one class: give target=NAME or target=INDEX"),
        ("target=[square,triangle]", "target=[square,triangle]: objective=craft explains one class"),
    ],
)
def test_bad_options_are_one_line_naming_the_value(cfg_factory, override, message):
    assert message in run_error(cfg_factory, override)


def test_a_dataset_without_labels_is_refused(cfg_factory):
    unlabelled = [o for o in TINY if not o.startswith("dataset")] + ["dataset=sample_images"]
    message = "objective=craft needs a labelled dataset to find the class's images: dataset=shapes, or"
    assert message in run_error(cfg_factory, base=tuple(unlabelled))

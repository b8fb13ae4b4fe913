"""Shapes: the same pictures for one seed, balanced classes, and boxes and masks that are the drawn object."""

import numpy as np
import pytest
import torch

from convis.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from convis.data.shapes import CLASSES, shape_mask, shapes
from convis.runtime.errors import ConvisError

SIZE = 48


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


def test_one_seed_gives_the_same_pictures_another_seed_others():
    first, again, other = (shapes(size=6, image_size=SIZE, seed=s) for s in (3, 3, 4))
    assert all(_same(first[i], again[i]) for i in range(6))
    assert not any(torch.equal(first[i]["image"], other[i]["image"]) for i in range(6))


def test_items_carry_image_name_label_box_mask_and_classes_are_balanced():
    data = shapes(size=9, image_size=SIZE)
    item = data[4]
    assert set(item) == {"image", "name", "label", "box", "mask"}
    assert item["image"].shape == (3, SIZE, SIZE) and item["image"].dtype == torch.float32
    assert item["box"].dtype == torch.int64 and item["box"].shape == (4,)
    assert item["mask"].dtype == torch.bool and item["mask"].shape == (SIZE, SIZE)
    assert data.classes == ["disc", "square", "triangle"] == list(CLASSES)
    assert data.labels == [0, 1, 2] * 3 and item["label"] == 1 and item["name"] == "shape00004_square"
    assert len(set(data.names)) == 9


def test_the_image_is_the_scene_normalised():
    data = shapes(size=2, image_size=SIZE)
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    pixels = torch.from_numpy(data.scene(1).pixels).permute(2, 0, 1).float()
    torch.testing.assert_close((data[1]["image"] * std + mean) * 255, pixels, atol=1e-3, rtol=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_box_and_mask_are_exactly_the_drawn_object(seed):
    data = shapes(size=30, image_size=SIZE, seed=seed)
    for position in range(len(data)):
        scene, item = data.scene(position), data[position]
        mask = item["mask"].numpy()
        x0, y0, x1, y1 = item["box"].tolist()
        assert np.array_equal(mask, scene.mask) and mask.sum() > 0.01 * SIZE**2
        # the box is the mask's tight bounding box: every edge row and column holds object pixels
        assert mask[y0:y1, x0:x1].sum() == mask.sum()
        assert mask[y0, x0:x1].any() and mask[y1 - 1, x0:x1].any()
        assert mask[y0:y1, x0].any() and mask[y0:y1, x1 - 1].any()
        # every masked pixel has the object's one colour, painted over the clutter
        colours = np.unique(scene.pixels[mask], axis=0)
        assert len(colours) == 1


def test_each_class_has_its_shape():
    """The fill of the bounding box: pi/4 for a disc, 1/(1 + |sin 2a|) for a square, <= 1/2 for a triangle."""
    data = shapes(size=60, image_size=64)
    for position in range(len(data)):
        item = data[position]
        x0, y0, x1, y1 = item["box"].tolist()
        fill = item["mask"].sum().item() / ((x1 - x0) * (y1 - y0))
        kind = data.classes[item["label"]]
        low, high = {"disc": (0.72, 0.84), "square": (0.47, 1.0), "triangle": (0.3, 0.56)}[kind]
        assert low <= fill <= high, (kind, fill)


def test_masks_of_equal_radius_have_equal_area():
    areas = [shape_mask(kind, 200, (100.0, 100.0), 40.0, 0.3).sum() for kind in CLASSES]
    np.testing.assert_allclose(areas, np.pi * 40.0**2, rtol=0.02)


def test_train_and_val_split_the_pictures_by_seed():
    everything = shapes(size=30, image_size=SIZE, seed=2)
    train, val = (shapes(size=30, image_size=SIZE, seed=2, split=s, val_fraction=0.2) for s in ("train", "val"))
    assert sorted(train.names + val.names) == sorted(everything.names)
    assert sorted(val.labels) == [0, 0, 1, 1, 2, 2]
    assert _same(val[0], everything[everything.names.index(val.names[0])])
    assert val.names != shapes(size=30, image_size=SIZE, seed=5, split="val").names


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, r"dataset.size=0 must be a positive"),
        ({"split": "test"}, r"unknown dataset.split='test': choose one of all, train, val"),
        ({"split": "val", "val_fraction": 1.5}, r"dataset.val_fraction=1.5 must lie between 0 and 1"),
        ({"image_size": 0}, r"image_size must be a positive integer"),
    ],
)
def test_bad_settings_fail_clearly(kwargs, message):
    with pytest.raises(ConvisError, match=message):
        shapes(**{"size": 6, **kwargs})

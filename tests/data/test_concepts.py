"""Concepts: the same pictures for one seed, masks that are what is drawn, and a folder read as it was written."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convis.data.concepts import COLOURS, JITTER, concept_folder, concepts
from convis.runtime.errors import ConvisError

SIZE = 48


def test_one_seed_gives_the_same_pictures_another_seed_others():
    first, again, other = (concepts(size=4, image_size=SIZE, seed=s) for s in (3, 3, 4))
    for i in range(4):
        assert torch.equal(first[i]["image"], again[i]["image"]) and torch.equal(first[i]["masks"], again[i]["masks"])
        assert not torch.equal(first[i]["image"], other[i]["image"])


def test_items_carry_image_name_and_a_bool_mask_per_concept():
    data = concepts(size=3, image_size=SIZE)
    item = data[2]
    assert set(item) == {"image", "name", "masks"} and item["name"] == "concept00002" == data.names[2]
    assert item["image"].shape == (3, SIZE, SIZE) and item["image"].dtype == torch.float32
    assert item["masks"].shape == (len(data.concepts), SIZE, SIZE) and item["masks"].dtype == torch.bool
    assert len(data.categories) == len(data.concepts) == 17 and set(data.categories) == {"colour", "shape", "texture"}
    assert data.concepts[:9] == list(COLOURS) and "disc" in data.concepts and "stripes" in data.concepts


def test_colour_masks_hold_that_colour_and_every_picture_shows_a_shape():
    data = concepts(size=40, image_size=SIZE, seed=1)
    shapes = [i for i, category in enumerate(data.categories) if category == "shape"]
    seen = dict.fromkeys(COLOURS, 0)
    for position in range(len(data)):
        scene = data.scene(position)
        assert scene.masks[shapes].any()
        for index, (name, prototype) in enumerate(COLOURS.items()):
            pixels = scene.pixels[scene.masks[index]] / 255
            seen[name] += len(pixels)
            assert np.all(np.abs(pixels - prototype) <= JITTER + 1 / 255)
    assert all(count > 0 for count in seen.values())


def test_masks_are_what_is_visible():
    """No two shapes (or textures) claim a pixel, and a texture's pixels lie within the shapes."""
    data = concepts(size=30, image_size=SIZE, seed=2)
    shapes = np.array([category == "shape" for category in data.categories])
    textures = np.array([category == "texture" for category in data.categories])
    for position in range(len(data)):
        masks = data.scene(position).masks
        assert masks[shapes].sum(axis=0).max() <= 1 and masks[textures].sum(axis=0).max() <= 1
        assert not (masks[textures].any(axis=0) & ~masks[shapes].any(axis=0)).any()


def _write_folder(root: Path) -> dict[str, np.ndarray]:
    """Two 64 x 48 pictures and their masks of two concepts; the masks written, by image name."""
    (root / "images").mkdir(parents=True)
    (root / "concepts.csv").write_text("concept,category\nsky,scene\nred,colour\n")
    written = {}
    for n, name in enumerate(["a", "b"]):
        Image.fromarray(np.full((48, 64, 3), 60 * n, dtype=np.uint8)).save(root / "images" / f"{name}.png")
        masks = np.zeros((2, 48, 64), dtype=bool)
        masks[0, : 8 + 8 * n] = True
        masks[1, 20:30, 10:30] = n == 0
        (root / "masks" / name).mkdir(parents=True)
        Image.fromarray(masks[0].astype(np.uint8) * 255).save(root / "masks" / name / "sky.png")
        if n == 0:  # b has no red: no file
            Image.fromarray(masks[1].astype(np.uint8)).save(root / "masks" / name / "red.png")
        written[name] = masks
    return written


def test_the_folder_reader_gives_the_masks_written_resized_and_cropped_as_the_image(tmp_path):
    written = _write_folder(tmp_path)
    data = concept_folder(str(tmp_path), image_size=24)
    assert data.concepts == ["sky", "red"] and data.categories == ["scene", "colour"] and data.names == ["a", "b"]
    for position, name in enumerate(data.names):
        item = data[position]
        assert item["name"] == name and item["image"].shape == (3, 24, 24) and item["masks"].dtype == torch.bool
        # 64 x 48 -> 32 x 24 (every other pixel, nearest), then the centre 24 columns
        assert np.array_equal(item["masks"].numpy(), written[name][:, ::2, ::2][:, :, 4:28])


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda root: (root / "concepts.csv").unlink(), "no concept list"),
        (lambda root: (root / "concepts.csv").write_text("name,kind\nsky,scene\n"), r"\['name', 'kind'\]"),
        (lambda root: (root / "concepts.csv").write_text("concept,category\nsky,scene\nsky,x\n"), "lists sky more"),
        (lambda root: Image.new("L", (64, 48)).save(root / "masks" / "a" / "cloud.png"), "unknown concept 'cloud'"),
        (lambda root: [path.unlink() for path in (root / "images").iterdir()], "no images in"),
        (lambda root: (root / "masks" / "c").mkdir(), "has no image c"),
    ],
)
def test_a_broken_folder_is_refused_naming_what_is_wrong(tmp_path, broken, message):
    _write_folder(tmp_path)
    broken(tmp_path)
    with pytest.raises(ConvisError, match=message):
        concept_folder(str(tmp_path), image_size=24)


def test_a_mask_of_another_size_than_its_image_is_refused(tmp_path):
    _write_folder(tmp_path)
    Image.new("L", (10, 10)).save(tmp_path / "masks" / "b" / "red.png")
    with pytest.raises(ConvisError, match=r"red.png is 10 x 10 pixels but its image is 64 x 48"):
        concept_folder(str(tmp_path), image_size=24)[1]


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "ten"])
def test_a_bad_size_is_refused_naming_it(size):
    with pytest.raises(ConvisError, match=f"dataset.size={size!r}"):
        concepts(size=size)

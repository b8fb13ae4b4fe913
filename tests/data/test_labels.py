"""image_folder's labels: class folders, Kaggle's cat.123.jpg names, the seeded split, and bad files."""

import warnings
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from convis.data.datasets import image_folder
from convis.runtime.errors import ConvisError

CONF = Path(__file__).parents[2] / "conf" / "dataset"
SIZE = 8


def _write(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 10), (10, 20, 30)).save(path)


def _labels(dataset) -> dict[str, str]:
    return {item["name"]: dataset.classes[item["label"]] for item in dataset}


def test_class_per_folder_tree_labels_by_top_folder(tmp_path):
    _write(tmp_path, "dogs/rex.jpg", "cats/tom.png", "cats/kittens/mini.png", "birds/tweety.bmp")
    dataset = image_folder(str(tmp_path), image_size=SIZE)
    assert dataset.classes == ["birds", "cats", "dogs"]
    assert _labels(dataset) == {
        "birds_tweety": "birds",
        "cats_kittens_mini": "cats",
        "cats_tom": "cats",
        "dogs_rex": "dogs",
    }


def test_kaggle_cats_vs_dogs_layout_labels_by_file_name_prefix(tmp_path):
    _write(tmp_path, "cat.1.jpg", "dog.12.jpg", "cat.2.jpg", "dog.7.jpg")
    dataset = image_folder(str(tmp_path), image_size=SIZE)
    assert dataset.classes == ["cat", "dog"]
    assert _labels(dataset) == {"cat.1": "cat", "cat.2": "cat", "dog.12": "dog", "dog.7": "dog"}
    assert dataset[0]["image"].shape == (3, SIZE, SIZE)


def test_a_mixed_tree_stays_unlabelled_for_inversion(tmp_path):
    _write(tmp_path, "cats/tom.png", "top.png")
    dataset = image_folder(str(tmp_path), image_size=SIZE)
    assert dataset.classes == [] and dataset.labels is None and "label" not in dataset[0]
    assert dataset.names == ["cats_tom", "top"]


@pytest.mark.parametrize(
    ("layout", "files", "message"),
    [
        ("folders", ["cats/tom.png", "top.png"], r"layout=folders needs every image in a class sub-folder.*top\.png"),
        ("prefix", ["cat.1.png", "cats/tom.png"], r"layout=prefix needs files named CLASS\.ID\.jpg.*cats/tom\.png"),
        ("prefix", ["cat.1.png", "photo.png"], r"layout=prefix .*photo\.png is not"),
        ("sideways", ["cat.1.png"], r"unknown dataset.layout='sideways': choose one of auto, folders, prefix, none"),
    ],
)
def test_a_layout_that_does_not_fit_names_the_file(tmp_path, layout, files, message):
    _write(tmp_path, *files)
    with pytest.raises(ConvisError, match=message):
        image_folder(str(tmp_path), layout=layout)


def test_layout_none_drops_the_labels(tmp_path):
    _write(tmp_path, "cat.1.png", "dog.1.png")
    assert image_folder(str(tmp_path), layout="none").labels is None


def test_split_is_stratified_disjoint_and_seeded(tmp_path):
    _write(tmp_path, *[f"cat.{i}.png" for i in range(10)], *[f"dog.{i}.png" for i in range(5)])
    parts = {s: image_folder(str(tmp_path), split=s, val_fraction=0.2, seed=1) for s in ("all", "train", "val")}
    assert sorted(parts["train"].names + parts["val"].names) == sorted(parts["all"].names)
    assert sorted(_labels(parts["val"]).values()) == ["cat", "cat", "dog"]
    assert parts["val"].classes == ["cat", "dog"]
    assert image_folder(str(tmp_path), split="val", seed=1).names == parts["val"].names
    others = [image_folder(str(tmp_path), split="val", seed=s).names for s in range(2, 6)]
    assert any(names != parts["val"].names for names in others)


def test_a_corrupt_image_is_skipped_with_a_warning_naming_it(tmp_path):
    _write(tmp_path, "cat.1.png", "dog.1.png")
    (tmp_path / "dog.2.jpg").write_text("this is text, not a JPEG")
    with pytest.warns(UserWarning, match=r"skipping 1 file\(s\) that are not readable images: .*dog\.2\.jpg"):
        dataset = image_folder(str(tmp_path), image_size=SIZE)
    assert dataset.names == ["cat.1", "dog.1"]


def test_files_without_an_image_extension_are_ignored_silently(tmp_path):
    _write(tmp_path, "cat.1.png", "dog.1.png")
    (tmp_path / "labels.csv").write_text("id,label")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert image_folder(str(tmp_path)).names == ["cat.1", "dog.1"]


def test_a_folder_of_only_corrupt_images_is_refused(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(ConvisError, match=f"no readable images in folder {tmp_path}"):
        image_folder(str(tmp_path))


def test_config_passes_layout_split_and_the_top_level_seed(tmp_path):
    _write(tmp_path, *[f"cat.{i}.png" for i in range(5)], *[f"dog.{i}.png" for i in range(5)])
    cfg = OmegaConf.create({"seed": 3, "dataset": OmegaConf.load(CONF / "image_folder.yaml")})
    cfg.dataset.root, cfg.dataset.split = str(tmp_path), "val"
    dataset = instantiate(cfg.dataset, image_size=SIZE)
    assert dataset.names == image_folder(str(tmp_path), split="val", seed=3).names

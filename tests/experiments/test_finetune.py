"""objective=finetune end to end on shapes, and its checkpoint serving the other objectives."""

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from convis import experiments
from convis.backbones import build_backbone, custom_backbone
from convis.data.shapes import shapes
from convis.runtime.errors import ConvisError
from tests.conftest import CONF, make_cfg
from tests.reliability.conftest import run as run_cli

CLASSES = ["disc", "square", "triangle"]
TINY = [
    "objective=finetune",
    "backbone=mobilenet_v2",
    "dataset=shapes",
    "dataset.size=30",
    "image_size=32",
    "objective.epochs=2",
    "objective.batch_size=8",
]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> tuple[Path, dict]:
    """A two-epoch fine-tune of random-init MobileNetV2 on 24 shapes (6 for validation)."""
    out = tmp_path_factory.mktemp("finetune")
    return out, experiments.run(make_cfg(out, *TINY)).metrics


def test_metrics_follow_the_contract(finetuned):
    out, metrics = finetuned
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["objective"] == "finetune" and metrics["backbone"] == "mobilenet_v2"
    (result,) = metrics["results"]
    assert result["classes"] == CLASSES and result["epochs"] == 2 and result["chance_acc"] == pytest.approx(1 / 3)
    assert result["checkpoint"] == "checkpoints/best.ckpt"


def test_val_acc_is_the_checkpoint_s_accuracy_on_the_val_split(finetuned):
    out, metrics = finetuned
    backbone = build_backbone("mobilenet_v2", str(out / "checkpoints" / "best.ckpt"))
    val = shapes(size=30, image_size=32, split="val")
    with torch.no_grad():
        predicted = backbone.net(torch.stack([item["image"] for item in val])).argmax(1)
    accuracy = (predicted == torch.tensor(val.labels)).float().mean().item()
    assert len(val) == 6 and metrics["results"][0]["val_acc"] == pytest.approx(accuracy)


def test_the_checkpoint_is_plain_data_with_the_class_names(finetuned):
    out, _ = finetuned
    checkpoint = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["convis"] == {"arch": "mobilenet_v2", "classes": CLASSES, "prefix": "model."}
    assert all(key.startswith("model.") for key in checkpoint["state_dict"])


def test_the_checkpoint_loads_as_a_backbone_with_its_classes(finetuned):
    out, _ = finetuned
    checkpoint = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)
    backbone = build_backbone("mobilenet_v2", str(out / "checkpoints" / "best.ckpt"))
    assert backbone.categories == CLASSES
    loaded = backbone.net.state_dict()
    for key, value in checkpoint["state_dict"].items():
        assert torch.equal(loaded[key.removeprefix("model.")], value), key
    assert backbone.extractor(["logits"])(torch.randn(1, 3, 32, 32))["logits"].shape == (1, 3)


def test_class_score_targets_a_fine_tuned_class_by_name(finetuned, cfg_factory):
    out, _ = finetuned
    cfg = cfg_factory(
        "objective=class_score",
        "backbone=mobilenet_v2",
        f"backbone.weights={out}/checkpoints/best.ckpt",
        "target=[triangle,disc]",
        "steps=2",
    )
    results = experiments.run(cfg).metrics["results"]
    assert [r["target"] for r in results] == ["triangle", "disc"] and [r["target_index"] for r in results] == [2, 0]
    assert {r["top_class"] for r in results} <= set(CLASSES)


def test_an_unknown_class_lists_the_fine_tuned_ones(finetuned, cfg_factory):
    out, _ = finetuned
    cfg = cfg_factory(
        "objective=class_score",
        "backbone=mobilenet_v2",
        f"backbone.weights={out}/checkpoints/best.ckpt",
        "target=tabby",
    )
    with pytest.raises(ConvisError, match=r"unknown class name target='tabby'.*0-2"):
        experiments.run(cfg)


def test_inversion_runs_on_the_fine_tuned_network(finetuned, cfg_factory):
    out, _ = finetuned
    cfg = cfg_factory("backbone=mobilenet_v2", f"backbone.weights={out}/checkpoints/best.ckpt", "layer=block_2_add")
    (result,) = experiments.run(cfg).metrics["results"]
    assert result["layer"] == "block_2_add" and result["normalized_error"] >= 0


def test_saliency_on_held_out_shapes_uses_the_fine_tuned_classes(finetuned, cfg_factory):
    out, _ = finetuned
    cfg = cfg_factory(
        "objective=saliency",
        "dataset=shapes",
        "dataset.size=30",
        "dataset.split=val",
        "image_size=32",
        "backbone=mobilenet_v2",
        f"backbone.weights={out}/checkpoints/best.ckpt",
        "objective.evaluation.perturbation_steps=4",
    )
    results = experiments.run(cfg).metrics["results"]
    assert len(results) == 6 and {r["target"] for r in results} <= set(CLASSES)
    assert all(r["pointing_game"] in (0, 1) and 0 <= r["deletion_auc"] <= 1 for r in results)


def test_another_backbone_names_the_checkpoint_s_own(finetuned):
    out, _ = finetuned
    with pytest.raises(ConvisError, match=r"was fine-tuned from mobilenet_v2: set backbone=mobilenet_v2"):
        build_backbone("vgg16", str(out / "checkpoints" / "best.ckpt"))


def _folder(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), (len(name) * 20 % 255, 90, 30)).save(root / name)
    return root


@pytest.mark.parametrize(
    ("dataset", "files", "message"),
    [
        (["dataset=sample_images"], [], r"needs a labelled dataset with train and val splits: dataset=shapes"),
        (["dataset=image_folder"], ["cats/a.png", "b.png"], r"this dataset has no labels: dataset=shapes"),
        (["dataset=image_folder"], ["cat.1.png", "cat.2.png", "cat.3.png"], r"two classes or more, .* only 'cat'"),
        (["dataset=image_folder"], ["cat.1.png", "dog.1.png"], r"no validation images among 2"),
    ],
)
def test_datasets_it_cannot_train_on_fail_clearly(cfg_factory, tmp_path, dataset, files, message):
    root = _folder(tmp_path / "photos", *files)
    extra = [f"dataset.root={root}"] if files else []
    with pytest.raises(ConvisError, match=message):
        experiments.run(cfg_factory("objective=finetune", *dataset, *extra))


def test_a_cats_vs_dogs_folder_trains_and_its_checkpoint_knows_cat_and_dog(cfg_factory, tmp_path):
    root = _folder(tmp_path / "train", *[f"{c}.{i}.jpg" for c in ("cat", "dog") for i in range(4)])
    cfg = cfg_factory(
        "objective=finetune",
        "backbone=mobilenet_v2",
        "dataset=image_folder",
        f"dataset.root={root}",
        "objective.train=head",
        "objective.epochs=1",
        "dataset.val_fraction=0.25",
    )
    (result,) = experiments.run(cfg).metrics["results"]
    assert result["classes"] == ["cat", "dog"] and result["chance_acc"] == 0.5
    assert build_backbone("mobilenet_v2", str(tmp_path / result["checkpoint"])).categories == ["cat", "dog"]


def test_finetune_vs_imagenet_sweeps_both_heads_of_one_backbone():
    ckpt = "outputs/cats/checkpoints/best.ckpt"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=finetune_vs_imagenet", f"ckpt={ckpt}"], return_hydra_config=True)
        heads = {
            head: compose("config", overrides=["experiment=finetune_vs_imagenet", f"ckpt={ckpt}", f"head={head}"])
            for head in ("imagenet", "finetuned")
        }
    assert cfg.objective.name == "class_score" and cfg.backbone.arch == "mobilenet_v2"
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.hydra.sweeper.params.head == "imagenet,finetuned"
    assert heads["imagenet"].backbone.weights == "IMAGENET1K_V1"
    assert heads["finetuned"].backbone.weights == ckpt
    assert list(heads["finetuned"].target) == ["cat", "dog"]
    assert list(heads["imagenet"].target) == ["tabby", "golden retriever"]


def test_the_command_line_fine_tunes_a_users_network_and_its_checkpoint_loads_back(tmp_path):
    done = run_cli(
        "objective=finetune",
        "backbone=custom",
        "backbone.model._target_=tests.backbones.tiny_nets.TinyNet",
        "dataset=shapes",
        "dataset.size=12",
        "image_size=32",
        "objective.epochs=1",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads((tmp_path / "metrics.json").read_text())["results"]
    assert result["classes"] == CLASSES and result["checkpoint"] == "checkpoints/best.ckpt"
    assert torch.load(tmp_path / result["checkpoint"], weights_only=True)["convis"]["arch"] == "TinyNet"
    backbone = custom_backbone({"_target_": "tests.backbones.tiny_nets.TinyNet"}, str(tmp_path / result["checkpoint"]))
    assert backbone.categories == CLASSES

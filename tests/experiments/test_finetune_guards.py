"""objective=finetune keeps the best epoch by val_acc, and chance_acc is the commonest val class's share."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn.functional import cross_entropy

from convis import experiments
from convis.experiments import experiment
from convis.modules.finetune import FinetuneModule
from convis.runtime.errors import ConvisError
from tests.reliability.conftest import run as run_cli

# the val_acc each epoch reports: the best is the middle one, the worst the last
SCRIPTED = [0.5, 1.0, 0.25]


def unbalanced_folder(root, counts: dict[str, int]):
    """ROOT/CLASS/N.png: `counts[CLASS]` small pictures of each class, one colour per class plus noise."""
    rng = np.random.default_rng(0)
    for index, (name, count) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for n in range(count):
            pixels = np.clip(rng.normal(60 + 120 * index, 20, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{n}.png")
    return root


def scripted_validation(self: FinetuneModule, batch: dict, batch_idx: int) -> None:
    """The real loss, and the val_acc of SCRIPTED for this epoch."""
    logits = self(batch["image"])
    self.log("val_loss", cross_entropy(logits, batch["label"]), on_step=False, on_epoch=True, batch_size=len(logits))
    self.log("val_acc", SCRIPTED[self.current_epoch], on_step=False, on_epoch=True, batch_size=len(logits))


def test_the_best_epoch_is_kept_and_chance_is_the_commonest_val_class(cfg_factory, tmp_path, monkeypatch):
    monkeypatch.setattr(FinetuneModule, "validation_step", scripted_validation)
    root = unbalanced_folder(tmp_path / "photos", {"common": 6, "rare": 2})
    cfg = cfg_factory(
        "objective=finetune",
        "backbone=mobilenet_v2",
        "dataset=image_folder",
        f"dataset.root={root}",
        "dataset.val_fraction=0.5",  # val: 3 common, 1 rare
        "image_size=32",
        f"objective.epochs={len(SCRIPTED)}",
        "objective.batch_size=8",
        "objective.augment=null",
        "logger=csv",
    )
    (result,) = experiments.run(cfg).metrics["results"]

    (metrics_csv,) = tmp_path.glob("csv/**/metrics.csv")  # logger=csv: Lightning's CSVLogger under the run dir
    rows = [row for row in csv.DictReader(metrics_csv.open()) if row.get("val_acc")]
    per_epoch = {int(row["epoch"]): float(row["val_acc"]) for row in rows}
    assert per_epoch == dict(enumerate(SCRIPTED))
    best_epoch = max(per_epoch, key=per_epoch.get)

    assert result["val_acc"] == pytest.approx(max(per_epoch.values()))
    assert torch.load(tmp_path / result["checkpoint"], weights_only=True)["epoch"] == best_epoch
    assert json.loads((tmp_path / "metrics.json").read_text())["results"][0]["val_acc"] == pytest.approx(1.0)

    assert result["classes"] == ["common", "rare"] and result["epochs"] == len(SCRIPTED)
    assert result["chance_acc"] == pytest.approx(3 / 4)  # always "common" on 3 common + 1 rare; not 1/K = 1/2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("objective.epochs=0", "objective.epochs=0 must be a positive whole number, e.g. objective.epochs=20"),
        (
            "objective.batch_size=2.5",
            "objective.batch_size=2.5 must be a positive whole number, e.g. objective.batch_size=8",
        ),
        (
            "objective.optimizer.lr=0",
            "objective.optimizer.lr=0 must be a positive number, e.g. objective.optimizer.lr=0.002",
        ),
    ],
)
def test_the_experiment_checks_its_own_numbers(cfg_factory, override, message):
    with pytest.raises(ConvisError) as info:
        experiment(cfg_factory("objective=finetune", override)).check()
    assert str(info.value) == message


def test_a_bad_epoch_count_is_one_line_naming_the_key(tmp_path):
    done = run_cli("objective=finetune", "dataset=shapes", "objective.epochs=0", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "convis: error: objective.epochs=0 must be a positive whole number, e.g. objective.epochs=20"
    ]

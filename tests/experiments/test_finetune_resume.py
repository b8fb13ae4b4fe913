"""objective=finetune killed by SIGKILL after an epoch, then `resume=DIR`: it goes on from its last epoch and ends
as the uninterrupted run does (weights, every epoch's metrics, best.ckpt overwritten in place); a resume of a
finished fine-tuning leaves it as it is."""

import json
import logging
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import open_dict
from PIL import Image

from convis import experiments
from convis.runtime.history import HISTORY, read_history
from tests.reliability.conftest import run, start

EPOCHS = 6
KILL_AFTER = 2  # the epoch whose checkpoint the killed run has written


def colour_folder(root: Path, per_class: int = 40) -> Path:
    """ROOT/CLASS/N.png: three classes of noisy grey-ish pictures a shade apart, learnt over a few epochs."""
    rng = np.random.default_rng(0)
    for index, name in enumerate(("dark", "mid", "light")):
        (root / name).mkdir(parents=True)
        for n in range(per_class):
            pixels = np.clip(rng.normal(118 + 6 * index, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{n}.png")
    return root


def command(root: Path, epochs: int = EPOCHS) -> list[str]:
    """A fine-tuning of the tiny net on `root`, random crops and flips included, whose val_acc climbs to its best at
    epoch 3 (0.62, 0.71, 0.88, 0.96, 0.96, 0.96 here)."""
    return [
        "objective=finetune",
        "backbone=custom",
        "backbone.model._target_=tests.backbones.tiny_nets.TinyNet",
        "dataset=image_folder",
        f"dataset.root={root}",
        "image_size=16",
        f"objective.epochs={epochs}",
        "objective.batch_size=4",
        "objective.optimizer.lr=0.01",
        "logger=none",
        "print_config=false",
    ]


def kill_after_epoch(epoch: int, args: list[str], out: Path, seconds: float = 240) -> int:
    """Start the run and SIGKILL it once its last.ckpt is that of `epoch` (or a later one); the checkpoint's epoch."""
    job, last, end = start(*args), out / "checkpoints" / "last.ckpt", time.monotonic() + seconds
    while not last.is_file() or (saved := torch.load(last, weights_only=True)["epoch"]) < epoch:
        assert job.poll() is None, f"the run ended before it could be killed: {job.communicate()[1][-2000:]}"
        assert time.monotonic() < end, f"no checkpoint of epoch {epoch} after {seconds} s"
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.communicate(timeout=60)
    assert job.returncode == -signal.SIGKILL
    return saved


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    """Bit for bit: the same steps on the same batches, in one thread on one machine, compute the same numbers."""
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


@pytest.mark.slow  # three runs of the command line, two at a time
def test_a_killed_fine_tuning_resumes_to_the_uninterrupted_result(tmp_path):
    root = colour_folder(tmp_path / "photos")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = start(*command(root), f"hydra.run.dir={whole}")  # alongside the one to kill: two cores
    stopped_at = kill_after_epoch(KILL_AFTER, [*command(root), f"hydra.run.dir={killed}"], killed)
    assert KILL_AFTER <= stopped_at < EPOCHS - 1, stopped_at  # something is left to train
    assert len(read_history(killed / HISTORY)) == stopped_at + 1

    resumed = run(f"resume={killed}")
    _, err = uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0, err[-2000:]
    assert resumed.returncode == 0 and "Traceback" not in resumed.stderr, resumed.stderr[-2000:]

    history = read_history(whole / HISTORY)
    assert [int(row["epoch"]) for row in history] == list(range(EPOCHS))
    assert read_history(killed / HISTORY) == history  # every epoch's losses and accuracies, as written
    val_acc = [float(row["val_acc"]) for row in history]
    best_epoch = val_acc.index(max(val_acc))  # the first epoch that reached the best (a tie does not replace it)
    assert max(val_acc) > max(val_acc[:2])  # it improves after epoch 1
    assert stopped_at < best_epoch  # so the resumed run wrote best.ckpt, over the killed run's

    for out in (whole, killed):
        assert sorted(path.name for path in (out / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
        assert torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)["epoch"] == best_epoch
    assert_same_weights(whole / "checkpoints" / "last.ckpt", killed / "checkpoints" / "last.ckpt")  # the final ones
    assert_same_weights(whole / "checkpoints" / "best.ckpt", killed / "checkpoints" / "best.ckpt")
    metrics = json.loads((killed / "metrics.json").read_text())
    assert metrics == json.loads((whole / "metrics.json").read_text())
    assert metrics["results"][0]["val_acc"] == max(val_acc) and metrics["results"][0]["epochs"] == EPOCHS


def test_a_resume_of_a_finished_fine_tuning_leaves_it_as_it_is(cfg_factory, tmp_path, caplog):
    cfg = cfg_factory(*command(colour_folder(tmp_path / "photos", per_class=4), epochs=2))
    metrics = experiments.run(cfg).metrics
    best, history = (tmp_path / "checkpoints" / "best.ckpt").read_bytes(), read_history(tmp_path / HISTORY)
    with open_dict(cfg):
        cfg.resume = str(tmp_path)
    with caplog.at_level(logging.INFO):
        assert experiments.run(cfg).metrics == metrics
    assert f"resume={tmp_path}: this fine-tuning already ran its 2 epochs; its results stand" in caplog.text
    assert (tmp_path / "checkpoints" / "best.ckpt").read_bytes() == best and read_history(tmp_path / HISTORY) == history

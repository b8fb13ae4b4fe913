"""What a W&B run holds, read back from the offline run's own log file: the images every `image_every` steps,
the losses, saliency heatmaps and curves, both splits of a fine-tune; and the offline fallback without a key."""

import json
import logging
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import wandb
from PIL import Image
from wandb.proto import wandb_internal_pb2

from convis import experiments
from convis.experiments.setup import build_logger
from convis.runtime.history import read_history
from tests.conftest import make_cfg

TINY_NET = ["backbone=custom", "backbone.model._target_=tests.backbones.tiny_nets.TinyNet"]
WANDB = ["logger=wandb", "logger.mode=offline"]
BLOCK, HEADER = 32 * 1024, 7  # the log's block size; its record header: checksum, length, type


def records(path: Path) -> list[wandb_internal_pb2.Record]:
    """The records of a .wandb file: a LevelDB-style log of W&B's protobuf Records, split across 32 KiB blocks."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    found, chunk, pos = [], b"", HEADER  # the file's own header: ":W&B", magic, version
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if pos + HEADER + length > len(data):  # a record W&B is still writing: read again later
            break
        chunk += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            found.append(record)
            chunk = b""
    return found


def finished_records(run_dir: Path, seconds: float = 60) -> list[wandb_internal_pb2.Record]:
    """The records of the run in `run_dir`, once its exit record is written (W&B's service writes after finish)."""
    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    deadline = time.monotonic() + seconds
    while True:
        found = records(log)
        if any(r.WhichOneof("record_type") == "exit" for r in found):
            return found
        assert time.monotonic() < deadline, f"{log} has no exit record after {seconds} s"
        time.sleep(0.2)


def history(run_dir: Path) -> list[dict]:
    """Each wandb.log call of the run in `run_dir`: its keys and values (nested keys joined by '/')."""
    rows = [r.history.item for r in finished_records(run_dir) if r.WhichOneof("record_type") == "history"]
    return [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in row} for row in rows]


def logged_image(run_dir: Path, row: dict, key: str, index: int = 0) -> np.ndarray:
    (files,) = run_dir.glob("wandb/offline-run-*/files")
    return np.asarray(Image.open(files / row[f"{key}/filenames"][index]))


def offline_run(out: Path, *overrides: str) -> tuple[dict, list[dict]]:
    """An in-process run logging to an offline W&B run in `out`: its metrics and its W&B history."""
    try:
        metrics = experiments.run(make_cfg(out, *overrides, *WANDB)).metrics
    finally:
        wandb.finish()
    return metrics, history(out)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")


def test_images_every_image_every_steps_and_each_logged_loss(tmp_path):
    overrides = ["layer=conv2", "prior=none", "steps=4", "image_every=2", "trainer.log_every_n_steps=1"]
    _, rows = offline_run(tmp_path, *TINY_NET, *overrides)
    images = [row for row in rows if "images/filenames" in row]
    assert [row["trainer/global_step"] for row in images] == [2, 4]
    assert images[0]["images/captions"] == ["conv2/chelsea"] and images[0]["images/width"] == 32
    final = np.asarray(Image.open(tmp_path / "images" / "chelsea_conv2.png"))
    assert np.array_equal(logged_image(tmp_path, images[1], "images"), final)  # the last one is the final image
    assert final.std() > 10  # a picture, not a blank
    losses = [row for row in rows if "loss" in row]
    written = read_history(tmp_path / "history.csv")
    assert [row["trainer/global_step"] for row in losses] == [1, 2, 3, 4] and len(written) == 4  # as history.csv
    assert [row["loss"] for row in losses] == pytest.approx([float(row["loss"]) for row in written])


def test_saliency_logs_each_heatmap_and_the_perturbation_curves(tmp_path):
    overrides = ["objective=saliency", "dataset=shapes", "dataset.size=6", "image_size=32", "objective.batch_size=3"]
    metrics, rows = offline_run(tmp_path, *TINY_NET, *overrides)
    heat = [row for row in rows if "saliency/filenames" in row]
    boxed = [row for row in rows if "localisation/filenames" in row]
    assert [row["saliency/count"] for row in heat] == [3, 3] and [row["localisation/count"] for row in boxed] == [3, 3]
    on_disk = np.asarray(Image.open(tmp_path / metrics["results"][0]["png"]))
    assert np.array_equal(logged_image(tmp_path, heat[0], "saliency"), on_disk)
    assert any("curves/filenames" in row for row in rows)
    summary = next(row for row in rows if "pointing_game" in row)
    assert summary["pointing_game"] == pytest.approx(metrics["summary"]["pointing_game"])


def test_finetune_logs_loss_and_accuracy_of_both_splits_each_epoch(tmp_path):
    overrides = ["objective=finetune", "backbone=mobilenet_v2", "dataset=shapes", "dataset.size=30", "image_size=32"]
    metrics, rows = offline_run(tmp_path, *overrides, "objective.epochs=2", "objective.batch_size=8")
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert [row["epoch"] for row in rows if key in row] == [0, 1], key
    best = max(row["val_acc"] for row in rows if "val_acc" in row)
    assert metrics["results"][0]["val_acc"] == pytest.approx(best)


def test_without_an_api_key_an_online_run_logs_offline_with_a_warning(tmp_path, monkeypatch, caplog):
    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing ever leaves the machine
    cfg = make_cfg(tmp_path, "logger=wandb", "logger.mode=online", "logger.settings.init_timeout=5")
    with caplog.at_level(logging.WARNING):
        try:
            logger = build_logger(cfg, tmp_path)
            logger.experiment.log({"x": 1})
        finally:
            wandb.finish()
    (warning,) = [r.getMessage() for r in caplog.records if "W&B could not start online" in r.getMessage()]
    assert "api key" in warning.lower() and "logging offline instead" in warning
    assert [row["x"] for row in history(tmp_path)] == [1]  # in the offline run, to `wandb sync` later


def test_the_microscope_logs_its_units_as_a_table_with_their_visualisations(tmp_path):
    small = ["objective=microscope", "layer=relu1", "dataset=shapes", "dataset.size=8", "image_size=32", "steps=2"]
    quick = ["objective.k=2", "objective.sample=4", "objective.robustness_copies=2", "objective.inversions=0"]
    _, rows = offline_run(tmp_path, *TINY_NET, *small, *quick, "objective.concepts=null")
    counts = next(row for row in rows if "microscope/units" in row)
    assert counts["microscope/units"] == 8 and counts["microscope/labelled"] == 0
    (table,) = [row for row in rows if "microscope/unit_table/nrows" in row]
    assert table["microscope/unit_table/_type"] == "table-file" and table["microscope/unit_table/nrows"] == 8
    assert table["microscope/unit_table/ncols"] == 9  # the eight numbers and the visualisation

"""Faults through the real command line: SIGTERM and SIGKILL mid-run leave no partial file (and SIGTERM a
checkpoint that resumes to the uninterrupted result); a sweep job whose loss goes NaN fails alone."""

import json
import signal
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.reliability.conftest import run, start

pytestmark = pytest.mark.slow
RUN = ["layer=block1_conv2", "backbone.weights=null", "image_size=32", "steps=600", "logger=none", "print_config=false"]


def wait_for(path: Path, job, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert job.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < end, f"no {path} after {seconds} s"
        time.sleep(0.02)


def assert_whole_files(folder: Path) -> None:
    """No temporary file is left, and every PNG, JSON and CSV reads whole."""
    assert not [p for p in folder.rglob("*.tmp")], list(folder.rglob("*.tmp"))
    for path in folder.rglob("*.png"):
        Image.open(path).load()
    for path in folder.rglob("*.json"):
        json.loads(path.read_text())
    for path in folder.rglob("history.csv"):
        rows = [line.split(",") for line in path.read_text().splitlines()]
        assert len({len(row) for row in rows}) == 1, rows  # no half-written row


def test_sigterm_saves_the_image_losses_and_a_checkpoint_that_resumes_to_the_uninterrupted_result(tmp_path):
    stopped, whole = tmp_path / "stopped", tmp_path / "whole"
    job = start(*RUN, "checkpoint_every=0", f"hydra.run.dir={stopped}")
    wait_for(stopped / "history.csv", job)  # the first logging step has passed
    job.send_signal(signal.SIGTERM)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err[-3000:]
    assert json.loads((stopped / "provenance.json").read_text())["status"] == "interrupted"
    record = json.loads((stopped / "partial" / "metrics.json").read_text())
    assert 10 <= record["stopped_at_step"] < 600 and record["stopped_by"] == "SIGTERM"
    assert (
        record["images"] == ["partial/images/block1_conv2_chelsea.png"] and "block1_conv2/feature" in record["losses"]
    )
    assert torch.load(stopped / "checkpoints" / "last.ckpt", weights_only=True)["step"] == record["stopped_at_step"]
    assert_whole_files(stopped)

    assert run(f"resume={stopped}", f"hydra.run.dir={tmp_path / 'resume_call'}").returncode == 0
    assert run(*RUN, "checkpoint_every=0", f"hydra.run.dir={whole}").returncode == 0
    picture = "images/chelsea_block1_conv2.png"
    assert (stopped / picture).read_bytes() == (whole / picture).read_bytes()
    assert (stopped / "history.csv").read_text() == (whole / "history.csv").read_text()
    assert not (stopped / "partial").exists()  # the completed run no longer has a partial result


def test_sigkill_leaves_no_partial_file(tmp_path):
    job = start(*RUN, "checkpoint_every=3", f"hydra.run.dir={tmp_path}")
    wait_for(tmp_path / "history.csv", job)
    time.sleep(0.3)  # a few more checkpoint and history writes
    job.send_signal(signal.SIGKILL)
    job.communicate(timeout=60)
    assert job.returncode == -signal.SIGKILL
    assert_whole_files(tmp_path)
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["step"] >= 3


def test_a_sweep_job_whose_loss_goes_nan_fails_alone_and_keeps_its_last_good_image(tmp_path):
    job = start(
        "-m",
        "optimizer=sgd",
        "optimizer.optim.lr=0.01,1e30",
        "prior=none",
        *RUN[:4],
        "steps=30",
        "logger=none",
        "print_config=false",
        f"hydra.sweep.dir={tmp_path}",
    )
    out, err = job.communicate(timeout=300)
    assert job.returncode == 1, err[-3000:]  # the sweep finished, and says that a job failed
    summary = json.loads((tmp_path / "sweep_summary.json").read_text())
    assert [j["status"] for j in summary["jobs"]] == ["completed", "failed"]
    assert summary["jobs"][1]["error"].startswith("loss term block1_conv2/")  # became Inf (or NaN) at step N
    assert (tmp_path / "0" / "metrics.json").exists() and not (tmp_path / "1" / "metrics.json").exists()
    assert Image.open(tmp_path / "1" / "partial" / "images" / "block1_conv2_chelsea.png").size == (32, 32)

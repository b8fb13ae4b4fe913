"""Same config and seed, same PNG bytes; a run stopped half-way resumes to the uninterrupted result."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

import run as entry
from convis import experiments
from convis.modules.visualisation import VisualisationModule
from convis.runtime import provenance
from convis.runtime.errors import ConvisError
from convis.runtime.stops import last_checkpoint

ROOT = Path(__file__).resolve().parents[1]
# jitter on (a random window of a canvas 2 px larger, every step), a final phase from a fresh optimiser state
# (1 of 8 steps: the share of 2 in 350), a checkpoint every 3 steps
SMALL = (
    "backbone=mobilenet_v2",
    "layer=block_2_expand_relu",
    "objective.jitter=3",
    "steps=8",
    "checkpoint_every=3",
    "optimizer.final_steps=2",
)


class Stop(Exception):
    """Stands for a crash or a kill half-way."""


def run_in(cfg, folder: Path):
    with open_dict(cfg):
        cfg.output_dir = str(folder)
    return experiments.run(cfg).metrics


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "images").glob("*.png"))}


def test_same_config_and_seed_give_byte_identical_pngs(cfg_factory, tmp_path):
    run_in(cfg_factory(*SMALL), tmp_path / "a")
    run_in(cfg_factory(*SMALL), tmp_path / "b")
    run_in(cfg_factory(*SMALL, "seed=1"), tmp_path / "c")
    first = pngs(tmp_path / "a")
    assert len(first) == 2 and first == pngs(tmp_path / "b")
    assert first["chelsea_block_2_expand_relu.png"] != pngs(tmp_path / "c")["chelsea_block_2_expand_relu.png"]


def test_a_run_stopped_half_way_resumes_to_the_uninterrupted_result(cfg_factory, tmp_path, monkeypatch):
    run_in(cfg_factory(*SMALL), tmp_path / "whole")
    step = VisualisationModule.training_step

    def crash_at_5(self, index):  # the sixth step: after the checkpoint of step 3
        if index == 5:
            raise Stop
        return step(self, index)

    monkeypatch.setattr(VisualisationModule, "training_step", crash_at_5)
    with pytest.raises(Stop):
        run_in(cfg_factory(*SMALL), tmp_path / "stopped")
    monkeypatch.setattr(VisualisationModule, "training_step", step)
    checkpoint = torch.load(tmp_path / "stopped" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["step"] == 3 and list(checkpoint["param"]) == ["image"]  # no network
    assert set(checkpoint["optimizer"]["state"][0]) == {"G", "v"}  # the IJCV rule's state
    assert checkpoint["param"]["image"].shape[-2:] == (34, 34)  # the padded canvas: 32 + 3 - 1
    assert checkpoint["rng_states"]["torch"].dtype == torch.uint8 and checkpoint["rng_states"]["torch"].numel() > 0
    shutil.copytree(tmp_path / "stopped", tmp_path / "no_rng")

    for folder in ("stopped", "no_rng"):
        if folder == "no_rng":  # the same resume without restoring the random state draws other jitter
            monkeypatch.setattr(torch, "set_rng_state", lambda state: None)
        run_in(cfg_factory(*SMALL, f"resume={tmp_path / folder}"), tmp_path / folder)

    assert pngs(tmp_path / "stopped") == pngs(tmp_path / "whole")
    assert (tmp_path / "stopped" / "history.csv").read_text() == (tmp_path / "whole" / "history.csv").read_text()
    assert (
        pngs(tmp_path / "no_rng")["chelsea_block_2_expand_relu.png"]
        != pngs(tmp_path / "whole")["chelsea_block_2_expand_relu.png"]
    )


def test_resume_needs_a_run_directory_with_a_checkpoint(cfg_factory, tmp_path):
    with pytest.raises(ConvisError, match=r"resume=.* is not a run directory: .*config.yaml not found"):
        entry.resumed(cfg_factory(f"resume={tmp_path}"))
    with pytest.raises(ConvisError, match=r"no checkpoint at .*last.ckpt.*checkpoint_every > 0"):
        last_checkpoint(tmp_path, {})


def test_resume_takes_the_original_config_and_directory(cfg_factory, tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(
        "steps: 7\nresume: null\noutput_dir: ${hydra:runtime.output_dir}\n"
    )
    cfg = entry.resumed(cfg_factory(f"resume={tmp_path}", "steps=99"))
    assert cfg.steps == 7 and cfg.output_dir == str(tmp_path) and cfg.resume == str(tmp_path)


def test_provenance_records_how_to_rerun_and_what_ran(cfg_factory, tmp_path):
    cfg = cfg_factory("seed=5")
    with provenance.recorded(cfg, tmp_path):
        during = json.loads((tmp_path / "provenance.json").read_text())
    after = json.loads((tmp_path / "provenance.json").read_text())
    assert during["status"] == "running" and during["finished"] is None
    assert after["status"] == "completed" and after["finished"] >= after["started"]
    assert after["command"][1:] == sys.argv and after["seed"] == 5 and after["config"]["seed"] == 5
    assert (
        after["versions"]["torch"] == metadata.version("torch")
        and after["device"]["torch_threads"] == torch.get_num_threads()
    )
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert after["git"]["commit"] == head.stdout.strip() and isinstance(after["git"]["dirty"], bool)


def test_provenance_records_a_failure_and_works_without_git(cfg_factory, tmp_path, monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(provenance.subprocess, "run", no_git)
    with pytest.raises(RuntimeError), provenance.recorded(cfg_factory(), tmp_path):
        raise RuntimeError("wrapped") from ConvisError("layer=foo is not a layer")
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert record["git"] == {"commit": None, "dirty": None}
    assert record["status"] == "failed" and record["error"]["message"] == "layer=foo is not a layer"


@pytest.mark.slow
def test_ctrl_c_then_resume_from_the_command_line_ends_where_an_uninterrupted_run_ends(tmp_path):
    """Three CLI runs: interrupted with SIGINT after a checkpoint, resumed with resume=DIR, and whole."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    args = [
        sys.executable,
        "run.py",
        "layer=block1_conv2",
        "backbone.weights=null",
        "image_size=32",
        "steps=1500",
        "checkpoint_every=10",
        "logger=none",
    ]
    stopped, whole = tmp_path / "stopped", tmp_path / "whole"
    job = subprocess.Popen(
        [*args, f"hydra.run.dir={stopped}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while not (stopped / "checkpoints" / "last.ckpt").exists() and job.poll() is None:
        time.sleep(0.05)
    job.send_signal(signal.SIGINT)
    assert job.wait(timeout=120) == 128 + signal.SIGINT, "the run ended before it could be interrupted"
    assert json.loads((stopped / "provenance.json").read_text())["status"] == "interrupted"
    assert not (stopped / "metrics.json").exists()

    resume = [sys.executable, "run.py", f"resume={stopped}", f"hydra.run.dir={tmp_path / 'resume_call'}"]
    assert subprocess.run(resume, cwd=ROOT, env=env, capture_output=True).returncode == 0
    assert subprocess.run([*args, f"hydra.run.dir={whole}"], cwd=ROOT, env=env, capture_output=True).returncode == 0
    assert pngs(stopped) == pngs(whole)
    record = json.loads((stopped / "provenance.json").read_text())
    assert record["status"] == "completed" and record["resumed"][0]["command"][1:] == resume[1:]

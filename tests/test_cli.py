"""The command-line contract through the real entry points, in subprocesses, offline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ["backbone", "dataset", "objective", "prior", "param", "optimizer", "logger", "trainer", "experiment"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # a proxy on a closed loopback port: any download attempt fails at once, nothing leaves the machine
    base = {**os.environ, "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True, timeout=300
    )


def test_inversion_run_writes_pngs_metrics_and_an_offline_wandb_run(tmp_path):
    done = cli(
        "run.py",
        "objective=inversion",
        "layer=block5_conv3",
        "backbone.weights=null",
        "image_size=32",
        "steps=3",
        f"hydra.run.dir={tmp_path}",
        env={"WANDB_MODE": "offline"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["layer"] for r in metrics["results"]] == ["block5_conv3"]
    assert (tmp_path / "images" / "chelsea_block5_conv3.png").exists()
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert (tmp_path / ".hydra" / "config.yaml").exists()
    console = done.stdout + done.stderr
    assert "print_config=true shows it" not in console  # the config tree only with print_config=true
    assert "anonymous" not in console and "Run summary" not in console and "wandb:" not in console
    assert f"W&B (offline): wandb sync {tmp_path}/wandb/offline-run-*" in console


def test_print_config_true_prints_the_config_tree(tmp_path):
    small = ["backbone.weights=null", "logger=none", "image_size=32", "steps=1", "layer=block1_conv1"]
    done = cli("run.py", *small, "print_config=true", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "config (print_config=true shows it)" in done.stdout and "block1_conv1" in done.stdout


def test_steps_for_saliency_is_refused_in_one_line(tmp_path):
    done = cli("run.py", "objective=saliency", "steps=60", "backbone.weights=null", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2 and done.stderr.splitlines()[-1] == (
        "convis: error: steps=60 means nothing for objective=saliency, which optimises no image: leave it out"
    )


def test_default_weights_without_network_stop_with_the_three_ways_out(tmp_path):
    done = cli(
        "run.py",
        "layer=block5_conv3",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
        env={"TORCH_HOME": str(tmp_path / "torch")},
    )
    assert done.returncode == 2
    assert "not cached and could not be downloaded" in done.stderr
    assert "backbone.weights=null" in done.stderr and "backbone.weights=/path" in done.stderr
    assert "vgg16-397923af.pth" in done.stderr and "Traceback" not in done.stderr


def test_layers_script_prints_names_paths_shapes_strides():
    done = cli("scripts/layers.py", "backbone=vgg16", "image_size=224")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("block5_conv3"))
    assert row.split() == ["block5_conv3", "features.29", "512x14x14", "16"]


@pytest.mark.parametrize("group", GROUPS)
def test_every_config_group_option_composes(group):
    options = sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))
    assert options, group
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for option in options:
            cfg = compose("config", overrides=[f"{group}={option}"])
            assert cfg.objective.name and cfg.backbone._target_


def test_unknown_group_option_lists_the_valid_ones(tmp_path):
    done = cli("run.py", "backbone=resnet9000", f"hydra.run.dir={tmp_path}")
    assert done.returncode != 0
    assert "resnet9000" in done.stderr and "vgg16" in done.stderr and "mobilenet_v2" in done.stderr


@pytest.mark.parametrize(
    ("override", "expected"),
    [("dataset.path=/no/such/cat.jpg", "/no/such/cat.jpg"), ("layer=block6_conv1", "unknown layer 'block6_conv1'")],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, override, expected):
    done = cli(
        "run.py",
        override,
        "backbone.weights=null",
        "logger=none",
        "image_size=32",
        "steps=2",
        f"hydra.run.dir={tmp_path}",
    )
    assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr


def test_corrupt_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    done = cli(
        "run.py",
        f"dataset.path={bad}",
        "backbone.weights=null",
        "logger=none",
        "image_size=32",
        "steps=2",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert done.returncode == 2 and str(bad) in done.stderr

"""Shared test setup: W&B never reaches a network, configs composed from conf/ and shrunk."""

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ["WANDB_SILENT"] = "true"

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def make_cfg(output_dir: Path, *overrides: str) -> DictConfig:
    """The composed run config with a small, offline default: random VGG16, 32 px, 3 steps, no logger."""
    small = ["backbone.weights=null", "image_size=32", "steps=3", "logger=none", "image_every=0"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*small, *overrides])
    with open_dict(cfg):
        cfg.output_dir = str(output_dir)
        cfg.trainer.enable_progress_bar = False
    return cfg


@pytest.fixture
def cfg_factory(tmp_path: Path):
    """make_cfg writing into the test's temporary folder."""
    return lambda *overrides: make_cfg(tmp_path, *overrides)

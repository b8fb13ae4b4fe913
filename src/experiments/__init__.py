"""What a run does, end to end, chosen by the objective; each module exposes `run(cfg, output_dir)`."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from omegaconf import DictConfig

from src.errors import ConvisError

# objective name -> the experiment module that runs it (imported on use: start-up stays short)
EXPERIMENTS: dict[str, str] = {
    "inversion": "src.experiments.inversion",
    "class_score": "src.experiments.class_model",
    "activation": "src.experiments.class_model",
    "saliency": "src.experiments.saliency",
    "finetune": "src.experiments.finetune",
}


def run(cfg: DictConfig) -> dict:
    """Run the experiment of `cfg.objective.name`, writing into `cfg.output_dir`."""
    name = cfg.objective.name
    if name not in EXPERIMENTS:
        raise ConvisError(f"unknown objective {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return import_module(EXPERIMENTS[name]).run(cfg, output_dir)

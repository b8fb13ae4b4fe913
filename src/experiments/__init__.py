"""What a run does, end to end, chosen by the objective."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from src.errors import ConvisError
from src.experiments import inversion

EXPERIMENTS: dict[str, Callable[[DictConfig, Path], dict]] = {
    "inversion": inversion.run,
}


def run(cfg: DictConfig) -> dict:
    """Run the experiment of `cfg.objective.name`, writing into `cfg.output_dir`."""
    name = cfg.objective.name
    if name not in EXPERIMENTS:
        raise ConvisError(f"unknown objective {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return EXPERIMENTS[name](cfg, output_dir)

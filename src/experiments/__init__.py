"""What a run does, end to end: the experiment class that the objective's `_target_` names."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig
from torch import nn
from torch.utils.data import Dataset

from convis.backbones import Backbone
from convis.experiments.base import Experiment, Result, experiment


def run(
    cfg: DictConfig, backbone: Backbone | None = None, data: Dataset | None = None, model: nn.Module | None = None
) -> Result:
    """Check and run the objective's experiment into `cfg.output_dir`, on the given network and images if any."""
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    chosen = experiment(cfg, backbone, data, model)
    chosen.check()
    return chosen.run(output_dir)


__all__ = ["Experiment", "Result", "experiment", "run"]

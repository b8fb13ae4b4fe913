"""convis entry point: `python run.py objective=inversion layer=block5_conv3`.

Every job records provenance.json in its directory and returns cfg.optimize_metric to the sweeper.
In a multirun a failed job is recorded (provenance.json, the job's log) and the others go on.
"""

import logging
import math
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from src import experiments, provenance
from src.errors import ConvisError, user_error
from src.reporting.sweeps import mean_metrics, metric_value

log = logging.getLogger("convis")


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def resumed(cfg: DictConfig) -> DictConfig:
    """The config of the run in directory cfg.resume, set to continue there."""
    run_dir = Path(cfg.resume)
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise ConvisError(f"resume={run_dir} is not a run directory: {saved} not found")
    others = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")] if HydraConfig.initialized() else []
    if others:
        raise ConvisError(f"resume= reuses the run's own config: drop {' '.join(others)}, or start a new run with them")
    original = OmegaConf.load(saved)
    with open_dict(original):
        original.resume, original.output_dir = str(run_dir), str(run_dir)
    return original


def finish_wandb(metrics: dict | None) -> None:
    """Put the mean metrics in this job's W&B run summary and end the run (None: it failed).

    Ending it makes the next job of a sweep start its own run instead of reusing this one.
    """
    wandb = sys.modules.get("wandb")
    if wandb is None or wandb.run is None:
        return
    if metrics:
        wandb.run.summary.update({f"final/{key}": value for key, value in mean_metrics(metrics).items()})
    wandb.finish(exit_code=0 if metrics else 1)


def failed_job(err: Exception) -> float:
    """In a multirun: log the failure and return NaN so the sweep goes on. Alone: one line and exit 2."""
    problem = user_error(err)
    if in_multirun():
        log.error("job failed: %s", problem or err, exc_info=problem is None)
        return math.nan
    if problem is None:
        raise err
    print(f"convis: error: {problem}", file=sys.stderr)
    sys.exit(2)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    metrics = None
    try:
        cfg = resumed(cfg) if cfg.resume else cfg
        with provenance.recorded(cfg, Path(cfg.output_dir)):
            metrics = experiments.run(cfg)
            value = metric_value(metrics, cfg.optimize_metric)
        return value
    except Exception as err:
        metrics = None
        return failed_job(err)
    finally:
        finish_wandb(metrics)


if __name__ == "__main__":
    main()

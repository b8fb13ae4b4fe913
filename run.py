"""convis entry point: `python run.py objective=inversion layer=block5_conv3` (`--help` lists the options).

Every job checks its config before any heavy work, records provenance.json in its directory and
returns cfg.optimize_metric to the sweeper. A user's mistake (a bad value, an unknown option or key)
is one line on stderr and exit status 2; HYDRA_FULL_ERROR=1 shows the traceback instead. In a
multirun a failed job is recorded (provenance.json, the job's log) and the others go on; the sweep then
exits with status 1 if any job failed or its sweep_summary.json could not be written, 0 when all completed.
A full disk that stops Hydra itself between jobs is one line and exit status 1; a log file that cannot be
written is one warning line, not a traceback per logged line.
"""

import logging
import math
import os
import signal
import sys
import threading
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from convis.api import execute
from convis.reporting.console import show_outputs
from convis.reporting.sweeps import mean_metrics, metric_value
from convis.runtime import provenance
from convis.runtime.errors import ConvisError, hydra_problem, user_error
from convis.runtime.trusted import check_hydra_overrides
from convis.runtime.writers import DiskFull, is_full, quiet_log_files

log = logging.getLogger("convis")
SIGTERM_STATUS = 128 + signal.SIGTERM
SIGINT_STATUS = 128 + signal.SIGINT
SAVED_CONFIG = Path(".hydra") / "config.yaml"
job_started = False  # set when Hydra hands a job its config: errors before that are the command line's


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def resumed(cfg: DictConfig) -> DictConfig:
    """The config of the run in directory cfg.resume, set to continue there."""
    run_dir = Path(cfg.resume)
    saved = run_dir / SAVED_CONFIG
    if not saved.is_file():
        raise ConvisError(f"resume={run_dir} is not a run directory: {saved} not found")
    others = (
        [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
        if HydraConfig.initialized()
        else []
    )
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
    print(f"convis: error: {provenance.scrub(str(problem))}", file=sys.stderr)
    sys.exit(2)


def redact_hydra_files() -> None:
    """Hydra saved the command line before the job started: rewrite those files without their secrets."""
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.output_subdir is not None:
        provenance.redact_files(Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir)
    if in_multirun():
        provenance.redact_files(Path(hydra_cfg.sweep.dir))  # multirun.yaml


def terminate(signum: int, frame: object) -> None:
    """SIGTERM outside the optimisation (which stops cleanly by itself): end now, recorded as interrupted."""
    raise SystemExit(SIGTERM_STATUS)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    global job_started
    job_started, metrics = True, None
    quiet_log_files()  # Hydra's run.log handler, made for this job
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminate)
    try:
        cfg = resumed(cfg) if cfg.get("resume") else cfg
        output_dir = Path(cfg.output_dir)
        redact_hydra_files()
        metrics = execute(cfg).metrics
        show_outputs(output_dir, metrics)
        return metric_value(metrics, cfg.optimize_metric)
    except Exception as err:
        metrics = None
        return failed_job(err)
    finally:
        finish_wandb(metrics)


def resume_in_place(args: list[str]) -> list[str]:
    """With resume=DIR, Hydra runs in DIR itself: it makes no new directory, keeps DIR's .hydra/ files as they
    are and logs to DIR's run.log (unless the command line chooses hydra.run.dir itself)."""
    given = [arg.partition("=")[2] for arg in args if arg.startswith("resume=")]
    chosen = any(arg.startswith(("hydra.run.dir=", "hydra.output_subdir=")) for arg in args)
    if not given or chosen or {"-m", "--multirun"} & set(args) or not (Path(given[-1]) / SAVED_CONFIG).is_file():
        return args  # resumed() says what is wrong with a directory that is not a run's
    return [*args, f"hydra.run.dir={given[-1]}", "hydra.output_subdir=null"]


def cli() -> None:
    """Hydra's main, with an error before any job starts (an unknown option or key, bad syntax: the command
    line's) and a Ctrl-C outside the optimisation as one line each."""
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra then raises its errors to us instead of printing them
    sys.argv[1:] = resume_in_place(sys.argv[1:])
    try:
        check_hydra_overrides(sys.argv[1:])
        main()
    except Exception as err:
        if is_full(err) and not full:  # Hydra writing a job's .hydra/ files: the sweep stops there
            print(f"convis: error: {DiskFull(err.filename or 'the .hydra/ files of a job')}", file=sys.stderr)
            sys.exit(1)
        if full or job_started:  # a job's own errors were dealt with in main: what is left is a bug
            raise
        print(f"convis: error: {hydra_problem(err)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("convis: interrupted", file=sys.stderr)
        sys.exit(SIGINT_STATUS)


if __name__ == "__main__":
    cli()

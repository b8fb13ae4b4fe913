"""What a sweep returns to its sweeper and what it leaves behind: the metric, sweep_summary.json."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from convis.runtime.errors import ConvisError
from convis.runtime.provenance import scrub_hydra_logs
from convis.runtime.writers import write_json

SUMMARY = "sweep_summary.json"
log = logging.getLogger(__name__)


def is_metric(value: object) -> bool:
    """Result values that score a picture (floats, hits), as opposed to labels and file names."""
    return isinstance(value, (float, bool))


def mean_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Each metric's mean over a run's results."""
    found: dict[str, list[float]] = {}
    for result in metrics["results"]:
        for key, value in result.items():
            if is_metric(value):
                found.setdefault(key, []).append(float(value))
    return {key: sum(values) / len(values) for key, values in found.items()}


def metric_value(metrics: dict[str, Any], name: str | None) -> float | None:
    """The mean of result key `name` over a run's results, which a sweeper optimises (None when unset)."""
    if name is None:
        return None
    means = mean_metrics(metrics)
    if name not in means:
        raise ConvisError(f"optimize_metric={name!r} is not in this run's results: choose one of {', '.join(means)}")
    return means[name]


def summarise(sweep_dir: Path) -> dict[str, Any]:
    """Each job's directory, overrides, status, error and optimised value, and the counts."""
    from convis.reporting.runs import collect  # imported late: Hydra builds this callback at every start

    jobs = []
    for run in collect(sweep_dir):
        metric = run.config.get("optimize_metric")
        jobs.append(
            {
                "dir": run.name,
                "overrides": [f"{key}={value}" for key, value in run.overrides.items()],
                "status": run.status,
                "error": run.error or None,
                "value": metric_value(run.metrics, metric) if run.status == "completed" and metric else None,
            }
        )
    failed = [job for job in jobs if job["status"] != "completed"]
    return {"sweep_dir": str(sweep_dir), "jobs": jobs, "completed": len(jobs) - len(failed), "failed": len(failed)}


def write_summary(summary: dict[str, Any], path: Path) -> bool:
    """Write sweep_summary.json; where it cannot be (a full disk), say so in one line and return False."""
    try:
        write_json(summary, path)
    except (OSError, ConvisError) as err:
        log.error("sweep summary not written: %s", err)
        return False
    return True


class SweepSummary(Callback):
    """Around a multirun: Hydra's log lines (a launcher's list each job's overrides) with secrets scrubbed;
    after it, sweep_summary.json, one line per failed job, and exit status 1 if any job failed or the summary
    could not be written."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        scrub_hydra_logs()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            summary = summarise(sweep_dir)
        except ConvisError as err:  # no job left a record to summarise
            log.error("sweep summary not written: %s", err)
            sys.exit(1)
        written = write_summary(summary, sweep_dir / SUMMARY)
        for job in summary["jobs"]:
            if job["status"] != "completed":
                log.error("job %s (%s) %s: %s", job["dir"], " ".join(job["overrides"]), job["status"], job["error"])
        log.info(
            "%d of %d jobs completed; %s; report: python scripts/report.py %s",
            summary["completed"],
            len(summary["jobs"]),
            f"summary in {sweep_dir / SUMMARY}" if written else "no summary",
            sweep_dir,
        )
        if summary["failed"] or not written:
            sys.exit(1)

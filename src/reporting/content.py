"""What a report shows, gathered from runs: the one type the HTML and Markdown writers read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convis.reporting.curves import Chart
from convis.reporting.grid import Grid
from convis.reporting.runs import Run, Setup


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Section:
    """The pictures and metrics of the runs of one objective (titled by it when a report has several)."""

    title: str
    grids: list[Grid]  # one, or one per kind of picture where they make no table together
    originals: list[tuple[str, Path]]
    metrics: Table
    summary: Table | None = None  # each run's metrics.json summary (saliency quality), where runs have one


@dataclass
class Report:
    """Everything the HTML and Markdown writers show."""

    title: str
    root: Path
    intro: list[str]  # what the report is of, in the words of whoever wrote it (e.g. the demo), shown first
    setups: list[Setup]  # what the runs ran on: network, weights, image size, steps (one line each)
    commands: list[str]
    runs: list[Run]
    sweep: str  # how many jobs the sweep had and which did not run (empty for a run)
    sections: list[Section]
    jobs: Table
    best: dict[str, Any] | None
    charts: list[Chart]
    provenance: Table
    environments: list[tuple[str, dict[str, Any]]]
    configs: list[tuple[str, str]]

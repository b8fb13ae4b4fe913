"""The runs under a run or sweep directory, as their files describe them."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from convis.runtime import provenance
from convis.runtime.errors import ConvisError
from convis.runtime.history import HISTORY, read_history
from convis.runtime.lock import in_use
from convis.runtime.stops import CHECKPOINTS, LAST

METRICS = "metrics.json"
HYDRA_CONFIG = Path(".hydra") / "config.yaml"
HYDRA_OVERRIDES = Path(".hydra") / "overrides.yaml"
MARKERS = (METRICS, provenance.FILE, str(HYDRA_CONFIG))
SKIPPED = {"wandb", "checkpoints", "images", "csv", "report_files"}  # and hidden folders (.hydra, .submitit)


@dataclass
class Run:
    """One run directory: its overrides, config, metrics, loss history and provenance."""

    path: Path
    name: str
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    provenance: dict[str, Any] | None = None

    @property
    def died(self) -> bool:
        """Whether provenance.json says running but no process owns the directory any more (e.g. after SIGKILL)."""
        return bool(self.provenance) and self.provenance.get("status") == "running" and in_use(self.path) is False

    @property
    def status(self) -> str:
        """completed, failed, interrupted or running as provenance.json says (interrupted where the process
        died); else from metrics.json."""
        if self.provenance:
            return "interrupted" if self.died else self.provenance["status"]
        return "completed" if self.metrics else "unknown"

    @property
    def error(self) -> str:
        """Why the run did not complete: its recorded error, or that its process died and how to go on."""
        if self.died:
            resumable = (self.path / CHECKPOINTS / LAST).is_file()
            go_on = f"continue with: python run.py resume={shlex.quote(str(self.path))}"
            return f"its process ended without a word (killed?); {go_on if resumable else 'it saved no checkpoint'}"
        return ((self.provenance or {}).get("error") or {}).get("message") or ""

    @property
    def results(self) -> list[dict[str, Any]]:
        return self.metrics["results"] if self.metrics else []


def parse_overrides(lines: list[str]) -> dict[str, str]:
    """Hydra override strings as {key: value as typed}; a deletion (~key) has the value "~"."""
    parsed = OverridesParser.create().parse_overrides(lines)
    return {o.key_or_group: "~" if o.is_delete() else o.get_value_element_as_str() for o in parsed}


def load_run(path: Path, root: Path) -> Run:
    """Read one run directory; files it lacks leave their fields empty, secrets come out REDACTED."""
    record = provenance.redact(provenance.read(path))
    overrides_file = path / HYDRA_OVERRIDES
    typed = OmegaConf.to_container(OmegaConf.load(overrides_file), resolve=False) if overrides_file.is_file() else []
    overrides = parse_overrides(typed)  # as typed: ${oc.env:...} stays unresolved
    if record and isinstance(record.get("config"), dict):
        config = record["config"]
    elif (path / HYDRA_CONFIG).is_file():
        config = OmegaConf.to_container(OmegaConf.load(path / HYDRA_CONFIG), resolve=False)
    else:
        config = {}
    return Run(
        path=path,
        name=path.name if path == root else path.relative_to(root).as_posix(),
        overrides=provenance.redact(overrides),
        config=provenance.redact(config),
        metrics=json.loads((path / METRICS).read_text()) if (path / METRICS).is_file() else None,
        history=read_history(path / HISTORY) if (path / HISTORY).is_file() else [],
        provenance=record,
    )


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def is_run(path: Path) -> bool:
    return any((path / marker).is_file() for marker in MARKERS)


def run_dirs(root: Path) -> list[Path]:
    """`root` itself if it is a run, else every run directory below it in natural order (2 before 10)."""
    if is_run(root):
        return [root]
    found, stack = [], [root]
    while stack:
        for child in sorted(
            p for p in stack.pop().iterdir() if p.is_dir() and p.name not in SKIPPED and p.name[0] != "."
        ):
            (found if is_run(child) else stack).append(child)
    return sorted(found, key=lambda p: _natural(p.relative_to(root)))


def collect(root: str | Path) -> list[Run]:
    """Every run in a run or sweep directory, or a ConvisError when there is none."""
    root = Path(root)
    if not root.is_dir():
        raise ConvisError(f"not a directory: {root} (give a run directory or a multirun sweep directory)")
    runs = [load_run(path, root) for path in run_dirs(root)]
    if not runs:
        raise ConvisError(
            f"no runs in {root}: expected {METRICS}, {provenance.FILE} or {HYDRA_CONFIG} in it or in its subfolders"
        )
    return runs

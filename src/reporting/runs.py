"""The runs under a run or sweep directory, as their files describe them."""

from __future__ import annotations

import csv
import itertools
import json
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import OmegaConf

from convis.runtime import provenance
from convis.runtime.errors import ConvisError, one_line
from convis.runtime.history import HISTORY, read_history
from convis.runtime.lock import ended_with, in_use
from convis.runtime.stops import CHECKPOINTS, LAST

METRICS = "metrics.json"
RANDOM_INIT = "random init"  # metrics.json's weights of a network built without any (backbone.weights=null)
HYDRA_CONFIG = Path(".hydra") / "config.yaml"
HYDRA_OVERRIDES = Path(".hydra") / "overrides.yaml"
MULTIRUN = "multirun.yaml"  # Hydra's record of a sweep: its config, sweeper and overrides
MARKERS = (METRICS, provenance.FILE, str(HYDRA_CONFIG))
SKIPPED = {"wandb", "checkpoints", "images", "csv", "report_files"}  # and hidden folders (.hydra, .submitit)


STATUSES = ("completed", "failed", "interrupted", "running")
PICTURE_KEYS = ("png", "transparency_png", "map_png")


class Damaged(ValueError):
    """A run's file that cannot be read as what it should hold: the message says what is wrong with it."""


@dataclass
class Run:
    """One run directory: its overrides, config, metrics, loss history and provenance.

    `damage` names each file that could not be read and what is wrong with it; `ending` is the status and error
    its lock file kept when provenance.json could not record them (a full disk).
    """

    path: Path
    name: str
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    provenance: dict[str, Any] | None = None
    damage: list[str] = field(default_factory=list)
    ending: tuple[str, str] | None = None

    @property
    def died(self) -> bool:
        """Whether provenance.json says running but no process owns the directory any more (e.g. after SIGKILL)."""
        return bool(self.provenance) and self.provenance.get("status") == "running" and in_use(self.path) is False

    @property
    def status(self) -> str:
        """damaged where a file could not be read; else completed, failed, interrupted or running as
        provenance.json (or, where it could not be written, the lock file) says, interrupted where the process
        died without a word; else from metrics.json."""
        if self.damage:
            return "damaged"
        if self.ending and (self.died or not self.provenance):
            return self.ending[0]
        if self.provenance:
            return "interrupted" if self.died else self.provenance["status"]
        return "completed" if self.metrics else "unknown"

    @property
    def error(self) -> str:
        """Why the run did not complete: what is wrong with its files, its recorded error, or that its process
        died and how to go on."""
        if self.damage:
            return "; ".join(self.damage)
        if self.ending and (self.died or not self.provenance):
            return self.ending[1]
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


def text_of(path: Path) -> str:
    """A file's UTF-8 text."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Damaged("not UTF-8 text") from None


def json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object."""
    try:
        data = json.loads(text_of(path))
    except json.JSONDecodeError as err:
        raise Damaged(f"not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise Damaged(f"holds a{'n' * (type(data).__name__[0] in 'aeiou')} {type(data).__name__}, not an object")
    return data


def read_metrics(path: Path) -> dict[str, Any]:
    """metrics.json: an object whose results are objects, each picture named by a relative path to a file."""
    try:
        metrics = json_object(path)
    except Damaged as err:
        raise Damaged(f"{err} with results" if str(err).startswith("holds") else str(err)) from None
    results = metrics.get("results")
    if not isinstance(results, list) or not all(isinstance(result, dict) for result in results):
        raise Damaged("its results are not a list of objects")
    for n, result in enumerate(results):
        for key in PICTURE_KEYS:
            if result.get(key) is not None and not (
                isinstance(result[key], str) and (path.parent / result[key]).is_file()
            ):
                raise Damaged(f"results[{n}].{key} is {result[key]!r}, not a picture file in the run's directory")
    summary = metrics.get("summary", {})
    if not isinstance(summary, dict) or not all(isinstance(v, (int, float, type(None))) for v in summary.values()):
        raise Damaged("its summary is not an object of numbers")
    return metrics


def read_provenance(path: Path) -> dict[str, Any]:
    """provenance.json: an object with a known status, its command and overrides lists of strings."""
    record = json_object(path)
    if record.get("status") not in STATUSES:
        raise Damaged(f"status is {record.get('status')!r}, not one of {', '.join(STATUSES)}")
    for key in ("command", "overrides"):
        value = record.get(key) or []
        if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
            raise Damaged(f"its {key} is not a list of strings")
    for key in ("config", "error", "git", "versions", "device"):
        if not isinstance(record.get(key) or {}, dict):
            raise Damaged(f"its {key} is not an object")
    return provenance.redact(record)


def read_checked_history(path: Path) -> list[dict[str, str]]:
    """history.csv: a step and numbers on every row."""
    try:
        rows = read_history(path)
    except UnicodeDecodeError:
        raise Damaged("not UTF-8 text") from None
    except csv.Error as err:
        raise Damaged(f"not valid CSV ({err})") from None
    for n, row in enumerate(rows, 1):
        if None in row:
            raise Damaged(f"row {n} has more values than the header has columns")
        for key, value in row.items():
            if (value not in (None, "") and not is_number(value)) or (key == "step" and not value):
                raise Damaged(f"row {n} (step {row.get('step')}): {key} is {value!r}, not a number")
    return rows


def is_number(value: str) -> bool:
    """Whether a CSV value reads as a float (nan and inf do: a run may log them)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def read_yaml(path: Path) -> Any:
    """A YAML file Hydra wrote, as plain data with its interpolations as typed."""
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except UnicodeDecodeError:
        raise Damaged("not UTF-8 text") from None
    except Exception as err:  # yaml's and OmegaConf's parse errors have no common base
        raise Damaged(f"not valid YAML ({one_line(str(err))})") from None


def read_config(path: Path) -> dict[str, Any]:
    """.hydra/config.yaml: the job's config, which is never empty."""
    config = read_yaml(path)
    if not isinstance(config, dict) or not config:
        raise Damaged("holds no config (empty or cut short)")
    return config


def read_overrides(path: Path) -> dict[str, str]:
    """.hydra/overrides.yaml: the job's overrides as typed (${oc.env:...} stays unresolved)."""
    lines = read_yaml(path)
    try:
        return parse_overrides(lines)
    except Exception as err:  # Hydra's parser raises its own and Python's errors
        raise Damaged(f"not a list of overrides ({one_line(str(err))})") from None


def reading(run: Run, name: str | Path, read: Callable[[Path], Any], default: Any) -> Any:
    """`read` of the run's file `name`: `default` when the file is missing or damaged (then noted in run.damage)."""
    path = run.path / name
    if not path.is_file():
        return default
    try:
        return read(path)
    except (Damaged, OSError) as err:
        run.damage.append(f"{Path(name).as_posix()}: {one_line(str(err))}")
        return default


def load_run(path: Path, root: Path) -> Run:
    """Read one run directory; files it lacks leave their fields empty, damaged ones are named in run.damage,
    secrets come out REDACTED."""
    run = Run(path=path, name=path.name if path == root else path.relative_to(root).as_posix())
    run.provenance = reading(run, provenance.FILE, read_provenance, None)
    run.overrides = provenance.redact(reading(run, HYDRA_OVERRIDES, read_overrides, {}))
    if run.provenance and run.provenance.get("config"):
        run.config = run.provenance["config"]
    else:
        run.config = provenance.redact(reading(run, HYDRA_CONFIG, read_config, {}))
    run.metrics = reading(run, METRICS, read_metrics, None)
    run.history = reading(run, HISTORY, read_checked_history, [])
    run.ending = ended_with(path)
    return run


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def is_run(path: Path) -> bool:
    return any((path / marker).is_file() for marker in MARKERS)


def subfolders(folder: Path) -> list[Path]:
    """The folders in `folder` a run may be in: not hidden, not a run's own (SKIPPED), not a link (a link to
    a folder above would loop)."""
    try:
        children = sorted(folder.iterdir())
    except OSError:  # unreadable: it holds no run the report can read
        return []
    return [p for p in children if p.is_dir() and not p.is_symlink() and p.name not in SKIPPED and p.name[0] != "."]


def run_dirs(root: Path) -> list[Path]:
    """`root` itself if it is a run, else every run directory below it in natural order (2 before 10)."""
    if is_run(root):
        return [root]
    found, stack = [], [root]
    while stack:
        for child in subfolders(stack.pop()):
            (found if is_run(child) else stack).append(child)
    return sorted(found, key=lambda p: _natural(p.relative_to(root)))


Job = tuple[int, dict[str, str]]  # a planned job: its number in the sweep and its overrides


@dataclass
class Plan:
    """The jobs a sweep was to run, as its multirun.yaml says: how many, and each one's overrides where the
    sweeper is Hydra's basic one (whose grid fixes them; Optuna's n_trials fixes only their number)."""

    count: int
    jobs: list[dict[str, str]] = field(default_factory=list)

    def not_run(self, runs: list[Run]) -> list[Job]:
        """The (job number, overrides) of each planned job that no run in `runs` is: none has its overrides,
        nor its number as name (Hydra's default job folder, whose files may be damaged)."""
        ran, names = [run.overrides for run in runs], {run.name for run in runs}
        missing = []
        for number, job in enumerate(self.jobs):
            if job in ran:
                ran.remove(job)
            elif str(number) not in names:
                missing.append((number, job))
        return missing


def plan(root: Path) -> Plan | None:
    """The plan of the sweep in `root` from its multirun.yaml; None where there is none, or no sweeper's plan
    can be read from it."""
    path = Path(root) / MULTIRUN
    try:
        hydra = OmegaConf.load(path).hydra if path.is_file() else None
        if hydra is None:
            return None
        if str(hydra.sweeper.get("_target_", "")).endswith(".BasicSweeper"):
            given = [f"{key}={value}" for key, value in (hydra.sweeper.get("params") or {}).items()]
            parsed = OverridesParser.create().parse_overrides([*given, *hydra.overrides.task])
            jobs = sweep_jobs(parsed)
            return Plan(len(jobs), [provenance.redact(parse_overrides(job)) for job in jobs])
        trials = hydra.sweeper.get("n_trials")
        return Plan(int(trials)) if trials is not None else None
    except Exception:  # a damaged or foreign multirun.yaml: the report then claims no plan
        return None


def sweep_jobs(overrides: list[Override]) -> list[list[str]]:
    """The jobs Hydra's basic sweeper makes of a sweep's overrides: every combination of the swept values, in order."""
    choices = [
        [f"{o.get_key_element()}={value}" for value in o.sweep_string_iterator()]
        if o.is_sweep_override()
        else [f"{o.get_key_element()}={o.get_value_element_as_str()}"]
        for o in overrides
    ]
    return [list(job) for job in itertools.product(*choices)]


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


# What a run ran on: read from its metrics.json where it records each part, else from its config.
REFERENCE = re.compile(r"\$\{([\w.]+)\}")  # an unresolved interpolation of another key, as Hydra's config.yaml has


@dataclass(frozen=True)
class Setup:
    """One network setting of the runs: the backbone, its weights, the image side and the steps ("" unknown)."""

    network: str
    weights: str
    image_size: str
    steps: str

    @property
    def random(self) -> bool:
        return self.weights == RANDOM_INIT

    def parts(self) -> list[str]:
        """The known settings in order, as a header shows them (the weights as they are named)."""
        sized = [f"{self.image_size} px"] * bool(self.image_size) + [f"{self.steps} steps"] * bool(self.steps)
        return [part for part in (self.network, self.weights) if part] + sized

    def text(self) -> str:
        return ", ".join(self.parts())


def setting(config: dict[str, Any], key: str) -> Any:
    """The config's value at dotted `key`, following a reference such as ${backbone.image_size}; None if absent."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    match = REFERENCE.fullmatch(value) if isinstance(value, str) else None
    return setting(config, match.group(1)) if match and match.group(1) != key else value


def known(value: object) -> str:
    """A setting as a header shows it; "" where it is unknown (absent, a node, an interpolation left unresolved)."""
    return "" if value is None or isinstance(value, (dict, list)) or "${" in str(value) else str(value)


def network_of(config: dict[str, Any]) -> str:
    """The backbone a config builds: its arch or name, or the class of a network of one's own."""
    backbone = config.get("backbone") if isinstance(config.get("backbone"), dict) else {}
    model = backbone.get("model") if isinstance(backbone.get("model"), dict) else {}
    named = backbone.get("arch") or backbone.get("name") or str(model.get("_target_") or "").rpartition(".")[2]
    return str(named or "")


def setup_of(run: Run) -> Setup:
    """The run's setup, from metrics.json where it records each part, else from its config."""
    metrics, config = run.metrics or {}, run.config
    weights = metrics.get("weights")
    if weights is None and isinstance(config.get("backbone"), dict) and "weights" in config["backbone"]:
        weights = config["backbone"]["weights"] or RANDOM_INIT
    size = metrics.get("image_size", setting(config, "image_size"))
    optimised = metrics.get("objective") != "saliency"  # a saliency map is computed, not optimised in steps
    steps = metrics.get("steps", setting(config, "steps") if optimised else None)
    return Setup(str(metrics.get("backbone") or network_of(config)), known(weights), known(size), known(steps))


def setups(runs: Sequence[Run]) -> list[Setup]:
    """The distinct setups of the runs that say anything about theirs, in first-seen order."""
    return [setup for setup in dict.fromkeys(setup_of(run) for run in runs) if setup.parts()]

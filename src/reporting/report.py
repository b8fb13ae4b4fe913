"""A report's content, gathered from a run or sweep directory, and writing it as HTML and Markdown."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from convis.reporting.atlas import write_atlas
from convis.reporting.content import Report, Section, Table
from convis.reporting.curves import charts
from convis.reporting.grid import cells, header, is_label, labels, layouts, shown, swept, varying
from convis.reporting.html import render_html
from convis.reporting.markdown import write_markdown
from convis.reporting.ranking import ranking_sections
from convis.reporting.runs import MULTIRUN, Job, Plan, Run, collect, plan, setups
from convis.runtime.writers import write_text

OPTUNA_RESULTS = "optimization_results.yaml"


def fmt(value: object) -> str:
    """A table value: floats to 4 significant digits, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_labels(runs: Sequence[Run]) -> dict[str, str]:
    """Each run's name in legends and tables: its values of the swept overrides (empty for one run)."""
    keys = swept(runs)
    return {run.name: header(keys, [run.overrides.get(k, "") for k in keys]) if keys else "" for run in runs}


def metrics_table(runs: Sequence[Run]) -> Table:
    """One row per result: the labels that vary, then every metric."""
    keys = swept(runs)
    rows = [(run.name, labels(run, result, keys), result) for run in runs for result in run.results]
    label_keys = varying([one for _, one, _ in rows]) or list(dict.fromkeys(k for _, one, _ in rows for k in one))
    metric_keys = list(dict.fromkeys(k for _, _, r in rows for k, v in r.items() if k != "png" and not is_label(v)))
    runs_column = ["run"] if len(runs) > 1 else []
    table = Table([*runs_column, *label_keys, *metric_keys])
    for name, one, result in rows:
        values = [shown(one.get(k, "")) for k in label_keys] + [fmt(result.get(k)) for k in metric_keys]
        table.rows.append([name, *values] if runs_column else values)
    return table


def jobs_table(runs: Sequence[Run], names: dict[str, str], sweep: Plan | None, missing: list[Job]) -> Table:
    """Each run's directory, swept values, status and error; then each planned job that did not run, by number."""
    table = Table(["run", "swept values", "status", "error"])
    for run in runs:
        table.rows.append([run.name, names[run.name], run.status, run.error])
    keys = varying(sweep.jobs) if sweep else []
    for number, job in missing:
        label = header(keys, [job.get(k, "") for k in keys]) if keys else ""
        table.rows.append([f"#{number}", label, "not run", "the sweep ended before this job started"])
    return table


def sweep_line(sweep: Plan | None, missing: list[Job], ran: int) -> str:
    """How many jobs the sweep had (its multirun.yaml says) and which did not run (how many, where the sweeper
    does not fix which); empty for no sweep."""
    if sweep is None:
        return ""
    if not sweep.jobs and ran < sweep.count:
        return f"The sweep had {sweep.count} jobs ({MULTIRUN}); {sweep.count - ran} did not run."
    if not missing:
        return f"The sweep had {sweep.count} jobs ({MULTIRUN})."
    keys = varying(sweep.jobs)
    named = [f"#{n} ({' '.join(k + '=' + job.get(k, '') for k in keys)})" if keys else f"#{n}" for n, job in missing]
    return f"The sweep had {sweep.count} jobs ({MULTIRUN}); {len(missing)} did not run: {', '.join(named)}."


def provenance_table(runs: Sequence[Run]) -> Table:
    """Each run's overrides, seed, commit, times and status, from its provenance.json."""
    table = Table(["run", "rerun with", "seed", "git commit", "dirty", "started", "finished", "status"])
    for run in runs:
        record = run.provenance or {}
        git = record.get("git") or {}
        overrides = record.get("overrides") or [f"{k}={v}" for k, v in run.overrides.items()]
        rerun = shlex.join(["python", "run.py", *overrides])
        values = [run.name, rerun, record.get("seed", run.config.get("seed")), git.get("commit"), git.get("dirty")]
        table.rows.append([fmt(v) for v in [*values, record.get("started"), record.get("finished"), run.status]])
    return table


def environments(runs: Sequence[Run]) -> list[tuple[str, dict[str, Any]]]:
    """The distinct (package versions, device) of the runs, each with the runs it covers."""
    found: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for run in runs:
        if run.provenance:
            env = {"versions": run.provenance.get("versions"), "device": run.provenance.get("device")}
            found.setdefault(repr(env), ([], env))[0].append(run.name)
    return [(", ".join(names), env) for names, env in found.values()]


def originals(runs: Sequence[Run]) -> list[tuple[str, Path]]:
    """The original pictures the runs started from (images/*_original.png), each once."""
    seen: dict[bytes, tuple[str, Path]] = {}
    for run in runs:
        for path in sorted((run.path / "images").glob("*_original.png")):
            seen.setdefault(path.read_bytes(), (path.stem.removesuffix("_original"), path))
    return list(seen.values())


def optuna_best(root: Path) -> dict[str, Any] | None:
    """Hydra's Optuna sweeper result (best parameters and value), if the directory has one."""
    path = root / OPTUNA_RESULTS
    return OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else None


def summary_table(runs: Sequence[Run]) -> Table | None:
    """One row per run with a metrics.json summary: its means (saliency quality), None when no run has one."""
    summarised = [run for run in runs if run.metrics and run.metrics.get("summary")]
    if not summarised:
        return None
    keys = list(dict.fromkeys(key for run in summarised for key in run.metrics["summary"]))
    table = Table(["run", *keys])
    for run in summarised:
        table.rows.append([run.name, *(fmt(run.metrics["summary"].get(key)) for key in keys)])
    return table


def objective_of(run: Run) -> str:
    """The objective a run ran, as its metrics.json or config names it."""
    return str((run.metrics or {}).get("objective") or (run.config.get("objective") or {}).get("name") or "")


def sections(runs: Sequence[Run], columns: int | None) -> list[Section]:
    """One section per objective among the runs, in first-seen order; untitled when there is one."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(objective_of(run), []).append(run)
    return [
        Section(
            title=name if len(groups) > 1 else "",
            grids=layouts(cells(group), columns),
            originals=originals(group),
            metrics=metrics_table(group),
            summary=summary_table(group),
        )
        for name, group in groups.items()
    ]


def build(root: str | Path, columns: int | None = None, intro: Sequence[str] = ()) -> Report:
    """The report of every run in `root`; `columns` wraps a one-key grid (default: the runs' report.columns);
    `intro`: paragraphs shown first, under the title."""
    root = Path(root)
    runs = collect(root)
    if columns is None:
        columns = next((run.config.get("report", {}).get("columns") for run in runs if run.config.get("report")), None)
    names = run_labels(runs)
    sweep = plan(root)
    missing = sweep.not_run(runs) if sweep else []
    commands = list(dict.fromkeys(shlex.join(run.provenance["command"]) for run in runs if run.provenance))
    return Report(
        title=f"convis report: {root.resolve().name}",
        root=root,
        intro=list(intro),
        setups=setups(runs),
        commands=commands,
        runs=runs,
        sweep=sweep_line(sweep, missing, len(runs)),
        sections=[*ranking_sections(runs), *sections(runs, columns)],
        jobs=jobs_table(runs, names, sweep, missing),
        best=optuna_best(root),
        charts=charts(runs, names),
        provenance=provenance_table(runs),
        environments=environments(runs),
        configs=[(run.name, OmegaConf.to_yaml(run.config)) for run in runs],
    )


def write(root: str | Path, columns: int | None = None, intro: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write root/report.html (self-contained) and root/report.md (with report_files/); return their paths.

    Runs that hold a layer atlas (objective.channel=all) also get root/atlas.html and root/atlas.md."""
    report = build(root, columns, intro)
    html = write_text(render_html(report), Path(root) / "report.html")
    write_atlas(report.root, report.runs)
    return html, write_markdown(report)

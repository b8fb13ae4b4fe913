"""The report as Markdown: pictures linked by relative path, loss curves written to report_files/."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from convis.runtime.writers import safe_name, write_bytes, write_text

if TYPE_CHECKING:
    from convis.reporting.content import Report, Section, Table

FILES = "report_files"


def cell_text(value: object) -> str:
    """A value that stays inside its Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(cell_text(h) for h in headers) + " |", "|" + " --- |" * len(headers)]
    return lines + ["| " + " | ".join(cell_text(v) for v in row) + " |" for row in rows]


def table(t: Table) -> list[str]:
    return md_table(t.headers, t.rows)


def link(path: Path, root: Path, alt: str) -> str:
    return f"![{cell_text(alt)}]({Path(os.path.relpath(path, root)).as_posix()})"


def grid_lines(section: Section, root: Path) -> list[str]:
    grid = section.grid
    if not grid.rows:
        return ["No pictures: no run has a result with a PNG."]
    width = max(len(cells) for _, cells in grid.rows)
    rows = []
    for header, cells in grid.rows:
        pictures = [
            (link(c.png, root, " ".join(c.labels.values())) + (f"<br>{grid.caption_of(c)}" if grid.captions else ""))
            if c
            else ""
            for c in cells
        ]
        rows.append([header, *pictures] if grid.row_headers else pictures + [""] * (width - len(pictures)))
    if grid.row_headers:
        return md_table([grid.corner, *grid.columns], rows)
    return [f"**{grid.corner}**", ""] * bool(grid.corner) + md_table(grid.columns or [""] * width, rows)


def section_lines(section: Section, root: Path) -> list[str]:
    """One objective's pictures, originals and metrics."""
    title = f": {section.title}" if section.title else ""
    lines = ["", f"## Pictures{title}", "", *grid_lines(section, root)]
    if section.originals:
        names = [name for name, _ in section.originals]
        lines += ["", "### Originals", "", *md_table(names, [[link(p, root, n) for n, p in section.originals]])]
    lines += ["", f"## Metrics{title}", "", *table(section.metrics)]
    if section.summary:
        lines += ["", "### Means over each run's images", "", *table(section.summary)]
    return lines


def render_markdown(report: Report, charts: list[Path]) -> str:
    """The Markdown text; `charts` are the written loss-curve files, in report.charts' order."""
    root = report.root
    lines = [f"# {report.title}", "", f"{len(report.runs)} run(s) in `{root}`.", ""]
    lines += [f"Command: `{command}`" for command in report.commands]
    for section in report.sections:
        lines += section_lines(section, root)
    if report.best:
        lines += ["", "## Optuna: best parameters", "", "```json", json.dumps(report.best, indent=2), "```"]
    lines += ["", "## Jobs", "", *table(report.jobs), "", "## Loss curves", ""]
    lines += [link(path, root, chart.term) for chart, path in zip(report.charts, charts)] or [
        "No history.csv in these runs."
    ]
    lines += ["", "## Provenance", "", *table(report.provenance)]
    for names, env in report.environments:
        rows = [[k, str(v)] for part in ("versions", "device") for k, v in (env.get(part) or {}).items()]
        lines += ["", f"### Environment of {names}", "", *md_table(["", ""], rows)]
    lines += ["", "### Composed configs", ""]
    for name, config in report.configs:
        lines += [f"<details><summary>{name}</summary>", "", "```yaml", config.rstrip(), "```", "", "</details>", ""]
    return "\n".join(lines) + "\n"


def write_markdown(report: Report) -> Path:
    """Write root/report.md and its loss-curve SVGs under root/report_files/."""
    folder = report.root / FILES
    charts = []
    for chart in report.charts:
        charts.append(write_bytes(chart.svg, folder / f"loss_{safe_name(chart.term)}.svg"))
    return write_text(render_markdown(report, charts), report.root / "report.md")

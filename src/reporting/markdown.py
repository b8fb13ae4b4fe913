"""The report as Markdown: pictures linked by relative path, loss curves written to report_files/."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from convis.runtime.writers import safe_name, write_bytes, write_text

if TYPE_CHECKING:
    from convis.reporting.content import Report, Section, Table
    from convis.reporting.grid import Grid
    from convis.reporting.runs import Setup

FILES = "report_files"


def text(value: object) -> str:
    """A value from the runs (a file name, a config value) shown as written: HTML in it is not markup."""
    return html.escape(str(value), quote=False)


def cell_markup(markup: str) -> str:
    """Markdown that stays inside its table cell."""
    return markup.replace("|", "\\|").replace("\n", " ")


def cell_text(value: object) -> str:
    """A value from the runs that stays inside its Markdown table cell, shown as written."""
    return cell_markup(text(value))


def code(value: object) -> str:
    """A value as inline code, fenced by more backticks than it holds in a row."""
    raw = str(value).replace("\n", " ")
    fence = "`" * (max((len(run) for run in re.findall("`+", raw)), default=0) + 1)
    return f"{fence} {raw} {fence}" if "`" in raw else f"`{raw}`"


def md_table(headers: list[str], rows: list[list[str]], markup: bool = False) -> list[str]:
    """A Markdown table of values shown as written, or (`markup`) of cells already written as Markdown."""
    cell = cell_markup if markup else cell_text
    lines = ["| " + " | ".join(cell_text(h) for h in headers) + " |", "|" + " --- |" * len(headers)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def table(t: Table) -> list[str]:
    return md_table(t.headers, t.rows)


def link(path: Path, root: Path, alt: str) -> str:
    alt = cell_text(alt).replace("[", "\\[").replace("]", "\\]")
    return f"![{alt}]({Path(os.path.relpath(path, root)).as_posix()})"


def setup_line(setup: Setup) -> str:
    """The header line of a Setup, random weights in bold."""
    weights = f"**{text(setup.weights)}**" if setup.random else text(setup.weights)
    sized = [f"{text(setup.image_size)} px"] * bool(setup.image_size) + [f"{text(setup.steps)} steps"] * bool(
        setup.steps
    )
    parts = [f"**{text(setup.network or 'unknown')}**", *([f"weights: {weights}"] if setup.weights else []), *sized]
    return "Network: " + ", ".join(parts)


def pictures_lines(section: Section, root: Path) -> list[str]:
    """A section's grids, a blank line between them."""
    if not section.grids:
        return ["No pictures: no run has a result with a PNG."]
    return [line for n, grid in enumerate(section.grids) for line in [""] * bool(n) + grid_lines(grid, root)]


def grid_lines(grid: Grid, root: Path) -> list[str]:
    width = max(len(cells) for _, cells in grid.rows)
    captioned = grid.captioned
    rows = []
    for header, cells in grid.rows:
        pictures = [
            (
                link(c.png, root, " ".join(c.labels.values()))
                + (f"<br>{text(grid.caption_of(c))}" if captioned else "")
                + (f"<br>**{text(c.missed)}**" if c.missed else "")
            )
            if c
            else ""
            for c in cells
        ]
        rows.append([text(header), *pictures] if grid.row_headers else pictures + [""] * (width - len(pictures)))
    if grid.row_headers:
        return md_table([grid.corner, *grid.columns], rows, markup=True)
    return [f"**{text(grid.corner)}**", ""] * bool(grid.corner) + md_table(
        grid.columns or [""] * width, rows, markup=True
    )


def section_lines(section: Section, root: Path) -> list[str]:
    """One objective's pictures, originals and metrics."""
    title = f": {text(section.title)}" if section.title else ""
    lines = ["", f"## Pictures{title}", "", *pictures_lines(section, root)]
    if section.originals:
        names = [name for name, _ in section.originals]
        lines += [
            "",
            "### Originals",
            "",
            *md_table(names, [[link(p, root, n) for n, p in section.originals]], markup=True),
        ]
    lines += ["", f"## Metrics{title}", "", *table(section.metrics)]
    if section.summary:
        lines += ["", "### Means over each run's images", "", *table(section.summary)]
    return lines


def render_markdown(report: Report, charts: list[Path]) -> str:
    """The Markdown text; `charts` are the written loss-curve files, in report.charts' order."""
    root = report.root
    lines = [f"# {text(report.title)}", ""]
    lines += [item for line in report.intro for item in (text(line), "")]
    lines += [item for setup in report.setups for item in (setup_line(setup), "")]
    lines += [f"{len(report.runs)} run(s) in {code(root)}.", ""]
    lines += [text(report.sweep), ""] if report.sweep else []
    lines += [f"Command: {code(command)}" for command in report.commands]
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
        lines += ["", f"### Environment of {text(names)}", "", *md_table(["", ""], rows)]
    lines += ["", "### Composed configs", ""]
    for name, config in report.configs:
        lines += [
            f"<details><summary>{text(name)}</summary>",
            "",
            "```yaml",
            config.rstrip(),
            "```",
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines) + "\n"


def write_markdown(report: Report) -> Path:
    """Write root/report.md and its loss-curve SVGs under root/report_files/."""
    folder = report.root / FILES
    charts = []
    for chart in report.charts:
        charts.append(write_bytes(chart.svg, folder / f"loss_{safe_name(chart.term)}.svg"))
    return write_text(render_markdown(report, charts), report.root / "report.md")

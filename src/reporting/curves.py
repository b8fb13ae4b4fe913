"""Loss curves from each run's history.csv: one chart per loss term, one line per run and group."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
from matplotlib.figure import Figure

from convis.reporting.runs import Run

Series = tuple[str, list[float], list[float]]


@dataclass
class Chart:
    """One loss term's curves as an SVG image."""

    term: str
    svg: bytes


def _split(column: str) -> tuple[str, str]:
    """A logged name as (group, term): block3_conv1/tv -> (block3_conv1, tv); loss -> ("", loss)."""
    group, _, term = column.rpartition("/")
    return group, term


def run_series(run: Run, label: str) -> dict[str, list[Series]]:
    """Each term's (label, steps, values) lines of one run; a bare total that repeats its only group is left out."""
    if not run.history:
        return {}
    columns = [c for c in run.history[0] if c != "step"]
    groups_of: dict[str, list[str]] = {}
    for column in columns:
        group, term = _split(column)
        groups_of.setdefault(term, []).append(group)
    out: dict[str, list[Series]] = {}
    for column in columns:
        group, term = _split(column)
        if not group and len([g for g in groups_of[term] if g]) == 1:
            continue
        rows = [row for row in run.history if row.get(column) not in (None, "")]
        name = " · ".join(part for part in (label, group or "total") if part and (part == label or part not in label))
        out.setdefault(term, []).append((name, [float(r["step"]) for r in rows], [float(r[column]) for r in rows]))
    return out


def chart(term: str, lines: Sequence[Series]) -> Chart:
    """An SVG of `lines` against the step, on a log axis when every value is positive."""
    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9}):
        figure = Figure(figsize=(6.4, 3.4), layout="constrained")
        axes = figure.subplots()
        for name, steps, values in lines:
            axes.plot(steps, values, label=name, linewidth=1.2)
        if all(v > 0 for _, _, values in lines for v in values):
            axes.set_yscale("log")
        axes.set(title=term, xlabel="step", ylabel=term)
        axes.grid(alpha=0.3)
        if len(lines) > 1:
            axes.legend(fontsize=7, ncols=1 + len(lines) // 10, loc="best")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return Chart(term, buffer.getvalue())


def charts(runs: Sequence[Run], labels: Mapping[str, str]) -> list[Chart]:
    """One chart per loss term across the runs, the total loss first (labels: run name -> legend prefix)."""
    terms: dict[str, list[Series]] = {}
    for run in runs:
        for term, lines in run_series(run, labels.get(run.name, "")).items():
            terms.setdefault(term, []).extend(lines)
    return [chart(term, lines) for term, lines in sorted(terms.items(), key=lambda item: item[0] != "loss")]

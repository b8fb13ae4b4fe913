"""Saliency methods side by side: which is most faithful for this network, ranked on each quality metric.

Where a report holds saliency runs of two or more methods with quality metrics (`sweep=saliency_methods`),
each method gets its rank on every metric it has (1 = best; ties share the better rank) and the
methods are ordered by their mean rank. Quantus metrics a run carries (`objective.quantus`) are ranked
too, in the direction metrics.json records from Quantus. The sanity check's number is the mean Spearman correlation
over the cascading randomisation's depths (lower: the map depends more on the weights).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convis.reporting.content import Section, Table
from convis.reporting.grid import Cell, Grid
from convis.reporting.runs import Run

CRITERIA = (  # (summary key, column header, higher is better)
    ("pointing_game", "pointing game ↑", True),
    ("deletion_auc", "deletion AUC ↓", False),
    ("insertion_auc", "insertion AUC ↑", True),
    ("road_morf", "ROAD MoRF ↓", False),
    ("road_lerf", "ROAD LeRF ↑", True),
    ("random_logit", "random logit ↓", False),
    ("sanity_check", "sanity check ↓", False),
)
BASELINES = {"pointing_game": "pointing_game_centre", "deletion_auc": "deletion_auc_random"}
BASELINES["insertion_auc"] = "insertion_auc_random"
IMAGES_SHOWN = 12  # rows of maps: the first images of the runs


def criteria(runs: Sequence[Run]) -> list[tuple[str, str, bool]]:
    """CRITERIA, then the Quantus metrics the runs carry, each the way Quantus says is better."""
    quantus = {
        name: entry["higher_is_better"] for run in runs for name, entry in run.metrics.get("quantus", {}).items()
    }
    return [*CRITERIA, *((name, f"{name} {'↑' if up else '↓'}", up) for name, up in quantus.items())]


def scores(run: Run, keys: Sequence[tuple[str, str, bool]] = CRITERIA) -> dict[str, float]:
    """A saliency run's value of each criterion it has."""
    found = dict(run.metrics["summary"])
    if run.metrics.get("sanity_check"):
        found["sanity_check"] = float(np.mean([row["spearman"] for row in run.metrics["sanity_check"]]))
    return {key: found[key] for key, _, _ in keys if key in found}


def ranks(values: Sequence[float], higher_is_better: bool) -> list[int]:
    """Each value's rank among `values`, 1 the best; equal values share the better rank."""
    signed = [-v if higher_is_better else v for v in values]
    return [1 + sum(other < mine for other in signed) for mine in signed]


def compared(runs: Sequence[Run]) -> list[Run]:
    """The saliency runs with quality metrics, when they are of two methods or more; else none."""
    found = [r for r in runs if r.metrics and r.metrics.get("objective") == "saliency" and r.metrics.get("summary")]
    return found if len({r.metrics.get("method") for r in found}) > 1 else []


def ranking_table(runs: Sequence[Run]) -> tuple[Table, list[Run]]:
    """The methods ordered by mean rank, each value with its rank; a last row of the baselines. Runs in order."""
    every = criteria(runs)
    values = [scores(run, every) for run in runs]
    keys = [c for c in every if any(c[0] in v for v in values)]
    ranked: dict[str, list[int]] = {}
    for key, _, higher in keys:
        having = [i for i, v in enumerate(values) if key in v]
        for i, rank in zip(having, ranks([values[i][key] for i in having], higher)):
            ranked.setdefault(key, [0] * len(runs))[i] = rank
    means = [float(np.mean([ranked[k][i] for k, _, _ in keys if k in values[i]])) for i in range(len(runs))]
    order = sorted(range(len(runs)), key=lambda i: means[i])
    table = Table(["rank", "method", *[header for _, header, _ in keys], "mean rank"])
    for place, i in enumerate(order, 1):
        cells = [f"{values[i][k]:.3f} ({ranked[k][i]})" if k in values[i] else "" for k, _, _ in keys]
        table.rows.append([str(place), str(runs[i].metrics["method"]), *cells, f"{means[i]:.2f}"])
    summary = runs[0].metrics["summary"]
    baseline = [f"{summary[BASELINES[k]]:.3f}" if BASELINES.get(k) in summary else "" for k, _, _ in keys]
    table.rows.append(["", "baseline: centre point, random pixel order", *baseline, ""])
    return table, [runs[i] for i in order]


def maps_grid(runs: Sequence[Run]) -> Grid:
    """One row of maps per image (the first IMAGES_SHOWN), one column per method in ranked order."""
    at = {
        (run.name, r["image"]): Cell(run, {}, run.path / r["png"], r)
        for run in runs
        for r in run.results
        if r.get("png")
    }
    images = list(dict.fromkeys(image for _, image in at))[:IMAGES_SHOWN]
    for cell in at.values():
        cell.labels = {"image": cell.result["image"], "method": str(cell.run.metrics["method"])}
    rows = [(image, [at.get((run.name, image)) for run in runs]) for image in images]
    return Grid("image \\ method", [str(run.metrics["method"]) for run in runs], rows)


def ranking_sections(runs: Sequence[Run]) -> list[Section]:
    """The methods' ranking and their maps side by side; none when the runs compare no saliency methods."""
    found = compared(runs)
    if not found:
        return []
    table, ordered = ranking_table(found)
    return [Section(title="saliency methods ranked", grids=[maps_grid(ordered)], originals=[], metrics=table)]

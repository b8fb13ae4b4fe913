"""The image grid of a report, laid out by what varies between the pictures.

Every picture (a result with a `png`) is labelled by the overrides that vary between the runs
and by its result's own keys (image, layer, target, method...). The labels that vary lay the
grid out: the picture's subject (image or target) down the rows when it varies, the other
varying labels across the columns; a single varying label (or a table that would be mostly
empty, as Optuna trials make) runs along one row, wrapped after `columns` pictures when that
is set (the 3 x 3 VGG table). A label that follows from the row (the class predicted for each
image) joins the row headers. Pictures of different kinds (labelled by different keys, as
objective=concepts' heatmaps per image and strips per channel) that make no table together
get a grid each. A result's `caption` is shown under its picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convis.reporting.runs import Run

ROW_KEYS = ("image", "target")
PICTURES = {"png": "", "transparency_png": "transparency", "map_png": "map"}  # a result's PNGs and their `view`
CAPTION = "caption"  # a result's words under its picture, not a label


@dataclass
class Cell:
    """One picture: its run, its labels, its PNG and the result it belongs to."""

    run: Run
    labels: dict[str, str]
    png: Path
    result: dict[str, Any]

    @property
    def missed(self) -> str:
        """ "not reached (rank N)" where the result's objective was not reached (a class model's target is not
        the network's top class on its image), else ""."""
        if self.result.get("reached") is not False:
            return ""
        rank = self.result.get("target_rank")
        return "not reached" + (f" (rank {rank})" if rank is not None else "")


@dataclass
class Grid:
    """Rows of cells (None where a combination is missing) with their row and column headers."""

    corner: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[Cell | None]]] = field(default_factory=list)
    captions: dict[int, str] = field(default_factory=dict)  # under each picture (by id) when rows wrap

    @property
    def row_headers(self) -> bool:
        return any(header for header, _ in self.rows)

    def caption_of(self, cell: Cell) -> str:
        """The cell's wrapped-row header, then its result's own caption."""
        return " · ".join(t for t in (self.captions.get(id(cell), ""), str(cell.result.get(CAPTION, ""))) if t)

    @property
    def captioned(self) -> bool:
        return bool(self.captions) or any(CAPTION in cell.result for _, row in self.rows for cell in row if cell)


def is_label(value: object) -> bool:
    """Result values that name what a picture shows (strings, class indices), not what it scored."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def swept(runs: Sequence[Run]) -> list[str]:
    """The override keys whose values differ between the runs, in first-seen order (a run whose overrides could
    not be read does not make every key vary)."""
    return varying([run.overrides for run in runs if run.overrides or not run.damage])


def labels(run: Run, result: dict[str, Any], keys: Sequence[str]) -> dict[str, str]:
    """A result's labels: the run's values of the swept override `keys`, then the result's own label keys."""
    own = {key: str(value) for key, value in result.items() if key not in (*PICTURES, CAPTION) and is_label(value)}
    return {**{key: run.overrides.get(key, "") for key in keys}, **own}


def cells(runs: Sequence[Run]) -> list[Cell]:
    """Every picture of every run, labelled by the run's swept overrides and its result's own keys.

    A result's other pictures (param=maco's transparency map, an NMF factor's map) are cells labelled by `view`.
    """
    keys = swept(runs)
    return [
        Cell(run, {**labels(run, result, keys), **({"view": view} if view else {})}, run.path / result[key], result)
        for run in runs
        for result in run.results
        for key, view in PICTURES.items()
        if result.get(key)
    ]


def varying(labelled: Sequence[dict[str, str]]) -> list[str]:
    """The keys whose values differ between the label sets, in first-seen order."""
    keys = list(dict.fromkeys(key for one in labelled for key in one))
    return [key for key in keys if len({one.get(key) for one in labelled}) > 1]


def distinguishing(found: Sequence[Cell]) -> list[str]:
    """The varying labels that lay the grid out: the subject (image, target), the swept overrides,
    then each result label that tells more pictures apart (not target_index beside target, nor
    an outcome such as top_class)."""
    keys = varying([cell.labels for cell in found])
    overridden = {key for cell in found for key in cell.run.overrides}
    kept = [k for k in keys if k in ROW_KEYS] + [k for k in keys if k in overridden and k not in ROW_KEYS]
    for key in (k for k in keys if k not in kept):
        if len(_values(found, [*kept, key])) > len(_values(found, kept)):
            kept.append(key)
    return kept


def _values(found: Sequence[Cell], keys: Sequence[str]) -> list[tuple[str, ...]]:
    return list(dict.fromkeys(tuple(cell.labels.get(k, "") for k in keys) for cell in found))


def shown(value: str) -> str:
    """A label as a header shows it: long decimals (an Optuna trial's 22.881136684755237) to 4 digits."""
    try:
        return f"{float(value):.4g}" if "." in value and len(value) > 6 else value
    except ValueError:
        return value


def header(keys: Sequence[str], values: Sequence[str]) -> str:
    """One key's value alone; several keys' values as key=value pairs."""
    if len(keys) == 1:
        return shown(values[0])
    return ", ".join(f"{k}={shown(v)}" for k, v in zip(keys, values))


def layouts(found: Sequence[Cell], columns: int | None = None) -> list[Grid]:
    """One grid of all the cells where they make a table (CRAFT's crops above its maps, a column per concept);
    else a grid per kind of picture (cells labelled by the same keys, a `view` aside), in first-seen order."""
    whole = layout(found, columns)
    kinds: dict[frozenset[str], list[Cell]] = {}
    for cell in found:
        kinds.setdefault(frozenset(cell.labels) - {"view"}, []).append(cell)
    if whole.row_headers or len(kinds) < 2:
        return [whole] if found else []
    return [layout(kind, columns) for kind in kinds.values()]


def layout(found: Sequence[Cell], columns: int | None = None) -> Grid:
    """Arrange the cells by their varying labels (see the module's docstring).

    Two or more varying labels make a table when it is more than half full; otherwise (every
    Optuna trial has its own values) the pictures run along one row like a single label's.
    """
    if not found:
        return Grid()
    keys = distinguishing(found)
    if len(keys) > 1:
        grid = _table(found, next((k for k in ROW_KEYS if k in keys), keys[0]), keys)
        if 2 * len(found) > len(grid.rows) * len(grid.columns):
            return grid
    return _one_axis(found, keys, columns)


def _table(found: Sequence[Cell], row_key: str, keys: Sequence[str]) -> Grid:
    """`row_key`'s values down, the other keys' value combinations across; a key that follows from the row
    (the class predicted for each image) joins the row headers where other keys are left to go across."""
    rest = [k for k in keys if k != row_key]
    subjects = len(_values(found, [row_key]))
    follows = [k for k in rest if len(_values(found, [row_key, k])) == subjects]
    row_keys = [row_key, *follows] if len(follows) < len(rest) else [row_key]
    col_keys = [k for k in rest if k not in row_keys]
    col_values = _values(found, col_keys)
    at = {tuple(cell.labels.get(k, "") for k in [*row_keys, *col_keys]): cell for cell in found}
    rows = [(header(row_keys, row), [at.get((*row, *col)) for col in col_values]) for row in _values(found, row_keys)]
    return Grid(f"{', '.join(row_keys)} \\ {', '.join(col_keys)}", [header(col_keys, col) for col in col_values], rows)


def _one_axis(found: Sequence[Cell], keys: Sequence[str], columns: int | None) -> Grid:
    """One row of pictures headed by their varying labels, or wrapped rows of captioned ones."""
    names = [header(keys, [cell.labels.get(k, "") for k in keys]) if keys else "" for cell in found]
    corner = keys[0] if len(keys) == 1 else ""
    if not columns or columns >= len(found):
        return Grid(corner, names, [("", list(found))])
    rows = [("", list(found[i : i + columns])) for i in range(0, len(found), columns)]
    return Grid(corner, rows=rows, captions=dict(zip(map(id, found), names)))

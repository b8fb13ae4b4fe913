"""A run's history.csv: the step and every logged value, one row per logging step (read by the report)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from convis.runtime.writers import write_text

HISTORY = "history.csv"


def write_history(rows: list[dict[str, Any]], path: str | Path) -> None:
    """Write the rows as CSV, whole and atomically (a kill never leaves half a row)."""
    write_text(csv_text(rows, header=True), path)


def append_history(row: dict[str, Any], fields: list[str], path: str | Path) -> None:
    """Add one row (of a file written with these `fields`) in one write call, so a kill leaves none or all of it."""
    with Path(path).open("a", newline="") as file:
        file.write(csv_text([row], fields=fields))


def csv_text(rows: list[dict[str, Any]], header: bool = False, fields: list[str] | None = None) -> str:
    """The rows as CSV text (columns: `fields`, else the first row's keys), with the header line if asked."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fields or list(rows[0]), restval="", extrasaction="ignore", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def read_history(path: str | Path) -> list[dict[str, str]]:
    """The rows of a history.csv, as written."""
    with Path(path).open(newline="") as file:
        return list(csv.DictReader(file))

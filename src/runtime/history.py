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
    text = io.StringIO()
    writer = csv.DictWriter(text, list(rows[0]), restval="", extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(text.getvalue(), path)


def read_history(path: str | Path) -> list[dict[str, str]]:
    """The rows of a history.csv, as written."""
    with Path(path).open(newline="") as file:
        return list(csv.DictReader(file))

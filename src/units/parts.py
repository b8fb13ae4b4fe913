"""One site from a microscope split over jobs (by layer, by channel range): each job's units and layers, merged.

Nothing is copied: the merged site, in ROOT/microscope, points at each job's own pictures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from convis.reporting.microscope import write_site
from convis.runtime.errors import ConvisError
from convis.runtime.writers import write_json

SITE = "microscope"
PATH_KEYS = ("visualisation", "png", "original")  # the record keys that hold a picture's path


def parts_below(root: Path) -> list[Path]:
    """The microscope folders of the runs below `root` (itself included), in a stable order."""
    return sorted({units.parent for units in root.glob(f"**/{SITE}/units.json")} - {root / SITE})


def moved(record: object, prefix: str) -> object:
    """A record with every picture path (under PATH_KEYS, in lists and nested records) prefixed by `prefix`."""
    if isinstance(record, list):
        return [moved(item, prefix) for item in record]
    if not isinstance(record, dict):
        return record
    out = {}
    for key, value in record.items():
        if key in PATH_KEYS and isinstance(value, str):
            out[key] = f"{prefix}/{value}"
        elif key == "diverse":
            out[key] = [f"{prefix}/{path}" for path in value]
        else:
            out[key] = moved(value, prefix)
    return out


def merged_layer(records: list[dict]) -> dict:
    """One layer's record from its parts': the first inversions found, label counts added up."""
    counts: dict[str, int] = {}
    for record in records:
        for category, number in record["label_counts"].items():
            counts[category] = counts.get(category, 0) + number
    inversions = next((r["inversions"] for r in records if r["inversions"]), [])
    return {**records[0], "inversions": inversions, "label_counts": counts}


def merge(root: Path, parts: Sequence[Path] | None = None, title: str = "Microscope") -> Path:
    """The site of every part (default: every microscope below `root`) written to root/microscope; its index."""
    parts = list(parts) if parts is not None else parts_below(root)
    if not parts:
        raise ConvisError(f"no microscope below {root}: run objective=microscope there first")
    site = root / SITE
    units: dict[tuple[str, int], dict] = {}
    layers: dict[str, list[dict]] = {}
    for part in parts:
        prefix = Path(os.path.relpath(part, site)).as_posix()
        for unit in json.loads((part / "units.json").read_text()):
            units.setdefault((unit["layer"], unit["channel"]), moved(unit, prefix))
        for layer in json.loads((part / "layers.json").read_text()):
            layers.setdefault(layer["layer"], []).append(moved(layer, prefix))
    order = list(layers)
    records = sorted(units.values(), key=lambda u: (order.index(u["layer"]), u["channel"]))
    layer_records = [merged_layer(layers[name]) for name in order]
    write_json(records, site / "units.json")
    write_json(layer_records, site / "layers.json")
    intro = [f"{len(records)} units of {len(order)} layers, merged from {len(parts)} runs."]
    return write_site(site, records, layer_records, title, intro)

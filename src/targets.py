"""Class targets given as indices or names, resolved against a model's categories."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from pathlib import Path

from convis.runtime.errors import ConvisError


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", " ")


def resolve_target(target: int | str, categories: Sequence[str]) -> int:
    """A class index from an index, a numeric string, or a class name (case and _/space insensitive)."""
    if isinstance(target, bool):
        raise ConvisError(f"target={target!r} is not a class: give an index or a class name")
    if isinstance(target, int) or (isinstance(target, str) and target.strip().lstrip("-").isdigit()):
        index = int(target)
        if not 0 <= index < len(categories):
            raise ConvisError(f"target={index} is out of range: this model has classes 0 to {len(categories) - 1}")
        return index
    lookup = {_normal(name): i for i, name in enumerate(categories)}
    if _normal(str(target)) in lookup:
        return lookup[_normal(str(target))]
    close = difflib.get_close_matches(_normal(str(target)), list(lookup), n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(categories[lookup[c]] for c in close)}" if close else ""
    unnamed = all(name == str(i) for i, name in enumerate(categories))
    naming = "; this network's classes have no names: give them with backbone.classes (a list, .json or .txt)"
    raise ConvisError(
        f"unknown class name target={target!r}{hint} (or give a class index 0-{len(categories) - 1})"
        + (naming if unnamed else "")
    )


def resolve_targets(targets: int | str | Sequence[int | str] | None, categories: Sequence[str]) -> list[int]:
    """One class index per requested target; a single value gives a list of one."""
    if targets is None:
        return []
    if isinstance(targets, (int, str)):
        targets = [targets]
    return [resolve_target(t, categories) for t in targets]


def class_names(value: str | Sequence[str]) -> list[str]:
    """Class names in index order: a list, or a path to a .json list or a .txt file with one name a line.

    Names that are the same to a target (case, _ and spaces aside) are refused: a target could not tell them apart.
    """
    names = read_class_names(value)
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if (earlier := first.setdefault(_normal(name), index)) != index:
            where = value if isinstance(value, (str, Path)) else "the class names"
            raise ConvisError(f"{where} names classes {earlier} and {index} both {name!r}: give each its own name")
    return names


def read_class_names(value: str | Sequence[str]) -> list[str]:
    """The class names a list, a .json list or a .txt file holds, as they are."""
    if not isinstance(value, (str, Path)):
        return [str(name) for name in value]
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConvisError(f"class names file not found: {path} (give a .json list, a .txt file or a list)")
    if path.suffix == ".json":
        names = json.loads(path.read_text())
        if not isinstance(names, list):
            raise ConvisError(f"{path} holds a {type(names).__name__}: a .json class file holds a list of names")
        return [str(name) for name in names]
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]

"""Checks of single config values, shared by validation and the experiments: a value's kind, a list."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from convis.runtime.errors import ConvisError


def whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Rule:
    """The numbers at config keys matching `pattern` (fnmatch, dotted, list items by index) must pass `test`."""

    pattern: str
    test: Callable[[object], bool]
    wants: str
    example: str
    nullable: bool = False

    def check(self, key: str, value: object) -> None:
        """Fail on a value this rule does not accept."""
        if not (value is None and self.nullable) and not self.test(value):
            raise ConvisError(f"{key}={value!r} must be {self.wants}, e.g. {key}={self.example}")


def nodes(value: object, key: str = "") -> Iterator[tuple[str, object]]:
    """Every (dotted key, value) of a plain config tree, containers included; list items keyed by index."""
    if key:
        yield key, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, child in items:
        yield from nodes(child, f"{key}.{name}" if key else str(name))


def check_rules(values: dict[str, Any], rules: Iterable[Rule]) -> None:
    """Each value of the plain config tree `values` that a rule's pattern covers passes that rule."""
    rules = tuple(rules)
    for key, value in nodes(values):
        for rule in rules:
            if fnmatch.fnmatchcase(key, rule.pattern):
                rule.check(key, value)


def positive_whole(pattern: str, example: str = "100", nullable: bool = False) -> Rule:
    return Rule(pattern, lambda v: whole(v) and v > 0, "a positive whole number", example, nullable)


def count(pattern: str, example: str) -> Rule:
    return Rule(pattern, lambda v: whole(v) and v >= 0, "a whole number, 0 or more", example)


def positive_number(pattern: str, example: str) -> Rule:
    return Rule(pattern, lambda v: number(v) and v > 0, "a positive number", example)


def as_list(value: object) -> list:
    """A config value that may be one item or a list, as a list (None gives [])."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, ListConfig)):
        return list(value)
    return [value]


def positive(cfg: Mapping[str, Any], *keys: str) -> None:
    """Fail on a value at one of the dotted `keys` of `cfg` that is not a positive whole number."""
    for key in keys:
        value = OmegaConf.select(cfg, key) if isinstance(cfg, DictConfig) else cfg.get(key)
        positive_whole(key).check(key, value)

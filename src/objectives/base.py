"""Objectives: weighted sums of named per-image loss terms, composed with +, - and scalar *.

A term reads activations by layer name (the image itself is under INPUT) and returns one
loss value per image, so a batch of images can carry independent optimisations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

INPUT = "input"

Activations = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Term:
    """One named loss: `fn(activations) -> loss per image`, reading `layers`."""

    name: str
    fn: Callable[[Activations], torch.Tensor]
    layers: tuple[str, ...]


class Objective:
    """A weighted sum of terms; `objective(acts)` is the total loss per image (lower is better)."""

    def __init__(self, terms: tuple[tuple[float, Term], ...]) -> None:
        self.terms = terms

    @property
    def layers(self) -> tuple[str, ...]:
        """Every network layer the terms read, in first-use order (INPUT excluded)."""
        found = (layer for _, t in self.terms for layer in t.layers if layer != INPUT)
        return tuple(dict.fromkeys(found))

    def breakdown(self, acts: Activations) -> dict[str, torch.Tensor]:
        """Each weighted term's loss per image, keyed by term name (repeats get a #n suffix)."""
        parts: dict[str, torch.Tensor] = {}
        for weight, t in self.terms:
            key, n = t.name, 1
            while key in parts:
                n += 1
                key = f"{t.name}#{n}"
            parts[key] = weight * t.fn(acts)
        return parts

    def __call__(self, acts: Activations) -> torch.Tensor:
        return torch.stack(list(self.breakdown(acts).values())).sum(0)

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + other.terms)

    def __radd__(self, other: object) -> Objective:
        if other == 0:  # sum([...]) starts from 0
            return self
        return NotImplemented

    def __mul__(self, scalar: float) -> Objective:
        if isinstance(scalar, bool) or not isinstance(scalar, (int, float)):
            return NotImplemented
        return Objective(tuple((weight * scalar, t) for weight, t in self.terms))

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return self * -1.0

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-other)

    def __repr__(self) -> str:
        return " + ".join(f"{weight:g}*{t.name}" for weight, t in self.terms) or "0"


def term(name: str, fn: Callable[[Activations], torch.Tensor], layers: tuple[str, ...] = (INPUT,)) -> Objective:
    """An objective of one term, weight 1."""
    return Objective(((1.0, Term(name, fn, layers)),))

"""Objectives: weighted sums of named per-image loss terms, composed with +, - and scalar *.

A term reads activations by layer name (the image itself is under INPUT) and returns one
loss value per image, so a batch of images can carry independent optimisations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from convis.runtime.errors import ConvisError

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


def objective(*layers: str, name: str | None = None) -> Callable[[Callable[[Activations], torch.Tensor]], Objective]:
    """Decorator: a function of the activations that returns one loss per image (lower is better) becomes an
    Objective reading `layers`, composable with + - and scalar * like the built-in ones.

        @objective("features.11")
        def warm(acts):
            return -acts["features.11"][:, 7].flatten(1).mean(1)

        convis.render(model, warm - 0.5 * channel("features.11", 3))

    `acts` holds each layer's output by name and the image the network sees under INPUT ("input").
    """
    if not layers or not all(isinstance(layer, str) and layer for layer in layers):
        raise ConvisError(
            f"objective({', '.join(map(repr, layers))}): name the layers the function reads, "
            'e.g. @objective("features.11") (or @objective(INPUT) for the image alone)'
        )

    def wrap(fn: Callable[[Activations], torch.Tensor]) -> Objective:
        return term(name or getattr(fn, "__name__", "objective"), fn, tuple(layers))

    return wrap

"""Loss terms over activations and the algebra that composes them."""

from convis.objectives.base import INPUT, Objective, term

__all__ = ["INPUT", "Objective", "term"]

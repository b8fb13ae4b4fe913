"""Loss terms over activations and the algebra that composes them."""

from src.objectives.base import INPUT, Objective, term

__all__ = ["INPUT", "Objective", "term"]

"""Objectives: loss terms over a network's activations (lower is better) and the algebra that composes them.

    from convis.objectives import channel, objective
    o = channel("features.11", 7) - 0.5 * channel("features.11", 3)

A term reads activations by layer name (the image itself under INPUT, the classifier's output under LOGITS)
and returns one loss per image; `@objective(layer, ...)` turns a function of the activations into one.
"""

from convis.backbones.names import LOGITS
from convis.objectives.activation import channel, channels, diversity, dream, neuron
from convis.objectives.base import INPUT, Objective, objective, term
from convis.objectives.classes import class_score
from convis.objectives.directions import direction
from convis.objectives.inversion import feature_match

__all__ = [
    "INPUT",
    "LOGITS",
    "Objective",
    "channel",
    "channels",
    "class_score",
    "direction",
    "diversity",
    "dream",
    "feature_match",
    "neuron",
    "objective",
    "term",
]

"""Optimisers: the update rules of the papers convis reproduces, and the presets of conf/optimizer."""

from convis.optimisers.ijcv import IJCV
from convis.optimisers.preset import Optimiser

__all__ = ["IJCV", "Optimiser"]

"""Optimisers written for convis: the update rules of the papers it reproduces."""

from convis.optimisers.ijcv import IJCV

__all__ = ["IJCV"]

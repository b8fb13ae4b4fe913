"""Saliency methods (one module each, built through Captum) and Simonyan's weakly supervised localisation."""

from convis.attribution.base import SaliencyMethod

__all__ = ["SaliencyMethod"]

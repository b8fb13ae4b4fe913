"""Saliency maps through Captum, behind one interface, and Simonyan's weakly supervised localisation."""

from src.attribution.methods import METHODS, SaliencyMethod, Settings, build_method, check_method

__all__ = ["METHODS", "SaliencyMethod", "Settings", "build_method", "check_method"]

"""Quantitative measures of visualisations."""

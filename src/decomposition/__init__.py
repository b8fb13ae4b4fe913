"""Concepts found by decomposing a layer's activations (CRAFT)."""

"""Image parameterisations: what the optimiser changes, and how it renders to an image."""

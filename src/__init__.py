"""convis: configured, measured visualisations of what convolutional networks learn."""

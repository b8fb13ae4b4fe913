"""LightningModules: visualisation (the image is the parameter) and fine-tuning."""

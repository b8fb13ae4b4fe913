"""convis: configured, measured visualisations of what convolutional networks learn."""

from omegaconf import OmegaConf


def _crop_size(arch: str) -> int:
    from src.backbones.backbone import crop_size

    return crop_size(arch)


# ${crop_size:resnet50}: the image size a torchvision model's weights were evaluated at (config defaults)
OmegaConf.register_new_resolver("crop_size", _crop_size, replace=True)

"""Frozen backbones (torchvision, timm, the user's own): weights, layer names, the network cut after a layer."""

from convis.backbones.backbone import Backbone, build_backbone, custom_backbone, timm_backbone, torchvision_backbone
from convis.backbones.extractor import FeatureExtractor

__all__ = ["Backbone", "FeatureExtractor", "build_backbone", "custom_backbone", "timm_backbone", "torchvision_backbone"]

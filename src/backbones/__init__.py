"""Frozen torchvision backbones: weights, layer names, and the network cut after a layer."""

from src.backbones.backbone import Backbone, build_backbone
from src.backbones.extractor import FeatureExtractor

__all__ = ["Backbone", "FeatureExtractor", "build_backbone"]

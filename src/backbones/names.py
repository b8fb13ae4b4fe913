"""Keras-style layer names for the torchvision backbones, mapped to module paths.

A Keras `blockN_convM` output is taken after its ReLU, as in Keras (the original project's
framework). `logits` names the classifier's output, the unnormalised class scores.
"""

from __future__ import annotations

from torch import nn

LOGITS = "logits"


def vgg_names(model: nn.Module) -> dict[str, str]:
    """block1_conv1 ... block5_conv3, blockN_pool, fc1, fc2 and logits for a torchvision VGG."""
    names: dict[str, str] = {}
    block, conv = 1, 0
    for index, module in enumerate(model.features):
        if isinstance(module, nn.Conv2d):
            conv += 1
        elif isinstance(module, nn.ReLU):
            names[f"block{block}_conv{conv}"] = f"features.{index}"
        elif isinstance(module, nn.MaxPool2d):
            names[f"block{block}_pool"] = f"features.{index}"
            block, conv = block + 1, 0
    names.update(fc1="classifier.1", fc2="classifier.4", logits="classifier.6")
    return names


def mobilenet_v2_names(model: nn.Module) -> dict[str, str]:
    """Keras MobileNetV2 names (Conv1_relu, block_N_expand_relu ... out_relu) and logits."""
    names = {
        "Conv1_relu": "features.0",
        "expanded_conv_depthwise_relu": "features.1.conv.0",
        "expanded_conv_project_BN": "features.1",
    }
    for n in range(1, len(model.features) - 2):
        path = f"features.{n + 1}"
        names[f"block_{n}_expand_relu"] = f"{path}.conv.0"
        names[f"block_{n}_depthwise_relu"] = f"{path}.conv.1"
        if model.features[n + 1].use_res_connect:
            names[f"block_{n}_project_BN"] = f"{path}.conv.3"
            names[f"block_{n}_add"] = path
        else:
            names[f"block_{n}_project_BN"] = path
    names["out_relu"] = f"features.{len(model.features) - 1}"
    names["logits"] = "classifier.1"
    return names

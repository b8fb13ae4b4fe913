"""The CAM family through pytorch-grad-cam: one adapter, so each method is its class and its options.

pytorch-grad-cam computes a method's map at one layer: ReLU'd, resized bilinearly to the image and
scaled to [0, 1] per image. The adapter gives it convis's interface (`attribute(inputs, target)`),
hooks the layer only for the duration of a call (the evaluation's many forward passes record
nothing) and keeps the package's per-channel progress bars (Score-CAM, Ablation-CAM) off the console.
"""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import torch
import tqdm
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import Tensor, nn

from convis.attribution.base import SaliencyMethod
from convis.attribution.gradcam import cam_layer
from convis.backbones import Backbone
from convis.checks import positive

Make = Callable[[nn.Module, list[nn.Module]], BaseCAM]  # (model, target layers) -> a pytorch-grad-cam method


def _silent(iterable, *args, **kwargs):
    return iterable


class CamAttribution:
    """A pytorch-grad-cam method at one layer of `net`, called as a Captum attribution is."""

    def __init__(self, make: Make, net: nn.Module, layer: nn.Module) -> None:
        self.make, self.net, self.layer = make, net, layer

    def attribute(self, inputs: Tensor, target: Tensor) -> Tensor:
        """(N, H, W) maps in [0, 1] for the classes `target` (N,)."""
        cam = self.make(self.net, [self.layer])
        try:
            with torch.enable_grad(), mock.patch.object(tqdm, "tqdm", _silent):
                maps = cam(inputs, targets=[ClassifierOutputTarget(int(t)) for t in target])
        finally:
            cam.activations_and_grads.release()
        return torch.from_numpy(maps).to(inputs.device)


def cam_method(make: Make, net: nn.Module, backbone: Backbone, image_size: int, layer: str | None) -> SaliencyMethod:
    """The method `make` builds at `layer` (a name or module path; None: the last convolutional features)."""
    module = net.get_submodule(cam_layer(backbone, image_size, layer))
    return SaliencyMethod(CamAttribution(make, net, module), lambda maps, inputs: maps)


def checked_batch(batch_size: int) -> int:
    """`method.batch_size`, which must be a positive whole number."""
    positive({"method.batch_size": batch_size}, "method.batch_size")
    return batch_size

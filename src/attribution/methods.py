"""Saliency methods as Captum attributions behind one interface: `attribute(inputs, target) -> (N, H, W)`.

Captum computes every attribution; this module only chooses each method's options (the
papers' defaults) and reduces Captum's output to one map per image:

- gradient (Simonyan et al.): max over colour channels of |dS_c/dx|, one backward pass;
- smoothgrad: the same reduction of the mean |gradient| over noisy copies of the image;
- integrated_gradients: attributions summed over colour channels, so a map still sums to
  S_c(x) - S_c(black) (the completeness property); signed;
- guided_backprop: max over channels of |guided gradient|;
- gradcam: Grad-CAM at one layer (ReLU applied), upsampled bilinearly to the image size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import captum.attr
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency
from torch import Tensor, nn

from src.errors import ConvisError

Options = Callable[[Tensor], dict[str, Any]]


@dataclass(frozen=True)
class Settings:
    """What the methods need besides the network: the input normalisation and each method's knobs."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    steps: int = 50  # integrated_gradients: points on the path from the baseline
    samples: int = 50  # smoothgrad: noisy copies per image
    noise_level: float = 0.15  # smoothgrad: noise sd as a fraction of the [0, 1] pixel range
    samples_per_pass: int | None = None  # smoothgrad / integrated_gradients: copies per image in one forward
    layer: str = ""  # gradcam: the module path of the layer


@dataclass
class SaliencyMethod:
    """A Captum attribution, the options of each call, and the reduction of its output to (N, H, W) maps."""

    attribution: captum.attr.Attribution
    reduce: Callable[[Tensor, Tensor], Tensor]
    options: Options = lambda inputs: {}  # noqa: E731

    def attribute(self, inputs: Tensor, target: Tensor) -> Tensor:
        """One map per image of `inputs` (N, 3, H, W) for the classes `target` (N,)."""
        inputs = inputs.detach().requires_grad_()  # Captum differentiates with respect to the inputs
        raw = self.attribution.attribute(inputs, target=target, **self.options(inputs))
        return self.reduce(raw, inputs).detach()


def channel_max_abs(raw: Tensor, inputs: Tensor) -> Tensor:
    """Simonyan et al.'s map: the largest |attribution| over the colour channels of each pixel."""
    return raw.abs().amax(1)


def channel_sum(raw: Tensor, inputs: Tensor) -> Tensor:
    """The attributions of a pixel's channels added up: the map keeps the method's total."""
    return raw.sum(1)


def upsampled(raw: Tensor, inputs: Tensor) -> Tensor:
    """A one-channel layer attribution resized to the image, bilinearly."""
    return LayerAttribution.interpolate(raw, tuple(inputs.shape[-2:]), "bilinear")[:, 0]


class GuidedBackprop(captum.attr.GuidedBackprop):
    """Captum's guided backprop, also through ReLU6 (MobileNetV2's activation).

    Captum hooks only `nn.ReLU` modules; nn.ReLU6 is an nn.Hardtanh, so on MobileNetV2 Captum
    alone would silently return the plain gradient. The same hook (negative gradients zeroed
    after the activation's own mask) is registered on ReLU6 modules too.
    """

    def _register_hooks(self, module: nn.Module) -> None:
        if isinstance(module, nn.ReLU6):
            self.backward_hooks.append(module.register_full_backward_hook(self._backward_hook))
        super()._register_hooks(module)


def black(settings: Settings, like: Tensor) -> Tensor:
    """The black image (0 in [0, 1] pixels) in the network's normalised input space, shaped like `like`."""
    mean = torch.tensor(settings.mean, dtype=like.dtype, device=like.device)
    std = torch.tensor(settings.std, dtype=like.dtype, device=like.device)
    return (-mean / std).view(1, -1, 1, 1).expand_as(like)


def gradient(net: nn.Module, settings: Settings) -> SaliencyMethod:
    """Simonyan et al.: max over channels of |dS_c/dx|."""
    return SaliencyMethod(Saliency(net), channel_max_abs, lambda inputs: {"abs": True})


def smoothgrad(net: nn.Module, settings: Settings) -> SaliencyMethod:
    """SmoothGrad: |gradient| averaged over `samples` copies with Gaussian noise, then max over channels."""
    sd = settings.noise_level / (sum(settings.std) / len(settings.std))  # [0, 1] range in normalised units
    options = {
        "nt_type": "smoothgrad",
        "nt_samples": settings.samples,
        "nt_samples_batch_size": settings.samples_per_pass,
        "stdevs": sd,
        "abs": True,
    }
    return SaliencyMethod(NoiseTunnel(Saliency(net)), channel_max_abs, lambda inputs: options)


def integrated_gradients(net: nn.Module, settings: Settings) -> SaliencyMethod:
    """Integrated gradients from the black image, `steps` points, summed over channels."""

    def options(inputs: Tensor) -> dict[str, Any]:
        per_pass = settings.samples_per_pass and settings.samples_per_pass * len(inputs)
        return {"baselines": black(settings, inputs), "n_steps": settings.steps, "internal_batch_size": per_pass}

    return SaliencyMethod(IntegratedGradients(net), channel_sum, options)


def guided_backprop(net: nn.Module, settings: Settings) -> SaliencyMethod:
    """Guided backprop (through ReLU and ReLU6), max over channels of its absolute value."""
    return SaliencyMethod(GuidedBackprop(net), channel_max_abs)


def gradcam(net: nn.Module, settings: Settings) -> SaliencyMethod:
    """Grad-CAM at `settings.layer`, positive part, upsampled to the image."""
    if not settings.layer:
        raise ConvisError("gradcam needs a layer: set it, e.g. objective.gradcam_layer=block5_conv3")
    layer = LayerGradCam(net, net.get_submodule(settings.layer))
    return SaliencyMethod(layer, upsampled, lambda inputs: {"relu_attributions": True})


METHODS: dict[str, Callable[[nn.Module, Settings], SaliencyMethod]] = {
    "gradient": gradient,
    "smoothgrad": smoothgrad,
    "integrated_gradients": integrated_gradients,
    "guided_backprop": guided_backprop,
    "gradcam": gradcam,
}


def check_method(name: str) -> None:
    """Fail on a method name that is not one of METHODS."""
    if name not in METHODS:
        raise ConvisError(f"unknown method={name!r}: choose one of {', '.join(METHODS)}")


def build_method(name: str, net: nn.Module, settings: Settings) -> SaliencyMethod:
    """The saliency method `name` on `net` (whose output is the class scores)."""
    check_method(name)
    return METHODS[name](net, settings)

"""Concept relevance propagation (Achtibat et al. 2023) through zennit-crp: which channels of a layer an image's
class rests on, where each one's concept lies in the image, and which dataset images each is most relevant on.

- A channel's relevance to the class is its share of the layer's relevance (LRP, the method=lrp composite):
  R_c / sum |R_c'|, with R_c the relevance of channel c summed over positions (zennit-crp's ChannelConcept).
- Its conditional heatmap is the input relevance when the backward pass keeps only channel c at the layer.
- Relevance maximisation: over a dataset, the images on which a channel's relevance (to each image's target) is
  largest, beside those on which its activation (spatial maximum, as the microscope ranks) is largest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from crp.attribution import CondAttribution
from crp.concepts import ChannelConcept
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from zennit.core import Composite

from convis.runtime.errors import ConvisError
from convis.units.exemplars import TopK, strongest

Composites = Callable[[Tensor], Composite]  # inputs -> the composite to propagate them with


def module_name(net: nn.Module, module: nn.Module) -> str:
    """The name zennit-crp knows `module` by: its path in `net`."""
    return next(name for name, found in net.named_modules() if found is module)


@dataclass
class Relevances:
    """One backward pass: the layer's activations and relevances [N, C, h, w] and the input heatmaps [N, H, W]."""

    activations: Tensor
    relevances: Tensor
    heatmaps: Tensor


class ConceptRelevance:
    """zennit-crp's conditional attribution of `net` at one layer (a module of it), under a composite."""

    def __init__(self, net: nn.Module, layer: nn.Module, composites: Composites) -> None:
        self.net, self.layer, self.composites = net, layer, composites
        self.name = module_name(net, layer)
        self.attribution = CondAttribution(net, no_param_grad=False)

    def __call__(self, images: Tensor, targets: Tensor, channels: Tensor | None = None) -> Relevances:
        """The relevance of `targets` (N,), kept at the layer to channels[i] for image i where `channels` is given."""
        conditions = [
            {"y": [int(t)], **({} if channels is None else {self.name: [int(channels[i])]})}
            for i, t in enumerate(targets)
        ]
        with torch.enable_grad():
            found = self.attribution(
                images.detach().clone().requires_grad_(),
                conditions,
                self.composites(images),
                record_layer=[self.name],
                exclude_parallel=False,
            )
        return Relevances(found.activations[self.name], found.relevances[self.name], found.heatmap)

    def channel_shares(self, images: Tensor, targets: Tensor) -> Tensor:
        """[N, C]: each channel's share of the layer's relevance to the target, R_c / sum |R_c'|."""
        relevances = self(images, targets).relevances
        if relevances.dim() != 4:
            raise ConvisError(f"layer {self.name} gives {tuple(relevances.shape)} outputs, not [N, C, h, w] maps")
        return ChannelConcept().attribute(relevances, abs_norm=True)

    def conditional_heatmaps(self, image: Tensor, target: int, channels: Tensor) -> Tensor:
        """[len(channels), H, W]: the input relevance of `target` through each one channel of the layer alone."""
        copies = image.unsqueeze(0).expand(len(channels), *image.shape)
        return self(copies, torch.full((len(channels),), target), channels).heatmaps


@dataclass
class Maximisation:
    """Per channel, the dataset images of largest relevance and of largest activation."""

    relevance: TopK
    activation: TopK


def maximisation(
    relevance: ConceptRelevance,
    data: Dataset,
    targets: Callable[[Tensor], Tensor],
    k: int,
    batch_size: int,
) -> Maximisation:
    """One pass over `data`: each channel's k most relevant images (relevance summed over positions, for the
    class `targets` gives each image) and its k most activating ones (spatial maximum)."""
    relevant = activating = None
    seen = 0
    for batch in DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0):
        images = batch["image"]
        indices = torch.arange(seen, seen + len(images))
        seen += len(images)
        found = relevance(images, targets(images))
        shares = ChannelConcept().attribute(found.relevances, abs_norm=False).detach()
        values, positions = strongest(found.activations.detach().float())
        if relevant is None:
            relevant, activating = TopK.empty(shares.shape[1], k), TopK.empty(shares.shape[1], k)
        relevant.add(shares, torch.full_like(positions, -1), indices)
        activating.add(values, positions, indices)
    if relevant is None:
        raise ConvisError("the dataset has no images for relevance maximisation")
    return Maximisation(relevant, activating)

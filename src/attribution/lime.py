"""LIME (Ribeiro, Singh & Guestrin 2016) over superpixels, computed by Captum's Lime.

Random subsets of SLIC superpixels are kept (each with probability 1/2, the rest set to black; torch's RNG,
which the run seeds). The paper's weighted least squares of the target score on them, each sample weighted
by Captum's kernel exp(-d^2 / 2) with d its cosine distance to the image, gives each superpixel's weight,
which all its pixels carry. The paper's K-LASSO selection is left out (K = every superpixel), and so is
Captum's default Lasso (alpha 0.01), which zeroes every weight where scores move by less than about
alpha. Signed; one surrogate and `samples` forward passes per image.
"""

from __future__ import annotations

import torch
from captum.attr import Lime
from torch import Tensor, nn
from torch.utils.data import DataLoader

from convis.attribution.base import SaliencyMethod, builder, check, one_channel
from convis.attribution.superpixels import OneImageAtATime, superpixel_options
from convis.backbones import Backbone
from convis.checks import positive_whole


@builder
def lime(
    net: nn.Module,
    backbone: Backbone,
    image_size: int,
    samples: int = 1000,
    segments: int = 50,
    compactness: float = 10.0,
    batch: int = 50,
) -> SaliencyMethod:
    """`samples` perturbed copies over about `segments` SLIC superpixels, `batch` per forward."""
    check((positive_whole("method.samples", "1000"), samples))
    options = superpixel_options(backbone, segments, compactness, batch, n_samples=samples)
    return SaliencyMethod(OneImageAtATime(Lime(net, WeightedLeastSquares())), one_channel, options)


class WeightedLeastSquares:
    """The paper's surrogate as Captum's Lime fits one: weighted least squares with an intercept, the
    minimum-norm solution where there are fewer samples than superpixels."""

    weights: Tensor

    def fit(self, train_data: DataLoader) -> None:
        """Fit to Captum's (kept superpixels, score, sample weight) batches."""
        batches = list(train_data)
        kept, score, weight = (torch.cat(part).cpu().double() for part in zip(*batches))
        root = weight.view(-1, 1).sqrt()
        design = torch.cat([kept, torch.ones(len(kept), 1, dtype=kept.dtype)], 1) * root
        solution = torch.linalg.pinv(design) @ (score.view(-1, 1) * root)
        self.weights = solution[:-1].view(1, -1).to(batches[0][0])

    def representation(self) -> Tensor:
        """The superpixels' weights, (1, superpixels)."""
        return self.weights

"""How good a saliency map is: pointing game, deletion / insertion, box IoU, model randomisation.

- Pointing game (Zhang et al. 2016, as TorchRay scores it): a hit when the map's maximum lies
  closer than `tolerance` pixels (15 at 224 px, scaled with the size) to the object; the
  image centre as the point is the baseline.
- Deletion / insertion (Petsiuk et al. 2018, RISE's CausalMetric): move pixels, most salient
  first, from the image to the zero (mean) image, or from a blurred copy (kernel 11, sigma 5)
  to the image; the class probability's curve has AUC = (sum s - s_0/2 - s_n/2) / (n - 1) over
  its n points. Lower deletion and higher insertion are better; a random order beside them.
- ROAD (Rong et al. 2022): remove a fraction of the pixels, most relevant first (MoRF) or least
  relevant first (LeRF), and fill them by noisy linear imputation from their neighbours
  (pytorch-grad-cam's NoisyLinearImputer), so the network is not judged on images unlike any it
  saw; the class probability at each fraction, and its mean over the fractions. Lower MoRF and
  higher LeRF are better; (LeRF - MoRF) / 2 is pytorch-grad-cam's ROADCombined.
- Sanity check (Adebayo et al. 2018): re-initialise the layers from the top down (cascading)
  and compare each map with the original by Spearman rank correlation.
- Random logit (Sixt et al. 2020, as Quantus's RandomLogit): the map for a random other class
  should differ from the target's; its Spearman rank correlation with the target's map, lower is better.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer
from torch import Tensor, nn
from torchmetrics.functional import spearman_corrcoef
from torchvision.ops import box_iou, masks_to_boxes
from torchvision.transforms.v2.functional import gaussian_blur

from convis.runtime.errors import ConvisError

Scores = Callable[[Tensor], Tensor]  # images (B, 3, H, W) -> class probabilities (B, K)


def tolerance(size: int, pixels_at_224: float = 15.0) -> float:
    """The pointing game's tolerance for images `size` pixels wide."""
    return pixels_at_224 * size / 224


def box_masks(boxes: Tensor, height: int, width: int) -> Tensor:
    """(N, H, W) bool: the pixels inside each [x0, y0, x1, y1] box (x1, y1 exclusive)."""
    ys = torch.arange(height, device=boxes.device).view(1, -1, 1)
    xs = torch.arange(width, device=boxes.device).view(1, 1, -1)
    x0, y0, x1, y1 = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    return (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)


def mask_boxes(masks: Tensor) -> Tensor:
    """(N, 4) boxes [x0, y0, x1, y1] (exclusive) around (N, H, W) bool masks."""
    return masks_to_boxes(masks) + torch.tensor([0, 0, 1, 1], device=masks.device)


def peak_points(maps: Tensor) -> Tensor:
    """(N, 2) (row, column) of each map's maximum (the first one when tied)."""
    flat = maps.flatten(1).argmax(1)
    return torch.stack([flat // maps.shape[-1], flat % maps.shape[-1]], 1)


def centre_points(n: int, height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """(N, 2) the image centre, the pointing game's baseline point."""
    return torch.tensor([height // 2, width // 2], device=device).expand(n, 2)


def pointing_hits(points: Tensor, regions: Tensor, tolerance: float) -> Tensor:
    """(N,) bool: whether some pixel of each region lies closer than `tolerance` to its point."""
    ys = torch.arange(regions.shape[1], device=regions.device).view(1, -1, 1) - points[:, :1, None]
    xs = torch.arange(regions.shape[2], device=regions.device).view(1, 1, -1) - points[:, 1:, None]
    near = ys.square() + xs.square() < tolerance**2
    return (near & regions).flatten(1).any(1)


def saliency_order(maps: Tensor) -> Tensor:
    """(N, H*W) pixel indices, most salient first."""
    return maps.flatten(1).argsort(dim=1, descending=True, stable=True)


def random_order(n: int, pixels: int, generator: torch.Generator) -> Tensor:
    """(N, pixels) an independent random permutation of the pixels per image."""
    return torch.rand(n, pixels, generator=generator).argsort(1)


def perturbation_curves(
    scores: Scores, start: Tensor, finish: Tensor, targets: Tensor, orders: Tensor, steps: int, batch: int = 64
) -> Tensor:
    """(N, n) target probabilities while pixels move from `start` to `finish` in `orders`.

    As RISE: ceil(H*W / steps) pixels move per step, the first point is `start`, the last
    `finish`; the frames are scored `batch` images at a time.
    """
    n, _, height, width = start.shape
    pixels = height * width
    per_step = math.ceil(pixels / steps)
    moved_after = torch.arange(math.ceil(pixels / per_step) + 1, device=start.device) * per_step
    ranks = torch.empty_like(orders).scatter_(1, orders, torch.arange(pixels, device=orders.device).expand(n, -1))
    curves = []
    for counts in moved_after.split(max(1, batch // n)):
        moved = (ranks[:, None, :] < counts[None, :, None]).view(n, len(counts), 1, height, width)
        frames = torch.where(moved, finish[:, None], start[:, None]).flatten(0, 1)
        probs = scores(frames).gather(1, targets.repeat_interleave(len(counts))[:, None])
        curves.append(probs.view(n, len(counts)))
    return torch.cat(curves, 1)


def auc(curves: Tensor) -> Tensor:
    """(N,) area under each curve of n points spread evenly over [0, 1] (trapezoids, as RISE)."""
    return (curves.sum(1) - curves[:, 0] / 2 - curves[:, -1] / 2) / (curves.shape[1] - 1)


def road_frames(images: Tensor, orders: Tensor, fraction: float, noise: float) -> Tensor:
    """The images with the first round(fraction * H*W) pixels of each order removed and imputed.

    The pixels are ranked (ties in pixel order, as deletion ranks them) rather than thresholded at a
    percentile as pytorch-grad-cam does, which on a map with many equal values (a CAM's zeros) would
    remove a share other than `fraction`. Imputation on the CPU; noise from torch's generator.
    """
    n, _, height, width = images.shape
    removed = round(fraction * height * width)
    keep = torch.ones(n, height * width)
    keep.scatter_(1, orders[:, :removed].cpu(), 0.0)
    imputer = NoisyLinearImputer(noise=noise)
    frames = [imputer(image, mask.view(height, width)) for image, mask in zip(images.detach().cpu().float(), keep)]
    return torch.stack(frames).to(images.device, images.dtype)


def road_curves(
    scores: Scores, images: Tensor, targets: Tensor, orders: Tensor, fractions: Sequence[float], noise: float
) -> Tensor:
    """(N, len(fractions)) target probabilities with each fraction of the pixels, in `orders`, imputed."""
    return torch.stack([target_probs(scores, road_frames(images, orders, f, noise), targets) for f in fractions], 1)


def target_probs(scores: Scores, images: Tensor, targets: Tensor) -> Tensor:
    """(N,) each image's probability of its target class."""
    return scores(images).gather(1, targets[:, None])[:, 0]


def random_logit(
    attribute: Callable[[Tensor, Tensor], Tensor],
    images: Tensor,
    targets: Tensor,
    maps: Tensor,
    classes: int,
    seed: int,
) -> Tensor:
    """(N,) Spearman rank correlation of each map with the map for a random other class (seeded)."""
    if classes < 2:
        raise ConvisError(f"objective.random_logit=true needs a network with 2 classes or more; this one has {classes}")
    generator = torch.Generator().manual_seed(seed)
    others = (targets.cpu() + torch.randint(1, classes, targets.shape, generator=generator)) % classes
    return spearman(attribute(images, others.to(targets.device)), maps)


@dataclass
class SaliencyEvaluation:
    """The per-image quality metrics of maps on images with known object regions."""

    tolerance: float = 15.0  # pointing game: pixels at 224, scaled with the image size
    perturbation_steps: int = 50  # deletion / insertion: points on each curve (RISE: one pixel row per step)
    blur_kernel: int = 11  # insertion starts from the image blurred with this Gaussian
    blur_sigma: float = 5.0
    batch: int = 64  # images per forward pass when scoring the curves
    seed: int = 0  # of the random pixel order and ROAD's imputation noise
    road_fractions: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # ROAD: shares removed; () skips
    road_noise: float = 0.01  # ROAD: sd of the noise added to the imputed pixels (normalised units)

    def __post_init__(self) -> None:
        bad = [f for f in self.road_fractions if not 0 < f < 1]
        if bad:
            raise ConvisError(
                f"objective.evaluation.road_fractions={list(self.road_fractions)}: each share of pixels removed "
                f"must lie strictly between 0 and 1 ({bad[0]} does not), e.g. [0.1,0.3,0.5,0.7,0.9]"
            )

    def __call__(
        self, scores: Scores, images: Tensor, maps: Tensor, targets: Tensor, regions: Tensor
    ) -> dict[str, Tensor]:
        """Pointing game (and its centre baseline), deletion / insertion AUC (and their random order), ROAD.

        Per image, (N,); the curves themselves, (N, n), under `deletion_curve`, `insertion_curve`,
        their `_random` twins, `road_morf_curve` and `road_lerf_curve`.
        """
        n, _, height, width = images.shape
        reach = tolerance(width, self.tolerance)
        generator = torch.Generator().manual_seed(self.seed)
        orders = {"": saliency_order(maps), "_random": random_order(n, height * width, generator).to(images.device)}
        blurred = gaussian_blur(images, [self.blur_kernel] * 2, [self.blur_sigma] * 2)
        results = {
            "pointing_game": pointing_hits(peak_points(maps), regions, reach),
            "pointing_game_centre": pointing_hits(centre_points(n, height, width, images.device), regions, reach),
        }
        ends = {"deletion": (images, torch.zeros_like(images)), "insertion": (blurred, images)}
        for suffix, order in orders.items():
            for kind, (start, finish) in ends.items():
                results[f"{kind}_curve{suffix}"] = perturbation_curves(
                    scores, start, finish, targets, order, self.perturbation_steps, self.batch
                )
                results[f"{kind}_auc{suffix}"] = auc(results[f"{kind}_curve{suffix}"])
        if self.road_fractions:
            results.update(self.road(scores, images, maps, targets))
        return results

    def road(self, scores: Scores, images: Tensor, maps: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """ROAD's MoRF and LeRF curves over `road_fractions`, their means, and (LeRF - MoRF) / 2."""
        results = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            for kind, order in (("morf", saliency_order(maps)), ("lerf", saliency_order(-maps))):
                curve = road_curves(scores, images, targets, order, self.road_fractions, self.road_noise)
                results[f"road_{kind}_curve"], results[f"road_{kind}"] = curve, curve.mean(1)
        results["road_combined"] = (results["road_lerf"] - results["road_morf"]) / 2
        return results


def paired_iou(boxes: Tensor, truth: Tensor) -> Tensor:
    """(N,) IoU of each box with its ground-truth box (x1, y1 exclusive, so areas are (x1-x0)(y1-y0))."""
    return box_iou(boxes.float(), truth.float()).diagonal()


def randomisable_layers(net: nn.Module) -> list[str]:
    """Module paths of the layers with weights (conv, linear), from the output down to the input."""
    return [path for path, module in net.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))][::-1]


def cascading_randomisation(net: nn.Module, layers: Sequence[str], seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """A copy of `net` re-initialised one more layer at a time, in `layers` order; `net` is never touched.

    Yields (the layer just re-initialised, the copy); the copy changes in place at the next step.
    Each layer's new weights are seeded by `seed` and its depth, so batches see the same network.
    """
    model = copy.deepcopy(net)
    for depth, path in enumerate(layers):
        with torch.random.fork_rng():
            torch.manual_seed(seed + depth)
            model.get_submodule(path).reset_parameters()
        yield path, model


def spearman(maps: Tensor, reference: Tensor) -> Tensor:
    """(N,) Spearman rank correlation of each map with its reference map (ties ranked by their mean)."""
    return spearman_corrcoef(maps.flatten(1).T.double(), reference.flatten(1).T.double()).view(-1).float()

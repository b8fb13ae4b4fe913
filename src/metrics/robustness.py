"""A feature visualisation measured, not only looked at: does the class survive cropping, flipping, another network?

robust_probability: the mean, over random resized crops and horizontal flips of an image, of the softmax
probability of its target class. Evaluated on the network the image was made for, it measures robustness;
on a second network (another seed), transferability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import v2

Logits = Callable[[torch.Tensor], torch.Tensor]


def target_probability(logits: Logits, images: torch.Tensor, targets: Sequence[int]) -> torch.Tensor:
    """[B]: the softmax probability of targets[i] for image i."""
    with torch.no_grad():
        probs = logits(images).softmax(1)
    return probs[torch.arange(len(images)), torch.as_tensor(list(targets))]


def augmented_copies(image: torch.Tensor, count: int, scale: tuple[float, float]) -> torch.Tensor:
    """[count, C, H, W]: random resized crops (area share in `scale`, back to H x W), each flipped with p 1/2."""
    augment = v2.Compose(
        [v2.RandomResizedCrop(image.shape[-2:], scale=scale, antialias=True), v2.RandomHorizontalFlip()]
    )
    return torch.stack([augment(image) for _ in range(count)])


def robust_probability(
    logits: Logits,
    images: torch.Tensor,
    targets: Sequence[int],
    count: int = 32,
    scale: tuple[float, float] = (0.5, 1.0),
) -> torch.Tensor:
    """[B]: the mean target probability over `count` augmented copies of each image."""
    return torch.stack(
        [
            target_probability(logits, augmented_copies(image, count, scale), [t] * count).mean()
            for image, t in zip(images, targets)
        ]
    )

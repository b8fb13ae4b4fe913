"""Image similarity between a reconstruction and its original, on [0, 1] pixels."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr(images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image (data range 1)."""
    return peak_signal_noise_ratio(images, originals, data_range=1.0, reduction="none", dim=(1, 2, 3))


def ssim(images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """SSIM per image (data range 1, Gaussian window)."""
    return structural_similarity_index_measure(images, originals, data_range=1.0, reduction="none")

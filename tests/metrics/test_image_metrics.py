"""PSNR and SSIM (metrics.json's psnr and ssim) against hand computations and scikit-image."""

import math

import numpy as np
import pytest
import skimage.data
import torch
from skimage.metrics import structural_similarity
from skimage.transform import resize

from convis.metrics.image import psnr, ssim


def test_psnr_is_ten_log10_of_one_over_the_mse_per_image():
    originals = torch.zeros(3, 3, 8, 8)
    images = torch.stack([torch.full((3, 8, 8), 0.1), torch.full((3, 8, 8), 0.5), torch.zeros(3, 8, 8)])
    images[2, 0, 0, :4] = 1.0  # 4 of 192 values off by 1: MSE 1/48
    expected = [10 * math.log10(1 / 0.01), 10 * math.log10(1 / 0.25), 10 * math.log10(48)]
    assert expected == pytest.approx([20.0, 6.0206, 16.8124], abs=1e-4)
    assert psnr(images, originals).tolist() == pytest.approx(expected, abs=1e-4)


def test_psnr_of_noisy_pictures_matches_the_formula():
    generator = torch.Generator().manual_seed(0)
    originals = torch.rand(2, 3, 16, 16, generator=generator)
    images = (originals + 0.05 * torch.randn(2, 3, 16, 16, generator=generator)).clamp(0, 1)
    mse = (images - originals).square().flatten(1).mean(1)
    assert psnr(images, originals).tolist() == pytest.approx((10 * torch.log10(1 / mse)).tolist(), abs=1e-4)


def cat(size: int = 64) -> np.ndarray:
    return resize(skimage.data.chelsea(), (size, size), anti_aliasing=True).astype(np.float32)  # H, W, 3 in [0, 1]


def test_ssim_of_identical_images_is_one():
    original = torch.from_numpy(cat()).permute(2, 0, 1)[None]
    assert ssim(original, original).tolist() == pytest.approx([1.0], abs=2e-4)  # float32 variances: 0.9999
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert ssim(flat, flat).tolist() == pytest.approx([1.0], abs=2e-4)


def test_ssim_matches_scikit_image():
    """Gaussian window (sigma 1.5, 11 px), population statistics, data range 1, the map averaged over
    every pixel with reflected borders (scikit-image's full map; its score alone leaves out a 5 px border)."""
    original = cat()
    rng = np.random.default_rng(0)
    others = [
        np.clip(original + rng.normal(0, 0.05, original.shape), 0, 1),
        np.clip(original + rng.normal(0, 0.3, original.shape), 0, 1),
        1 - original,
        original[::-1],
    ]
    expected = [
        structural_similarity(
            other.astype(np.float32),
            original,
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            full=True,
        )[1].mean()
        for other in others
    ]
    images = torch.from_numpy(np.stack(others).astype(np.float32)).permute(0, 3, 1, 2)
    originals = torch.from_numpy(original).permute(2, 0, 1).expand_as(images)
    values = ssim(images, originals).tolist()
    assert values == pytest.approx(expected, abs=5e-3)
    assert values[0] > 0.7 > values[3] > values[1] > 0 > values[2]  # far apart: the tolerance tells them apart

"""Robustness of a visualisation: the target's mean probability over random crops and flips of it."""

import torch

from convis.metrics.robustness import augmented_copies, robust_probability, target_probability


def halves(images: torch.Tensor) -> torch.Tensor:
    """Two logits: left half's mean minus right half's, and its opposite (a flip swaps them)."""
    width = images.shape[-1]
    d = images[..., : width // 2].mean((1, 2, 3)) - images[..., width // 2 :].mean((1, 2, 3))
    return torch.stack([d, -d], 1)


def test_the_target_probability_is_the_softmax_entry_of_each_images_target():
    images = torch.zeros(2, 3, 4, 4)
    images[0, ..., :2] = 1.0  # left bright: logits (1, -1)
    expected = torch.tensor([torch.sigmoid(torch.tensor(2.0)), torch.tensor(0.5)])
    torch.testing.assert_close(target_probability(halves, images, [0, 1]), expected)


def test_a_constant_image_keeps_its_probability_under_crops_and_flips():
    torch.manual_seed(0)
    images = torch.full((2, 3, 8, 8), 0.3)
    plain = target_probability(lambda x: torch.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], 1), images, [0, 1])
    robust = robust_probability(lambda x: torch.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], 1), images, [0, 1])
    torch.testing.assert_close(robust, plain)


def test_flips_average_a_left_right_feature_towards_one_half():
    torch.manual_seed(0)
    image = torch.zeros(1, 3, 8, 8)
    image[..., :4] = 1.0
    copies = augmented_copies(image[0], 200, scale=(1.0, 1.0))
    flipped = (copies[..., 0] == 0).all((1, 2)).float().mean()  # the left column went dark: flipped
    assert 0.4 < flipped < 0.6
    robust = robust_probability(halves, image, [0], count=200, scale=(1.0, 1.0))
    p = torch.sigmoid(torch.tensor(2.0))
    torch.testing.assert_close(robust[0], p * (1 - flipped) + (1 - p) * flipped, atol=0.06, rtol=0)

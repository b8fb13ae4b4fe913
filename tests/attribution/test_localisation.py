"""Simonyan et al.'s GrabCut localisation on synthetic pictures with a known object."""

import numpy as np
import pytest
import torch

from convis.attribution.localisation import GrabCut, largest_component_box
from convis.metrics.saliency import paired_iou
from convis.runtime.errors import ConvisError

BOX = [20, 12, 44, 40]  # x0, y0, x1, y1 (exclusive) of the red object


def picture(size: int = 64) -> np.ndarray:
    """A red rectangle on a flat grey background, with a little pixel noise."""
    rng = np.random.default_rng(0)
    image = np.full((size, size, 3), 128.0)
    x0, y0, x1, y1 = BOX
    image[y0:y1, x0:x1] = (200, 40, 40)
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def blob(size: int = 64, sigma: float = 3.0) -> np.ndarray:
    """A saliency map peaked at the object's centre, much smaller than the object."""
    y, x = np.mgrid[:size, :size]
    cx, cy = (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))


def iou(box: list[int], other: list[int]) -> float:
    return float(paired_iou(torch.tensor([box]), torch.tensor([other]))[0])


def test_grabcut_grows_a_concentrated_map_to_the_objects_box():
    localiser = GrabCut()
    seeds_only = largest_component_box(localiser.seeds(blob()) == 1)
    box = localiser(picture(), blob())
    assert iou(seeds_only, BOX) < 0.5  # the top 5% of the map alone covers a small part of the object
    assert iou(box, BOX) > 0.9


def test_the_seeds_follow_the_quantiles():
    saliency = np.arange(100, dtype=float).reshape(10, 10)
    mask = GrabCut(foreground_quantile=0.9, background_quantile=0.2).seeds(saliency)
    assert (mask.ravel() == 1).sum() == 10 and (mask.ravel() == 0).sum() == 20  # cv2.GC_FGD, cv2.GC_BGD
    assert (mask.ravel()[:20] == 0).all() and (mask.ravel()[90:] == 1).all()


def test_a_flat_map_localises_nothing_smaller_than_the_image():
    assert GrabCut()(picture(), np.zeros((64, 64))) == [0, 0, 64, 64]


def test_the_largest_component_wins():
    foreground = np.zeros((20, 30), bool)
    foreground[2:4, 2:4] = True
    foreground[10:15, 5:25] = True
    assert largest_component_box(foreground) == [5, 10, 25, 15]


@pytest.mark.parametrize(("background", "foreground"), [(0.5, 0.5), (0.3, 1.5), (-0.1, 0.9)])
def test_bad_quantiles_fail_clearly(background, foreground):
    with pytest.raises(ConvisError, match="need 0 <= background < foreground <= 1"):
        GrabCut(foreground_quantile=foreground, background_quantile=background)

"""GrabCut's seeds sit above the map's 95% and below its 30% quantile (the README's and Simonyan et al.'s)."""

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from convis.attribution.localisation import GrabCut
from convis.config import conf_dir


def configured() -> GrabCut:
    return instantiate(OmegaConf.load(conf_dir() / "objective" / "saliency.yaml").localisation)


@pytest.fixture(params=["default", "config"])
def localiser(request) -> GrabCut:
    return GrabCut() if request.param == "default" else configured()


def counts(mask: np.ndarray) -> dict[int, int]:
    return {label: int((mask == label).sum()) for label in (cv2.GC_FGD, cv2.GC_BGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD)}


def test_the_quantiles_are_0_95_and_0_30(localiser):
    assert (localiser.foreground_quantile, localiser.background_quantile) == (0.95, 0.30)


def test_seeds_of_a_400_pixel_ramp(localiser):
    ramp = np.arange(400, dtype=np.float32).reshape(20, 20)  # quantiles 379.05 and 119.7
    mask = localiser.seeds(ramp)
    assert counts(mask) == {cv2.GC_FGD: 20, cv2.GC_BGD: 120, cv2.GC_PR_BGD: 260, cv2.GC_PR_FGD: 0}
    assert (mask[ramp >= 380] == cv2.GC_FGD).all() and (mask[ramp < 120] == cv2.GC_BGD).all()


def test_a_value_on_a_quantile_is_seeded(localiser):
    ramp = np.arange(121, dtype=np.float32).reshape(11, 11)  # quantiles exactly 114 and 36
    mask = localiser.seeds(ramp)
    assert counts(mask) == {cv2.GC_FGD: 7, cv2.GC_BGD: 37, cv2.GC_PR_BGD: 77, cv2.GC_PR_FGD: 0}
    assert mask.flat[114] == cv2.GC_FGD and mask.flat[36] == cv2.GC_BGD and mask.flat[37] == cv2.GC_PR_BGD


def test_the_seeds_do_not_depend_on_where_the_values_lie(localiser):
    values = np.random.default_rng(0).permutation(400).astype(np.float32).reshape(20, 20)
    mask = localiser.seeds(values)
    assert counts(mask)[cv2.GC_FGD] == 20 and counts(mask)[cv2.GC_BGD] == 120
    assert (mask[values >= 380] == cv2.GC_FGD).all() and (mask[values < 120] == cv2.GC_BGD).all()

"""Simonyan et al.'s weakly supervised localisation: GrabCut seeded from a saliency map's quantiles.

Pixels above the foreground quantile of the map are certain object, pixels below the
background quantile certain background, the rest "probably background"; GrabCut's colour
models then decide those, and the box is that of the largest connected foreground component.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from convis.runtime.errors import ConvisError

GMM_COMPONENTS = 5  # GrabCut's colour models: its k-means needs at least this many samples of each


@dataclass(frozen=True)
class GrabCut:
    """Localise the object of a saliency map: `box = GrabCut(...)(image, saliency)`, [x0, y0, x1, y1] exclusive."""

    foreground_quantile: float = 0.95
    background_quantile: float = 0.30
    iterations: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.background_quantile < self.foreground_quantile <= 1:
            raise ConvisError(
                f"localisation quantiles background={self.background_quantile}, foreground={self.foreground_quantile}: "
                "need 0 <= background < foreground <= 1 (the paper's: 0.30 and 0.95)"
            )

    def seeds(self, saliency: np.ndarray) -> np.ndarray:
        """GrabCut's initial mask: certain foreground above the high quantile, certain background below the low."""
        high, low = np.quantile(saliency, [self.foreground_quantile, self.background_quantile])
        mask = np.full(saliency.shape, cv2.GC_PR_BGD, np.uint8)
        mask[saliency <= low] = cv2.GC_BGD
        mask[saliency >= high] = cv2.GC_FGD
        return mask

    def segment(self, image: np.ndarray, saliency: np.ndarray) -> np.ndarray:
        """The foreground (H, W) bool of an (H, W, 3) uint8 image; just the seeds where GrabCut cannot run."""
        mask = self.seeds(saliency)
        if (mask == cv2.GC_FGD).sum() >= GMM_COMPONENTS and (mask != cv2.GC_FGD).sum() >= GMM_COMPONENTS:
            cv2.setRNGSeed(0)  # GrabCut's k-means starts from OpenCV's global generator
            models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            cv2.grabCut(np.ascontiguousarray(image), mask, None, *models, self.iterations, cv2.GC_INIT_WITH_MASK)
        return np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))

    def __call__(self, image: np.ndarray, saliency: np.ndarray) -> list[int]:
        """The box of the largest connected foreground component."""
        return largest_component_box(self.segment(image, saliency))


def largest_component_box(foreground: np.ndarray) -> list[int]:
    """[x0, y0, x1, y1] (x1, y1 exclusive) of the largest 8-connected component; the whole image if none."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(foreground.astype(np.uint8), connectivity=8)
    if count < 2:
        return [0, 0, foreground.shape[1], foreground.shape[0]]
    x, y, w, h = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), :4]
    return [int(x), int(y), int(x + w), int(y + h)]

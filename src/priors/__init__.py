"""Image priors: penalty terms on the image, constraints applied after each step, robustness transforms.

from convis.priors import Prior, Jitter, RandomScale, total_variation
prior = Prior(penalties=[total_variation(weight=0.1)], transforms=[Jitter(8), RandomScale(0.9, 1.1)])
"""

from convis.priors.constraints import PixelNormBound
from convis.priors.penalties import alpha_norm, l2, total_variation
from convis.priors.prior import Prior
from convis.priors.transforms import Jitter, Pad, RandomRotation, RandomScale

__all__ = [
    "Jitter",
    "Pad",
    "PixelNormBound",
    "Prior",
    "RandomRotation",
    "RandomScale",
    "alpha_norm",
    "l2",
    "total_variation",
]

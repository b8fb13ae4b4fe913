"""Image priors: penalty terms on the image, constraints applied after each step, robustness transforms."""

from convis.priors.prior import Prior

__all__ = ["Prior"]

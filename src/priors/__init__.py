"""Image priors: penalty terms on the image, constraints applied after each step, robustness transforms."""

from src.priors.prior import Prior

__all__ = ["Prior"]

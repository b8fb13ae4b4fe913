"""Image parameterisations: what the optimiser changes, and how it renders to an image.

Each option of conf/param is one of these specs, built from its options alone (and checking them); called
with a starting image and the network's mean and std, it builds the nn.Module whose parameters are optimised.
"""

from convis.params.fft import Fourier
from convis.params.maco import Maco
from convis.params.pixel import Pixel

__all__ = ["Fourier", "Maco", "Pixel"]

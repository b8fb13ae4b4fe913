"""param=fft mixes colours with Lucid's published matrix (color_correlation_svd_sqrt), normalised as Lucid does."""

import numpy as np
import torch

from convis.params.fft import COLOUR_CORRELATION, DECORRELATE, FourierImage

# lucid/optvis/param/color.py: color_correlation_svd_sqrt, and its columns divided by the largest column norm
LUCID = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
LUCID_NORMALISED = LUCID / np.max(np.linalg.norm(LUCID, axis=0))
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_the_stored_matrix_is_lucids():
    np.testing.assert_array_equal(COLOUR_CORRELATION.double().numpy().round(2), LUCID)
    np.testing.assert_allclose(COLOUR_CORRELATION.numpy(), LUCID, atol=1e-7)
    np.testing.assert_allclose(DECORRELATE.numpy(), LUCID_NORMALISED, atol=1e-6)
    # by hand: the largest column norm is the first's, sqrt(0.26^2 + 0.27^2 + 0.27^2) = sqrt(0.2134)
    by_hand = [[0.5628, 0.1948, 0.0433], [0.5845, 0.0, -0.1082], [0.5845, -0.1948, 0.0649]]
    np.testing.assert_allclose(DECORRELATE.numpy(), by_hand, atol=1e-4)


def test_each_decorrelated_channel_renders_lucids_column():
    """A flat offset in decorrelated channel j gives logit(pixels) proportional to column j of Lucid's matrix."""
    image = FourierImage(torch.zeros(1, 3, 4, 4), MEAN, STD)
    np.testing.assert_allclose(image.colour.numpy(), LUCID_NORMALISED, atol=1e-6)
    columns = []
    for channel in range(3):
        with torch.no_grad():
            image.spectrum.zero_()
            image.spectrum[0, channel, 0, 0, 0] = 1.0
            pixels = image() * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
        columns.append(torch.logit(pixels[0, :, 0, 0].double()).numpy())
    mixed = np.stack(columns, axis=1)  # (colour, decorrelated channel): the matrix times one common gain
    gain = mixed[0, 0] / LUCID_NORMALISED[0, 0]
    np.testing.assert_allclose(mixed / gain, LUCID_NORMALISED, atol=2e-4)

"""MACO against its definition: a fixed magnitude spectrum, a phase-only parameter, the transparency map."""

import json
import re

import numpy as np
import pytest
import torch

from convis import experiments
from convis.params import maco
from convis.params.fft import DECORRELATE, spectrum_scale
from convis.params.maco import MacoImage, resample, transparency_map
from convis.priors.constraints import PixelNormBound
from convis.priors.maco import NoisyCrop
from convis.runtime.errors import ConvisError, user_error
from convis.validation import validate

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TINY = ["experiment=own_network", "image_size=32", "prior=maco", "optimizer=nadam"]


@pytest.fixture
def template(tmp_path):
    """A random positive magnitude template for 16 x 16 images, saved as .npy."""
    values = np.random.default_rng(0).uniform(0.5, 2.0, (3, 16, 9)).astype(np.float32)
    np.save(tmp_path / "spectrum.npy", values)
    return tmp_path / "spectrum.npy", torch.from_numpy(values)


def test_the_image_spectrum_magnitude_is_the_template(template):
    """Undo sigmoid and colours: |rfft2| of the signal is the template times one constant (per image)."""
    path, values = template
    torch.manual_seed(0)
    image = MacoImage(torch.zeros(2, 3, 16, 16), MEAN, STD, spectrum=str(path))
    with torch.no_grad():
        pixels = image().double() * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    signal = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(DECORRELATE.double()), torch.logit(pixels))
    magnitude = torch.fft.rfft2(signal).abs()[..., 1:8]  # columns 0 and 8 are their own mirror: irfft2 folds them
    ratio = magnitude / values[..., 1:8].double()
    for row in ratio:
        torch.testing.assert_close(row, torch.full_like(row, row.mean().item()), rtol=1e-4, atol=0)


def test_only_the_phase_is_a_parameter_and_images_differ_by_phase(template):
    path, _ = template
    torch.manual_seed(0)
    image = MacoImage(torch.zeros(2, 3, 16, 16), MEAN, STD, spectrum=str(path))
    assert [name for name, _ in image.named_parameters()] == ["phase"]
    assert image.phase.shape == (2, 3, 16, 9)
    rendered = image().detach()
    assert (rendered[0] - rendered[1]).abs().mean() > 0.1
    pixels = rendered * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    assert pixels.min() >= 0 and pixels.max() <= 1


def test_the_template_is_matched_by_frequency_at_any_size(template):
    _, values = template
    torch.testing.assert_close(resample(values, 16, 16), values)  # its own size: the identity
    # an 8 x 8 image's frequency k/8 is the 16 x 16 template's 2k/16: rows 0..3 and -4..-1, columns 0..4
    rows = torch.tensor([0, 2, 4, 6, -8, -6, -4, -2]) % 16
    torch.testing.assert_close(resample(values, 8, 8), values[:, rows][:, :, ::2])


def test_the_shipped_template_and_the_power_law_fallback(monkeypatch, tmp_path):
    shipped = MacoImage(torch.zeros(1, 3, 32, 32), MEAN, STD).magnitude
    assert shipped.shape == (3, 32, 17) and (shipped > 0).all()
    assert shipped[:, 0, 0].min() > 10 * shipped[:, 16, 16].max()  # natural images: energy falls with frequency
    monkeypatch.setattr(maco, "NATURAL_SPECTRUM", tmp_path / "missing.npy")
    fallback = MacoImage(torch.zeros(1, 3, 8, 8), MEAN, STD, decay_power=2.0).magnitude
    torch.testing.assert_close(fallback, spectrum_scale(8, 8, 2.0).expand(3, -1, -1))


def test_transparency_accumulates_the_absolute_gradient_of_the_image(template):
    """transparency = sum over steps of |dLoss/dImage|, the gradient reaching the rendered image."""
    path, _ = template
    torch.manual_seed(0)
    image = MacoImage(torch.zeros(1, 3, 16, 16), MEAN, STD, spectrum=str(path))
    weights = torch.randn(1, 3, 16, 16)
    expected = torch.zeros(1, 3, 16, 16)
    loss = lambda x: (weights * x).sum() + x.square().sum()  # noqa: E731
    for _ in range(3):
        rendered = image()
        leaf = rendered.detach().requires_grad_()
        expected += torch.autograd.grad(loss(leaf), leaf)[0].abs()
        loss(rendered).backward()
        with torch.no_grad():
            image.phase -= 0.1 * image.phase.grad
        image.phase.grad = None
    torch.testing.assert_close(image.transparency, expected)
    with torch.no_grad():
        image()  # rendering without gradients leaves the map alone
    torch.testing.assert_close(image.transparency, expected)


def test_the_transparency_map_is_the_channel_mean_over_its_99th_percentile():
    accumulated = torch.arange(300.0).view(1, 3, 10, 10)
    mean = accumulated.mean(1)
    expected = (mean / torch.quantile(mean.flatten(), 0.99)).clamp(0, 1)
    torch.testing.assert_close(transparency_map(accumulated)[0], expected)
    assert transparency_map(torch.zeros(1, 3, 4, 4)).eq(0).all()


def test_noisy_crop_zooms_into_a_box_and_adds_noise():
    torch.manual_seed(0)
    image = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(2, 3, 32, 32).contiguous()
    crop = NoisyCrop(low=0.5, high=0.5, spread=0.0, noise=0.0)
    # the box is x = 8..24 px, resized to 32 columns: column j samples x = 7.75 + j / 2, where the ramp is x / 31
    expected = ((7.75 + torch.arange(32) / 2) / 31).expand(2, 3, 32, 32)
    torch.testing.assert_close(crop(image), expected, atol=1e-5, rtol=0)
    assert crop(image).shape == image.shape and NoisyCrop(size=16, noise=0.0)(image).shape == (2, 3, 16, 16)
    noisy = NoisyCrop(low=1.0, high=1.0, spread=0.0, noise=0.05)(torch.zeros(1, 3, 64, 64))
    assert noisy.std().item() == pytest.approx(0.05 * (1 + 1 / 12) ** 0.5, rel=0.05)


def test_constraints_and_grey_networks_are_refused():
    with pytest.raises(ConvisError, match=r"param=maco renders colour images and this network takes 1 channels"):
        MacoImage(torch.zeros(1, 1, 8, 8), [0.5], [0.5])
    image = MacoImage(torch.zeros(1, 3, 8, 8), MEAN, STD)
    image.constrain([])
    with pytest.raises(ConvisError, match=r"param=maco cannot apply .*PixelNormBound"):
        image.constrain([PixelNormBound(1.0)])


def test_a_class_model_writes_its_transparency_map_beside_each_image(cfg_factory, tmp_path):
    cfg = cfg_factory(*TINY, "objective=class_score", "target=[circle,square]", "steps=4")
    assert cfg.param._target_ == "convis.params.maco.Maco" and cfg.optimizer.optim._target_ == "torch.optim.NAdam"
    metrics = experiments.run(cfg).metrics
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    for result, name in zip(metrics["results"], ["circle", "square"]):
        assert result["transparency_png"] == f"images/{name}_transparency.png"
        assert (tmp_path / result["transparency_png"]).stat().st_size > 100


def test_a_bad_spectrum_file_is_one_line_naming_it(cfg_factory, tmp_path):
    np.save(tmp_path / "bad.npy", np.ones((4, 8, 5)))
    cfg = cfg_factory(*TINY, "objective=class_score", "target=circle", f"param.spectrum={tmp_path / 'bad.npy'}")
    with pytest.raises(Exception) as caught:
        experiments.run(cfg)
    message = str(user_error(caught.value))  # what run.py prints
    assert "\n" not in message and "bad.npy" in message and "shape (4, 8, 5)" in message
    assert "[3, H, W // 2 + 1]" in message


BAD_SPECTRA = {
    "text": (np.array([["a", "b"], ["c", "d"]]), r"holds <U1 values, not real numbers: give finite, non-negative"),
    "complex": (np.ones((3, 8, 5), dtype=np.complex64), r"holds complex64 values, not real numbers"),
    "nan": (np.full((3, 8, 5), np.nan, dtype=np.float32), r"holds NaN \(120 of 120 values\): give finite"),
    "inf": (np.full((8, 5), np.inf), r"holds Inf \(40 of 40 values\): give finite"),
    "zero": (np.zeros((3, 8, 5), dtype=np.float32), r"is zero at every frequency but 0, so the image would be one"),
    "constant": (np.eye(1, 40).reshape(8, 5), r"is zero at every frequency but 0"),
}


@pytest.mark.parametrize("kind", BAD_SPECTRA)
def test_a_spectrum_of_unusable_values_fails_in_one_line_before_any_work(cfg_factory, tmp_path, kind):
    values, expected = BAD_SPECTRA[kind]
    path = tmp_path / f"{kind}.npy"
    np.save(path, values)
    cfg = cfg_factory(*TINY, "objective=class_score", "target=circle", f"param.spectrum={path}")
    with pytest.raises(ConvisError) as caught:
        validate(cfg)  # the run's first check: no network or data loaded yet
    message = str(caught.value)
    assert message.startswith(f"param.spectrum={path} ") and "\n" not in message
    assert re.search(expected, message)
    with pytest.raises(ConvisError, match=expected):
        maco.Maco(spectrum=str(path))  # the Python API's object checks it as it is made


@pytest.mark.parametrize("spectrum", ["5", "[1,2]"])
def test_a_spectrum_that_is_no_path_is_one_line_naming_it(cfg_factory, spectrum):
    cfg = cfg_factory(*TINY, "objective=class_score", "target=circle", f"param.spectrum={spectrum}")
    with pytest.raises(ConvisError, match=r"^param.spectrum=.+ is not a file: give a .npy magnitude template or null"):
        validate(cfg)
    with pytest.raises(ConvisError, match=r"^param.spectrum=5 is not a file"):
        maco.Maco(spectrum=5)

"""Feature accentuation: it starts at the picture's own spectrum, raises the feature, and pays for leaving it."""

import json

import pytest
import torch

from convis import experiments
from convis.experiments.accentuation import distance
from convis.modules.visualisation import VisualisationModule
from convis.objectives import INPUT
from convis.params.fft import FourierImage

TINY = ["experiment=own_network", "objective=accentuation", "dataset.names=[chelsea,coffee]", "image_size=32"]


@pytest.fixture
def spy(monkeypatch):
    """Records the module of the run and the image it started from."""
    seen = {}
    original = VisualisationModule.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.update(module=self, start=self.param().detach().clone())

    monkeypatch.setattr(VisualisationModule, "__init__", init)
    return seen


def test_the_distance_is_the_mean_squared_difference_from_the_seed():
    torch.manual_seed(0)
    seed, x = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    expected = torch.tensor([((x[i] - seed[i]) ** 2).mean() for i in range(2)])
    torch.testing.assert_close(distance(seed)({INPUT: x}), expected)


def test_accentuation_starts_at_each_picture_and_raises_the_channel(cfg_factory, tmp_path, spy):
    cfg = cfg_factory(*TINY, "layer=relu2", "objective.channel=3", "steps=8", "objective.penalty=0.1")
    result = experiments.run(cfg)
    assert isinstance(spy["module"].param, FourierImage)
    # the Fourier image is seeded with the pictures' own spectra: it renders them (to within the sigmoid's clamp)
    torch.testing.assert_close(spy["start"], result.tensors["originals"], atol=2e-3, rtol=0)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == result.metrics
    for entry, name in zip(metrics["results"], ["chelsea", "coffee"]):
        assert entry["image"] == name and entry["feature"] == "relu2:3"
        assert entry["png"] == f"images/{name}_relu2_3.png" and (tmp_path / entry["png"]).is_file()
        assert (tmp_path / "images" / f"{name}_original.png").is_file()
        assert entry["after"] > entry["before"] and entry["distance"] > 0
    moved = distance(result.tensors["originals"])({INPUT: result.tensors["images"]})
    torch.testing.assert_close(torch.tensor([e["distance"] for e in metrics["results"]]), moved)

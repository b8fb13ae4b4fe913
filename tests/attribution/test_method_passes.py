"""method.samples (SmoothGrad) and method.steps (Integrated Gradients) reach Captum: rows through the network."""

import pytest
import torch
from omegaconf import OmegaConf

from convis.config import conf_dir

IMAGES = 2


def rows_through(method, name, net, **options) -> list[int]:
    """The batch size of every forward pass of `net` while the method maps IMAGES images."""
    rows = []
    net.register_forward_hook(lambda _module, inputs, _output: rows.append(len(inputs[0])))
    method(name, net, **options).attribute(torch.randn(IMAGES, 3, 8, 8), torch.tensor([1, 3]))
    return rows


@pytest.mark.parametrize(("name", "key"), [("smoothgrad", "samples"), ("integrated_gradients", "steps")])
@pytest.mark.parametrize("count", [3, 7])
def test_each_image_takes_as_many_passes_as_configured(method, tiny_net, name, key, count):
    assert rows_through(method, name, tiny_net(), **{key: count, "samples_per_pass": None}) == [IMAGES * count]


@pytest.mark.parametrize(("name", "key"), [("smoothgrad", "samples"), ("integrated_gradients", "steps")])
def test_samples_per_pass_splits_the_same_total(method, tiny_net, name, key):
    rows = rows_through(method, name, tiny_net(), **{key: 7, "samples_per_pass": 3})
    assert rows == [IMAGES * 3, IMAGES * 3, IMAGES * 1]


@pytest.mark.parametrize(("name", "key"), [("smoothgrad", "samples"), ("integrated_gradients", "steps")])
def test_the_defaults_are_the_readmes_fifty(method, tiny_net, name, key):
    settings = OmegaConf.load(conf_dir() / "method" / f"{name}.yaml")
    assert settings[key] == 50
    rows = rows_through(method, name, tiny_net())
    assert sum(rows) == IMAGES * 50 and max(rows) == IMAGES * settings.samples_per_pass

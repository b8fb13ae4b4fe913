"""A network that takes one input size only sees image_size x image_size whatever the prior's transforms do."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from convis.api import visualise
from convis.config import options
from convis.priors import Jitter, Pad, Prior, RandomScale
from convis.priors.maco import NoisyCrop
from convis.priors.transforms import fit

SIZE = 32
# the objectives that optimise an image, each with what it needs on this network
OBJECTIVES = {
    "class_score": {"target": 1},
    "activation": {"layer": "relu1"},
    "inversion": {"layer": "relu1", "optimizer": "adam"},  # its own (ijcv) steps pixels only
    "accentuation": {"layer": "relu1"},
    "direction": {"layer": "relu1"},
    "nmf": {"layer": "relu1", "objective": {"factors": 2, "max_iter": 20}},
}
# the priors whose constraints act on pixels only: they come with param=pixel
PIXEL_PRIORS = {"mahendran", "yosinski"}


class FlatNet(nn.Module):
    """A convolution whose whole output feeds a Linear layer: it takes 32 x 32 images only."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.relu1 = nn.ReLU()
        self.fc = nn.Linear(4 * 16 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.relu1(self.conv1(x)), 1))


@pytest.mark.parametrize("prior", options("prior"))
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_image_objective_runs_with_every_prior_on_a_fixed_input_network(tmp_path, objective, prior):
    torch.manual_seed(0)
    config = dict(OBJECTIVES[objective], prior=prior, image_size=SIZE, steps=2, checkpoint_every=0)
    if prior in PIXEL_PRIORS:
        config["param"] = "pixel"
    if objective == "direction":
        np.save(tmp_path / "direction.npy", np.arange(1.0, 5.0, dtype=np.float32))
        config["objective"] = {"direction": str(tmp_path / "direction.npy")}
    result = visualise(objective, FlatNet(), **config)
    assert result.images and all(image.size == (SIZE, SIZE) for image in result.images)


def test_a_chain_larger_than_its_input_is_centre_cropped_back():
    image = torch.randn(2, 3, SIZE, SIZE)
    (chain,) = Prior(transforms=[Pad(12), RandomScale(0.9, 1.1)]).transforms
    torch.manual_seed(0)
    seen = chain(image)
    torch.manual_seed(0)
    padded = RandomScale(0.9, 1.1)(Pad(12)(image))
    assert seen.shape == image.shape and torch.equal(seen, padded[..., 12:44, 12:44])


def test_a_chain_that_keeps_the_size_is_unchanged():
    image = torch.randn(1, 3, SIZE, SIZE)
    (chain,) = Prior(transforms=[Jitter(4), NoisyCrop()]).transforms
    torch.manual_seed(0)
    seen = chain(image)
    torch.manual_seed(0)
    assert torch.equal(seen, NoisyCrop()(Jitter(4)(image)))


def test_fit_pads_a_smaller_image_with_the_mean_image_around_its_centre():
    small = torch.ones(1, 3, 5, 6)
    fitted = fit(small, (8, 8))
    assert fitted.shape == (1, 3, 8, 8) and fitted.sum() == small.sum()
    assert torch.equal(fitted[..., 1:6, 1:7], small)  # floor of the missing 3 rows and 2 columns above and left
    large = torch.arange(49.0).view(1, 1, 7, 7)
    assert torch.equal(fit(large, (4, 4)), large[..., 1:5, 1:5])


def test_olah_shows_the_network_the_input_size(cfg_factory):
    prior = instantiate(cfg_factory("prior=olah").prior)
    seen = torch.randn(1, 3, SIZE, SIZE)
    for transform in prior.transforms:
        seen = transform(seen)
    assert seen.shape == (1, 3, SIZE, SIZE)

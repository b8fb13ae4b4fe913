"""The authors' procedure around the update (optimizer=ijcv): the crop jitter on a padded canvas, the final phase
(the centre crop, 0.1x the rate, a fresh optimiser state), the uniform start and the length of the final phase."""

from functools import partial

import pytest
import torch
from torch import nn

from convis.experiments.visualise import initial_image, quantile, uniform_noise
from convis.modules.visualisation import Group, VisualisationModule
from convis.objectives import INPUT
from convis.objectives.base import term
from convis.optimisers import IJCV, Optimiser
from convis.params.pixel import PixelImage
from convis.priors.transforms import Crop, centre_crop, pad_canvas
from convis.runtime.loop import Loop


class Recorder(nn.Module):
    """The network: keeps every image it is shown, returns it as the layer `seen`."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> dict:
        self.seen.append(x.detach().clone())
        return {"seen": x}


def fit(module: VisualisationModule, steps: int, *callbacks: object) -> None:
    Loop(steps, callbacks=callbacks, accelerator="cpu").fit(module)


def test_the_network_sees_a_random_window_of_the_padded_canvas_then_its_centre():
    # a 4 x 4 image with J = 4: a 7 x 7 canvas; each pixel holds its index, and lr 0 keeps them
    canvas = torch.arange(49.0).view(1, 1, 7, 7)
    network, priors_saw = Recorder(), []
    look = term("look", lambda acts: priors_saw.append(acts[INPUT].detach().clone()) or acts[INPUT].sum((1, 2, 3)))
    objective = term("fit", lambda acts: acts["seen"].sum((1, 2, 3)), ("seen",)) + look
    group = Group("g", slice(0, 1), network, objective, crop=Crop(4, margin=3))
    module = VisualisationModule(
        PixelImage(canvas, margin=3), [group], partial(torch.optim.SGD, lr=0.0), steps=40, final_steps=5
    )
    torch.manual_seed(0)
    fit(module, 40)

    assert all(seen.shape == (1, 1, 4, 4) for seen in network.seen)  # H x W, always
    corners = [divmod(int(seen[0, 0, 0, 0]), 7) for seen in network.seen]  # the window's offset (dy, dx)
    for (dy, dx), seen in zip(corners, network.seen):
        assert torch.equal(seen, canvas[..., dy : dy + 4, dx : dx + 4])
    assert set(corners[:35]) <= {(dy, dx) for dy in range(4) for dx in range(4)} and len(set(corners[:35])) > 8
    assert corners[35:] == [(1, 1)] * 5  # the final phase: the centre crop (offset floor(3 / 2)), no jitter
    assert [x.shape[-1] for x in priors_saw] == [7] * 35 + [4] * 5  # the priors: the canvas, then the image
    assert torch.equal(module.param(), canvas[..., 1:5, 1:5]) and module.param.canvas().shape == (1, 1, 7, 7)
    image, _ = module.evaluate()
    assert torch.equal(image, canvas[..., 1:5, 1:5]) and torch.equal(network.seen[-1], image)


def test_a_smaller_jitter_crops_its_own_canvas_out_of_a_shared_one():
    canvas = torch.arange(49.0).view(1, 1, 7, 7)  # margin 3, shared with a J = 4 layer
    crop = Crop(2, margin=3)
    region = crop.region(canvas)  # (4 + 2 - 1) px, around the same centre
    assert torch.equal(region, canvas[..., 1:6, 1:6])
    assert torch.equal(crop.centre(canvas), canvas[..., 1:5, 1:5]) and torch.equal(
        centre_crop(region, 1), crop.centre(canvas)
    )
    torch.manual_seed(0)
    windows = {int(crop(region)[0, 0, 0, 0]) for _ in range(40)}
    assert windows == {8, 9, 15, 16}  # offsets 0 and 1 in each direction inside the region
    image = torch.randn(2, 3, 5, 5)
    assert torch.equal(centre_crop(pad_canvas(image, 3), 3), image) and pad_canvas(image, 3)[..., 0, :].abs().sum() == 0
    with pytest.raises(ValueError, match="margin"):
        Crop(5, margin=3)


class Track:
    """After each step: the rate it ran at (the final phase sets it at its first step) and the optimiser's state."""

    every = 1

    def __init__(self) -> None:
        self.rates, self.G, self.v = [], [], []

    def on_step(self, loop):
        optimizer = loop.module.optimizers().optimizer
        self.rates.append(optimizer.param_groups[0]["lr"])
        state = optimizer.state[loop.module.param.image]
        self.G.append(float(state["G"].flatten()[0]))
        self.v.append(float(state["v"].flatten()[0]))


@pytest.mark.parametrize("reset", [True, False])
def test_the_final_phase_runs_at_a_tenth_of_the_rate_and_starts_afresh(reset):
    # a constant gradient of 1 per pixel; 1 / (H W eta) = 1/4 at eta = 1, 1/0.4 = 2.5 at 0.1 eta
    climb = term("climb", lambda acts: acts[INPUT].sum((1, 2, 3)))
    group = Group("g", slice(0, 1), Recorder(), climb)
    make = partial(IJCV, lr=1.0, pixels=4)
    module = VisualisationModule(
        PixelImage(torch.zeros(1, 1, 2, 2)),
        [group],
        make,
        steps=6,
        final_steps=2,
        final_lr_factor=0.1,
        final_reset=reset,
    )
    track = Track()
    fit(module, 6, track)
    assert track.rates == pytest.approx([1.0] * 4 + [0.1] * 2)
    G, v = 0.0, 0.0
    for step in range(6):
        if reset and step == 4:
            G, v = 0.0, 0.0  # the authors' second call: momentum and G at 0
        G = 0.9 * G + 1.0
        v = 0.9 * v - 1.0 / (1.0 / (4 * track.rates[step]) + G**0.5)
        assert (track.G[step], track.v[step]) == pytest.approx((G, v))
    assert track.G[4] == (pytest.approx(1.0) if reset else pytest.approx(sum(0.9**i for i in range(5))))


def test_matlab_quantile_and_the_uniform_start():
    assert float(quantile(torch.arange(1.0, 11.0), 0.95)) == pytest.approx(10.0)  # (i - 0.5) / n: p_10 = 0.95
    assert float(quantile(torch.arange(1.0, 21.0), 0.95)) == pytest.approx(19.5)
    assert float(quantile(torch.arange(1.0, 5.0), 0.5)) == pytest.approx(2.5)
    torch.manual_seed(0)
    x = uniform_noise((4, 3, 23, 23), 1.39)
    torch.testing.assert_close(quantile(x.flatten(1), 0.95), torch.full((4,), 1.39 / 3**0.5))
    top = 1.39 / 3**0.5 / 0.9  # the 95% quantile of uniform [-1, 1] is 0.9
    assert x.max() <= top * 1.03 and x.min() >= -top * 1.03 and x.max() > top * 0.97
    assert abs(float(x.mean())) < 0.02
    torch.manual_seed(0)
    torch.testing.assert_close(initial_image("noise", (4, 3, 23, 23), 1.39, noise="uniform"), x)


@pytest.mark.parametrize(
    ("steps", "final_steps", "full", "final"),
    [(350, 50, 350, 50), (1000, 50, 350, 50), (20, 50, 350, 3), (100, 50, 350, 14), (8, 2, 350, 1), (1, 50, 350, 0)]
    + [(512, 0, 512, 0), (30, 0, 512, 0)],
)
def test_a_short_run_keeps_the_final_phases_share(steps, final_steps, full, final):
    optimiser = Optimiser(optim=partial(torch.optim.SGD, lr=0.1), final_steps=final_steps)
    assert optimiser.final_phase(steps, full) == final

"""optimizer=ijcv: Mahendran & Vedaldi's update rule, against a hand computation."""

import copy
import math

import pytest
import torch

from convis.optimisers import IJCV


def step(optimizer: IJCV, p: torch.Tensor, grad: list[float]) -> None:
    p.grad = torch.tensor(grad, dtype=p.dtype).view_as(p)
    optimizer.step()


def test_two_steps_match_the_hand_computation_per_channel():
    # two channels of one pixel, 2 and 4 0-255 units per parameter unit; 1 / (H W eta) = 1 / (4 * 0.5) = 0.5
    p = torch.tensor([1.0, -1.0], dtype=torch.float64).view(1, 2, 1, 1).requires_grad_()
    optimizer = IJCV([p], lr=0.5, pixels=4, scale=[2.0, 4.0])

    step(optimizer, p, [2.0, 4.0])  # g = dE/du = [1, 1]
    # G = [1, 1]; v = -1 / (0.5 + 1) = -2/3 (in 0-255 units); p moves by v / scale
    state = optimizer.state[p]
    torch.testing.assert_close(state["G"].flatten(), torch.tensor([1.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(state["v"].flatten(), torch.tensor([-2 / 3, -2 / 3], dtype=torch.float64))
    torch.testing.assert_close(p.detach().flatten(), torch.tensor([1 - 1 / 3, -1 - 1 / 6], dtype=torch.float64))

    step(optimizer, p, [4.0, -4.0])  # g = [2, -1]
    G = [0.9 + 4.0, 0.9 + 1.0]
    v = [0.9 * -2 / 3 - 2 / (0.5 + math.sqrt(G[0])), 0.9 * -2 / 3 + 1 / (0.5 + math.sqrt(G[1]))]
    u = [1 - 1 / 3 + v[0] / 2, -1 - 1 / 6 + v[1] / 4]
    torch.testing.assert_close(state["G"].flatten(), torch.tensor(G, dtype=torch.float64))
    torch.testing.assert_close(state["v"].flatten(), torch.tensor(v, dtype=torch.float64))
    torch.testing.assert_close(p.detach().flatten(), torch.tensor(u, dtype=torch.float64))


def test_the_step_does_not_depend_on_the_gradients_scale():
    """H W eta is large: the step is ~g / sqrt(G), about one 0-255 unit per pixel on the first step."""
    steps = []
    for factor in (1e3, 1e6):
        p = torch.zeros(1, 3, 8, 8, requires_grad=True)
        optimizer = IJCV([p], lr=53.3, scale=57.6)
        torch.manual_seed(0)
        step(optimizer, p, (torch.randn(3 * 64) * factor).tolist())
        steps.append(p.detach() * 57.6)
    # a thousand times the gradient, the same step: 1 / (H W eta) = 3e-4 is small against |g| > 0.01
    torch.testing.assert_close(steps[0], steps[1], rtol=0.05, atol=0.05)
    assert steps[1].abs().mean() == pytest.approx(1.0, abs=1e-3)


def test_pixels_default_to_the_parameters_size_and_bad_settings_fail():
    p = torch.zeros(1, 1, 2, 2, requires_grad=True)
    optimizer = IJCV([p], lr=1.0)  # 1 / (H W eta) = 0.25
    step(optimizer, p, [1.0, 1.0, 1.0, 1.0])
    torch.testing.assert_close(p.detach(), torch.full((1, 1, 2, 2), -1 / 1.25))
    for bad in ({"lr": 0}, {"momentum": 1.0}, {"scale": [1.0, 0.0]}, {"pixels": 0}):
        with pytest.raises(ValueError):
            IJCV([p], **bad)


def test_state_round_trips_through_a_state_dict():
    p = torch.ones(1, 3, 2, 2, requires_grad=True)
    optimizer = IJCV([p], lr=2.0, scale=[1.0, 2.0, 3.0])
    step(optimizer, p, [0.5] * 12)
    again = IJCV([q := p.detach().clone().requires_grad_()], lr=2.0, scale=[1.0, 2.0, 3.0])
    again.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # as a checkpoint on disk holds it
    step(optimizer, p, [-0.25] * 12)
    step(again, q, [-0.25] * 12)
    assert torch.equal(p, q) and torch.equal(optimizer.state[p]["G"], again.state[q]["G"])

"""Lucid's robustness transforms: what they keep, identity settings, and that gradients pass."""

import torch

from convis.priors.transforms import Jitter, Pad, RandomRotation, RandomScale


def test_pad_adds_the_mean_image_around_the_picture():
    x = torch.randn(2, 3, 10, 10)
    padded = Pad(3)(x)
    assert padded.shape == (2, 3, 16, 16)
    assert torch.equal(padded[..., 3:13, 3:13], x)
    assert padded[..., :3, :].abs().sum() == 0
    torch.testing.assert_close(Pad(2, mode="reflect")(x)[..., 0, 2:12], x[..., 2, :])  # row 0 mirrors row 2


def test_scale_and_rotation_keep_the_shape_and_are_identities_at_1_and_0():
    x = torch.randn(2, 3, 20, 20)
    for transform in (RandomScale(0.9, 1.1), RandomRotation(10), Jitter(3)):
        assert transform(x).shape == x.shape
    torch.testing.assert_close(RandomScale(1.0, 1.0)(x), x)
    torch.testing.assert_close(RandomRotation(0)(x), x)


def test_rotation_and_zoom_move_content_by_the_drawn_amount():
    x = torch.zeros(1, 1, 21, 21)
    x[..., 10, 13] = 1.0  # a dot 3 px right of the centre
    torch.manual_seed(1)
    angle = torch.deg2rad(torch.empty(()).uniform_(-90, 90))  # 46 degrees
    torch.manual_seed(1)
    y, xx = divmod(int(RandomRotation(90)(x).argmax()), 21)
    assert abs(((y - 10) ** 2 + (xx - 10) ** 2) ** 0.5 - 3) <= 1  # still 3 px from the centre
    assert abs(torch.atan2(torch.tensor(10.0 - y), torch.tensor(xx - 10.0)) - angle) < 0.35  # counter-clockwise
    assert divmod(int(RandomScale(2.0, 2.0)(x).argmax()), 21) == (10, 16)  # twice as far from the centre


def test_gradients_flow_through_every_transform():
    x = torch.randn(1, 3, 16, 16, requires_grad=True)
    out = x
    for transform in (Pad(4), Jitter(2), RandomScale(), RandomRotation(), Jitter(1)):
        out = transform(out)
    out.square().sum().backward()
    assert x.grad.abs().sum() > 0

"""The prior presets chosen from config: what each does to the image, and which defaults the objectives pick."""

import pytest
import torch
from hydra.utils import instantiate

from convis.objectives import INPUT
from convis.priors import Prior
from convis.priors.transforms import Jitter, Pad, RandomRotation, RandomScale


def prior_of(cfg_factory, *overrides: str) -> Prior:
    return instantiate(cfg_factory(*overrides).prior)


@pytest.mark.parametrize("objective", ["class_score", "activation"])
def test_class_and_activation_default_to_olah_fourier_and_adam(cfg_factory, objective):
    cfg = cfg_factory(f"objective={objective}", "steps=${objective.steps}")
    assert cfg.param._target_ == "convis.params.fft.Fourier"
    assert cfg.optimizer.optim._target_ == "torch.optim.Adam" and cfg.optimizer.optim.lr == 0.05
    assert cfg.optimizer.final_steps == 0 and cfg.steps == 512
    assert [t._target_.rsplit(".", 1)[1] for t in cfg.prior.transforms] == [
        "Pad",
        "Jitter",
        "RandomScale",
        "RandomRotation",
        "Jitter",
    ]


def test_the_command_line_wins_over_the_objective_defaults(cfg_factory):
    plain = cfg_factory("objective=class_score", "prior=simonyan")
    assert plain.prior.penalties[0]._target_ == "convis.priors.penalties.l2"
    assert plain.param._target_ == "convis.params.pixel.Pixel"  # param=fft came with olah, not with class_score
    assert cfg_factory("objective=class_score", "param=pixel").param._target_ == "convis.params.pixel.Pixel"
    assert cfg_factory("objective=activation", "optimizer=ijcv").optimizer.optim._target_ == "convis.optimisers.IJCV"
    assert cfg_factory("prior=olah").param._target_ == "convis.params.fft.Fourier"  # olah brings its parameterisation
    inversion = cfg_factory()
    assert inversion.param._target_ == "convis.params.pixel.Pixel" and inversion.optimizer.optim.leak == 0.9


def test_simonyan_is_the_l2_penalty_alone(cfg_factory):
    prior = prior_of(cfg_factory, "prior=simonyan")
    assert not prior.constraints and not prior.transforms
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(prior.penalty({INPUT: x}), 1e-4 * x.square().sum((1, 2, 3)))


def test_yosinski_decays_every_step_and_blurs_every_fourth(cfg_factory):
    prior = prior_of(cfg_factory, "prior=yosinski")
    assert not prior.penalty and not prior.transforms
    torch.manual_seed(0)
    x = torch.randn(1, 3, 16, 16, requires_grad=True)
    x.sum().backward()  # the contribution clip reads the gradient (off in this preset)
    with torch.no_grad():
        image = x.detach().clone()
        image.grad = x.grad
        for constraint in prior.constraints:
            constraint(image, 1)
        torch.testing.assert_close(image, x * (1 - 1e-4))  # step 1: decay only, no pixel zeroed
        before = image.clone()
        for constraint in prior.constraints:
            constraint(image, 4)
    assert (image - before * (1 - 1e-4)).abs().max() > 0.1  # step 4: blurred
    assert image.diff(dim=-1).square().mean() < 0.3 * before.diff(dim=-1).square().mean()


def test_olah_pads_then_jitters_scales_rotates(cfg_factory):
    prior = prior_of(cfg_factory, "prior=olah")
    assert not prior.penalty and not prior.constraints
    (chain,) = prior.transforms
    assert [type(t) for t in chain.transforms] == [Pad, Jitter, RandomScale, RandomRotation, Jitter]
    x = torch.randn(1, 3, 32, 32)
    for transform in chain.transforms:
        x = transform(x)
    assert x.shape == (1, 3, 56, 56)  # 12 px of padding each side, everything else keeps the shape
    assert chain(x[..., 12:44, 12:44]).shape == (1, 3, 32, 32)  # the network sees the centre 32 x 32


def test_mahendran_bound_holds(cfg_factory):
    prior = prior_of(cfg_factory, "prior=mahendran")
    x = torch.randn(2, 3, 8, 8) * 10
    for constraint in prior.constraints:
        constraint(x, 0)
    assert x.norm(dim=1).max() <= 2.78 + 1e-5

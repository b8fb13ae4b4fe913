"""Inversion with the authors' procedure (optimizer=ijcv, the default) and convis's former one (optimizer=rmsprop)."""

import pytest
import torch

from convis import experiments
from convis.modules.visualisation import VisualisationModule
from convis.optimisers import IJCV
from convis.priors.transforms import Crop, Jitter
from convis.runtime.errors import ConvisError


def spy(monkeypatch) -> dict:
    """Keeps the module a run builds."""
    seen, original_init = {}, VisualisationModule.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        seen["module"] = self

    monkeypatch.setattr(VisualisationModule, "__init__", init)
    return seen


def test_ijcv_is_the_default_and_rmsprop_keeps_the_former_setting(cfg_factory):
    ijcv = cfg_factory()
    assert ijcv.optimizer.optim._target_ == "convis.optimisers.IJCV" and ijcv.optimizer.optim.lr == 53.3
    assert (ijcv.optimizer.jitter, ijcv.optimizer.noise, ijcv.optimizer.final_reset) == ("crop", "uniform", True)
    assert (ijcv.optimizer.final_steps, ijcv.optimizer.final_lr_factor) == (50, 0.1)
    rmsprop = cfg_factory("optimizer=rmsprop").optimizer
    assert rmsprop.optim._target_ == "torch.optim.RMSprop"
    assert (rmsprop.optim.lr, rmsprop.optim.alpha, rmsprop.optim.momentum) == (0.01, 0.9, 0.9)
    assert (rmsprop.jitter, rmsprop.noise, rmsprop.final_reset) == ("roll", "gaussian", False)
    adam = cfg_factory("optimizer=adam").optimizer
    assert (adam.optim._target_, adam.jitter, adam.noise) == ("torch.optim.Adam", "roll", "gaussian")


def test_inversion_defaults_are_the_papers_constants(cfg_factory):
    # in 0-255 units C = 100, alpha = 6, beta = 2, B = 80, V = B / 6.5, B+ = 160; convis divides by 57.6, to 2-3 digits
    cfg = cfg_factory()
    assert cfg.objective.name == "inversion" and cfg.objective.feature_weight == 100.0
    assert cfg.objective.jitter == "auto" and cfg.objective.steps == 350
    assert cfg.objective.init_scale == pytest.approx(80 / 57.6, abs=5e-3)
    alpha, tv = cfg.prior.penalties
    assert alpha._target_.endswith("alpha_norm") and (alpha.alpha, alpha.weight) == (6.0, 1.0)
    assert alpha.bound == pytest.approx(80 / 57.6, abs=5e-3)
    assert tv._target_.endswith("total_variation") and (tv.beta, tv.weight) == (2.0, 1.0)
    assert tv.scale == pytest.approx(80 / 57.6 / 6.5, abs=5e-3)
    (bound,) = cfg.prior.constraints
    assert bound.bound == pytest.approx(160 / 57.6, abs=5e-3)


def test_ijcv_keeps_a_canvas_for_the_largest_jitter_and_steps_in_pixel_units(cfg_factory, monkeypatch):
    seen = spy(monkeypatch)
    # at 32 px: block1_conv1 has stride 1 (J = 1), block4_conv1 stride 8 (J = 2): one canvas 1 px larger
    metrics = experiments.run(cfg_factory("layer=[block1_conv1,block4_conv1]", "steps=4")).metrics
    module = seen["module"]
    assert module.param.canvas().shape == (2, 3, 33, 33) and module.param().shape == (2, 3, 32, 32)
    assert [(type(g.crop), g.crop.pixels) for g in module.groups] == [(Crop, 1), (Crop, 2)]
    assert not any(isinstance(t, Jitter) for g in module.groups for t in g.transforms)
    optimizer = module.optimizers().optimizer
    assert isinstance(optimizer, IJCV) and optimizer.param_groups[0]["pixels"] == 32 * 32
    torch.testing.assert_close(optimizer.param_groups[0]["scale"], [255 * s for s in (0.229, 0.224, 0.225)])
    assert (module.final_steps, module.final_reset) == (1, True)  # 4 steps keep the share 50/350: one final step
    assert len(metrics["results"]) == 2


def test_rmsprop_rolls_the_image_and_starts_from_gaussian_noise(cfg_factory, monkeypatch):
    seen = spy(monkeypatch)
    start = {}
    original = experiments.inversion.initial_image

    def initial(*args, **kwargs):
        start["image"] = original(*args, **kwargs)
        return start["image"]

    monkeypatch.setattr(experiments.inversion, "initial_image", initial)
    experiments.run(cfg_factory("optimizer=rmsprop", "layer=block4_conv1", "steps=2"))
    module = seen["module"]
    assert module.margin == 0 and module.param.canvas().shape == (1, 3, 32, 32)
    assert module.groups[0].crop is None and isinstance(module.groups[0].transforms[-1], Jitter)
    assert module.groups[0].transforms[-1].pixels == 2
    assert isinstance(module.optimizers().optimizer, torch.optim.RMSprop) and not module.final_reset
    norms = start["image"].norm(dim=1)
    assert abs(float(norms.square().mean().sqrt()) - 1.39) < 0.05  # Gaussian: root-mean-square pixel norm B


def test_ijcv_starts_from_the_authors_uniform_noise(cfg_factory, monkeypatch):
    seen = spy(monkeypatch)
    experiments.run(cfg_factory("layer=block5_conv1", "steps=1"))  # stride 16: J = 4, a canvas 3 px larger
    module = seen["module"]
    assert module.param.canvas().shape == (1, 3, 35, 35)
    # one step moves each value by ~1/57.6 at most: the start's range, [-1, 1] / q95 * 1.39 / sqrt 3, shows through
    start = module.param.canvas().detach()
    assert 0.85 < float(start.abs().max()) < 0.95 + 0.1


def test_ijcv_needs_pixels(cfg_factory):
    with pytest.raises(ConvisError, match="optimizer=ijcv steps pixels in 0-255 units.*use param=pixel"):
        experiments.run(cfg_factory("objective=activation", "layer=block1_conv1", "optimizer=ijcv"))

"""Inversion end to end on random-init VGG16: the paper's error, the outputs, a frozen network."""

import json

import pytest
import torch

from convis import experiments
from convis.backbones import backbone as backbone_module
from convis.modules.visualisation import VisualisationModule
from convis.runtime.errors import ConvisError


def run(cfg):
    return experiments.run(cfg).metrics


def test_started_at_the_original_without_priors_the_error_is_zero(cfg_factory):
    cfg = cfg_factory("objective.init=original", "prior=none", "objective.jitter=0", "layer=block3_conv1", "steps=5")
    (result,) = run(cfg)["results"]
    assert result["normalized_error"] < 1e-6
    assert result["psnr"] > 60


def test_outputs_follow_the_contract(cfg_factory, tmp_path):
    metrics = run(cfg_factory("layer=[block1_conv1,block2_conv2]", "dataset.names=[chelsea,coffee]"))
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == metrics
    assert on_disk["objective"] == "inversion" and on_disk["backbone"] == "vgg16"
    keys = {(r["image"], r["layer"]) for r in on_disk["results"]}
    assert keys == {(i, layer) for i in ("chelsea", "coffee") for layer in ("block1_conv1", "block2_conv2")}
    for result in on_disk["results"]:
        assert {"normalized_error", "psnr", "ssim"} <= set(result)
        assert (tmp_path / result["png"]).stat().st_size > 100
    assert (tmp_path / "images" / "chelsea_original.png").exists()


class Watch:
    """Checks after every step that the pixel bound holds and no weight has a gradient."""

    every = 1

    def __init__(self, bound):
        self.bound, self.steps = bound, 0

    def on_step(self, loop):
        self.steps += 1
        module = loop.module
        assert module.param().norm(dim=1).max().item() <= self.bound + 1e-5
        assert all(p.grad is None and not p.requires_grad for e in module.extractors for p in e.parameters())


def test_bound_holds_after_every_step_and_weights_never_change(cfg_factory, monkeypatch):
    bound = 0.5  # far below the noise's pixel norms, so the bound is active
    cfg = cfg_factory("layer=block2_conv1", "steps=6", f"prior.constraints.0.bound={bound}")
    watch = Watch(bound)
    original_init = VisualisationModule.__init__
    seen = {}

    def spy(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        seen["state"] = {k: v.clone() for k, v in self.extractors.state_dict().items()}
        seen["module"] = self

    monkeypatch.setattr(VisualisationModule, "__init__", spy)
    monkeypatch.setattr("convis.experiments.visualise.ImageLogger", lambda *a: watch)
    run(cfg)
    assert watch.steps == 6
    after = seen["module"].extractors.state_dict()
    assert all(torch.equal(after[k], v) for k, v in seen["state"].items())
    assert [n for n, p in seen["module"].named_parameters() if p.requires_grad] == ["param.image"]


def test_run_builds_the_backbone_once_for_several_layers(cfg_factory, monkeypatch):
    calls = []
    build = backbone_module.build_backbone
    monkeypatch.setattr(backbone_module, "build_backbone", lambda *a, **k: calls.append(1) or build(*a, **k))
    cfg = cfg_factory("layer=[block1_conv1,block3_conv1]")
    cfg.backbone._target_ = "convis.backbones.backbone.build_backbone"
    assert len(run(cfg)["results"]) == 2 and len(calls) == 1


def test_unknown_layer_fails_before_optimising(cfg_factory, tmp_path):
    with pytest.raises(ConvisError, match="unknown layer 'block9_conv1'"):
        run(cfg_factory("layer=block9_conv1"))
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("override", ["steps=0", "steps=-3", "image_size=0"])
def test_non_positive_sizes_fail(cfg_factory, override):
    key = override.split("=")[0]
    with pytest.raises(ConvisError, match=f"{key}=.* must be a positive"):
        run(cfg_factory(override))


@pytest.mark.slow
def test_early_layers_keep_the_picture_deep_layers_keep_less(cfg_factory):
    """Random-init VGG16, 64 px, the default preset: the paper's depth trend, measured."""
    cfg = cfg_factory("image_size=64", "steps=300", "layer=[block1_conv2,block4_conv1,block5_conv3]")
    results = {r["layer"]: r for r in run(cfg)["results"]}
    assert results["block1_conv2"]["normalized_error"] < 0.1
    assert results["block1_conv2"]["psnr"] > 30
    assert results["block4_conv1"]["psnr"] < results["block1_conv2"]["psnr"] - 6
    assert results["block5_conv3"]["psnr"] < results["block1_conv2"]["psnr"] - 6

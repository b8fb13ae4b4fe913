"""The speed switches reach the network a run optimises through: backbone.compile and bf16-mixed autocast."""

import pytest
import torch
from torch import nn

from convis.backbones.extractor import FeatureExtractor
from convis.experiments import run


def test_backbone_compile_true_compiles_the_cut_network(cfg_factory, monkeypatch):
    compiled = []

    def spy(module, *args, **kwargs):
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", spy)
    run(cfg_factory("layer=block1_conv1", "steps=1", "backbone.compile=true"))
    assert compiled, "backbone.compile=true never reached torch.compile"
    for module in compiled:  # VGG16 cut after block1_conv1 (post-ReLU): one conv, no classifier
        kinds = [type(m) for m in module.modules()]
        assert kinds.count(nn.Conv2d) == 1 and nn.ReLU in kinds and nn.Linear not in kinds


@pytest.fixture
def conv_dtypes(monkeypatch) -> list[tuple[torch.dtype, bool]]:
    """(output dtype, grad enabled) of every call of the first conv of each extractor a run builds."""
    seen = []
    init = FeatureExtractor.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        conv = next(m for m in self.net.modules() if isinstance(m, nn.Conv2d))
        conv.register_forward_hook(lambda _m, _i, out: seen.append((out.dtype, torch.is_grad_enabled())))

    monkeypatch.setattr(FeatureExtractor, "__init__", spy)
    return seen


def test_bf16_mixed_runs_the_frozen_network_in_bfloat16(cfg_factory, conv_dtypes):
    run(cfg_factory("layer=block1_conv1", "steps=2", "trainer.precision=bf16-mixed"))
    in_steps = [out for out, grad in conv_dtypes if grad]  # the optimisation steps (the target is computed once)
    assert len(in_steps) >= 2 and set(in_steps) == {torch.bfloat16}

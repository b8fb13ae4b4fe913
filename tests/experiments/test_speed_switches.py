"""The speed switches: backbone.compile (torch.compile) and trainer.precision=bf16-mixed (autocast)."""

from dataclasses import replace

import pytest
import torch

from convis.backbones import build_backbone, custom_backbone
from convis.experiments import run
from convis.experiments.setup import configured_backbone
from convis.runtime.errors import ConvisError
from convis.validation import validate


@pytest.fixture(scope="module")
def vgg():
    return build_backbone("vgg16", weights=None, seed=0)


def test_backbone_compile_reaches_the_backbone(cfg_factory):
    assert configured_backbone(cfg_factory()).compile is False
    assert configured_backbone(cfg_factory("backbone.compile=true")).compile is True


def test_a_compiled_extractor_leaves_the_shared_network_as_it_was():
    skip = custom_backbone({"_target_": "tests.backbones.tiny_nets.SkipNet"}, output="logits")
    whole = replace(skip, compile=True).extractor(["conv2"])  # not a chain: it runs the backbone's own network
    assert whole.net is skip.net and skip.net._compiled_call_impl is None


def test_backbone_compile_must_be_true_or_false(cfg_factory):
    with pytest.raises(ConvisError, match=r"backbone.compile='yes' must be true or false, e.g. backbone.compile=true"):
        validate(cfg_factory("backbone.compile=yes"))


def test_compiled_extractor_gives_the_same_activations_and_input_gradients(vgg):
    x = torch.randn(2, 3, 32, 32)
    outputs = []
    for backbone in (vgg, replace(vgg, compile=True)):
        image = x.clone().requires_grad_()
        acts = backbone.extractor(["block1_conv2", "block2_conv1"])(image)
        (acts["block1_conv2"].square().mean() + acts["block2_conv1"].mean()).backward()
        outputs.append((acts["block2_conv1"].detach(), image.grad))
    (eager_act, eager_grad), (compiled_act, compiled_grad) = outputs
    torch.testing.assert_close(compiled_act, eager_act, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled_grad, eager_grad, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_inverts_about_as_well_as_float32(cfg_factory):
    """The same inversion in both precisions: under bf16 autocast the error is within 0.02 of float32's."""

    def error(*overrides: str) -> float:
        return run(cfg_factory("layer=block1_conv2", "prior=none", *overrides)).metrics["results"][0][
            "normalized_error"
        ]

    start, exact, fast = error("steps=1"), error("steps=60"), error("steps=60", "trainer.precision=bf16-mixed")
    assert fast < 0.5 * start and abs(fast - exact) < 0.02

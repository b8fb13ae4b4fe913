"""convis.render from notebook objects: a user's own objective composed with a built-in one gives the image the
command line's objective.terms give, and every object checks its arguments before any step."""

import json
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

import convis
from convis.objectives import channel, objective
from convis.optimisers import Optimiser
from convis.params import Fourier, Maco, Pixel
from convis.priors import Jitter, Prior
from convis.runtime.errors import ConvisError
from convis.runtime.history import read_history
from tests.backbones.tiny_nets import TinyNet

TERMS = "objective.terms=[{layer: conv2, channel: 1, weight: 1.0}, {layer: conv2, channel: 3, weight: -0.5}]"
SMALL = dict(steps=6, image_size=32)


@objective("conv2")
def warm(acts):
    """The same number as channel("conv2", 1): minus the channel's mean, per image."""
    return -acts["conv2"][:, 1].flatten(1).mean(1)


@pytest.fixture(scope="module")
def net_file(tmp_path_factory):
    torch.manual_seed(0)
    net = TinyNet(classes=4).eval()
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    torch.save(net.state_dict(), path)
    return net, path


@pytest.mark.parametrize("param", ["maco", "fft"])
def test_a_notebook_objective_gives_the_image_of_the_same_terms_from_the_command_line(net_file, param):
    net, path = net_file
    given = convis.render(net, warm - 0.5 * channel("conv2", 3), param=param, **SMALL).tensors["images"]
    line = [
        "objective=activation",
        "backbone=custom",
        "backbone.model._target_=tests.backbones.tiny_nets.TinyNet",
        "+backbone.model.classes=4",
        f"backbone.weights={path}",
        TERMS,
        f"param={param}",  # prior=olah, objective=activation's default (param=fft on its own)
        "steps=6",
        "image_size=32",
    ]
    assert torch.equal(convis.run(line).tensors["images"], given)
    shifted = convis.render(net, warm - 0.4 * channel("conv2", 3), param=param, **SMALL).tensors["images"]
    assert not torch.equal(shifted, given)


def test_objects_and_option_names_build_the_same_render(net_file):
    net, _ = net_file
    by_name = convis.render(net, warm, param="pixel", prior="none", optimizer="adam", **SMALL)
    adam = Optimiser(partial(torch.optim.Adam, lr=0.05), final_steps=50)
    by_object = convis.render(net, warm, param=Pixel(), prior=Prior(), optimizer=adam, **SMALL)
    assert torch.equal(by_name.tensors["images"], by_object.tensors["images"])
    assert by_object.output_dir is None and by_object.images[0].size == (32, 32)
    assert by_object.metrics["results"][0]["warm"] == pytest.approx(by_object.metrics["results"][0]["loss"])


def test_render_writes_its_result_with_output_dir(net_file, tmp_path):
    net, _ = net_file
    result = convis.render(net, warm, param="pixel", prior="none", output_dir=tmp_path / "run", **SMALL)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == result.metrics
    with Image.open(tmp_path / "run" / result.metrics["results"][0]["png"]) as png:
        assert np.array_equal(np.asarray(png), np.asarray(result.images[0]))  # the PNG is the image in memory
    (last,) = read_history(tmp_path / "run" / "history.csv")  # one logging step: the last of 6, before its update
    assert last["step"] == "6" and set(last) == {"step", "1*warm/warm", "1*warm/loss", "loss"}
    with pytest.raises(ConvisError, match=r"holds a finished run's results \(metrics.json\)"):
        convis.render(net, warm, output_dir=tmp_path / "run", **SMALL)  # a second run would replace the first's


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: objective()(lambda acts: acts), r"name the layers the function reads"),
        (lambda: Fourier(decay_power=-1), r"param.decay_power=-1 must be a number, 0 or more"),
        (lambda: Maco(phase_std=0), r"param.phase_std=0 must be a positive number"),
        (lambda: Maco(spectrum="nowhere.npy"), r"param.spectrum=nowhere.npy is not a file"),
        (lambda: Optimiser(torch.optim.Adam, jitter="wobble"), r"optimizer.jitter='wobble' is unknown: .*crop, roll"),
        (lambda: Optimiser(torch.optim.Adam, final_steps=-1), r"optimizer.final_steps=-1 must be a whole number"),
        (lambda: Prior(transforms=[3]), r"prior transforms entry 3 is not a function of the image"),
        (lambda: Prior(penalties=[Jitter(2)]), r"prior penalties entry .* is not an Objective"),
    ],
)
def test_each_object_checks_its_arguments_when_built(build, message):
    with pytest.raises(ConvisError, match=message):
        build()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            dict(param="fft", prior="mahendran"),
            r"param=fft cannot apply the prior's pixel constraints \(PixelNormBound\)",
        ),
        (
            dict(param="maco", optimizer="ijcv", prior="none"),
            r"optimizer=ijcv steps pixels .* param=maco has no pixels",
        ),
        (dict(param="wavelet"), r"unknown param=wavelet: choose one of fft, maco, pixel"),
    ],
)
def test_parts_that_cannot_work_together_fail_before_any_step(net_file, options, message, monkeypatch):
    net, _ = net_file
    monkeypatch.setattr("convis.rendering.optimise", lambda *a, **k: pytest.fail("optimised"))
    with pytest.raises(ConvisError, match=message):
        convis.render(net, warm, **options, **SMALL)


def test_render_refuses_what_is_not_an_objective_and_an_unknown_layer(net_file):
    net, _ = net_file
    with pytest.raises(ConvisError, match=r"is not an Objective: build one with convis.objectives"):
        convis.render(net, lambda acts: acts, **SMALL)
    with pytest.raises(ConvisError, match=r"conv9"):
        convis.render(net, channel("conv9", 0), **SMALL)

"""Each saliency method checks its own options as it is built: unknown ones and bad values are one line."""

import pytest

import convis
from convis.config import options
from convis.runtime.errors import ConvisError

METHODS = options("method")
TINY = ["experiment=own_network", "objective=saliency", "image_size=32", "dataset.names=[chelsea]"]
TAKES = {
    "gradient": "none",
    "smoothgrad": "samples, noise_level, samples_per_pass",
    "integrated_gradients": "steps, samples_per_pass",
    "gradcam": "layer",
    "scorecam": "layer, batch_size",
}
BAD_VALUES = [
    ("smoothgrad", "samples", 0, "a positive whole number", "50"),
    ("smoothgrad", "noise_level", -0.1, "a positive number", "0.15"),
    ("smoothgrad", "samples_per_pass", 0, "a positive whole number", "10"),
    ("integrated_gradients", "steps", 2.5, "a positive whole number", "50"),
    ("integrated_gradients", "samples_per_pass", -1, "a positive whole number", "10"),
]


@pytest.mark.parametrize("name", METHODS)
def test_every_method_refuses_an_option_it_does_not_take(method, tiny_net, name):
    with pytest.raises(ConvisError, match=rf"^method.bogus=1 is not an option of method={name}: it takes ") as caught:
        method(name, tiny_net(), bogus=1)
    if name in TAKES:
        assert str(caught.value).endswith(f"it takes {TAKES[name]}")


def test_a_layer_for_a_method_without_one_is_one_line_from_the_command_line():
    with pytest.raises(ConvisError) as caught:
        convis.run([*TINY, "method=gradient", "+method.layer=conv1"])
    assert str(caught.value) == "method.layer=conv1 is not an option of method=gradient: it takes none"


@pytest.mark.parametrize(("name", "key", "value", "wants", "example"), BAD_VALUES)
def test_a_bad_value_is_refused_by_the_method_itself(method, tiny_net, name, key, value, wants, example):
    expected = f"method.{key}={value!r} must be {wants}, e.g. method.{key}={example}"
    with pytest.raises(ConvisError) as caught:
        method(name, tiny_net(), **{key: value})
    assert str(caught.value) == expected


@pytest.mark.parametrize(("name", "key", "value", "wants", "example"), BAD_VALUES[:2])
def test_a_bad_value_is_one_line_naming_it_from_the_command_line(name, key, value, wants, example):
    with pytest.raises(ConvisError) as caught:
        convis.run([*TINY, f"method={name}", f"method.{key}={value}"])
    assert str(caught.value) == f"method.{key}={value!r} must be {wants}, e.g. method.{key}={example}"


def test_no_samples_per_pass_is_all_at_once(method, tiny_net):
    method("smoothgrad", tiny_net(), samples_per_pass=None)
    method("integrated_gradients", tiny_net(), samples_per_pass=None)

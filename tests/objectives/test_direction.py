"""The direction objective against cosines computed by hand; class_mean directions; the objective=direction run."""

import json
import re

import numpy as np
import pytest
import torch

from convis import experiments
from convis.experiments.direction import class_mean
from convis.objectives.directions import direction
from convis.runtime.errors import ConvisError, user_error

TINY = ["experiment=own_network", "objective=direction", "layer=relu2"]


def by_hand(acts: torch.Tensor, v: torch.Tensor, power: float | None) -> torch.Tensor:
    """Per image: the mean over positions of cos(a, v), or of (a . v) * max(cos, 0.1)^power, with Lucid's eps."""
    values = []
    for image in acts:
        found = []
        for y in range(image.shape[1]):
            for x in range(image.shape[2]):
                a = image[:, y, x]
                dot = float((a * v).sum())
                cos = dot / (float(a.norm()) + 1e-4) / (float(v.norm()) + 1e-4)
                found.append(cos if power is None else dot * max(cos, 0.1) ** power)
        values.append(sum(found) / len(found))
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize("power", [None, 0.0, 2.0])
def test_the_term_is_minus_the_mean_cosine_or_lucids_dot_cossim(power):
    torch.manual_seed(0)
    acts, v = torch.randn(2, 4, 3, 5), torch.randn(4)
    loss = direction("l", v, power)({"l": acts})
    torch.testing.assert_close(loss.double(), -by_hand(acts, v, power), rtol=1e-5, atol=1e-6)


def test_a_vector_layer_is_one_position_and_the_cosine_ignores_scale():
    acts = torch.tensor([[1.0, 0.0], [3.0, 3.0], [-2.0, 0.0]])
    loss = direction("fc", torch.tensor([2.0, 0.0]))({"fc": acts})
    torch.testing.assert_close(loss, -torch.tensor([1.0, 2**-0.5, -1.0]), atol=3e-4, rtol=0)  # eps 1e-4 per norm


def test_class_mean_averages_the_class_images_channel_means():
    torch.manual_seed(0)
    images = torch.rand(6, 3, 4, 4)
    items = [{"image": image} for image in images]
    labelled = {"labels": [0, 1, 0, 1, 1, 0], "classes": ["disc", "square"], "__getitem__": lambda s, i: items[i]}
    dataset = type("Data", (), labelled)()
    extractor = lambda x: {"l": x * 2}  # noqa: E731
    expected = (images[[1, 3]] * 2).mean((2, 3)).mean(0)  # the first two squares
    torch.testing.assert_close(class_mean(dataset, "square", extractor, "l", count=2), expected)
    with pytest.raises(ConvisError, match=r"unknown class_mean class=star.*disc, square"):
        class_mean(dataset, "star", extractor, "l", count=2)
    unlabelled = type("Data", (), {"labels": None, "classes": []})()
    with pytest.raises(ConvisError, match=r"needs a labelled dataset: dataset=shapes"):
        class_mean(unlabelled, "square", extractor, "l", count=2)


def test_a_direction_file_is_visualised_and_its_cosine_reported(cfg_factory, tmp_path):
    np.save(tmp_path / "v.npy", np.arange(1, 9, dtype=np.float32))  # TinyNet's relu2 has 8 channels
    cfg = cfg_factory(*TINY, f"objective.direction={tmp_path / 'v.npy'}", "steps=4")
    (result,) = experiments.run(cfg).metrics["results"]
    assert json.loads((tmp_path / "metrics.json").read_text())["results"] == [result]
    assert result["layer"] == "relu2" and result["png"] == "images/relu2_direction.png"
    assert -1 <= result["cosine"] <= 1 and (tmp_path / result["png"]).is_file()


def test_a_direction_of_the_wrong_length_is_one_line_naming_both_sizes(cfg_factory, tmp_path):
    np.save(tmp_path / "v.npy", np.ones(5, dtype=np.float32))
    with pytest.raises(Exception) as caught:
        experiments.run(cfg_factory(*TINY, f"objective.direction={tmp_path / 'v.npy'}"))
    message = str(user_error(caught.value))
    assert "has 5 values and relu2 has 8 channels" in message and "\n" not in message


def test_each_image_can_have_its_own_direction():
    torch.manual_seed(0)
    acts, vectors = torch.randn(3, 4, 2, 2), torch.randn(3, 4)
    loss = direction("l", vectors)({"l": acts})
    expected = torch.cat([direction("l", v)({"l": a[None]}) for a, v in zip(acts, vectors)])
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("objective.direction=null", "objective.direction=None: give a .npy file of one value per channel, or"),
        ("objective.cossim_pow=-1", "objective.cossim_pow=-1 must be null or a number, 0 or more"),
        ("objective.class_images=0", "objective.class_images=0 must be a positive whole number"),
    ],
)
def test_bad_options_fail_before_any_work_in_one_line(cfg_factory, override, expected):
    with pytest.raises(ConvisError, match=expected):
        experiments.experiment(cfg_factory(*TINY, override)).check()


BAD_VECTORS = {
    "text": (np.array(["a", "b", "c"]), r"holds <U1 values, not real numbers: give a .npy vector of finite real"),
    "complex": (np.arange(8) + 1j, r"holds complex128 values, not real numbers"),
    "nan": (np.array([1.0, np.nan] * 4), r"holds NaN \(4 of 8 values\): give a .npy vector of finite real numbers"),
    "inf": (np.array([np.inf] + [1.0] * 7), r"holds Inf \(1 of 8 values\)"),
    "overflow": (np.full(8, 1e300), r"holds Inf \(8 of 8 values\)"),  # past float32's range
    "zero": (np.zeros(8), r"is the zero vector at relu2: it points nowhere"),
}


@pytest.mark.parametrize("kind", BAD_VECTORS)
def test_a_direction_file_of_unusable_values_is_one_line_naming_it(cfg_factory, tmp_path, kind):
    values, expected = BAD_VECTORS[kind]
    path = tmp_path / f"{kind}.npy"
    np.save(path, values)
    with pytest.raises(Exception) as caught:
        experiments.run(cfg_factory(*TINY, f"objective.direction={path}"))
    message = str(user_error(caught.value))
    assert message.startswith(f"objective.direction={path} ") and "\n" not in message
    assert re.search(expected, message)


def test_a_bad_direction_file_fails_before_the_network_is_built(cfg_factory, tmp_path):
    np.save(tmp_path / "text.npy", np.array(["a"]))
    chosen = experiments.experiment(cfg_factory(*TINY, f"objective.direction={tmp_path / 'text.npy'}"))
    with pytest.raises(ConvisError, match=r"text.npy holds <U1 values"):
        chosen.check()

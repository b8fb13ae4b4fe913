"""Semantic dictionaries: NMF factors reconstruct the activations; maps and direction images per factor."""

import json

import pytest
import torch

from convis import experiments
from convis.experiments import nmf
from convis.experiments.nmf import factorise
from convis.runtime.errors import ConvisError, user_error

TINY = ["experiment=own_network", "objective=nmf", "dataset.names=[chelsea,coffee]", "image_size=32"]


def test_factors_reconstruct_activations_of_their_rank():
    torch.manual_seed(0)
    maps, directions = torch.rand(2, 5 * 5), torch.rand(2, 6)
    activation = (maps.T @ directions).T.reshape(6, 5, 5)  # [C, h, w] of rank 2, non-negative
    found = factorise(activation, 2, seed=0, max_iter=2000)
    assert found.maps.shape == (2, 5, 5) and found.directions.shape == (2, 6)
    assert (found.maps >= 0).all() and (found.directions >= 0).all()
    rebuilt = (found.maps.reshape(2, -1).T @ found.directions).T.reshape(6, 5, 5)
    torch.testing.assert_close(rebuilt, activation, atol=1e-3, rtol=0)
    assert found.error == pytest.approx(float((rebuilt - activation).norm() / activation.norm()), abs=1e-5)
    assert found.error < 1e-3


def test_the_reported_error_is_the_relative_residual_for_fewer_factors():
    torch.manual_seed(1)
    activation = torch.rand(6, 4, 4)
    found = factorise(activation, 2, seed=0, max_iter=500)
    rebuilt = (found.maps.reshape(2, -1).T @ found.directions).T.reshape(6, 4, 4)
    assert found.error == pytest.approx(float((rebuilt - activation).norm() / activation.norm()), rel=1e-4)
    assert 0 < found.error < 1


def test_each_factor_has_a_map_over_its_picture_and_a_direction_image(cfg_factory, tmp_path):
    metrics = experiments.run(cfg_factory(*TINY, "layer=relu2", "objective.factors=2", "steps=3")).metrics
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    results = metrics["results"]
    expected = [("chelsea", 0), ("chelsea", 1), ("coffee", 0), ("coffee", 1)]
    assert [(r["image"], r["factor"]) for r in results] == expected
    for r in results:
        assert r["png"] == f"images/{r['image']}_factor{r['factor']}.png"
        assert r["map_png"] == f"images/{r['image']}_factor{r['factor']}_map.png"
        assert (tmp_path / r["png"]).is_file() and (tmp_path / r["map_png"]).is_file()
        assert 0 <= r["reconstruction_error"] < 1 and -1 <= r["cosine"] <= 1 and r["strength"] >= 0


def test_a_layer_with_negative_values_is_refused_in_one_line(cfg_factory):
    with pytest.raises(Exception) as caught:
        experiments.run(cfg_factory(*TINY, "layer=conv2"))
    message = str(user_error(caught.value))
    assert message.startswith("objective=nmf needs non-negative activations and conv2 has values down to -")
    assert "choose a layer after a ReLU" in message and "\n" not in message


@pytest.mark.parametrize("override", ["objective.factors=0", "objective.max_iter=-1"])
def test_bad_counts_fail_before_any_work(cfg_factory, override):
    key, value = override.split("=")
    with pytest.raises(ConvisError, match=f"{key}={value} must be a positive whole number"):
        experiments.experiment(cfg_factory(*TINY, override)).check()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["objective.factors=9"],
            "objective.factors=9 is more than relu2 allows: NMF of its 8 channels at 16 x 16 = 256 positions "
            "(image_size=32) finds at most 8 factors; use objective.factors=8 or fewer",
        ),
        (["objective.factors=5", "image_size=4"], "NMF of its 8 channels at 2 x 2 = 4 positions (image_size=4)"),
    ],
)
def test_more_factors_than_the_layer_allows_is_one_line_naming_the_limit(cfg_factory, monkeypatch, overrides, expected):
    monkeypatch.setattr(nmf, "factorise", lambda *args: pytest.fail("factorised before the count was checked"))
    with pytest.raises(Exception) as caught:
        experiments.run(cfg_factory(*TINY, "layer=relu2", *overrides))
    message = str(user_error(caught.value))
    assert expected in message and "\n" not in message

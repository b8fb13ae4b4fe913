"""Concept relevance on a network with planted concepts: a red channel, its heatmap inside the red patch,
relevance maximisation apart from activation maximisation; objective=concepts end to end."""

import json
import re

import pytest
import torch
from torch import nn

from convis import experiments
from convis.attribution.crp import ConceptRelevance, maximisation
from convis.attribution.lrp import build_composite
from convis.backbones import Backbone
from convis.runtime.errors import ConvisError, user_error

RED, GREEN = 0, 1


def planted() -> nn.Sequential:
    """Colour units (1x1 conv: red = R - G - B, green = G - R - B, blue = B - R - G), an identity 3x3 conv, average
    pool, and a head whose class 0 rests on red and class 1 on green (0.1 of red)."""
    colours = nn.Conv2d(3, 3, 1, bias=False)
    colours.weight.data = (2 * torch.eye(3) - 1).view(3, 3, 1, 1)
    mixing = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    mixing.weight.data.zero_()
    mixing.weight.data[:, :, 1, 1] = torch.eye(3)
    head = nn.Linear(3, 2, bias=False)
    head.weight.data = torch.tensor([[1.0, 0.2, 0.2], [0.1, 1.0, 0.2]])
    layers = [colours, nn.ReLU(), mixing, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head]
    return nn.Sequential(*layers).eval().requires_grad_(False)


def picture(patches: dict[tuple[float, float, float], tuple[slice, slice]]) -> torch.Tensor:
    """A grey 32x32 picture with a patch of each colour where given."""
    image = torch.full((3, 32, 32), 0.3)
    for colour, (rows, cols) in patches.items():
        image[:, rows, cols] = torch.tensor(colour).view(3, 1, 1)
    return image


def relevance_of(net: nn.Module) -> ConceptRelevance:
    backbone = Backbone(arch="planted", net=net, names={}, mean=(0.0,) * 3, std=(1.0,) * 3, categories=["r", "g"])
    return ConceptRelevance(net, net[0], lambda inputs: build_composite("epsilon_plus_flat", backbone, inputs))


def test_the_red_channel_is_the_most_relevant_and_its_heatmap_lies_in_the_red_patch():
    net = planted()
    image = picture({(1.0, 0.0, 0.0): (slice(4, 12), slice(4, 12)), (0.0, 1.0, 0.0): (slice(20, 28), slice(18, 30))})
    relevance = relevance_of(net)
    shares = relevance.channel_shares(image[None], torch.tensor([0]))[0]
    assert int(shares.argmax()) == RED and shares[RED] > 0.5
    heat = relevance.conditional_heatmaps(image, 0, torch.tensor([RED, GREEN]))
    red, green = heat.clamp_min(0)
    assert red[4:12, 4:12].sum() >= 0.999 * red.sum() > 0
    assert green[20:28, 18:30].sum() >= 0.999 * green.sum() > 0
    logit = net(image[None])[0, 0]
    assert heat.sum() == pytest.approx(float(logit * (shares[RED] + shares[GREEN])), rel=1e-3)


class Pictures(torch.utils.data.Dataset):
    def __init__(self, images: list[torch.Tensor]) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index]}


def test_relevance_maximisation_ranks_by_relevance_to_the_class_not_by_activation():
    net = planted()
    dull_red = picture({(0.8, 0.0, 0.0): (slice(0, 32), slice(0, 32))})  # class 0: its red is relevant
    bright_red_in_green = picture(
        {(0.0, 1.0, 0.0): (slice(0, 32), slice(0, 24)), (1.0, 0.0, 0.0): (slice(0, 32), slice(24, 32))}
    )
    data = Pictures([bright_red_in_green, dull_red])

    def predicted(images: torch.Tensor) -> torch.Tensor:
        return net(images).argmax(1)

    assert predicted(torch.stack(data.images)).tolist() == [1, 0]
    found = maximisation(relevance_of(net), data, predicted, k=2, batch_size=1)
    assert [i for i, _, _ in found.activation.unit(RED)] == [0, 1]  # the brighter red activates more
    assert [i for i, _, _ in found.relevance.unit(RED)] == [1, 0]  # but counts for its class only in the dull one


TINY = ["experiment=own_network", "objective=concepts", "image_size=32", "dataset.names=[chelsea,coffee]"]


def test_objective_concepts_writes_heatmaps_and_reference_strips(cfg_factory, tmp_path):
    metrics = experiments.run(cfg_factory(*TINY, "objective.channels=2", "objective.k=2")).metrics
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    heatmaps = [r for r in metrics["results"] if "image" in r]
    assert [(r["image"], r["rank"]) for r in heatmaps] == [("chelsea", 0), ("chelsea", 1), ("coffee", 0), ("coffee", 1)]
    assert all(heatmaps[i]["relevance"] >= heatmaps[i + 1]["relevance"] for i in (0, 2))
    assert all(r["caption"] == f"channel {r['channel']}, {r['relevance']:.1%} of the relevance" for r in heatmaps)
    channels = {r["channel"] for r in heatmaps}
    assert sorted(metrics["channels"]) == sorted(str(c) for c in channels)
    for record in metrics["channels"].values():
        assert len(record["most_relevant"]) == len(record["most_activating"]) == 2
        assert 0 <= record["shared"] <= 2
    for result in metrics["results"]:
        assert (tmp_path / result["png"]).is_file()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("objective.composite=magic", r"objective.composite=magic is not one of Zennit's composites"),
        ("objective.channels=0", r"objective.channels=0"),
    ],
)
def test_bad_options_are_refused(cfg_factory, override, message):
    with pytest.raises(Exception) as caught:
        experiments.run(cfg_factory(*TINY, override))
    assert isinstance(user_error(caught.value), ConvisError)
    assert re.search(message, str(user_error(caught.value)))

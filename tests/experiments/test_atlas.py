"""Every channel of a layer in one run (objective.channel=all, a range or a list), in batches of channels."""

import pytest
import torch

from convis import experiments
from convis.modules.visualisation import VisualisationModule
from convis.objectives.activation import channel, channel_set, channels, neuron
from convis.runtime.errors import ConvisError

# TinyNet's conv1 is linear: from the zero image Adam moves every pixel by lr * sign(gradient of its channel)
# each step, so channel i's image scores |w_i|_1 on channel i and any other channel's image w_i . sign(w_j) <= that
TINY = ["experiment=own_network", "objective=activation", "layer=conv1", "prior=none", "param=pixel"]
LINEAR = [*TINY, "objective.init=zeros", "image_size=32", "steps=5"]


@pytest.fixture
def spy(monkeypatch):
    """The run's module, and the batch size of every forward pass of its network."""
    seen = {"rows": []}
    original = VisualisationModule.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen["module"] = self
        self.groups[0].extractor.register_forward_pre_hook(lambda m, inputs: seen["rows"].append(len(inputs[0])))

    monkeypatch.setattr(VisualisationModule, "__init__", init)
    return seen


def test_every_channel_gets_its_own_image_in_batches(cfg_factory, tmp_path, spy):
    results = experiments.run(cfg_factory(*LINEAR, "objective.channel=all", "objective.batch_size=3")).metrics[
        "results"
    ]
    assert [r["channel"] for r in results] == list(range(8)) and {r["layer"] for r in results} == {"conv1"}
    assert [r["png"] for r in results] == [f"images/conv1_{c}.png" for c in range(8)]
    assert all((tmp_path / r["png"]).stat().st_size > 100 for r in results)
    module = spy["module"]
    assert [(g.rows.start, g.rows.stop) for g in module.groups] == [(0, 3), (3, 6), (6, 8)]
    assert len({id(g.extractor) for g in module.groups}) == 1
    assert spy["rows"][:15] == [3, 3, 2] * 5  # one pass per batch of channels and step
    image, _ = module.evaluate()
    with torch.no_grad():
        scores = module.groups[0].extractor(image)["conv1"].mean((2, 3))  # [image, channel]
    own = scores.diagonal()
    assert [r["activation"] for r in results] == pytest.approx(own.tolist(), rel=1e-5)
    for c in range(8):  # channel c's image beats every other channel's image on channel c
        assert (own[c] > scores[torch.arange(8) != c, c]).all(), c


@pytest.mark.parametrize(
    ("spec", "expected"), [("'2:5'", [2, 3, 4]), ("'6:'", [6, 7]), ("[7,0]", [7, 0]), ("all", list(range(8)))]
)
def test_a_range_or_a_list_of_channels(cfg_factory, spec, expected):
    cfg = cfg_factory(*TINY, f"objective.channel={spec}", "steps=1")
    assert [r["channel"] for r in experiments.run(cfg).metrics["results"]] == expected


def test_a_batch_of_channels_is_each_channel_on_its_own_row():
    acts = {"a": torch.randn(3, 5, 4, 6)}
    rows = [channel("a", c)(acts)[i] for i, c in enumerate([4, 0, 2])]
    torch.testing.assert_close(channels("a", [4, 0, 2])(acts), torch.stack(rows))
    at = [neuron("a", c, 1, 5)(acts)[i] for i, c in enumerate([4, 0, 2])]
    torch.testing.assert_close(channels("a", [4, 0, 2], (1, 5))(acts), torch.stack(at))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0:9", r"objective.channel='0:9' is not a range of conv1's 8 channels: give objective.channel=all, a range"),
        ("3:3", r"objective.channel='3:3' is not a range"),
        ("al", r"objective.channel='al' is not a range of conv1's 8 channels"),
        ("a:b", r"objective.channel='a:b' is not a range"),
        ([8], r"channel 8 is out of range for conv1: it has 8 channels \(0-7\)"),
        ([1, 1], r"objective.channel=\[1, 1\] must list channels of conv1, each once"),
        ([], r"objective.channel=\[\] must list channels of conv1, each once"),
    ],
)
def test_bad_channel_sets_fail_clearly(spec, message):
    with pytest.raises(ConvisError, match=message):
        channel_set("conv1", 8, spec)


def test_a_channel_set_makes_one_image_per_channel(cfg_factory):
    with pytest.raises(
        ConvisError, match=r"objective.channel=all makes one image per channel: leave objective.batch=1"
    ):
        experiments.run(cfg_factory(*TINY, "objective.channel=all", "objective.batch=2"))
